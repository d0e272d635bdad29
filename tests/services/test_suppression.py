"""The suppression list: a suppressed number is refused at creation and never sent at claim."""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest
from django.db import IntegrityError, connection, transaction

from django_esms_voice import services
from django_esms_voice.exceptions import SuppressedNumber
from django_esms_voice.models import Suppression, VoiceCall
from django_esms_voice.services import placing
from django_esms_voice.states import CLAIMABLE, CallStatus
from django_esms_voice.testing.simulator import EsmsSimulator, Script

from .helpers import esms_settings, make_call_requests

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("apply_async")]

PHONE = "0901888484"


def test_every_spelling_of_a_number_is_one_entry() -> None:
    Suppression.objects.create(phone="+84 90 188 8484", reason="complained", source="ticket 12")
    assert Suppression.objects.get().phone == PHONE
    with pytest.raises(IntegrityError), transaction.atomic():
        Suppression.objects.create(phone="090-188-8484")


def test_an_advertising_call_to_a_suppressed_number_is_refused_with_the_reason(
    sim: EsmsSimulator,
) -> None:
    Suppression.objects.create(phone=PHONE, reason="opted_out")

    with pytest.raises(SuppressedNumber) as refused:
        services.create_call(phone="+84901888484", template_id="rec-1", purpose="advertising")
    care = services.create_call(phone=PHONE, template_id="rec-1")  # customer care: allowed

    assert refused.value.field == "phone"
    assert refused.value.reason == "opted_out"
    assert (
        refused.value.message
        == "This number is on the suppression list (Opted out): it is not called."
    )
    assert list(VoiceCall.objects.values_list("pk", flat=True)) == [care.pk]


def test_the_setting_can_check_every_purpose(sim: EsmsSimulator, settings: Any) -> None:
    settings.ESMS_VOICE = esms_settings(
        sim, SUPPRESSION_PURPOSES=["advertising", "customer_care", "transactional"]
    )
    Suppression.objects.create(phone=PHONE, reason="national_dnc")
    with pytest.raises(SuppressedNumber, match="national do-not-call list"):
        services.create_call(phone=PHONE, template_id="rec-1", purpose="transactional")


def test_call_many_refuses_the_suppressed_rows_one_by_one(sim: EsmsSimulator) -> None:
    Suppression.objects.create(phone="0901000001", reason="complained")
    rows = [{"phone": f"090100000{i}", "template_id": "rec-1", "purpose": "advertising"}
            for i in range(3)]  # fmt: skip

    checked = services.check_calls(rows)
    with pytest.raises(services.BulkCallError) as refused:
        services.create_calls(rows, purpose="advertising")

    assert [row.valid for row in checked] == [True, False, True]
    assert isinstance(checked[1].error, SuppressedNumber)
    assert list(refused.value.errors) == [2]  # 1-based
    assert not VoiceCall.objects.exists()


def test_a_number_suppressed_after_the_call_was_made_is_never_sent(
    sim: EsmsSimulator, signals: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = services.create_call(phone=PHONE, template_id="rec-1", purpose="advertising")
    Suppression.objects.create(phone=PHONE, reason="opted_out")

    with django_capture_on_commit_callbacks(execute=True):
        assert placing.place_call(call.pk).skipped

    assert make_call_requests(sim) == []
    call.refresh_from_db()
    assert (call.status, call.last_error_code) == (CallStatus.CANCELED, "suppressed")
    assert "suppression list (Opted out)" in call.last_error_message
    assert call.completed_at is not None
    assert signals["changed"] == [(call.pk, CallStatus.PENDING, CallStatus.CANCELED, None)]


def test_an_attempted_call_to_a_number_suppressed_since_is_given_up_not_looped(
    sim: EsmsSimulator,
    settings: Any,
    signals: dict[str, list[Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, CALLING_WINDOWS={"advertising": None})
    # The first attempt failed: eSMS may have the call, so it cannot be canceled.
    sim.script(PHONE, Script(failures=["http_500"]))
    call = services.create_call(phone=PHONE, template_id="rec-1", purpose="advertising")
    assert placing.place_call(call.pk).status == CallStatus.PENDING
    Suppression.objects.create(phone=PHONE, reason="opted_out")

    with django_capture_on_commit_callbacks(execute=True):
        assert placing.place_call(call.pk).skipped

    assert len(make_call_requests(sim)) == 1  # the first attempt only
    call.refresh_from_db()
    assert (call.status, call.last_error_code, call.attempts) == (CallStatus.ERROR, "suppressed", 1)
    assert "eSMS may have placed an earlier attempt" in call.last_error_message
    assert signals["changed"][-1] == (call.pk, CallStatus.PENDING, CallStatus.ERROR, None)
    # Final: the sweep leaves it alone instead of re-enqueuing it for ever.
    assert not VoiceCall.objects.filter(pk=call.pk, status__in=CLAIMABLE).exists()


def test_a_retry_of_a_suppressed_number_is_refused(sim: EsmsSimulator) -> None:
    call = services.create_call(phone=PHONE, template_id="rec-1", purpose="advertising")
    VoiceCall.objects.filter(pk=call.pk).update(status=CallStatus.REJECTED)
    Suppression.objects.create(phone=PHONE, reason="complained")

    report = services.retry_calls(VoiceCall.objects.filter(pk=call.pk))
    with pytest.raises(SuppressedNumber):
        services.retry_call(call)

    assert report.created == []
    assert [(c.pk, type(e)) for c, e in report.refused] == [(call.pk, SuppressedNumber)]


@pytest.mark.usefixtures("require_postgres")
@pytest.mark.parametrize("rows", [10, 10_000])
def test_checking_rows_against_a_million_suppressed_numbers_is_two_queries(
    rows: int, sim: EsmsSimulator, django_assert_num_queries: Any, apply_async: mock.Mock
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Suppression._meta.db_table} (phone, reason, source, created_at) "  # noqa: S608
            "SELECT '09' || lpad((g * 2)::text, 8, '0'), 'opted_out', 'bench', now() "
            "FROM generate_series(1, 1000000) g"
        )  # every even number from 0900000002 to 0902000000
        cursor.execute(f"ANALYZE {Suppression._meta.db_table}")
    given = [
        {"phone": f"09{n:08d}", "template_id": "rec-1", "purpose": "advertising"}
        for n in range(1, rows + 1)
    ]

    started = time.perf_counter()
    # The suppression list, then the calls each number had (the advertising cap).
    with django_assert_num_queries(2):
        checked = services.check_calls(given)
    print(f"{rows} rows against 1,000,000: {time.perf_counter() - started:.3f} s")  # noqa: T201

    assert [row.valid for row in checked] == [n % 2 == 1 for n in range(1, rows + 1)]
