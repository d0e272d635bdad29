"""services.purge: old events emptied, old finished calls anonymised, in chunks, once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone

from django_esms_voice import services
from django_esms_voice.models import CallbackEvent, VoiceCall
from django_esms_voice.services.retention import mask_phone
from django_esms_voice.states import FINAL, CallStatus

DAY = 86400
KEYS = {"API_KEY": "test-key", "SECRET_KEY": "test-secret"}
NOW = timezone.now()
PHONE = "0901888484"


@pytest.fixture
def retention(settings: Any) -> None:
    """Events' raw kept 30 days, calls anonymised 90 days after they ended."""
    settings.ESMS_VOICE = {
        **KEYS,
        "EVENT_RAW_RETENTION": 30 * DAY,
        "CALL_ANONYMISE_AFTER": 90 * DAY,
    }


def ended(days_ago: float, status: str = CallStatus.ANSWERED, **fields: Any) -> VoiceCall:
    """A call that reached `status` `days_ago` days before NOW."""
    fields = {"phone": PHONE, "variables": ["Lan", "DH123"], "metadata": {"order": 7}, **fields}
    call = VoiceCall.objects.create(kind="record", template_id="rec-1", status=status, **fields)
    completed = NOW - dt.timedelta(days=days_ago) if status in FINAL else None
    VoiceCall.objects.filter(pk=call.pk).update(completed_at=completed)
    call.refresh_from_db()
    return call


def event(call: VoiceCall | None, days_ago: float, **fields: Any) -> CallbackEvent:
    """A callback stored `days_ago` days before NOW, with its raw query and sender address."""
    fields = {"raw": f"phone={PHONE}&status=1", "remote_addr": "203.0.113.9", **fields}
    stored = CallbackEvent.objects.create(call=call, method="GET", **fields)
    received = NOW - dt.timedelta(days=days_ago)
    CallbackEvent.objects.filter(pk=stored.pk).update(received_at=received)
    stored.refresh_from_db()
    return stored


def snapshot() -> list[tuple[Any, ...]]:
    """Every column the purge may change, of every call and event."""
    calls = VoiceCall.objects.order_by("pk").values_list(
        "pk", "phone", "number_forward", "variables", "metadata"
    )
    events = CallbackEvent.objects.order_by("pk").values_list("pk", "raw", "remote_addr")
    return [*calls, *events]


def test_a_phone_is_masked_to_its_last_three_digits() -> None:
    assert mask_phone("0901888484") == "*******484"
    assert mask_phone("84901888484") == "********484"
    assert mask_phone("484") == "*484"  # always a leading mask: never selected again


@pytest.mark.django_db
def test_old_finished_calls_are_anonymised_and_recent_ones_kept(retention: None) -> None:
    group = Group.objects.create(name="customer 7")
    old = ended(
        91,
        number_forward="0287654321",
        content_type=ContentType.objects.get_for_model(Group),
        object_id=str(group.pk),
    )
    recent = ended(89)

    report = services.purge(NOW)

    old.refresh_from_db()
    assert (old.phone, old.number_forward) == ("*******484", "*******321")
    assert (old.variables, old.metadata) == ([], {})
    assert old.content_object == group  # the linked object is the host's record: kept
    assert (old.status, old.completed_at) == (CallStatus.ANSWERED, NOW - dt.timedelta(days=91))
    recent.refresh_from_db()
    assert (recent.phone, recent.variables, recent.metadata) == (
        PHONE,
        ["Lan", "DH123"],
        {"order": 7},
    )
    assert (report.calls, report.events) == (1, 0)


@pytest.mark.django_db
def test_a_call_without_a_forward_number_keeps_it_blank(retention: None) -> None:
    call = ended(100)
    services.purge(NOW)
    call.refresh_from_db()
    assert (call.phone, call.number_forward) == ("*******484", "")


@pytest.mark.django_db
@pytest.mark.parametrize("status", sorted(FINAL))
def test_every_final_status_is_anonymised(retention: None, status: str) -> None:
    call = ended(100, status)
    services.purge(NOW)
    call.refresh_from_db()
    assert call.phone == "*******484"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status", [CallStatus.PENDING, CallStatus.SUBMITTING, CallStatus.ACCEPTED, "in_progress"]
)
def test_an_open_call_is_never_anonymised_however_old(retention: None, status: str) -> None:
    call = ended(1000, status)
    # Even with a completed_at (a row written by hand): only a final status counts.
    VoiceCall.objects.filter(pk=call.pk).update(completed_at=NOW - dt.timedelta(days=1000))
    VoiceCall.objects.filter(pk=call.pk).update(created_at=NOW - dt.timedelta(days=1000))
    report = services.purge(NOW)
    call.refresh_from_db()
    assert (call.phone, call.variables) == (PHONE, ["Lan", "DH123"])
    assert report.calls == 0


@pytest.mark.django_db
def test_old_events_lose_their_raw_text_and_address_and_keep_the_rest(retention: None) -> None:
    call = ended(10)
    old = event(call, 31, parsed={"send_status": 1}, outcome="applied", new_status="answered")
    poll = event(call, 40, remote_addr=None, source="poll")  # a poll has no sender address
    recent = event(call, 29)

    report = services.purge(NOW)

    old.refresh_from_db()
    assert (old.raw, old.remote_addr) == ("", None)
    assert (old.parsed, old.outcome, old.new_status, old.call_id) == (
        {"send_status": 1},
        "applied",
        "answered",
        call.uuid,
    )
    poll.refresh_from_db()
    assert poll.raw == ""
    recent.refresh_from_db()
    assert (recent.raw, recent.remote_addr) == (f"phone={PHONE}&status=1", "203.0.113.9")
    assert (report.events, report.calls) == (2, 0)


@pytest.mark.django_db
def test_an_event_with_only_an_address_left_is_emptied(retention: None) -> None:
    only_address = event(None, 60, raw="")
    services.purge(NOW)
    only_address.refresh_from_db()
    assert only_address.remote_addr is None


@pytest.mark.django_db
def test_a_second_purge_finds_nothing_and_changes_nothing(retention: None) -> None:
    for days in (95, 120, 400):
        event(ended(days), days)
    first = services.purge(NOW)
    after_first = snapshot()

    second = services.purge(NOW)

    assert (first.calls, first.events) == (3, 3)
    assert (second.calls, second.events, second.chunks) == (0, 0, 0)
    assert snapshot() == after_first


@pytest.mark.django_db
def test_a_dry_run_counts_and_changes_nothing(retention: None) -> None:
    for days in (95, 120, 10):
        event(ended(days), days)
    before = snapshot()

    report = services.purge(NOW, dry_run=True)

    assert (report.calls, report.events, report.dry_run) == (2, 2, True)
    assert snapshot() == before
    assert "dry run" in str(report)


@pytest.mark.django_db
def test_without_settings_nothing_is_purged(settings: Any) -> None:
    settings.ESMS_VOICE = KEYS
    call = ended(5000)
    event(call, 5000)
    before = snapshot()
    report = services.purge(NOW)
    assert (report.calls, report.events, report.chunks) == (0, 0, 0)
    assert snapshot() == before


@pytest.mark.django_db
def test_each_setting_works_alone(settings: Any) -> None:
    settings.ESMS_VOICE = {**KEYS, "EVENT_RAW_RETENTION": DAY}
    call = ended(5)
    old = event(call, 5)
    services.purge(NOW)
    call.refresh_from_db()
    old.refresh_from_db()
    assert (call.phone, old.raw) == (PHONE, "")

    settings.ESMS_VOICE = {**KEYS, "CALL_ANONYMISE_AFTER": DAY}
    newer = event(call, 5)
    services.purge(NOW)
    call.refresh_from_db()
    newer.refresh_from_db()
    assert (call.phone, newer.raw) == ("*******484", f"phone={PHONE}&status=1")


@pytest.mark.django_db
def test_chunks_are_reported_as_they_go(retention: None) -> None:
    for days in range(100, 107):
        event(ended(days), days)
    seen: list[tuple[str, int, int]] = []

    report = services.purge(NOW, chunk_size=3, progress=lambda *chunk: seen.append(chunk))

    assert seen == [
        ("events", 3, 3),
        ("events", 3, 6),
        ("events", 1, 7),
        ("calls", 3, 3),
        ("calls", 3, 6),
        ("calls", 1, 7),
    ]
    assert (report.events, report.calls, report.chunks) == (7, 7, 6)
    assert not VoiceCall.objects.exclude(phone__startswith="*").exists()


@pytest.mark.django_db
def test_many_rows_ending_at_the_same_instant_are_all_purged(retention: None) -> None:
    calls = [ended(100) for _ in range(7)]
    VoiceCall.objects.update(completed_at=calls[0].completed_at)  # one tie across chunks
    report = services.purge(NOW, chunk_size=2)
    assert report.calls == 7
    assert set(VoiceCall.objects.values_list("phone", flat=True)) == {"*******484"}


def test_a_chunk_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        services.purge(NOW, chunk_size=0)


# Per chunk: SAVEPOINT, SELECT ... FOR UPDATE SKIP LOCKED, UPDATE, RELEASE (a transaction of
# its own outside a test); the last chunk, shorter than chunk_size, ends the walk.
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rows", "chunk_size", "chunks"), [(3, 2, 2), (40, 10, 4), (41, 10, 5), (1000, 250, 4)]
)
def test_each_chunk_costs_a_fixed_number_of_queries(
    retention: None, django_assert_num_queries: Any, rows: int, chunk_size: int, chunks: int
) -> None:
    for _ in range(rows):
        ended(100)
    services.purge(NOW, dry_run=True)  # settings read, content types cached
    # An exact multiple of chunk_size needs one more, empty, chunk to know it is done.
    selects = chunks + (1 if rows % chunk_size == 0 else 0)
    events_walk = 3  # SAVEPOINT, SELECT (nothing), RELEASE
    with django_assert_num_queries(events_walk + 4 * chunks + 3 * (selects - chunks)):
        report = services.purge(NOW, chunk_size=chunk_size)
    assert report.calls == rows


# Transactional, to ANALYZE: the planner's choice rests on statistics, not on whatever rows
# earlier tests left in pg_class (with none, a full index ties with the partial one).
@pytest.mark.django_db(transaction=True)
def test_the_chunks_are_picked_from_the_partial_indexes(retention: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    # A day after a daily purge: many old rows done already, a few left to do.
    old = NOW - dt.timedelta(days=200)
    done = [
        VoiceCall(
            kind="record",
            template_id="rec-1",
            status=CallStatus.ANSWERED,
            phone=mask_phone(PHONE),
            completed_at=old,
        )
        for _ in range(5000)
    ]
    VoiceCall.objects.bulk_create(done)
    CallbackEvent.objects.bulk_create(
        CallbackEvent(method="GET", raw="", remote_addr=None) for _ in range(5000)
    )
    CallbackEvent.objects.update(received_at=old)  # auto_now_add ignores a given value
    for _ in range(5):
        event(ended(100), 100)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE esms_voice_voicecall, esms_voice_callbackevent")
    cutoff = NOW - dt.timedelta(days=90)
    calls = services.retention._call_candidates(cutoff).order_by("completed_at")
    events = services.retention._event_candidates(cutoff).order_by("received_at")
    assert "esms_voice_call_identified" in calls.explain()
    assert "esms_voice_event_raw" in events.explain()
