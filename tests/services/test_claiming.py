"""Placing a call without a frequency cap takes two statements: the claim and eSMS's answer."""

from __future__ import annotations

from typing import Any

import pytest

from django_esms_voice import secrecy, services
from django_esms_voice.models import Campaign, VoiceCall
from django_esms_voice.services.call_updates import update_call
from django_esms_voice.states import CallStatus
from django_esms_voice.testing.simulator import EsmsSimulator

from .helpers import esms_settings, new_call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("apply_async")]

#: Advertising at any hour: these tests are about the claim, not the calling window.
ANY_TIME = {"CALLING_WINDOWS": {"advertising": None}}


@pytest.fixture(autouse=True)
def _any_time(sim: EsmsSimulator, settings: Any) -> None:
    settings.ESMS_VOICE = esms_settings(sim, **ANY_TIME)


def call_with(purpose: str, campaign_cap: int | None, in_campaign: bool) -> VoiceCall:
    """A pending call of a purpose, in a campaign whose own cap is `campaign_cap`, or none."""
    call = new_call(purpose=purpose)
    if in_campaign:
        campaign = Campaign.objects.create(
            name="c", kind="record", purpose=purpose, frequency_cap=campaign_cap
        )
        VoiceCall.objects.filter(pk=call.pk).update(campaign=campaign)
    return call


# The preset caps: advertising one call per number in 24 hours, customer care none. The
# expectations are written out, not read from policies.cap_for: the claim's SQL must agree.
@pytest.mark.parametrize(
    ("purpose", "campaign_cap", "in_campaign", "capped"),
    [
        ("customer_care", None, False, False),
        ("customer_care", None, True, False),
        ("customer_care", 3, True, True),
        ("customer_care", 0, True, False),
        ("advertising", None, False, True),
        ("advertising", None, True, True),
        ("advertising", 0, True, False),
        ("advertising", 2, True, True),
    ],
)
def test_only_a_call_without_a_cap_is_claimed_in_one_statement(
    purpose: str,
    campaign_cap: int | None,
    in_campaign: bool,
    capped: bool,
    django_assert_max_num_queries: Any,
    django_assert_num_queries: Any,
) -> None:
    call = call_with(purpose, campaign_cap, in_campaign)

    if capped:
        # The one-statement claim refuses it; its cap is read and its number locked first.
        with django_assert_max_num_queries(12) as queries:
            result = services.place_call(call.pk)
        assert len(queries.captured_queries) > 2
    else:
        with django_assert_num_queries(2):  # the claim, and storing eSMS's answer
            result = services.place_call(call.pk)
    assert result.status == CallStatus.ACCEPTED
    call.refresh_from_db()
    assert (call.status, call.attempts) == (CallStatus.ACCEPTED, 1)
    assert call.smsid


@pytest.mark.parametrize("others", [0, 3000])
def test_placing_a_call_takes_two_queries_at_any_table_size(
    others: int, django_assert_num_queries: Any
) -> None:
    if others:
        rows = [{"phone": f"091{i:07d}", "template_id": "rec-1"} for i in range(others)]
        services.create_calls(rows, enqueue=False)
    call = new_call()

    with django_assert_num_queries(2):
        services.place_call(call.pk)

    assert VoiceCall.objects.get(pk=call.pk).status == CallStatus.ACCEPTED


def test_a_call_another_worker_took_is_not_sent_again(sim: EsmsSimulator) -> None:
    call = new_call()
    services.place_call(call.pk)

    assert services.place_call(call.pk).skipped
    assert len(sim.requests) == 1
    assert VoiceCall.objects.get(pk=call.pk).attempts == 1


def test_update_call_writes_only_a_call_in_one_of_the_statuses() -> None:
    call = new_call(variables={"code": "1234"}, secret_variables=True, kind="template")

    wrong = update_call(call.pk, {"status": CallStatus.ERROR}, [CallStatus.ACCEPTED])
    done = update_call(
        call.pk,
        {"status": CallStatus.ERROR, "variables": secrecy.WIPED, "last_error_code": "x"},
        [CallStatus.PENDING],
    )

    call.refresh_from_db()
    assert (wrong, done) == (0, 1)
    assert (call.status, call.last_error_code) == (CallStatus.ERROR, "x")
    assert call.variables == secrecy.WIPED  # stored as JSON, read back as the marker
    assert update_call(call.pk + 1000, {"status": CallStatus.ERROR}, [CallStatus.ERROR]) == 0


def test_update_call_with_no_status_to_be_in_changes_nothing() -> None:
    call = new_call()

    assert update_call(call.pk, {"status": CallStatus.ERROR}, []) == 0
    assert VoiceCall.objects.get(pk=call.pk).status == CallStatus.PENDING


def test_a_host_database_of_another_kind_still_connects() -> None:
    # The app notes the PostgreSQL connections Django hands out (services.pg.pooled): a host
    # with a SQLite database beside them must still connect to it.
    from django.db.utils import ConnectionHandler

    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    other = ConnectionHandler({"default": sqlite})["default"]
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    finally:
        other.close()
