"""django_esms_voice.testing: the outbox, the pytest plugin, scripted answers, fake callbacks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, TestCase, override_settings

from django_esms_voice import policies, testing
from django_esms_voice.backends import LOCMEM_BACKEND, HttpBackend, LocmemBackend, get_backend
from django_esms_voice.models import CallbackEvent, EventOutcome, VoiceCall
from django_esms_voice.services import create_call, place_call
from django_esms_voice.signals import call_status_changed
from django_esms_voice.states import CallStatus

pytest_plugins = ["django_esms_voice.testing"]

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "testing.md"
PHONE = "0901888484"
LOCMEM = {
    "API_KEY": "test-key",
    "SECRET_KEY": "test-secret",
    "CALLBACK_BASE_URL": "https://voice.example.test",
    "BACKEND": LOCMEM_BACKEND,
}


# ----------------------------------------------------------------------------- the docs' example
# The same tests as in docs/testing.md ("An example test"); test_the_documented_example_runs
# below runs the page's own code as a user's project would.


@pytest.mark.django_db
def test_the_customer_is_called_and_answers(esms_voice_outbox):
    call = create_call(phone="+84 901 888 484", template_id="12345", enqueue=False)
    place_call(call.pk)

    assert len(esms_voice_outbox) == 1
    sent = esms_voice_outbox[0]
    assert sent.phone == "0901888484"
    assert sent.request_id == str(call.uuid)

    response = testing.deliver_callback(call, status="answered", ivr="1", duration=42)
    assert response.status_code == 200

    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    assert call.ivr_pressed == "1"
    assert call.duration == 42


@pytest.mark.django_db
def test_a_low_balance_pauses_placement(esms_voice_outbox):
    testing.script_answer("0901888484", code=103)
    call = create_call(phone="0901888484", template_id="12345", enqueue=False)
    place_call(call.pk)

    call.refresh_from_db()
    assert call.status == CallStatus.PENDING  # back in line: eSMS took nothing
    assert call.last_error_code == "103"
    assert policies.open_pause().code == "103"  # no call is sent until it resumes


def _code_blocks(markdown: str) -> list[str]:
    """Return the python code blocks of a Markdown page."""
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def test_the_documented_example_runs_in_a_project_of_its_own(pytester: pytest.Pytester) -> None:
    """Write the page's conftest and example test into a fresh directory and run pytest there."""
    blocks = _code_blocks(DOCS.read_text("utf-8"))
    conftest = next(b for b in blocks if b.startswith('pytest_plugins = ["django_esms_voice'))
    example = next(b for b in blocks if b.startswith("# test_order_calls.py"))
    unittest_example = next(b for b in blocks if "class OrderCallTests(TestCase)" in b)
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_order_calls=example, test_unittest_example=unittest_example)
    # The plugin resets between tests: the second test sees an empty outbox.
    pytester.makepyfile(
        test_reset=textwrap.dedent(
            """
            from django_esms_voice import testing
            from django_esms_voice.backends import LocmemBackend
            from django_esms_voice.esms.payloads import RecordCallRequest

            def test_fills_the_outbox(esms_voice_outbox):
                testing.script_answer("0901888484", code=103)
                LocmemBackend().make_call(RecordCallRequest(phone="0912345678", template_id="1"))
                assert len(testing.outbox) == 1

            def test_starts_empty_and_unscripted(esms_voice_outbox):
                assert testing.outbox == []
                assert testing.outbox is esms_voice_outbox
                request = RecordCallRequest(phone="0901888484", template_id="1")
                assert LocmemBackend().make_call(request).code == "100"
            """
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "ESMS_VOICE_TEST_DB": "sqlite",  # its own in-memory database, not this run's
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout, result.stdout[-2000:]


def test_the_module_imports_without_pytest() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import django; django.setup()\n"
        "import django_esms_voice.testing as t\n"
        "assert not hasattr(t, 'esms_voice_outbox')\n"
        "t.reset_outbox(); print(t.outbox)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "ESMS_VOICE_TEST_DB": "sqlite",
    }
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- the fixture


def test_the_fixture_selects_locmem_over_the_http_backend(settings: Any, esms_voice_outbox) -> None:
    assert settings.ESMS_VOICE["BACKEND"] == LOCMEM_BACKEND
    assert settings.ESMS_VOICE["API_KEY"] == "test-key"  # the rest of the setting is kept
    assert isinstance(get_backend(), LocmemBackend)
    assert esms_voice_outbox is testing.outbox


def test_without_the_fixture_the_backend_is_the_configured_one() -> None:
    assert isinstance(get_backend(), HttpBackend)


# ----------------------------------------------------------------------------- deliver_callback


@pytest.fixture
def accepted(esms_voice_outbox: list[Any], settings: Any) -> VoiceCall:
    """A call placed through the locmem backend, with a callback URL."""
    settings.ESMS_VOICE = LOCMEM
    call = create_call(phone=PHONE, template_id="rec-1", enqueue=False)
    assert place_call(call.pk).status == CallStatus.ACCEPTED
    call.refresh_from_db()
    return call


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "expected", "call_status", "sent_result", "send_status"),
    [
        ("answered", CallStatus.ANSWERED, "ANSWERED", 1, 5),
        ("no_answer", CallStatus.NO_ANSWER, "NO ANSWER", 1, 5),
        ("failed", CallStatus.FAILED, "", 0, 5),
        ("in_progress", CallStatus.IN_PROGRESS, "", 1, 7),
    ],
)
def test_deliver_callback_applies_each_result_through_the_view(
    accepted: VoiceCall,
    status: str,
    expected: str,
    call_status: str,
    sent_result: int,
    send_status: int,
) -> None:
    response = testing.deliver_callback(accepted, status=status)
    assert response.status_code == 200
    assert response.json() == {"outcome": EventOutcome.APPLIED}
    accepted.refresh_from_db()
    assert accepted.status == expected
    assert accepted.call_status == call_status
    assert (accepted.sent_result, accepted.send_status) == (sent_result, send_status)
    event = CallbackEvent.objects.get()
    assert event.method == "GET"
    assert event.call_id == accepted.uuid
    assert f"ReferenceId={accepted.smsid}" in event.raw
    assert f"SendStatus={send_status}" in event.raw


@pytest.mark.django_db
def test_deliver_callback_carries_duration_key_and_price(accepted: VoiceCall) -> None:
    testing.deliver_callback(accepted, status="answered", duration=42, ivr="1", price="750.5")
    accepted.refresh_from_db()
    assert (accepted.duration, accepted.ivr_pressed, str(accepted.price)) == (42, "1", "750.5000")


@pytest.mark.django_db
def test_deliver_callback_defaults_follow_the_simulator(accepted: VoiceCall) -> None:
    testing.deliver_callback(accepted, status="answered")
    accepted.refresh_from_db()
    assert (accepted.duration, str(accepted.price), accepted.cid) == (13, "500.0000", "02871002454")


@pytest.mark.django_db
def test_deliver_callback_uses_the_stored_smsid_of_a_stale_instance(
    esms_voice_outbox: list[Any], settings: Any
) -> None:
    settings.ESMS_VOICE = LOCMEM
    call = create_call(phone=PHONE, template_id="rec-1", enqueue=False)
    place_call(call.pk)  # `call` in memory still has no SMSID
    assert call.smsid == ""
    assert testing.deliver_callback(call).json() == {"outcome": EventOutcome.APPLIED}
    stored = VoiceCall.objects.get(pk=call.pk)
    assert f"ReferenceId={stored.smsid}" in CallbackEvent.objects.get().raw


@pytest.mark.django_db
def test_deliver_callback_runs_the_status_signal(
    accepted: VoiceCall, django_capture_on_commit_callbacks
) -> None:
    seen: list[tuple[str, str]] = []

    def receiver(*, old: str, new: str, **kwargs: Any) -> None:
        seen.append((old, new))

    call_status_changed.connect(receiver, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            testing.deliver_callback(accepted, status="no_answer")
    finally:
        call_status_changed.disconnect(receiver)
    assert seen == [(CallStatus.ACCEPTED, CallStatus.NO_ANSWER)]


@pytest.mark.django_db
def test_a_duplicate_delivery_is_recognised(accepted: VoiceCall) -> None:
    assert testing.deliver_callback(accepted).json() == {"outcome": EventOutcome.APPLIED}
    assert testing.deliver_callback(accepted).json() == {"outcome": EventOutcome.DUPLICATE}


@pytest.mark.django_db
def test_another_reference_id_is_a_mismatch(accepted: VoiceCall) -> None:
    response = testing.deliver_callback(accepted, reference_id="someone-elses-smsid")
    assert response.json() == {"outcome": EventOutcome.MISMATCH}
    accepted.refresh_from_db()
    assert accepted.status == CallStatus.ACCEPTED


@pytest.mark.django_db
def test_deliver_callback_goes_through_the_views_address_check(
    accepted: VoiceCall, settings: Any
) -> None:
    settings.ESMS_VOICE = {**LOCMEM, "CALLBACK_ALLOWED_NETWORKS": ["203.0.113.0/24"]}
    refused = testing.deliver_callback(accepted)  # the test client comes from 127.0.0.1
    assert refused.status_code == 404
    assert not CallbackEvent.objects.exists()
    allowed = testing.deliver_callback(accepted, client=Client(REMOTE_ADDR="203.0.113.7"))
    assert allowed.status_code == 200


@pytest.mark.django_db
def test_a_deleted_call_gets_the_views_404(accepted: VoiceCall) -> None:
    VoiceCall.objects.filter(pk=accepted.pk).delete()
    assert testing.deliver_callback(accepted, reference_id="x").status_code == 404


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        testing.callback_params(status="busy")


def test_callback_params_follow_the_documented_order_and_values() -> None:
    params = testing.callback_params(status="failed", reference_id="abc")
    assert list(params) == [
        "ReferenceId", "CallDuration", "CallStatus", "Ivr", "Price", "SentResult", "CID",
        "SendStatus",
    ]  # fmt: skip
    assert params == {
        "ReferenceId": "abc",
        "CallDuration": "0",
        "CallStatus": "",
        "Ivr": "",
        "Price": "0.0000",
        "SentResult": "0",
        "CID": "02871002454",
        "SendStatus": "5",
    }
    progress = testing.callback_params(status="in_progress", duration=50, ivr="1", price="9")
    assert (progress["CallDuration"], progress["Ivr"], progress["Price"]) == ("0", "", "0.0000")


@pytest.mark.django_db
def test_script_status_needs_an_smsid() -> None:
    call = create_call(phone=PHONE, template_id="rec-1", enqueue=False)
    with pytest.raises(ValueError, match="needs an SMSID"):
        testing.script_status(call)


def test_script_balance_needs_one_of_balance_or_code() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        testing.script_balance()
    with pytest.raises(ValueError, match="exactly one"):
        testing.script_balance(5, code=101)


# ----------------------------------------------------------------------------- unittest users


@override_settings(ESMS_VOICE=LOCMEM)
class ResetOutboxTests(TestCase):
    """reset_outbox() in setUp, as the docs show for Django's TestCase."""

    def setUp(self) -> None:
        testing.outbox.append("left over by another test")  # type: ignore[arg-type]
        testing.script_answer(PHONE, code="103")
        testing.reset_outbox()

    def test_reset_outbox_empties_the_outbox_and_forgets_the_scripts(self) -> None:
        assert testing.outbox == []
        call = create_call(phone=PHONE, template_id="12345", enqueue=False)
        assert place_call(call.pk).status == CallStatus.ACCEPTED
        assert len(testing.outbox) == 1
