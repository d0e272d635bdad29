"""The eSMS protocol tables: every documented result code, status, voice, endpoint and name."""

from __future__ import annotations

import pytest
from django.utils import translation

from django_esms_voice.esms.payloads import RecordCallRequest, TemplateCallRequest
from django_esms_voice.esms.protocol import (
    ACCEPTED,
    DUPLICATE_REQUEST,
    IVR_KEYS,
    NOT_FOUND_YET,
    REQUEST_ID_PARAM,
    RESULT_CODES,
    SEND_STATUS_ORDER,
    SEND_STATUSES,
    SPEEDS,
    VOICES,
    CallOutcome,
    CodeKind,
    Endpoint,
    call_outcome,
    describe_code,
)

# From esms-docs/voice-api.md, "Result codes (shared by all eSMS APIs)".
DOCUMENTED: dict[str, CodeKind] = {
    "100": CodeKind.ACCEPTED,
    "99": CodeKind.REJECTED,  # number blocked
    "101": CodeKind.CONFIGURATION,  # wrong ApiKey/SecretKey
    "102": CodeKind.CONFIGURATION,  # no price table
    "103": CodeKind.REJECTED,  # balance too low
    "104": CodeKind.REJECTED,  # template does not exist
    "105": CodeKind.LATER,  # id not known yet: ask again later
    "106": CodeKind.REJECTED,  # recording does not exist
    "108": CodeKind.REJECTED,  # wrong phone format
    "124": CodeKind.DUPLICATE,  # same RequestId: already accepted
    "140": CodeKind.CONFIGURATION,  # IP not whitelisted
}


def test_the_table_holds_exactly_the_documented_voice_codes() -> None:
    assert set(RESULT_CODES) == set(DOCUMENTED)


@pytest.mark.parametrize(("code", "kind"), sorted(DOCUMENTED.items()))
def test_each_documented_code_has_its_kind(code: str, kind: CodeKind) -> None:
    entry = describe_code(code)
    assert entry.code == code
    assert entry.kind is kind
    assert entry.code in RESULT_CODES
    assert entry.retryable is (kind is CodeKind.LATER)
    with translation.override("en"):
        assert str(entry.description).strip()
        assert str(entry.description) != "Unknown eSMS result code"


@pytest.mark.parametrize(("code", "kind"), sorted(DOCUMENTED.items()))
def test_a_code_is_found_whatever_form_it_came_in(code: str, kind: CodeKind) -> None:
    # Call endpoints send the code as a string, status answers may send a number.
    assert describe_code(f" {code} ").kind is kind
    assert describe_code(int(code)).code == code  # type: ignore[arg-type]


def test_the_named_constants_point_at_their_entries() -> None:
    assert RESULT_CODES[ACCEPTED].kind is CodeKind.ACCEPTED
    assert RESULT_CODES[NOT_FOUND_YET].kind is CodeKind.LATER
    assert RESULT_CODES[DUPLICATE_REQUEST].kind is CodeKind.DUPLICATE


def test_only_not_found_yet_is_retryable() -> None:
    assert [code for code, entry in RESULT_CODES.items() if entry.retryable] == ["105"]


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (" 999 ", "999"),
        ("107", "107"),  # an SMS/Zalo code, not a voice one
        ("146", "146"),
        ("789", "789"),
        ("0100", "0100"),  # not "100": kept exactly as it came, not guessed
        ("-1", "-1"),
        ("ABC", "ABC"),
        ("", ""),
        (799, "799"),
    ],
)
def test_an_unknown_code_is_kept_as_it_came_and_treated_as_a_refusal(
    raw: object, kept: str
) -> None:
    entry = describe_code(raw)  # type: ignore[arg-type]
    assert entry.code == kept
    assert entry.kind is CodeKind.REJECTED
    assert entry.code not in RESULT_CODES
    assert not entry.retryable
    with translation.override("en"):
        assert str(entry.description) == "Unknown eSMS result code"


def test_an_unknown_code_does_not_join_the_table() -> None:
    describe_code("999")
    assert "999" not in RESULT_CODES


# The other tables, against esms-docs/voice-api.md.


def test_each_endpoint_spells_the_request_id_as_the_docs_do() -> None:
    assert REQUEST_ID_PARAM == {
        Endpoint.MAKE_CALL_RECORD: "RequestID",  # this endpoint alone
        Endpoint.MAKE_CALL_TEMPLATE: "RequestId",
    }
    assert RecordCallRequest.endpoint == "MakeCallRecord_V2"
    assert TemplateCallRequest.endpoint == "MakeCallTemplate_V2"


def test_send_status_values_and_their_order() -> None:
    assert sorted(SEND_STATUSES) == [2, 5, 7]
    # 2 waiting to send, then 7 sent and waiting for the report, then 5 finished.
    assert SEND_STATUS_ORDER == (2, 7, 5)


@pytest.mark.parametrize(
    ("spelling", "outcome"),
    [
        ("ANSWERED", CallOutcome.ANSWERED),
        ("NO ANSWER", CallOutcome.NO_ANSWER),  # callbacks
        ("NOANSWERED", CallOutcome.NO_ANSWER),  # GetSendStatus, as documented
        ("NO ANSWERED", CallOutcome.NO_ANSWER),
        ("", CallOutcome.UNKNOWN),  # a failure carries no CallStatus
        ("BUSY", CallOutcome.UNKNOWN),  # undocumented: says nothing, never a crash
    ],
)
def test_call_status_spellings_and_what_they_mean(spelling: str, outcome: CallOutcome) -> None:
    assert call_outcome(spelling) is outcome


def test_the_documented_voices_speeds_and_ivr_keys() -> None:
    assert list(VOICES) == ["male", "female", "hatieumai", "ngoclam"]
    assert list(SPEEDS) == [-3, -2, -1, 0, 1, 2, 3]
    assert list(IVR_KEYS) == list(range(10))
    with translation.override("en"):
        assert str(VOICES["ngoclam"]) == "Huế female (Ngọc Lam)"


def test_the_voice_column_offers_the_protocol_voices_with_their_labels() -> None:
    from django_esms_voice.models import VoiceCall

    field = VoiceCall._meta.get_field("voice")
    assert [value for value, _label in field.choices] == list(VOICES)
    with translation.override("vi"):
        labels = dict(field.choices)
        assert labels["male"] == str(VOICES["male"])
