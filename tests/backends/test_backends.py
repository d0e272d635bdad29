"""The backends: HTTP through the client, locmem for tests, selection by ESMS_VOICE["BACKEND"]."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core import checks
from django.test import override_settings

from django_esms_voice import services, testing
from django_esms_voice.backends import (
    LOCMEM_BACKEND,
    HttpBackend,
    LocmemBackend,
    VoiceBackend,
    get_backend,
)
from django_esms_voice.backends import locmem as locmem_backend
from django_esms_voice.conf import voice_settings
from django_esms_voice.esms.client import EsmsVoiceClient
from django_esms_voice.esms.payloads import RecordCallRequest, TemplateCallRequest
from django_esms_voice.exceptions import (
    EsmsConfigurationError,
    EsmsConnectionError,
    EsmsHTTPError,
    EsmsInvalidResponse,
    EsmsNotFoundYet,
    EsmsRejected,
    EsmsSettingsError,
    EsmsTimeout,
)
from django_esms_voice.models import EventOutcome, VoiceCall
from django_esms_voice.states import CallStatus
from django_esms_voice.testing.simulator import EsmsSimulator, Script

PHONE = "0901888484"
OTHER = "0912345678"
KEYS = {"API_KEY": "test-key", "SECRET_KEY": "test-secret"}
LOCMEM = {**KEYS, "BACKEND": LOCMEM_BACKEND}
HTTP_BACKEND = "django_esms_voice.backends.HttpBackend"  # the documented default


@pytest.fixture(scope="module")
def simulator() -> Iterator[EsmsSimulator]:
    """A fake eSMS on a free loopback port, for the HTTP backend."""
    with EsmsSimulator(api_key="test-key", secret_key="test-secret", port=0) as sim:
        yield sim


@pytest.fixture
def sim(simulator: EsmsSimulator, settings: Any) -> Iterator[EsmsSimulator]:
    """The simulator, reset, with the app pointed at it through the default backend."""
    simulator.reset()
    settings.ESMS_VOICE = {
        **KEYS,
        "BASE_URL": simulator.base_url,
        "BALANCE_URL": simulator.balance_url,
        "TIMEOUT": (2.0, 5.0),
    }
    yield simulator
    simulator.reset()


@pytest.fixture
def locmem(settings: Any) -> Iterator[list[Any]]:
    """Select the locmem backend with an empty outbox."""
    settings.ESMS_VOICE = LOCMEM
    testing.reset_outbox()
    yield testing.outbox
    testing.reset_outbox()


def record(phone: str = PHONE, request_id: str | None = "req-1", **extra: Any) -> RecordCallRequest:
    """Return a recording request."""
    return RecordCallRequest(phone=phone, template_id="rec-1", request_id=request_id, **extra)


# ----------------------------------------------------------------------------- selection


def test_the_default_backend_is_http() -> None:
    with override_settings(ESMS_VOICE=KEYS):
        backend = get_backend()
        assert isinstance(backend, HttpBackend)
        assert voice_settings().backend == HTTP_BACKEND


def test_the_setting_selects_the_backend_and_a_change_rebuilds_it() -> None:
    with override_settings(ESMS_VOICE=KEYS):
        http = get_backend()
        assert get_backend() is http  # cached
    with override_settings(ESMS_VOICE=LOCMEM):
        assert isinstance(get_backend(), LocmemBackend)
    with override_settings(ESMS_VOICE=KEYS):
        assert isinstance(get_backend(), HttpBackend)


def test_both_backends_follow_the_protocol() -> None:
    assert isinstance(HttpBackend(), VoiceBackend)
    assert isinstance(LocmemBackend(), VoiceBackend)


class CustomBackend:
    """A user's own backend, named by its dotted path."""

    def make_call(self, request: Any) -> Any:
        raise NotImplementedError

    def get_send_status(self, smsid: str) -> Any:
        raise NotImplementedError

    def get_balance(self) -> Any:
        raise NotImplementedError


def test_a_custom_backend_class_is_loaded_by_its_path() -> None:
    with override_settings(
        ESMS_VOICE={**KEYS, "BACKEND": "tests.backends.test_backends.CustomBackend"}
    ):
        assert isinstance(get_backend(), CustomBackend)
        assert [m for m in checks.run_checks() if str(m.id).startswith("esms_voice.E")] == []


@pytest.mark.parametrize(
    "value",
    [
        "django_esms_voice.backends.NoSuchBackend",
        "no_such_module.Backend",
        "HttpBackend",
        "",
        42,
        None,
        "django_esms_voice.backends.LOCMEM_BACKEND",  # a string, not a class
    ],
)
def test_a_wrong_backend_is_e007_naming_the_setting(value: object) -> None:
    with override_settings(ESMS_VOICE={**KEYS, "BACKEND": value}):
        messages = [m for m in checks.run_checks() if str(m.id).startswith("esms_voice.E")]
        assert [m.id for m in messages] == ["esms_voice.E007"]
        assert "ESMS_VOICE['BACKEND']" in messages[0].msg
        assert "LocmemBackend" in (messages[0].hint or "")
        with pytest.raises(EsmsSettingsError, match=r"ESMS_VOICE\['BACKEND'\]"):
            get_backend()


# ----------------------------------------------------------------------------- HTTP backend


def test_http_backend_sends_each_kind_to_its_endpoint(sim: EsmsSimulator) -> None:
    backend = HttpBackend()
    record_answer = backend.make_call(record())
    template_answer = backend.make_call(
        TemplateCallRequest(phone=OTHER, template_id="tpl", request_id="req-2", variables=["A"])
    )
    assert record_answer.code == template_answer.code == "100"
    endpoints = [r.endpoint for r in sim.requests]
    assert endpoints == ["MakeCallRecord_V2", "MakeCallTemplate_V2"]


def test_http_backend_reads_status_and_balance(sim: EsmsSimulator) -> None:
    backend = HttpBackend()
    with pytest.raises(EsmsNotFoundYet):
        backend.get_send_status("no-such-smsid")
    balance = backend.get_balance()
    assert balance.balance > 0


def test_http_backend_uses_the_client_it_is_given(sim: EsmsSimulator) -> None:
    client = EsmsVoiceClient(
        api_key="wrong", secret_key="keys", base_url=sim.base_url, balance_url=sim.balance_url
    )
    with pytest.raises(EsmsConfigurationError) as caught:
        HttpBackend(client).get_balance()
    assert caught.value.code == "101"
    assert HttpBackend(client).client is client


def test_http_backend_without_credentials_names_the_setting() -> None:
    with (
        override_settings(ESMS_VOICE={"BACKEND": HTTP_BACKEND}),
        pytest.raises(EsmsSettingsError, match=r"ESMS_VOICE\['API_KEY'\]"),
    ):
        get_backend().make_call(record())


@pytest.mark.django_db
def test_services_place_calls_through_the_configured_backend(
    locmem: list[Any], sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = {**settings.ESMS_VOICE, "BACKEND": LOCMEM_BACKEND}
    call = services.create_call(enqueue=False, phone=PHONE, template_id="rec-1")
    assert services.place_call(call.pk).status == CallStatus.ACCEPTED
    assert len(locmem) == 1
    assert sim.requests == []  # nothing left the process


# ----------------------------------------------------------------------------- locmem backend


def test_locmem_accepts_with_a_new_smsid_and_keeps_the_request(locmem: list[Any]) -> None:
    backend = LocmemBackend()
    first = backend.make_call(record(request_id="a"))
    second = backend.make_call(record(phone=OTHER, request_id="b"))
    assert first.code == second.code == "100"
    assert first.smsid
    assert second.smsid
    assert first.smsid != second.smsid
    assert first.request_id == "a"
    assert [r.request_id for r in locmem] == ["a", "b"]
    assert locmem[1].phone == OTHER


def test_locmem_answers_124_to_a_request_id_it_already_has(locmem: list[Any]) -> None:
    backend = LocmemBackend()
    backend.make_call(record(request_id="same"))
    again = backend.make_call(record(request_id="same"))
    assert again.code == "124"
    assert again.already_received
    assert again.smsid is None
    assert len(locmem) == 2  # eSMS received both


@pytest.mark.parametrize(
    ("code", "error_class", "retryable"),
    [
        ("99", EsmsRejected, False),
        ("101", EsmsConfigurationError, False),
        ("102", EsmsConfigurationError, False),
        ("103", EsmsRejected, False),
        ("104", EsmsRejected, False),
        ("106", EsmsRejected, False),
        ("108", EsmsRejected, False),
        ("140", EsmsConfigurationError, False),
        ("777", EsmsRejected, False),  # unknown codes are refusals, kept as they came
    ],
)
def test_locmem_raises_what_the_client_raises_for_a_refusal(
    locmem: list[Any], code: str, error_class: type[Exception], retryable: bool
) -> None:
    testing.script_answer(PHONE, code=code)
    with pytest.raises(error_class) as caught:
        LocmemBackend().make_call(record())
    error = caught.value
    assert type(error) is error_class
    assert error.code == code  # type: ignore[attr-defined]
    assert error.endpoint == "MakeCallRecord_V2"  # type: ignore[attr-defined]
    assert error.retryable is retryable
    assert f"code {code}" in str(error)
    assert len(locmem) == 1


def test_locmem_refusals_match_the_http_client_for_the_same_code(
    locmem: list[Any], simulator: EsmsSimulator, settings: Any
) -> None:
    simulator.reset()
    simulator.script(PHONE, Script(reject_code="103"))
    client = EsmsVoiceClient(
        api_key="test-key", secret_key="test-secret", base_url=simulator.base_url
    )
    with pytest.raises(EsmsRejected) as over_http:
        client.make_record_call(record())
    testing.script_answer(PHONE, code="103")
    with pytest.raises(EsmsRejected) as in_memory:
        LocmemBackend().make_call(record())
    simulator.reset()
    assert type(over_http.value) is type(in_memory.value)
    assert over_http.value.code == in_memory.value.code
    assert over_http.value.description == in_memory.value.description


@pytest.mark.parametrize(
    ("name", "error_class"),
    [
        ("timeout", EsmsTimeout),
        ("connection", EsmsConnectionError),
        ("http", EsmsHTTPError),
        ("invalid", EsmsInvalidResponse),
    ],
)
def test_locmem_raises_scripted_transport_errors(
    locmem: list[Any], name: str, error_class: type[Exception]
) -> None:
    testing.script_answer(PHONE, error=name)
    with pytest.raises(error_class) as caught:
        LocmemBackend().make_call(record())
    assert caught.value.retryable is True  # type: ignore[attr-defined]


def test_a_scripted_answer_is_for_its_phone_only_in_any_spelling(locmem: list[Any]) -> None:
    testing.script_answer("+84 90 188 84 84", code=103)
    with pytest.raises(EsmsRejected):
        LocmemBackend().make_call(record(phone=PHONE))
    assert LocmemBackend().make_call(record(phone=OTHER, request_id="b")).code == "100"


def test_times_limits_a_scripted_answer_then_the_default_comes_back(locmem: list[Any]) -> None:
    testing.script_answer(PHONE, error="timeout", times=2)
    backend = LocmemBackend()
    for _ in range(2):
        with pytest.raises(EsmsTimeout):
            backend.make_call(record())
    assert backend.make_call(record()).code == "100"


def test_limited_answers_come_before_the_standing_one(locmem: list[Any]) -> None:
    testing.script_answer(PHONE, code="103")
    testing.script_answer(PHONE, error="connection", times=1)
    backend = LocmemBackend()
    with pytest.raises(EsmsConnectionError):
        backend.make_call(record())
    with pytest.raises(EsmsRejected):
        backend.make_call(record())
    with pytest.raises(EsmsRejected):
        backend.make_call(record())


def test_a_scripted_exception_instance_is_raised_as_is(locmem: list[Any]) -> None:
    error = EsmsTimeout("custom", endpoint="MakeCallRecord_V2")
    testing.script_answer(PHONE, error=error)
    with pytest.raises(EsmsTimeout) as caught:
        LocmemBackend().make_call(record())
    assert caught.value is error


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"code": "103", "error": "timeout"},
        {"error": "nope"},
        {"code": "105"},
        {"code": 100, "times": 0},
    ],
)
def test_script_answer_refuses_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        testing.script_answer(PHONE, **kwargs)


def test_locmem_fills_the_call_defaults_like_the_http_client(
    locmem: list[Any], settings: Any
) -> None:
    settings.ESMS_VOICE = {**LOCMEM, "DEFAULT_VOICE": "female", "DEFAULT_MAX_RETRY": 2}
    backend = LocmemBackend()
    backend.make_call(TemplateCallRequest(phone=PHONE, template_id="t", request_id="x"))
    backend.make_call(record(request_id="y"))
    assert locmem[0].voice == "female"
    assert locmem[1].max_retry == 2


def test_locmem_status_is_105_until_scripted(locmem: list[Any]) -> None:
    backend = LocmemBackend()
    smsid = backend.make_call(record()).smsid
    assert smsid
    with pytest.raises(EsmsNotFoundYet):
        backend.get_send_status(smsid)
    testing.script_status(smsid, status="no_answer")
    result = backend.get_send_status(f" {smsid.upper()} ")
    assert (result.send_status, result.call_status, result.sent_result) == (5, "NO ANSWER", 1)
    testing.script_status(smsid, code="101")
    with pytest.raises(EsmsConfigurationError):
        backend.get_send_status(smsid)


def test_locmem_balance_is_canned_and_scriptable(locmem: list[Any]) -> None:
    backend = LocmemBackend()
    assert backend.get_balance().balance == Decimal("1000000")
    testing.script_balance(Decimal("42.5"))
    assert backend.get_balance().balance == Decimal("42.5")
    testing.script_balance(code=101)
    with pytest.raises(EsmsConfigurationError):
        backend.get_balance()
    testing.reset_outbox()
    assert backend.get_balance().balance == Decimal("1000000")


def test_reset_keeps_the_same_outbox_list(locmem: list[Any]) -> None:
    outbox = testing.outbox
    LocmemBackend().make_call(record())
    testing.script_answer(OTHER, code="103")
    testing.reset_outbox()
    assert testing.outbox is outbox is locmem_backend.STATE.outbox
    assert outbox == []
    assert LocmemBackend().make_call(record(phone=OTHER)).code == "100"


# ----------------------------------------------------------------------------- through services


@pytest.mark.django_db
def test_a_refusal_from_locmem_rejects_the_call_like_http(locmem: list[Any]) -> None:
    testing.script_answer(PHONE, code="106")
    call = services.create_call(enqueue=False, phone=PHONE, template_id="rec-1")
    assert services.place_call(call.pk).status == CallStatus.REJECTED
    call.refresh_from_db()
    assert call.last_error_code == "106"
    assert "Recording file does not exist" in call.last_error_message


@pytest.mark.django_db
def test_a_transport_error_from_locmem_leaves_the_call_pending_for_a_retry(
    locmem: list[Any],
) -> None:
    testing.script_answer(PHONE, error="timeout", times=1)
    call = services.create_call(enqueue=False, phone=PHONE, template_id="rec-1")
    first = services.place_call(call.pk)
    assert first.status == CallStatus.PENDING
    assert first.retry_in is not None
    assert services.place_call(call.pk).status == CallStatus.ACCEPTED
    call.refresh_from_db()
    assert call.attempts == 2
    assert [r.request_id for r in locmem] == [str(call.uuid)] * 2  # same RequestId


@pytest.mark.django_db
def test_refresh_status_goes_through_the_backend(locmem: list[Any]) -> None:
    call = services.create_call(enqueue=False, phone=PHONE, template_id="rec-1")
    services.place_call(call.pk)
    call.refresh_from_db()
    unknown = services.refresh_status(call)  # 105: not known yet, stored, nothing changed
    assert unknown is not None
    assert unknown.outcome == EventOutcome.NOT_KNOWN_YET
    testing.script_status(call, status="answered", duration=21)
    event = services.refresh_status(call)
    assert event is not None
    assert event.outcome == EventOutcome.APPLIED
    call = VoiceCall.objects.get(pk=call.pk)
    assert (call.status, call.duration) == (CallStatus.ANSWERED, 21)


def test_a_scripted_124_says_the_call_was_already_received(locmem: list[Any]) -> None:
    testing.script_answer(PHONE, code=124)
    answer = LocmemBackend().make_call(record(request_id="fresh"))
    assert (answer.code, answer.smsid, answer.already_received) == ("124", None, True)


@pytest.mark.django_db
def test_a_scripted_124_accepts_the_call_without_an_smsid(locmem: list[Any]) -> None:
    testing.script_answer(PHONE, code="124")
    call = services.create_call(enqueue=False, phone=PHONE, template_id="rec-1")
    assert services.place_call(call.pk).status == CallStatus.ACCEPTED
    call.refresh_from_db()
    assert (call.status, call.smsid) == (CallStatus.ACCEPTED, "")
