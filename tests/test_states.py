"""The call-state rule: every (current, incoming) pair, the result mapping, the UPDATE sources."""

from __future__ import annotations

from decimal import Decimal

import pytest

from django_esms_voice.esms.payloads import CallResult, parse_call_result
from django_esms_voice.states import (
    CANCELABLE,
    FINAL,
    NOW,
    CallStatus,
    How,
    Merge,
    Verdict,
    Write,
    advance_writes,
    apply_writes,
    can_cancel,
    can_refresh,
    can_retry,
    decide,
    merge,
    seen_writes,
    sources_for,
    status_for_result,
)

S = CallStatus

# The expected verdict of decide(current, incoming), written out by hand from DESIGN.md
# ("Call states") and not derived from the code:
#   =  SAME        the status the call already has
#   >  ADVANCE     a forward move (and from "error", any word from eSMS: it beats "we gave up")
#   .  STALE       behind the call, or a final call that may not change (rejected, canceled),
#                  or a placing outcome (rejected/error/canceled) for a call eSMS already has
#   !  CONFLICT    another final result, from a callback       (authoritative=False)
#      CORRECTION  another final result, from a status poll    (authoritative=True)
COLUMNS = (
    S.PENDING, S.SUBMITTING, S.ACCEPTED, S.IN_PROGRESS, S.ANSWERED,
    S.NO_ANSWER, S.FAILED, S.REJECTED, S.ERROR, S.CANCELED, S.UNKNOWN,
)  # fmt: skip
# "unknown" (charged, result unknown) is the sweep's give-up for a call eSMS accepted: only
# from accepted/in_progress; from it only eSMS's late result moves on.
TABLE = """
incoming →     pend subm acce inpr answ noan fail reje erro canc unkn
pending         =    >    >    >    >    >    >    >    >    >    .
submitting      .    =    >    >    >    >    >    >    >    .    .
accepted        .    .    =    >    >    >    >    .    .    .    >
in_progress     .    .    .    =    >    >    >    .    .    .    >
answered        .    .    .    .    =    !    !    .    .    .    .
no_answer       .    .    .    .    !    =    !    .    .    .    .
failed          .    .    .    .    !    !    =    .    .    .    .
rejected        .    .    .    .    .    .    .    =    .    .    .
error           .    .    >    >    >    >    >    >    =    .    .
canceled        .    .    .    .    .    .    .    .    .    =    .
unknown         .    .    .    .    >    >    >    .    .    .    =
"""
SYMBOLS = {"=": Verdict.SAME, ">": Verdict.ADVANCE, ".": Verdict.STALE}


def _expected(authoritative: bool) -> dict[tuple[str, str], Verdict]:
    """Read the hand-written table into {(current, incoming): verdict}."""
    final_vs_final = Verdict.CORRECTION if authoritative else Verdict.CONFLICT
    rows = [line.split() for line in TABLE.strip().splitlines()[1:]]
    expected: dict[tuple[str, str], Verdict] = {}
    for current, *cells in rows:
        assert len(cells) == len(COLUMNS), current
        for incoming, symbol in zip(COLUMNS, cells, strict=True):
            expected[current, incoming] = SYMBOLS.get(symbol, final_vs_final)
    return expected


def test_the_table_covers_every_pair_of_statuses() -> None:
    assert set(COLUMNS) == set(S.values)
    assert set(_expected(False)) == {(c, i) for c in S.values for i in S.values}


@pytest.mark.parametrize("authoritative", [False, True], ids=["callback", "poll"])
@pytest.mark.parametrize("current", S.values)
def test_decide_matches_the_table(current: str, authoritative: bool) -> None:
    expected = _expected(authoritative)
    got = {
        incoming: decide(current, incoming, authoritative=authoritative).verdict
        for incoming in S.values
    }
    assert got == {incoming: expected[current, incoming] for incoming in S.values}


def test_decide_defaults_to_a_callback_not_an_authoritative_poll() -> None:
    assert decide(S.ANSWERED, S.NO_ANSWER).verdict is Verdict.CONFLICT


@pytest.mark.parametrize(
    ("current", "incoming", "authoritative", "verdict"),
    [
        # The rules the design states in words, one line each.
        (S.ACCEPTED, S.IN_PROGRESS, False, Verdict.ADVANCE),
        (S.IN_PROGRESS, S.ANSWERED, False, Verdict.ADVANCE),
        (S.ANSWERED, S.ANSWERED, False, Verdict.SAME),
        (S.ANSWERED, S.IN_PROGRESS, False, Verdict.STALE),  # a late SendStatus=2/7
        (S.NO_ANSWER, S.IN_PROGRESS, True, Verdict.STALE),  # even from a poll
        (S.ANSWERED, S.NO_ANSWER, False, Verdict.CONFLICT),
        (S.NO_ANSWER, S.ANSWERED, False, Verdict.CONFLICT),
        (S.ANSWERED, S.NO_ANSWER, True, Verdict.CORRECTION),
        (S.NO_ANSWER, S.ANSWERED, True, Verdict.CORRECTION),
        (S.ERROR, S.ANSWERED, False, Verdict.ADVANCE),  # eSMS's word beats "we gave up"
        (S.ERROR, S.ACCEPTED, False, Verdict.ADVANCE),  # a late 100 for a call we gave up on
        (S.ERROR, S.PENDING, False, Verdict.STALE),
        (S.CANCELED, S.ANSWERED, True, Verdict.STALE),
        (S.REJECTED, S.ANSWERED, True, Verdict.STALE),
        (S.ACCEPTED, S.CANCELED, False, Verdict.STALE),  # cancel is for calls not yet sent
        (S.IN_PROGRESS, S.ERROR, False, Verdict.STALE),  # eSMS has it: we did not give up
        (S.ACCEPTED, S.UNKNOWN, False, Verdict.ADVANCE),  # no result within RESULT_TIMEOUT
        (S.UNKNOWN, S.ANSWERED, False, Verdict.ADVANCE),  # a late callback completes it
        (S.UNKNOWN, S.IN_PROGRESS, True, Verdict.STALE),  # a poll saying "7" does not reopen
        (S.ERROR, S.UNKNOWN, False, Verdict.STALE),  # eSMS may not have that one at all
    ],
)
def test_the_rules_in_words(
    current: str, incoming: str, authoritative: bool, verdict: Verdict
) -> None:
    assert decide(current, incoming, authoritative=authoritative).verdict is verdict


#: The verdicts that rewrite a call's status column.
MOVES = (Verdict.ADVANCE, Verdict.CORRECTION)


def test_canceled_and_rejected_never_change() -> None:
    for current in (S.CANCELED, S.REJECTED):
        for incoming in S.values:
            for authoritative in (False, True):
                decision = decide(current, incoming, authoritative=authoritative)
                assert decision.verdict not in MOVES, (current, incoming, authoritative)


def test_no_final_status_ever_goes_back_to_an_open_one() -> None:
    open_statuses = set(S.values) - FINAL
    for current in FINAL:
        for incoming in open_statuses:
            if current == S.ERROR and incoming in (S.ACCEPTED, S.IN_PROGRESS):
                continue  # eSMS has the call after all: documented exception
            assert decide(current, incoming, authoritative=True).verdict not in MOVES


# ----------------------------------------------------------------------------- sources_for


def test_sources_for_accepted() -> None:
    # A claimed call (submitting), one the sweep put back (pending) while the first worker was
    # still waiting on eSMS, or one we gave up on (error): never a call a callback moved on.
    assert sources_for(S.ACCEPTED) == {S.PENDING, S.SUBMITTING, S.ERROR}


def test_sources_for_the_operator_and_placing_outcomes() -> None:
    assert sources_for(S.CANCELED) == {S.PENDING}  # "canceled (only before submission)"
    assert sources_for(S.REJECTED) == {S.PENDING, S.SUBMITTING, S.ERROR}
    assert sources_for(S.ERROR) == {S.PENDING, S.SUBMITTING}
    assert sources_for(S.UNKNOWN) == {S.ACCEPTED, S.IN_PROGRESS}  # the sweep's give-up


def test_sources_for_results() -> None:
    assert sources_for(S.IN_PROGRESS) == {S.PENDING, S.SUBMITTING, S.ACCEPTED, S.ERROR}
    for result in (S.ANSWERED, S.NO_ANSWER, S.FAILED):
        assert sources_for(result) == {
            S.PENDING,
            S.SUBMITTING,
            S.ACCEPTED,
            S.IN_PROGRESS,
            S.ERROR,
            S.UNKNOWN,
        }, result
    assert sources_for(S.PENDING) == frozenset()


def test_cancel_and_decide_name_the_same_sources() -> None:
    assert sources_for(S.CANCELED) == CANCELABLE


@pytest.mark.parametrize(
    ("status", "attempts", "cancelable"),
    [
        (S.PENDING, 0, True),
        # Back to pending after a timeout: eSMS may have it and ring.
        (S.PENDING, 1, False),
        (S.SUBMITTING, 0, False),
        (S.ACCEPTED, 1, False),
        (S.ERROR, 1, False),
        (S.CANCELED, 0, False),
    ],
)
def test_only_a_call_never_attempted_can_be_canceled(
    status: str, attempts: int, cancelable: bool
) -> None:
    assert can_cancel(status, attempts) is cancelable


@pytest.mark.parametrize(
    ("status", "retried", "allowed"),
    [
        (S.REJECTED, False, True),
        (S.ERROR, False, True),
        (S.REJECTED, True, False),  # one retry per call
        (S.ERROR, True, False),
        (S.UNKNOWN, False, False),  # eSMS placed and charged it: a retry would ring twice
        (S.NO_ANSWER, False, False),
        (S.PENDING, False, False),
    ],
)
def test_a_call_is_retried_once_and_only_when_refused_or_given_up(
    status: str, retried: bool, allowed: bool
) -> None:
    assert can_retry(status, retried=retried) is allowed


@pytest.mark.parametrize(
    ("status", "smsid", "allowed"),
    [
        (S.ACCEPTED, "SMS-1", True),
        (S.IN_PROGRESS, "SMS-1", True),
        (S.UNKNOWN, "SMS-1", True),  # charged, no result came: a poll may bring it
        (S.ACCEPTED, "", False),  # accepted through 124: GetSendStatus needs the SMSID
        (S.ANSWERED, "SMS-1", False),
        (S.NO_ANSWER, "SMS-1", False),
        (S.FAILED, "SMS-1", False),
        (S.REJECTED, "", False),
        (S.CANCELED, "", False),
        (S.PENDING, "", False),
        (S.SUBMITTING, "", False),
    ],
)
def test_a_refresh_asks_only_about_calls_esms_has_and_has_not_finished(
    status: str, smsid: str, allowed: bool
) -> None:
    assert can_refresh(status, smsid) is allowed


# ----------------------------------------------------------------------------- writes


class _Call:
    """A call's columns, as plain attributes."""

    def __init__(self, **columns: object) -> None:
        self.__dict__.update(columns)


@pytest.mark.parametrize(
    ("write", "current", "expected"),
    [
        (Write(How.SET, "x"), "old", "x"),
        (Write(How.SET, None), "old", None),
        (Write(How.SET, NOW), None, "now"),
        (Write(How.FILL, "x"), "", "x"),
        (Write(How.FILL, "x"), None, "x"),
        (Write(How.FILL, "x"), "kept", "kept"),
        (Write(How.FILL, NOW), None, "now"),
        (Write(How.FILL, NOW), "earlier", "earlier"),
        (Write(How.APPEND, "c", 2), ["a", "b"], ["b", "c"]),
        (Write(How.APPEND, "c", 5), [], ["c"]),
    ],
)
def test_a_write_gives_the_column_its_new_value(write: Write, current: object, expected: object):
    assert write.applied(current, "now") == expected


def test_an_advance_writes_the_result_status_and_clears_what_no_longer_holds() -> None:
    call = _Call(
        status=S.ERROR, duration=None, completed_at="then", last_error_code="timeout",
        last_error_message="gave up", submitted_at=None, updated_at="then",
    )  # fmt: skip

    written = apply_writes(call, advance_writes(S.IN_PROGRESS, {"duration": 0}), "now")

    assert set(written) == {
        "duration", "status", "completed_at", "last_error_code", "last_error_message",
        "submitted_at", "updated_at",
    }  # fmt: skip
    assert vars(call) == {
        "status": S.IN_PROGRESS, "duration": 0, "completed_at": None, "last_error_code": "",
        "last_error_message": "", "submitted_at": "now", "updated_at": "now",
    }  # fmt: skip


def test_a_final_advance_completes_the_call_and_keeps_its_submission_time() -> None:
    writes = advance_writes(S.ANSWERED, {})
    call = _Call(**{**dict.fromkeys(writes, ""), "submitted_at": "earlier"})

    apply_writes(call, writes, "now")

    assert (call.status, call.completed_at, call.submitted_at) == (S.ANSWERED, "now", "earlier")


def test_a_seen_result_keeps_its_fingerprint_and_adopts_a_missing_smsid() -> None:
    call = _Call(event_fingerprints=["a", "b"], smsid="")

    apply_writes(call, seen_writes(fingerprint="c", reference="SMSID", kept=2), "now")
    assert (call.event_fingerprints, call.smsid) == (["b", "c"], "SMSID")

    apply_writes(call, seen_writes(fingerprint="d", reference="OTHER", kept=2), "now")
    assert (call.event_fingerprints, call.smsid) == (["c", "d"], "SMSID")
    assert "smsid" not in seen_writes(fingerprint="e", reference="", kept=2)


# ----------------------------------------------------------------------------- merge

ANSWERED = {"send_status": 5, "call_status": "ANSWERED", "duration": 13, "price": Decimal("500")}


@pytest.mark.parametrize(
    ("stored", "incoming", "authoritative", "expected"),
    [
        # Fields the call does not have yet are filled.
        ({**ANSWERED, "price": None}, {**ANSWERED, "price": Decimal("700")}, False,
         Merge(Verdict.SAME, {"price": Decimal("700")}, {})),
        ({**ANSWERED, "cid": ""}, {**ANSWERED, "cid": "0287"}, False,
         Merge(Verdict.SAME, {"cid": "0287"}, {})),
        # The same values: nothing to write (a duplicate). 500 and 500.0000 are the same price.
        (ANSWERED, {**ANSWERED, "price": Decimal("500.0000")}, False, Merge(Verdict.SAME, {}, {})),
        # A stored value that differs is a conflict from a callback, even with something to fill.
        (ANSWERED, {**ANSWERED, "duration": 9999, "ivr_pressed": "9"}, False,
         Merge(Verdict.CONFLICT, {}, {"duration": (13, 9999)})),
        ({**ANSWERED, "price": Decimal(0)}, {**ANSWERED, "price": Decimal("0.0001")}, False,
         Merge(Verdict.CONFLICT, {}, {"price": (Decimal(0), Decimal("0.0001"))})),
        # ... and a correction from an authoritative poll, which writes it.
        (ANSWERED, {**ANSWERED, "duration": 14, "cid": "0287"}, True,
         Merge(Verdict.CORRECTION, {"duration": 14, "cid": "0287"}, {"duration": (13, 14)})),
        # Another spelling of the same CallStatus is no difference.
        ({**ANSWERED, "call_status": "NO ANSWER"}, {**ANSWERED, "call_status": "NOANSWERED"},
         True, Merge(Verdict.SAME, {}, {})),
        # In progress: 2 (waiting to send) then 7 (sent) is newer; 7 then 2 is stale.
        ({"send_status": 2}, {"send_status": 7, "cid": "0287"}, False,
         Merge(Verdict.SAME, {"send_status": 7, "cid": "0287"}, {})),
        ({"send_status": 7}, {"send_status": 2}, False, Merge(Verdict.STALE, {}, {})),
        ({"send_status": 7}, {"send_status": 2}, True, Merge(Verdict.STALE, {}, {})),
    ],
)  # fmt: skip
def test_merge_fills_and_never_overwrites(
    stored: dict[str, object], incoming: dict[str, object], authoritative: bool, expected: Merge
) -> None:
    assert merge(stored, incoming, authoritative=authoritative) == expected


# ----------------------------------------------------------------------------- results


def _result(
    send_status: int | None, call_status: str = "", sent_result: int | None = 1
) -> CallResult:
    return CallResult(
        reference_id="8eb2af6d-fb4c4814-b9cc-4c0e3ed32edf",
        send_status=send_status,
        call_status=call_status,
        call_duration=0,
        ivr="",
        sent_result=sent_result,
        price=Decimal("0.0000"),
    )


@pytest.mark.parametrize(
    ("send_status", "call_status", "sent_result", "expected"),
    [
        (2, "", 1, S.IN_PROGRESS),  # waiting to send
        (7, "", 1, S.IN_PROGRESS),  # sent, waiting for the report
        (2, "", None, S.IN_PROGRESS),
        (5, "ANSWERED", 1, S.ANSWERED),
        (5, "NO ANSWER", 1, S.NO_ANSWER),  # callbacks
        (5, "NOANSWERED", 1, S.NO_ANSWER),  # GetSendStatus
        (5, "NO ANSWERED", 1, S.NO_ANSWER),  # a spelling between the two (esms.protocol)
        (5, "", 0, S.FAILED),  # finished, not sent, no CallStatus
        # Nothing known: the event is stored as invalid.
        (None, "ANSWERED", 1, None),
        (5, "", 1, None),  # finished and sent, yet no CallStatus
        (5, "", None, None),
        (5, "BUSY", 1, None),
        (5, "BUSY", 0, None),
        (3, "ANSWERED", 1, None),
        (0, "", 0, None),
    ],
)
def test_status_for_result(
    send_status: int | None, call_status: str, sent_result: int | None, expected: str | None
) -> None:
    assert status_for_result(_result(send_status, call_status, sent_result)) == expected


def test_the_docs_sample_callback_is_a_failure() -> None:
    # esms-docs/voice-api.md, "Callbacks": finished, not sent, no CallStatus.
    sample = (
        "ReferenceId=066107ee-6ec4-4283-b595-aa74977c65c5&CallDuration=0&CallStatus=&Ivr="
        "&Price=0.0000&SentResult=0&CID=02871002454&SendStatus=5"
    )
    fields = dict(pair.split("=", 1) for pair in sample.split("&"))
    assert status_for_result(parse_call_result(fields)) is S.FAILED


@pytest.mark.parametrize(
    "spelling", ["NO ANSWER", "no answer", " No  Answer ", "NOANSWERED", "No  Answered"]
)
def test_no_answer_spellings_parsed_from_the_wire(spelling: str) -> None:
    fields = {"ReferenceId": "x", "SendStatus": "5", "CallStatus": spelling, "SentResult": "1"}
    assert status_for_result(parse_call_result(fields)) is S.NO_ANSWER


def test_the_docs_status_answer_is_answered() -> None:
    # esms-docs/voice-api.md, GetSendStatus: numbers as JSON numbers.
    answer = {
        "CallDuration": 13,
        "CallStatus": "ANSWERED",
        "CodeResponse": "100",
        "Ivr": "",
        "ReferenceId": "505139D7-54F8-48A9-88FA-9460A78731DD",
        "SendStatus": 5,
        "SentResult": 1,
    }
    assert status_for_result(parse_call_result(answer)) is S.ANSWERED
