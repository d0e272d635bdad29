"""What a callback costs (queries, whatever the table size) and callbacks racing each other."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections
from django.test import Client

from django_esms_voice.models import (
    CallKind,
    EventOutcome,
    VoiceCall,
)
from django_esms_voice.states import CallStatus

from .helpers import (
    PHONE,
    answered,
    deliver,
    events,
    forged_token,
    make_call,
    prepared_statements,
    url_for,
)


def _bulk_calls(count: int) -> None:
    """Fill the table with other calls, quickly."""
    VoiceCall.objects.bulk_create(
        (
            VoiceCall(
                kind=CallKind.RECORD,
                template_id="42",
                phone=PHONE,
                status=CallStatus.ACCEPTED,
                smsid=str(uuid.uuid4()),
            )
            for _ in range(count)
        ),
        batch_size=2000,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("table_size", [10, 10_000])
def test_an_applied_callback_costs_three_queries_whatever_the_table_size(
    django_assert_num_queries, table_size: int, no_prepared_statements: None
) -> None:
    _bulk_calls(table_size)
    first, call = make_call(), make_call()
    query = answered(call.smsid)

    if connection.vendor == "postgresql":
        # One statement in autocommit locks the call, updates it and inserts the event
        # (services/pg/fastpath.py), prepared by psycopg for the first callback of the session.
        with django_assert_num_queries(1) as captured:
            deliver(first, answered(first.smsid))
        [first_sql] = [q["sql"] for q in captured.captured_queries]
        assert first_sql.startswith("WITH p AS")
        assert "FOR UPDATE OF t" in first_sql
        with django_assert_num_queries(1) as captured:
            response = deliver(call, query)
        assert response.json() == {"outcome": EventOutcome.APPLIED}
        assert [q["sql"] for q in captured.captured_queries] == [first_sql]
        [(statement, runs)] = prepared_statements()
        assert (statement.startswith("WITH p AS"), runs) == (True, 2)  # planned once
    else:
        # Three statements; Django also logs the BEGIN and COMMIT of the view's transaction.
        with django_assert_num_queries(3 + 2) as captured:
            response = deliver(call, query)
        assert response.json() == {"outcome": EventOutcome.APPLIED}
        sqls = [q["sql"] for q in captured.captured_queries]
        assert (sqls[0], sqls[-1]) == ("BEGIN", "COMMIT")
        assert sqls[1].startswith('SELECT "esms_voice_voicecall".')
        assert sqls[2].startswith('UPDATE "esms_voice_voicecall"')
        assert sqls[3].startswith('INSERT INTO "esms_voice_callbackevent"')

    # A duplicate changes nothing; on PostgreSQL the one statement first finds nothing to apply.
    with django_assert_num_queries((connection.vendor == "postgresql") + 2 + 2) as captured:
        duplicate = deliver(call, query)
    assert duplicate.json() == {"outcome": EventOutcome.DUPLICATE}
    assert not any(q["sql"].startswith("UPDATE") for q in captured.captured_queries)

    with django_assert_num_queries(0):  # a forgery is refused before any query
        Client().get(f"{url_for(call.uuid, forged_token(call))}?{query}")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_same_callback_five_times_at_once_is_applied_once(require_postgres, status_changes):
    call = make_call()
    path = f"{url_for(call.uuid)}?{answered(call.smsid)}"
    barrier = threading.Barrier(5)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def hit() -> None:
        try:
            client = Client()
            barrier.wait(timeout=10)
            response = client.get(path)
            with lock:
                outcomes.append(response.json()["outcome"])
        except BaseException as exc:  # reported below, not lost in the thread
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hit) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert sorted(outcomes) == [EventOutcome.APPLIED] + [EventOutcome.DUPLICATE] * 4
    assert sorted(e.outcome for e in events(call)) == sorted(outcomes)
    assert [(c["old"], c["new"]) for c in status_changes] == [
        (CallStatus.ACCEPTED, CallStatus.ANSWERED)
    ]
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
