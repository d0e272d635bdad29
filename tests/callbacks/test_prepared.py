"""psycopg prepares the callback statement once per database session; nothing breaks a callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import OperationalError, ProgrammingError, connection

from django_esms_voice.models import CallbackEvent, EventOutcome, VoiceCall
from django_esms_voice.signals import call_status_changed
from django_esms_voice.states import CallStatus

from .helpers import answered, deliver, make_call, prepared_statements

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

Wrapper = Callable[..., Any]
STATEMENT_HEAD = "WITH p AS"
PREPARED_LOGGER = "django_esms_voice.services.pg.prepared"


@pytest.fixture(autouse=True)
def _postgres(require_postgres: Any, no_prepared_statements: None) -> None:
    """Every test here needs PostgreSQL and a database session with nothing prepared."""


@pytest.fixture
def sql_run() -> Iterator[list[str]]:
    """Record the head of each callback statement sent, of those that failed too."""
    sent: list[str] = []

    def record(execute: Wrapper, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith(STATEMENT_HEAD):
            sent.append(STATEMENT_HEAD)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield sent


def prepared_here() -> list[tuple[str, int]]:
    """Return the callback statements this session holds prepared, and how often each ran."""
    return [
        (statement[: len(STATEMENT_HEAD)], runs)
        for statement, runs in prepared_statements()
        if statement.startswith(STATEMENT_HEAD)
    ]


def behind_our_back(sql: str) -> None:
    """Run a command on the session without psycopg seeing it (as a pooler's reset would)."""
    connection.ensure_connection()
    connection.connection.pgconn.exec_(sql.encode())


def callback_for_a_new_call() -> tuple[VoiceCall, Any]:
    """Deliver the answered callback of a new accepted call; return the call and the answer."""
    call = make_call()
    return call, deliver(call, answered(call.smsid))


def assert_answered(call: VoiceCall, response: Any) -> None:
    """The callback was applied: 200, the call answered, one event."""
    assert response.status_code == 200
    assert response.json() == {"outcome": EventOutcome.APPLIED}
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    assert CallbackEvent.objects.filter(call=call, outcome=EventOutcome.APPLIED).count() == 1


def test_prepared_once_per_session_then_only_executed(sql_run: list[str]) -> None:
    for _ in range(3):
        assert_answered(*callback_for_a_new_call())

    assert sql_run == [STATEMENT_HEAD] * 3
    assert prepared_here() == [(STATEMENT_HEAD, 3)]  # planned once, run three times


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("DISABLE_SERVER_SIDE_CURSORS", True),
        ("OPTIONS", {"server_side_binding": True}),
        ("OPTIONS", {"prepare_threshold": None}),
    ],
    ids=["transaction pooler declared", "psycopg binds and prepares itself", "prepare refused"],
)
def test_settings_that_rule_out_preparing_run_the_plain_statement(
    monkeypatch: pytest.MonkeyPatch, sql_run: list[str], setting: str, value: Any
) -> None:
    monkeypatch.setitem(connection.settings_dict, setting, value)
    for _ in range(2):
        assert_answered(*callback_for_a_new_call())

    assert sql_run == [STATEMENT_HEAD] * 2
    assert prepared_here() == []


def test_django_s_own_statements_are_not_prepared() -> None:
    assert_answered(*callback_for_a_new_call())
    for _ in range(10):
        assert VoiceCall.objects.filter(status=CallStatus.ANSWERED).count() == 1

    assert len(prepared_statements()) == 1


def lost_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the warnings that the prepared statement was lost."""
    return [r.getMessage() for r in caplog.records if r.name == PREPARED_LOGGER]


def test_a_statement_deallocated_behind_our_back_is_prepared_again(
    caplog: pytest.LogCaptureFixture, sql_run: list[str]
) -> None:
    assert_answered(*callback_for_a_new_call())
    behind_our_back("DEALLOCATE ALL")  # a DISCARD ALL, a pool's reset
    sql_run.clear()

    for _ in range(3):
        assert_answered(*callback_for_a_new_call())

    # The first one failed (psycopg's statement was gone) and took the general path.
    assert sql_run == [STATEMENT_HEAD] * 3
    assert prepared_here() == [(STATEMENT_HEAD, 2)]  # prepared again, then only run
    [warning] = lost_warnings(caplog)
    assert "DISABLE_SERVER_SIDE_CURSORS" in warning


def test_behind_an_undeclared_transaction_pooler_no_callback_is_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def pooler(execute: Wrapper, sql: str, params: Any, many: bool, context: Any) -> Any:
        # Every statement runs on a server session that holds nothing prepared.
        behind_our_back("DEALLOCATE ALL")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(pooler):
        calls = [callback_for_a_new_call() for _ in range(3)]

    for call, response in calls:
        assert_answered(call, response)
    assert len(lost_warnings(caplog)) <= 1  # once, not for every callback


def test_a_refused_preparation_falls_back_and_the_callback_is_applied() -> None:
    def refuse(execute: Wrapper, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith(STATEMENT_HEAD):
            raise ProgrammingError("permission denied")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        first = callback_for_a_new_call()
        second = callback_for_a_new_call()

    assert_answered(*first)
    assert_answered(*second)


def test_database_unavailable_while_preparing_answers_503_and_stores_nothing() -> None:
    def down(execute: Wrapper, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith(STATEMENT_HEAD):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    call = make_call()
    with connection.execute_wrapper(down):
        response = deliver(call, answered(call.smsid))

    assert response.status_code == 503
    assert not CallbackEvent.objects.exists()
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED
    # Once the database is back, the statement is prepared.
    assert_answered(*callback_for_a_new_call())
    assert [head for head, _ in prepared_here()] == [STATEMENT_HEAD]


def test_a_plan_made_stale_by_a_migration_is_prepared_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def receiver(**kwargs: Any) -> None:
        """Makes the statement return the whole call row, whose types a migration changes."""

    call_status_changed.connect(receiver, dispatch_uid="test_prepared_stale")
    try:
        assert_answered(*callback_for_a_new_call())
        # Another session migrates: psycopg does not see it ("cached plan must not change
        # result type" on the next run).
        behind_our_back("ALTER TABLE esms_voice_voicecall ALTER COLUMN cid TYPE varchar(41)")
        try:
            for _ in range(3):
                assert_answered(*callback_for_a_new_call())
            assert prepared_here() == [(STATEMENT_HEAD, 2)]  # prepared again, then only run
        finally:
            behind_our_back("ALTER TABLE esms_voice_voicecall ALTER COLUMN cid TYPE varchar(40)")
    finally:
        call_status_changed.disconnect(dispatch_uid="test_prepared_stale")
    assert len(lost_warnings(caplog)) == 1


def test_a_connection_killed_during_the_statement_answers_503_and_the_next_callback_works() -> None:
    import psycopg

    assert_answered(*callback_for_a_new_call())  # prepared in this session
    killed: list[int] = []

    def kill_backend(execute: Wrapper, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith(STATEMENT_HEAD) and not killed:
            killed.append(connection.connection.info.backend_pid)
            with psycopg.connect(
                host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True
            ) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", killed)
        return execute(sql, params, many, context)

    call = make_call()
    with connection.execute_wrapper(kill_backend):
        response = deliver(call, answered(call.smsid))

    assert killed
    assert response.status_code == 503
    # Django closes a connection that failed at the end of the request (close_old_connections;
    # the test client leaves that out), and the next request opens a new session.
    connection.close()
    assert not CallbackEvent.objects.filter(call=call).exists()
    assert_answered(call, deliver(call, answered(call.smsid)))  # eSMS's retry: a new session
    assert [head for head, _ in prepared_here()] == [STATEMENT_HEAD]
