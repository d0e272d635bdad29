"""The simulator's callbacks: documented params, outcomes, retries, modes, bounded threads."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from django_esms_voice.testing.simulator import EsmsSimulator, Outcome, Script
from tests.testing.simulator_helpers import (
    CALLBACK_PARAMS,
    PHONE,
    Receiver,
    free_port,
    make_call,
    send_status,
    smsid_of,
    wait_until,
)

# Callbacks


def test_callback_carries_the_documented_params(sim: EsmsSimulator, receiver: Receiver) -> None:
    smsid = smsid_of(make_call(sim, CallbackUrl=receiver.url()))

    assert sim.wait_for_callbacks(1, timeout=5)

    path, query = receiver.hits[0]
    assert path == "/esms/callback/4f1c/token/"
    assert [name for name, _ in query] == CALLBACK_PARAMS
    assert dict(query) == {
        "ReferenceId": smsid,
        "CallDuration": "13",
        "CallStatus": "ANSWERED",
        "Ivr": "",
        "Price": "500.0000",
        "SentResult": "1",
        "CID": "02871002454",
        "SendStatus": "5",
    }
    delivery = sim.callback_deliveries[0]
    assert (delivery.smsid, delivery.attempt, delivery.status, delivery.error) == (
        smsid,
        1,
        200,
        None,
    )
    assert delivery.params == dict(query)
    assert sim.calls[smsid].callback_url == receiver.url()


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome.failed(), {"CallDuration": "0", "CallStatus": "", "Price": "0.0000"}),
        (Outcome.no_answer(), {"CallDuration": "0", "CallStatus": "NO ANSWER", "SentResult": "1"}),
        (Outcome.answered(ivr="1", duration=42), {"CallDuration": "42", "Ivr": "1"}),
    ],
)
def test_callback_reports_the_scripted_outcome(
    sim: EsmsSimulator, receiver: Receiver, outcome: Outcome, expected: dict[str, str]
) -> None:
    sim.script(PHONE, Script(outcome=outcome))
    smsid_of(make_call(sim, CallbackUrl=receiver.url()))

    assert sim.wait_for_callbacks(1, timeout=5)

    query = receiver.queries()[0]
    assert {key: query[key] for key in expected} == expected
    if outcome.sent_result == 0:
        assert query["SentResult"] == "0"
        assert query["SendStatus"] == "5"


def test_final_state_shows_in_send_status_when_the_callback_is_due(receiver: Receiver) -> None:
    with EsmsSimulator(callback_delay=0.3) as sim:
        smsid = smsid_of(make_call(sim, CallbackUrl=receiver.url()))

        assert send_status(sim, smsid)["SendStatus"] == 7
        assert receiver.hits == []
        assert sim.wait_for_callbacks(1, timeout=5)
        assert send_status(sim, smsid)["SendStatus"] == 5
        call = sim.calls[smsid]
        assert call.final_at is not None
        assert call.final_at - call.accepted_at == pytest.approx(0.3)


def test_callback_is_retried_until_answered_200(sim: EsmsSimulator) -> None:
    flaky = Receiver(statuses=[500, 500])
    try:
        smsid_of(make_call(sim, CallbackUrl=flaky.url()))

        assert sim.wait_for_callbacks(1, timeout=5)
        time.sleep(0.15)

        assert len(flaky.hits) == 3
        assert [(d.attempt, d.status) for d in sim.callback_deliveries] == [
            (1, 500),
            (2, 500),
            (3, 200),
        ]
    finally:
        flaky.stop()


def test_callback_is_retried_at_most_five_times(sim: EsmsSimulator) -> None:
    broken = Receiver(always=500)
    try:
        smsid_of(make_call(sim, CallbackUrl=broken.url()))

        assert wait_until(lambda: len(sim.callback_deliveries) >= 6)
        time.sleep(0.3)

        assert len(broken.hits) == 6
        assert [d.attempt for d in sim.callback_deliveries] == [1, 2, 3, 4, 5, 6]
        assert not sim.wait_for_callbacks(1, timeout=0.01)
    finally:
        broken.stop()


def test_callback_connection_errors_are_retried(sim: EsmsSimulator) -> None:
    smsid_of(make_call(sim, CallbackUrl=f"http://127.0.0.1:{free_port()}/cb/"))

    assert wait_until(lambda: len(sim.callback_deliveries) >= 6)
    time.sleep(0.3)

    assert len(sim.callback_deliveries) == 6
    assert all(d.status is None and d.error for d in sim.callback_deliveries)


@pytest.mark.parametrize(
    ("callbacks", "progress", "expected"),
    [
        ("normal", False, ["5"]),
        ("normal", True, ["7", "5"]),
        ("duplicate", False, ["5", "5"]),
        ("out_of_order", False, ["5", "7"]),
        ("none", False, []),
    ],
)
def test_callback_modes(
    sim: EsmsSimulator,
    receiver: Receiver,
    callbacks: str,
    progress: bool,
    expected: list[str],
) -> None:
    sim.default = Script(callbacks=callbacks, progress_callback=progress)
    smsid = smsid_of(make_call(sim, CallbackUrl=receiver.url()))

    assert sim.wait_for_callbacks(len(expected), timeout=5)
    time.sleep(0.2)

    queries = receiver.queries()
    assert [query["SendStatus"] for query in queries] == expected
    assert all(query["ReferenceId"] == smsid for query in queries)
    for query in queries:
        if query["SendStatus"] == "7":
            assert (query["CallStatus"], query["CallDuration"]) == ("", "0")
    if callbacks == "duplicate":
        assert queries[0] == queries[1]
    assert send_status(sim, smsid)["SendStatus"] == 5


def test_a_thousand_calls_with_callbacks_use_a_bounded_number_of_threads(
    receiver: Receiver,
) -> None:
    baseline = threading.active_count()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, threading.active_count())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with (
        EsmsSimulator(callback_delay=0.05) as sim,
        requests.Session() as session,
    ):
        for index in range(1000):
            response = make_call(
                sim, session=session, RequestID=f"bulk-{index}", CallbackUrl=receiver.url()
            )
            assert response.json()["CodeResult"] == "100"
        assert sim.wait_for_callbacks(1000, timeout=20)
        done.set()
        sampler.join()

        assert len(sim.accepted()) == 1000
        assert len(receiver.hits) == 1000
    assert peak - baseline <= 40, (baseline, peak)
