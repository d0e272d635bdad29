"""The client against the eSMS simulator over real HTTP on loopback."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from django_esms_voice.esms.client import EsmsVoiceClient
from django_esms_voice.esms.payloads import RecordCallRequest, TemplateCallRequest
from django_esms_voice.exceptions import (
    EsmsApiError,
    EsmsConfigurationError,
    EsmsConnectionError,
    EsmsHTTPError,
    EsmsInvalidResponse,
    EsmsNotFoundYet,
    EsmsRejected,
    EsmsTimeout,
)
from django_esms_voice.testing.simulator import EsmsSimulator, Outcome, Script

API_KEY = "test-key"
SECRET_KEY = "test-secret"
PHONE = "0901888484"


@pytest.fixture
def sim() -> Iterator[EsmsSimulator]:
    with EsmsSimulator(
        api_key=API_KEY,
        secret_key=SECRET_KEY,
        port=0,
        callback_delay=0.2,
        status_known_delay=0.0,
        stall_seconds=3.0,
    ) as simulator:
        yield simulator


def make_client(
    sim: EsmsSimulator,
    *,
    api_key: str = API_KEY,
    secret_key: str = SECRET_KEY,
    timeout: tuple[float, float] = (1.0, 1.0),
) -> EsmsVoiceClient:
    return EsmsVoiceClient(
        api_key=api_key,
        secret_key=secret_key,
        base_url=sim.base_url,
        balance_url=sim.balance_url,
        timeout=timeout,
    )


@pytest.fixture
def client(sim: EsmsSimulator) -> Iterator[EsmsVoiceClient]:
    sim_client = make_client(sim)
    yield sim_client
    sim_client.close()


@pytest.fixture
def fast_client(sim: EsmsSimulator) -> Iterator[EsmsVoiceClient]:
    """A client that gives up after half a second of silence."""
    sim_client = make_client(sim, timeout=(1.0, 0.5))
    yield sim_client
    sim_client.close()


def record(phone: str = PHONE, **options: object) -> RecordCallRequest:
    return RecordCallRequest(phone=phone, template_id="7821", **options)  # type: ignore[arg-type]


def template(phone: str = PHONE, **options: object) -> TemplateCallRequest:
    return TemplateCallRequest(phone=phone, template_id="3346", **options)  # type: ignore[arg-type]


# Accepted calls


def test_record_call_accepted(sim, client):
    submission = client.make_record_call(
        record(request_id="rec-1", callback_url="https://voice.example.test/cb/rec-1/t/")
    )
    assert submission.code == "100"
    assert submission.already_received is False
    assert submission.request_id == "rec-1"
    # The simulator answers with the docs' trailing space after the SMSID.
    assert submission.smsid
    assert submission.smsid == submission.smsid.strip()
    assert sim.find_call(submission.smsid) is not None
    [seen] = sim.accepted("rec-1")
    assert seen.endpoint == "MakeCallRecord_V2"
    assert seen.params["RequestID"] == "rec-1"
    assert "RequestId" not in seen.params
    assert seen.params["Phone"] == PHONE
    assert seen.params["TemplateId"] == "7821"
    assert seen.params["CallbackUrl"] == "https://voice.example.test/cb/rec-1/t/"


def test_template_call_accepted(sim, client):
    submission = client.make_template_call(
        template(request_id="tpl-1", variables=["Trung", 20000], voice="female", speed=1)
    )
    assert submission.code == "100"
    assert submission.smsid == submission.smsid.strip()
    [seen] = sim.accepted("tpl-1")
    assert seen.endpoint == "MakeCallTemplate_V2"
    assert seen.params["RequestId"] == "tpl-1"
    assert "RequestID" not in seen.params
    assert seen.params["VariableListStr"] == "Trung||20000"
    assert (seen.params["Voice"], seen.params["Speed"]) == ("female", "1")


@pytest.mark.parametrize("call", ["record", "template"])
def test_repeated_request_id_is_already_received(sim, client, call):
    place = client.make_record_call if call == "record" else client.make_template_call
    build = record if call == "record" else template
    first = place(build(request_id="dup-1"))
    second = place(build(request_id="dup-1"))
    assert (first.code, first.already_received) == ("100", False)
    assert (second.code, second.already_received) == ("124", True)
    assert second.request_id == "dup-1"
    assert len(sim.accepted("dup-1")) == 1
    assert len(sim.calls) == 1


# Refusals


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        ("99", EsmsRejected),
        ("102", EsmsConfigurationError),
        ("103", EsmsRejected),
        ("104", EsmsRejected),
        ("106", EsmsRejected),
        ("108", EsmsRejected),
        ("140", EsmsConfigurationError),
        ("999", EsmsRejected),
    ],
)
def test_scripted_refusal_raises_its_error(sim, client, code, error_class):
    sim.script(PHONE, Script(reject_code=code))
    with pytest.raises(error_class) as caught:
        client.make_record_call(record(request_id=f"ref-{code}"))
    error = caught.value
    assert error.code == code
    assert error.endpoint == "MakeCallRecord_V2"
    assert error.retryable is False
    assert isinstance(error, EsmsConfigurationError) == (error_class is EsmsConfigurationError)
    assert sim.accepted() == []
    assert sim.requests[-1].code == code


def test_refusal_of_one_phone_leaves_others_alone(sim, client):
    sim.script(PHONE, Script(reject_code="99"))
    with pytest.raises(EsmsRejected):
        client.make_template_call(template())
    assert client.make_template_call(template(phone="0912345678")).code == "100"


def test_wrong_credentials_are_a_configuration_error(sim):
    wrong = make_client(sim, secret_key="not-the-secret")
    try:
        with pytest.raises(EsmsConfigurationError) as caught:
            wrong.make_record_call(record())
        assert caught.value.code == "101"
        assert caught.value.provider_message == "Authorize Failed"
        with pytest.raises(EsmsConfigurationError) as status:
            wrong.get_send_status("505139D7-54F8-48A9-88FA-9460A78731DD")
        assert status.value.code == "101"
        with pytest.raises(EsmsConfigurationError) as balance:
            wrong.get_balance()
        assert balance.value.code == "101"
    finally:
        wrong.close()
    assert sim.calls == {}


# Transport failures


def test_timeout_then_resend_is_already_received(sim, fast_client):
    sim.script(PHONE, Script(failures=["timeout"]))
    started = time.monotonic()
    with pytest.raises(EsmsTimeout) as caught:
        fast_client.make_record_call(record(request_id="slow-1"))
    assert time.monotonic() - started < 2.5
    assert caught.value.retryable is True
    # The call reached eSMS although no answer came back: the safe retry is the same RequestId.
    again = fast_client.make_record_call(record(request_id="slow-1"))
    assert again.already_received is True
    assert again.code == "124"
    assert len(sim.accepted("slow-1")) == 1


def test_timeout_before_reaching_esms_then_resend_is_accepted(sim, fast_client):
    sim.script(PHONE, Script(failures=["timeout_before"]))
    with pytest.raises(EsmsTimeout):
        fast_client.make_record_call(record(request_id="slow-2"))
    assert sim.accepted("slow-2") == []
    again = fast_client.make_record_call(record(request_id="slow-2"))
    assert (again.code, again.already_received) == ("100", False)
    assert len(sim.accepted("slow-2")) == 1


def test_http_500_is_a_retryable_http_error(sim, client):
    sim.script(PHONE, Script(failures=["http_500"]))
    with pytest.raises(EsmsHTTPError) as caught:
        client.make_record_call(record(request_id="err-1"))
    assert caught.value.status_code == 500
    assert caught.value.retryable is True
    assert client.make_record_call(record(request_id="err-1")).code == "100"


def test_non_json_answer_is_an_invalid_response(sim, client):
    sim.script(PHONE, Script(failures=["non_json"]))
    with pytest.raises(EsmsInvalidResponse) as caught:
        client.make_record_call(record())
    assert caught.value.retryable is True
    assert "Service Unavailable" in str(caught.value)


def test_dropped_connection_is_a_connection_error(sim, client):
    sim.script(PHONE, Script(failures=["drop"]))
    with pytest.raises(EsmsConnectionError) as caught:
        client.make_record_call(record(request_id="drop-1"))
    assert caught.value.retryable is True
    # The client recovers on the same session.
    assert client.make_record_call(record(request_id="drop-1")).code == "100"


def test_dropped_connection_after_keep_alive_is_a_connection_error(sim, client):
    # A reused keep-alive connection that the server closes mid-request must not be retried
    # silently by the transport: the client decides, with the same RequestId.
    assert client.make_template_call(template(phone="0912345678")).code == "100"
    sim.script(PHONE, Script(failures=["drop"]))
    with pytest.raises(EsmsConnectionError):
        client.make_template_call(template(request_id="drop-2"))
    drops = [entry for entry in sim.requests if entry.failure == "drop"]
    assert len(drops) == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_nothing_listening_is_a_connection_error():
    base_url = f"http://127.0.0.1:{closed_port()}/MainService.svc/json/"
    nobody = EsmsVoiceClient(
        api_key=API_KEY,
        secret_key=SECRET_KEY,
        base_url=base_url,
        balance_url=base_url,
        timeout=(1.0, 1.0),
    )
    for call in (
        lambda: nobody.make_record_call(record()),
        lambda: nobody.get_send_status("abc"),
        nobody.get_balance,
    ):
        with pytest.raises(EsmsConnectionError) as caught:
            call()
        assert caught.value.retryable is True


# Status and balance


def test_get_send_status_not_found_yet_then_answered(sim, client):
    sim.status_known_delay = 0.4
    submission = client.make_record_call(record(request_id="status-1"))
    with pytest.raises(EsmsNotFoundYet) as caught:
        client.get_send_status(submission.smsid)
    assert caught.value.code == "105"
    assert caught.value.retryable is True
    deadline = time.monotonic() + 5
    result = None
    while time.monotonic() < deadline:
        try:
            result = client.get_send_status(submission.smsid)
        except EsmsNotFoundYet:
            time.sleep(0.05)
            continue
        if result.send_status == 5:
            break
        time.sleep(0.05)
    assert result is not None
    assert result.reference_id.casefold() == submission.smsid.casefold()
    assert result.call_status == "ANSWERED"
    assert result.send_status == 5
    assert result.sent_result == 1
    assert result.call_duration == 13


def test_get_send_status_no_answer(sim, client):
    sim.script(PHONE, Script(outcome=Outcome.no_answer()))
    sim.callback_delay = 0.0
    submission = client.make_template_call(template())
    result = client.get_send_status(submission.smsid.upper())
    assert result.call_status == "NOANSWERED"
    assert (result.send_status, result.call_duration) == (5, 0)


def test_get_send_status_of_an_unknown_call(sim, client):
    with pytest.raises(EsmsNotFoundYet):
        client.get_send_status("00000000-0000-0000-0000-000000000000")


def test_get_balance(sim, client):
    before = client.get_balance()
    assert before.user_id == "9999"
    client.make_record_call(record())
    after = client.get_balance()
    assert before.balance - after.balance == sim.price_per_call
    [entry, *_] = [r for r in sim.requests if r.endpoint == "GetBalance_json"]
    assert entry.params == {"ApiKey": API_KEY, "SecretKey": SECRET_KEY}


def test_low_balance_is_refused(sim, client):
    sim.balance = sim.price_per_call / 2
    with pytest.raises(EsmsRejected) as caught:
        client.make_record_call(record())
    assert caught.value.code == "103"


# Connections


def _pools(client: EsmsVoiceClient, url: str) -> list:
    """Return this thread's urllib3 connection pools for the URL's scheme."""
    pools = client.session.get_adapter(url).poolmanager.pools
    return [pools[key] for key in list(pools.keys())]


def test_sequential_calls_reuse_one_keep_alive_connection(sim, client, caplog):
    caplog.set_level(logging.DEBUG, logger="urllib3")
    session = client.session
    for index in range(20):
        client.make_record_call(record(request_id=f"ka-{index}"))
    assert client.session is session
    assert len(sim.accepted()) == 20
    [pool] = _pools(client, sim.base_url)
    assert pool.num_requests == 20
    assert pool.num_connections == 1
    opened = [r for r in caplog.records if "Starting new HTTP connection" in r.getMessage()]
    assert len(opened) == 1


def test_each_thread_gets_its_own_session(sim, client):
    sessions: dict[str, requests.Session] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            first = client.session
            client.make_record_call(record(request_id=f"thread-{name}"))
            assert client.session is first
            sessions[name] = first
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert sessions["a"] is not sessions["b"]
    assert client.session is not sessions["a"]
    assert client.session is not sessions["b"]
    assert len(sim.accepted()) == 2


def test_concurrent_threads_share_one_client(sim, client):
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        try:
            for attempt in range(5):
                submission = client.make_template_call(template(request_id=f"c-{index}-{attempt}"))
                with lock:
                    results.append(submission.code)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert results == ["100"] * 40
    assert len(sim.accepted()) == 40


def test_every_error_is_an_esms_error(sim, client):
    sim.script(PHONE, Script(reject_code="146"))
    with pytest.raises(EsmsApiError) as caught:
        client.make_record_call(record())
    assert caught.value.code == "146"
