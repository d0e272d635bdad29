"""The esms_voice_call and esms_voice_balance commands: success, and every error exit."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connections
from kombu.exceptions import OperationalError as BrokerError

from django_esms_voice import services, testing
from django_esms_voice.backends import LOCMEM_BACKEND
from django_esms_voice.management.commands import esms_voice_call
from django_esms_voice.models import CallKind, VoiceCall
from django_esms_voice.states import CallStatus
from django_esms_voice.tasks import place_call_task
from django_esms_voice.testing.simulator import EsmsSimulator

PHONE = "0901888484"
API_KEY = "cmd-api-key-5f1c9e"
SECRET_KEY = "cmd-secret-key-a83d27"
LOCMEM = {
    "API_KEY": API_KEY,
    "SECRET_KEY": SECRET_KEY,
    "CALLBACK_BASE_URL": "https://voice.example.test",
    "BACKEND": LOCMEM_BACKEND,
}


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No eSMS keys from the developer's environment, an empty outbox, no broker."""
    monkeypatch.delenv("ESMS_VOICE_API_KEY", raising=False)
    monkeypatch.delenv("ESMS_VOICE_SECRET_KEY", raising=False)
    testing.reset_outbox()
    yield
    testing.reset_outbox()


@pytest.fixture
def locmem(settings: Any) -> list[Any]:
    """Select the locmem backend."""
    settings.ESMS_VOICE = LOCMEM
    return testing.outbox


@pytest.fixture
def apply_async(monkeypatch: pytest.MonkeyPatch) -> mock.Mock:
    """Stand in for the broker."""
    fake = mock.Mock(name="place_call_task.apply_async")
    monkeypatch.setattr(place_call_task, "apply_async", fake)
    return fake


@pytest.fixture(scope="module")
def simulator() -> Iterator[EsmsSimulator]:
    """A fake eSMS on a free loopback port."""
    with EsmsSimulator(api_key=API_KEY, secret_key=SECRET_KEY, port=0, balance=36693) as sim:
        yield sim


@pytest.fixture
def sim(simulator: EsmsSimulator, settings: Any) -> Iterator[EsmsSimulator]:
    """The simulator, reset, with the app pointed at it over HTTP."""
    simulator.reset()
    settings.ESMS_VOICE = {
        "API_KEY": API_KEY,
        "SECRET_KEY": SECRET_KEY,
        "BASE_URL": simulator.base_url,
        "BALANCE_URL": simulator.balance_url,
        "TIMEOUT": (2.0, 5.0),
    }
    yield simulator
    simulator.reset()


def run(*args: str) -> tuple[str, str]:
    """Run a command through call_command; return (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run a command as manage.py does; return (exit status, stdout, stderr)."""
    # manage.py closes the connections at the end, which would lose the test's transaction.
    try:
        with mock.patch.object(connections, "close_all"):
            execute_from_command_line(["manage.py", *args])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    else:
        code = 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def closed_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ----------------------------------------------------------------------------- esms_voice_call


@pytest.mark.django_db
def test_call_sync_places_the_call_and_prints_its_status(locmem: list[Any]) -> None:
    out, err = run("esms_voice_call", "+84 90 188 84 84", "--template-id", "rec-1", "--sync")
    call = VoiceCall.objects.get()
    assert f"Call {call.uuid} created." in out
    assert "Status: accepted" in out
    assert err == ""
    assert call.status == CallStatus.ACCEPTED
    assert call.phone == PHONE
    assert [(r.phone, r.template_id, r.request_id) for r in locmem] == [
        (PHONE, "rec-1", str(call.uuid))
    ]


@pytest.mark.django_db
def test_call_enqueues_by_default(locmem: list[Any], apply_async: mock.Mock) -> None:
    out, _ = run("esms_voice_call", PHONE, "--template-id", "rec-1", "--batch", "shell")
    call = VoiceCall.objects.get()
    assert [c.args[0] for c in apply_async.call_args_list] == [(call.pk,)]
    assert "Status: pending" in out
    assert call.batch == "shell"
    assert locmem == []  # the worker sends it, not this process


@pytest.mark.django_db
def test_call_with_the_broker_down_warns_and_leaves_the_call_to_the_sweep(
    locmem: list[Any], apply_async: mock.Mock
) -> None:
    apply_async.side_effect = BrokerError("connection refused")
    out, err = run("esms_voice_call", PHONE, "--template-id", "rec-1")
    assert "broker could not be reached" in err
    assert "esms_voice_sweep" in err
    assert "Status: pending" in out
    assert VoiceCall.objects.get().status == CallStatus.PENDING


@pytest.mark.django_db
def test_call_script_options_reach_the_request(locmem: list[Any]) -> None:
    run(
        "esms_voice_call", PHONE, "--template-id", "tpl-9", "--script",
        "--var", "Trung", "--var", "20000", "--voice", "hatieumai", "--speed", "-1", "--sync",
    )  # fmt: skip
    request = locmem[0]
    assert (request.template_id, tuple(request.variables)) == ("tpl-9", ("Trung", "20000"))
    assert (request.voice, request.speed) == ("hatieumai", -1)
    assert VoiceCall.objects.get().kind == CallKind.TEMPLATE


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("flags", "secret"),
    [([], True), (["--no-secret"], False), (["--secret", "--purpose", "customer_care"], True)],
)
def test_call_secret_values_are_sent_then_wiped_and_never_printed(
    locmem: list[Any], flags: list[str], secret: bool
) -> None:
    out, err = run(
        "esms_voice_call", PHONE, "--template-id", "otp-1", "--script", "--var", "483920",
        "--purpose", "transactional", *flags, "--sync",
    )  # fmt: skip
    call = VoiceCall.objects.get()
    assert tuple(locmem[0].variables) == ("483920",)  # eSMS got the value
    assert call.secret_variables is secret
    assert call.variables == (["***"] if secret else ["483920"])
    assert "483920" not in out + err


@pytest.mark.django_db
def test_call_ivr_and_forward_reach_the_request(locmem: list[Any]) -> None:
    run(
        "esms_voice_call", PHONE, "--template-id", "rec-1", "--ivr", "1",
        "--forward", "+84912345678", "--sync",
    )  # fmt: skip
    assert (locmem[0].ivr, locmem[0].number_forward) == (1, "0912345678")


@pytest.mark.django_db
def test_call_at_reads_a_time_without_offset_in_the_site_time_zone(locmem: list[Any]) -> None:
    run("esms_voice_call", PHONE, "--template-id", "rec-1", "--at", "2030-03-01T09:30", "--sync")
    send_at = VoiceCall.objects.get().send_at
    assert send_at == dt.datetime(2030, 3, 1, 9, 30, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    assert locmem[0].to_params()["SendDate"] == "2030/03/01 09:30:00"


@pytest.mark.django_db
def test_call_at_keeps_an_explicit_offset(locmem: list[Any]) -> None:
    run("esms_voice_call", PHONE, "--template-id", "rec-1", "--at", "2030-03-01T02:30+00:00")
    assert VoiceCall.objects.get().send_at == dt.datetime(2030, 3, 1, 2, 30, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_call_takes_every_recording_option_of_the_declaration(locmem: list[Any]) -> None:
    """The redial flags come from options.OPTIONS: they reach eSMS as MaxRepeat, ..."""
    run(
        "esms_voice_call", PHONE, "--template-id", "rec-1", "--sync", "--max-repeat", "2",
        "--max-retry", "1", "--time-wait-to-ivr", "8", "--wait-retry", "60",
    )  # fmt: skip
    [request] = locmem
    params = request.to_params()
    assert (params["MaxRepeat"], params["MaxRetry"]) == ("2", "1")
    assert (params["TimeWaitToIvr"], params["WaitRetry"]) == ("8", "60")


@pytest.mark.django_db
def test_call_refuses_a_recording_option_on_a_script(locmem: list[Any]) -> None:
    with pytest.raises(CommandError, match="recording calls only"):
        run("esms_voice_call", PHONE, "--template-id", "t", "--script", "--max-repeat", "2")
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["12345", "--template-id", "rec-1"], r"not created: phone: "),
        (["0901888484", "--template-id", "rec-1", "--var", "x"], r"not created: variables: "),
        (["0901888484", "--template-id", "t", "--script", "--var", "a||b"], r"contains '\|\|'"),
        (["0901888484", "--template-id", "rec-1", "--ivr", "1"], r"not created: ivr: "),
        (["0901888484", "--template-id", "rec-1", "--ivr", "12", "--forward", "0912345678"],
         r"not created: ivr: "),
        (["0901888484", "--template-id", "rec-1", "--at", "next tuesday"], r"--at must be"),
        (["0901888484", "--template-id", "rec-1", "--wait", "--timeout", "0"], r"--timeout"),
    ],
)  # fmt: skip
def test_call_refuses_bad_input_naming_the_reason(
    locmem: list[Any], args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        run("esms_voice_call", *args)
    assert not VoiceCall.objects.exists()
    assert locmem == []


@pytest.mark.django_db
def test_a_bad_phone_exits_1_with_the_reason_on_stderr(
    locmem: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "esms_voice_call", "0123", "--template-id", "rec-1")
    assert code == 1
    assert "phone" in err
    assert out == ""


@pytest.mark.django_db
def test_call_without_credentials_names_the_setting_and_creates_nothing(
    settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.ESMS_VOICE = {"CALLBACK_BASE_URL": "https://voice.example.test"}
    code, _, err = run_cli(capsys, "esms_voice_call", PHONE, "--template-id", "rec-1", "--sync")
    assert code == 1
    assert "ESMS_VOICE['API_KEY']" in err
    assert "ESMS_VOICE_API_KEY" in err
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_call_refused_by_esms_exits_1_with_the_code(
    locmem: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    testing.script_answer(PHONE, code=104)
    code, out, err = run_cli(capsys, "esms_voice_call", PHONE, "--template-id", "rec-1", "--sync")
    call = VoiceCall.objects.get()
    assert code == 1
    assert "Status: rejected" in out
    assert f"eSMS refused call {call.uuid}" in err
    assert "code 104" in err


@pytest.mark.django_db
def test_call_refused_for_the_account_exits_1_and_says_placement_paused(
    locmem: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    testing.script_answer(PHONE, code=103)
    code, out, err = run_cli(capsys, "esms_voice_call", PHONE, "--template-id", "rec-1", "--sync")
    call = VoiceCall.objects.get()
    assert code == 1
    assert f"Call {call.uuid} created." in out
    assert call.status == CallStatus.PENDING
    assert "Placement is paused for the whole eSMS account (code 103" in err
    assert f"Call {call.uuid} stays pending" in err
    assert "Top up the eSMS account" in err

    # While paused, another call is not sent either, and says so.
    code, _, err = run_cli(capsys, "esms_voice_call", PHONE, "--template-id", "rec-1", "--sync")
    assert code == 1
    assert "Placement is paused" in err
    assert len(locmem) == 1


@pytest.mark.django_db
def test_call_refused_over_http_never_prints_the_keys(
    sim: EsmsSimulator, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.ESMS_VOICE = {**settings.ESMS_VOICE, "SECRET_KEY": "wrong-secret-77ab"}
    code, out, err = run_cli(capsys, "esms_voice_call", PHONE, "--template-id", "rec-1", "--sync")
    assert code == 1
    assert "code 101" in err
    for secret in (API_KEY, "wrong-secret-77ab"):
        assert secret not in out + err
    assert VoiceCall.objects.get().status == CallStatus.PENDING  # wrong keys pause placement


@pytest.mark.django_db
def test_call_sync_over_http_to_the_simulator(sim: EsmsSimulator) -> None:
    out, _ = run("esms_voice_call", PHONE, "--template-id", "rec-1", "--sync")
    assert "Status: accepted" in out
    call = VoiceCall.objects.get()
    assert [r.request_id for r in sim.accepted()] == [str(call.uuid)]


@pytest.mark.django_db
def test_call_sync_transport_failure_exits_1_and_leaves_the_call_pending(
    locmem: list[Any],
) -> None:
    testing.script_answer(PHONE, error="timeout")
    with pytest.raises(CommandError, match=r"could not be reached .*stays pending"):
        run("esms_voice_call", PHONE, "--template-id", "rec-1", "--sync")
    assert VoiceCall.objects.get().status == CallStatus.PENDING


@pytest.mark.django_db
def test_call_sync_giving_up_exits_1_as_error(locmem: list[Any], settings: Any) -> None:
    settings.ESMS_VOICE = {**LOCMEM, "MAX_ATTEMPTS": 1}
    testing.script_answer(PHONE, error="connection")
    with pytest.raises(CommandError, match="could not be sent: gave up after 1 attempt"):
        run("esms_voice_call", PHONE, "--template-id", "rec-1", "--sync")
    assert VoiceCall.objects.get().status == CallStatus.ERROR


# -- --wait


class FakeClock:
    """Stands in for the command's monotonic() and sleep(): time passes only when it sleeps."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None) -> None:
        self.now = 1000.0
        self.sleeps = 0
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(self.sleeps)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Install a fake clock in the command."""
    fake = FakeClock()
    monkeypatch.setattr(esms_voice_call, "monotonic", fake.monotonic)
    monkeypatch.setattr(esms_voice_call, "sleep", fake.sleep)
    return fake


@pytest.mark.django_db
def test_wait_follows_the_call_to_its_result(locmem: list[Any], clock: FakeClock) -> None:
    def callbacks(n: int) -> None:
        call = VoiceCall.objects.get()
        if n == 2:
            testing.deliver_callback(call, status="in_progress")
        elif n == 4:
            testing.deliver_callback(call, status="answered", duration=21, ivr="1")

    clock.on_sleep = callbacks
    out, _ = run("esms_voice_call", PHONE, "--template-id", "rec-1", "--sync", "--wait")
    lines = out.splitlines()
    assert lines[1:] == [
        "Status: accepted",
        "[  2.0 s] in_progress",
        "[  4.0 s] answered",
        "Result: answered duration: 21 s key pressed: 1 price: 500.0000",
    ]


@pytest.mark.django_db
def test_wait_reports_no_answer_as_a_result(locmem: list[Any], clock: FakeClock) -> None:
    clock.on_sleep = lambda n: testing.deliver_callback(VoiceCall.objects.get(), status="no_answer")
    out, _ = run("esms_voice_call", PHONE, "--template-id", "rec-1", "--sync", "--wait")
    assert out.splitlines()[-1].startswith("Result: no_answer")


@pytest.mark.django_db
def test_wait_times_out_with_exit_1_and_the_last_status(
    locmem: list[Any], clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "esms_voice_call", PHONE, "--template-id", "rec-1", "--sync", "--wait",
        "--timeout", "5", "--interval", "2",
    )  # fmt: skip
    assert code == 1
    assert "No result after 5 s; the call is still accepted" in err
    assert str(VoiceCall.objects.get().uuid) in err
    assert clock.sleeps == 3  # 2 + 2 + 1: the last nap ends at the deadline
    assert "Status: accepted" in out


@pytest.mark.django_db
def test_wait_on_a_call_canceled_meanwhile_exits_1(
    locmem: list[Any], apply_async: mock.Mock, clock: FakeClock
) -> None:
    clock.on_sleep = lambda n: services.cancel_call(VoiceCall.objects.get())
    with pytest.raises(CommandError, match="was canceled"):
        run("esms_voice_call", PHONE, "--template-id", "rec-1", "--wait")


def test_call_help_is_available(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "esms_voice_call", "--help")
    assert code == 0
    assert "--template-id" in out
    assert "text-to-speech" in out


# ----------------------------------------------------------------------------- esms_voice_balance


def test_balance_over_http(sim: EsmsSimulator) -> None:
    out, _ = run("esms_voice_balance")
    assert out.startswith("Balance: 36,693")
    assert [r.endpoint for r in sim.requests] == ["GetBalance_json"]


def test_balance_from_the_locmem_backend(locmem: list[Any]) -> None:
    testing.script_balance("1234567.5")
    out, _ = run("esms_voice_balance")
    assert out.strip() == "Balance: 1,234,567.5 (eSMS account locmem)"


def test_balance_with_wrong_keys_exits_1_without_printing_them(
    sim: EsmsSimulator, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.ESMS_VOICE = {**settings.ESMS_VOICE, "SECRET_KEY": "wrong-secret-91ce"}
    code, out, err = run_cli(capsys, "esms_voice_balance")
    assert code == 1
    assert "code 101" in err
    assert "Wrong ApiKey or SecretKey" in err
    for secret in (API_KEY, "wrong-secret-91ce"):
        assert secret not in out + err


def test_balance_refused_with_another_code(locmem: list[Any]) -> None:
    testing.script_balance(code=140)
    with pytest.raises(CommandError, match="code 140, Caller IP address not allowed"):
        run("esms_voice_balance")


def test_balance_without_credentials_names_the_setting(settings: Any) -> None:
    settings.ESMS_VOICE = {"CALLBACK_BASE_URL": "https://voice.example.test"}
    with pytest.raises(CommandError, match=r"ESMS_VOICE\['API_KEY'\] is not set"):
        run("esms_voice_balance")


def test_balance_when_esms_cannot_be_reached(settings: Any) -> None:
    url = f"http://127.0.0.1:{closed_port()}/MainService.svc/json/"
    settings.ESMS_VOICE = {
        "API_KEY": API_KEY,
        "SECRET_KEY": SECRET_KEY,
        "BALANCE_URL": url,
        "TIMEOUT": (1.0, 1.0),
    }
    with pytest.raises(CommandError, match="could not be reached") as caught:
        run("esms_voice_balance")
    assert API_KEY not in str(caught.value)


def test_balance_help_is_available(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "esms_voice_balance", "--help")
    assert code == 0
    assert "balance" in out


@pytest.mark.django_db
def test_wait_exits_1_when_esms_accepted_the_call_but_sent_no_result(
    locmem: list[Any], clock: FakeClock
) -> None:
    # What the sweep does after RESULT_TIMEOUT without a callback: charged, result unknown.
    clock.on_sleep = lambda n: VoiceCall.objects.update(status=CallStatus.UNKNOWN)
    charged = r"accepted call .* \(it is charged\) but sent no result"
    with pytest.raises(CommandError, match=charged):
        run("esms_voice_call", PHONE, "--template-id", "rec-1", "--sync", "--wait")
