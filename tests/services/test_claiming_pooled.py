"""With Django's psycopg pool, a placement borrows pooled connections and loses nothing."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction
from django.db.backends.signals import connection_created

from django_esms_voice import services
from django_esms_voice.models import VoiceCall
from django_esms_voice.services import placing
from django_esms_voice.states import CallStatus
from django_esms_voice.testing.simulator import EsmsSimulator

from .helpers import new_call

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("apply_async", "require_postgres", "no_prepared_statements"),
]


@pytest.fixture
def pool() -> Iterator[Any]:
    """Give the default alias a psycopg pool of one connection, as a worker's settings would."""
    connection.close()
    saved = connection.settings_dict["OPTIONS"]
    connection.settings_dict["OPTIONS"] = {**saved, "pool": {"min_size": 1, "max_size": 1}}
    connection.ensure_connection()  # a worker's first query opens the pool
    connection.close()
    yield connection.pool  # type: ignore[attr-defined]  # PostgreSQL's wrapper only
    connection.close()
    connection.close_pool()  # type: ignore[attr-defined]  # PostgreSQL's wrapper only
    connection.settings_dict["OPTIONS"] = saved


@pytest.fixture
def connects() -> Iterator[list[object]]:
    """Record each time Django opens (or takes from its pool) a connection."""
    seen: list[object] = []

    def on_created(**kwargs: Any) -> None:
        seen.append(kwargs["connection"])

    connection_created.connect(on_created, weak=False, dispatch_uid="test-connects")
    yield seen
    connection_created.disconnect(dispatch_uid="test-connects")


def test_a_placed_call_borrows_from_the_pool_and_django_connects_for_nothing(
    pool: Any, sim: EsmsSimulator, connects: list[object], signals: dict[str, list[Any]]
) -> None:
    calls = [new_call(phone=f"090188848{i}") for i in range(3)]
    connection.close()
    connects.clear()

    results = [services.place_call(call.pk) for call in calls]

    assert [r.status for r in results] == [CallStatus.ACCEPTED] * 3
    assert connects == []  # the claim, the answer and the signal took no Django connection
    stored = {str(c.uuid): c.smsid for c in VoiceCall.objects.all()}
    assert {c.request_id: c.smsid for c in sim.calls.values()} == stored
    assert len(sim.requests) == 3
    changes = [(pk, old, new) for pk, old, new, _ in signals["changed"]]
    assert changes == [(c.pk, "submitting", "accepted") for c in calls]


def test_with_the_query_log_on_the_statements_go_through_django(
    pool: Any, sim: EsmsSimulator, django_assert_num_queries: Any
) -> None:
    call = new_call()
    connection.close()

    with django_assert_num_queries(2) as captured:
        assert services.place_call(call.pk).status == CallStatus.ACCEPTED

    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["UPDATE", "UPDATE"]


def test_an_execute_wrapper_sees_the_claim_and_the_answer(pool: Any, sim: EsmsSimulator) -> None:
    call = new_call()
    connection.close()
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        assert services.place_call(call.pk).status == CallStatus.ACCEPTED

    assert len(seen) == 2
    assert "RETURNING" in seen[0]
    assert "RETURNING" not in seen[1]


def test_a_tool_that_patched_djangos_cursor_sees_the_claim_and_the_answer(
    pool: Any, sim: EsmsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As Sentry's SDK does: it replaces CursorWrapper.execute to record every statement.
    from django.db.backends.utils import CursorWrapper

    call = new_call()
    connection.close()
    seen: list[str] = []
    real = CursorWrapper.execute

    @functools.wraps(real)  # Sentry's keeps Django's name and module so
    def execute(self: CursorWrapper, sql: str, params: Any = None) -> Any:
        seen.append(sql)
        return real(self, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", execute)

    assert services.place_call(call.pk).status == CallStatus.ACCEPTED
    assert len(seen) == 2


def test_a_connection_django_never_handed_out_gets_its_connection_created_receivers_first(
    sim: EsmsSimulator,
) -> None:
    # A host that sets a session setting when Django connects: every statement must run
    # after it, also on a connection the pool opened that Django has not used yet.
    connection.close()
    saved = connection.settings_dict["OPTIONS"]
    connection.settings_dict["OPTIONS"] = {**saved, "pool": {"min_size": 1, "max_size": 1}}
    call = new_call()
    connection.close()
    connection.close_pool()  # type: ignore[attr-defined]  # a fresh pool, its connection new
    fresh = connection.pool  # type: ignore[attr-defined]
    fresh.open(wait=True)
    timeouts: list[str] = []

    def set_timeout(connection: Any, **kwargs: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '4321ms'")

    connection_created.connect(set_timeout, weak=False, dispatch_uid="test-timeout")
    try:
        assert services.place_call(call.pk).status == CallStatus.ACCEPTED
        with fresh.connection() as pooled:
            timeouts.append(pooled.execute("SHOW statement_timeout").fetchone()[0])
    finally:
        connection_created.disconnect(dispatch_uid="test-timeout")
        connection.close()
        connection.close_pool()  # type: ignore[attr-defined]
        connection.settings_dict["OPTIONS"] = saved

    assert timeouts == ["4321ms"]  # the pool's one connection went through Django first


def test_inside_a_transaction_nothing_is_borrowed(pool: Any, sim: EsmsSimulator) -> None:
    call = new_call()
    with transaction.atomic():
        services.place_call(call.pk)
        # Django's connection made both statements: the call is accepted in this transaction
        # and nowhere else until it commits.
        with psycopg.connect(**_connect_kwargs()) as other:
            row = other.execute("SELECT status FROM esms_voice_voicecall WHERE id = %s", [call.pk])
            assert row.fetchone() == (CallStatus.PENDING,)

    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED


def test_a_pooled_connection_lost_during_the_http_wait_loses_no_answer(
    pool: Any, sim: EsmsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = new_call()
    connection.close()
    monkeypatch.setattr(placing, "STORE_RETRY_DELAYS", (0.0, 0.0, 0.0))
    send = placing._send

    def send_then_lose_the_pool(c: VoiceCall) -> Any:
        submission = send(c)
        with pool.connection() as pooled:  # the pool's one connection, idle during the wait
            pid = pooled.info.backend_pid
        with psycopg.connect(**_connect_kwargs(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        return submission

    monkeypatch.setattr(placing, "_send", send_then_lose_the_pool)

    assert services.place_call(call.pk).status == CallStatus.ACCEPTED

    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED
    assert [call.smsid] == list(sim.calls)
    assert len(sim.requests) == 1


def test_a_statement_deallocated_in_the_pool_runs_again_and_no_call_is_lost(
    pool: Any, sim: EsmsSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    calls = [new_call(phone=f"090188848{i}") for i in range(4)]
    connection.close()
    services.place_call(calls[0].pk)
    with pool.connection() as pooled:
        pooled.pgconn.exec_(b"DEALLOCATE ALL")  # a pooler's reset psycopg never saw

    with caplog.at_level(logging.WARNING):
        results = [services.place_call(c.pk) for c in calls[1:]]

    assert [r.status for r in results] == [CallStatus.ACCEPTED] * 3
    assert VoiceCall.objects.filter(status=CallStatus.ACCEPTED).count() == 4
    assert len(sim.requests) == 4  # each sent once
    lost = [r for r in caplog.records if "vanished" in r.getMessage()]
    assert len(lost) == 1


def _connect_kwargs() -> dict[str, Any]:
    """Return what connects to the test database outside Django."""
    params = connection.get_connection_params()
    return {k: v for k, v in params.items() if k in ("dbname", "host", "port", "user", "password")}
