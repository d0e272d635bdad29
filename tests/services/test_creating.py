"""create_call and create_calls: checked, saved, enqueued once committed."""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from kombu.exceptions import OperationalError as BrokerError

from django_esms_voice import services
from django_esms_voice.exceptions import EsmsInputError, InvalidPhoneNumber
from django_esms_voice.models import (
    CallKind,
    VoiceCall,
)
from django_esms_voice.states import CallStatus
from django_esms_voice.tasks import enqueue_calls_task

from .helpers import OTHER_PHONE, PHONE, batch_rows, enqueued_ids, new_call

# No test here may reach a real broker.
pytestmark = pytest.mark.usefixtures("apply_async")


@pytest.mark.django_db
def test_create_call_normalises_the_phone() -> None:
    call = new_call(phone="+84 90 188 8484")
    assert call.phone == PHONE
    call.refresh_from_db()
    assert (call.phone, call.status, call.kind, call.attempts) == (
        PHONE,
        CallStatus.PENDING,
        CallKind.RECORD,
        0,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("phone", ["12345", "0901abcdef", "+1 202 555 0100", ""])
def test_create_call_refuses_a_wrong_phone_and_saves_nothing(phone: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        new_call(phone=phone)
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_create_template_call_with_variables() -> None:
    call = new_call(
        kind=CallKind.TEMPLATE,
        template_id="script-7",
        variables=["Trung", 20000],
        voice="female",
        speed=1,
    )
    call.refresh_from_db()
    assert call.kind == CallKind.TEMPLATE
    assert call.variables == ["Trung", "20000"]
    assert (call.voice, call.speed) == ("female", 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "options",
    [
        {"ivr_key": 1, "number_forward": "0901888485"},
        {"ivr_key": 1},
        {"number_forward": "0901888485"},
    ],
)
def test_recording_only_options_are_refused_on_template_calls(options: dict[str, Any]) -> None:
    with pytest.raises(EsmsInputError):
        new_call(kind=CallKind.TEMPLATE, variables=["Trung"], **options)
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_script_options_are_refused_on_recording_calls() -> None:
    with pytest.raises(EsmsInputError):
        new_call(kind=CallKind.RECORD, variables=["Trung"])
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_the_task_is_enqueued_only_after_commit(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call = services.create_call(phone=PHONE, template_id="rec-1")
        assert not apply_async.called  # the row is not committed yet
    assert len(callbacks) == 1
    assert not apply_async.called
    callbacks[0]()
    assert enqueued_ids(apply_async) == [call.pk]


@pytest.mark.django_db
def test_a_rolled_back_call_is_never_enqueued(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    def create_then_fail() -> None:
        with transaction.atomic():
            services.create_call(phone=PHONE, template_id="rec-1")
            raise RuntimeError("the host view failed after creating the call")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        create_then_fail()
    assert callbacks == []
    assert not apply_async.called
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_a_broker_failure_is_logged_and_the_call_stays_pending(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    apply_async.side_effect = BrokerError("Error 111 connecting to 127.0.0.1:6379")
    with (
        caplog.at_level("WARNING", logger="django_esms_voice.services"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        call = services.create_call(phone=PHONE, template_id="rec-1")
    assert len(callbacks) == 1
    assert apply_async.call_count == 1
    assert "Could not enqueue 1 voice call(s)" in caplog.text
    call.refresh_from_db()
    assert call.status == CallStatus.PENDING
    assert call.attempts == 0


@pytest.mark.django_db
def test_create_calls_runs_a_fixed_number_of_queries(django_assert_num_queries: Any) -> None:
    def captured(count: int) -> list[str]:
        with CaptureQueriesContext(connection) as ctx:
            created = services.create_calls(batch_rows(count), batch="load", enqueue=False)
        assert len(created) == count
        return [q["sql"] for q in ctx.captured_queries]

    small, large = captured(10), captured(1000)

    def inserts(queries: list[str]) -> list[str]:
        return [q for q in queries if q.lstrip().upper().startswith("INSERT")]

    def others(queries: list[str]) -> list[str]:
        return [q for q in queries if not q.lstrip().upper().startswith("INSERT")]

    # Nothing per row: besides the chunked INSERTs, 10 and 1,000 rows cost the same.
    assert len(others(large)) == len(others(small))
    # One INSERT makes the campaign, one the calls (a chunk of 500 each).
    assert len(inserts(small)) == 2
    fields = [f for f in VoiceCall._meta.concrete_fields if not f.primary_key]
    chunk = min(services.BULK_CHUNK_SIZE, connection.ops.bulk_batch_size(fields, [None] * 1000))
    assert len(inserts(large)) == 1 + math.ceil(1000 / chunk)
    if connection.vendor == "postgresql":
        assert len(inserts(large)) == 3  # the campaign, two chunks of 500
    assert VoiceCall.objects.filter(batch="load").count() == 1010
    # The absolute pin: a savepoint, the campaign's INSERT, the calls', the release.
    with django_assert_num_queries(4):
        services.create_calls(batch_rows(10), enqueue=False)


@pytest.mark.django_db
def test_create_calls_with_one_invalid_row_creates_nothing() -> None:
    rows = batch_rows(6)
    rows[2]["phone"] = "12345"  # row 3
    rows[4]["phone"] = "0901abcdef"  # row 5
    with pytest.raises(services.BulkCallError) as caught:
        services.create_calls(rows)
    assert set(caught.value.errors) == {3, 5}
    assert isinstance(caught.value.errors[3], InvalidPhoneNumber)
    assert "row 3" in str(caught.value)
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_a_large_batch_is_fanned_out_through_a_worker(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    count = 700  # 5 calls to a message (services.calls_per_message), in chunks of 5 x 128
    rows = [{"phone": f"09{n:08d}", "template_id": "rec-1"} for n in range(count)]
    with django_capture_on_commit_callbacks(execute=True):
        created = services.create_calls(rows, batch="big")

    # The creating request publishes one message per chunk of ids, not one per call.
    assert not apply_async.called
    chunks = [c.args[0][0] for c in apply_async.fan_out.call_args_list]
    assert [len(chunk) for chunk in chunks] == [640, 60]
    assert sorted(pk for chunk in chunks for pk in chunk) == sorted(c.pk for c in created)

    # The worker that runs a chunk publishes its calls 5 to a place_calls message.
    assert enqueue_calls_task.run(chunks[0]) == 640
    batches = [c.args[0][0] for c in apply_async.batch.call_args_list]
    assert [len(b) for b in batches] == [5] * 128
    assert [pk for b in batches for pk in b] == chunks[0]
    assert not apply_async.called
    assert not apply_async.fan_out.call_count > 2  # a worker never fans out again


@pytest.mark.django_db
def test_a_small_batch_is_enqueued_directly(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    rows = [{"phone": f"09{n:08d}", "template_id": "rec-1"} for n in range(services.FAN_OUT_ABOVE)]
    with django_capture_on_commit_callbacks(execute=True):
        created = services.create_calls(rows)
    assert not apply_async.fan_out.called
    assert sorted(enqueued_ids(apply_async)) == sorted(c.pk for c in created)


@pytest.mark.django_db
def test_create_calls_links_the_content_object_and_enqueues_after_commit(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    customer = Group.objects.create(name="customer 42")
    rows = [
        {"phone": PHONE, "template_id": "rec-1", "content_object": customer},
        {"phone": OTHER_PHONE, "template_id": "rec-1"},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        created = services.create_calls(rows, batch="june")
        assert not apply_async.called
    assert sorted(enqueued_ids(apply_async)) == sorted(c.pk for c in created)
    linked, unlinked = (VoiceCall.objects.get(pk=c.pk) for c in created)
    assert linked.content_type == ContentType.objects.get_for_model(Group)
    assert linked.object_id == str(customer.pk)
    assert linked.content_object == customer
    assert (unlinked.content_type, unlinked.object_id) == (None, "")
    assert {linked.batch, unlinked.batch} == {"june"}
