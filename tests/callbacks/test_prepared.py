"""The callback statement is prepared once per database session, and never breaks a callback."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import OperationalError, ProgrammingError, connection

from django_esms_voice import prepared
from django_esms_voice.models import CallbackEvent, EventOutcome, VoiceCall
from django_esms_voice.signals import call_status_changed
from django_esms_voice.states import CallStatus

from .helpers import answered, deliver, make_call

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

Wrapper = Callable[..., Any]


@pytest.fixture(autouse=True)
def _postgres(require_postgres: Any, no_prepared_statements: None) -> None:
    """Every test here needs PostgreSQL and a database session with nothing prepared."""


@pytest.fixture
def sql_run() -> Iterator[list[str]]:
    """Record the head of each callback statement sent, of those that failed too."""
    sent: list[str] = []

    def record(execute: Wrapper, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.split(maxsplit=1)[0] in ("PREPARE", "EXECUTE", "WITH", "DEALLOCATE"):
            sent.append(sql.split("(", 1)[0].strip())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield sent


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

    [prepare, *executes] = sql_run
    assert prepare.startswith("PREPARE esms_voice_")
    name = prepare.split()[1]
    assert executes == [f"EXECUTE {name}"] * 3


@pytest.mark.parametrize(
    ("setting", "value"),
    [("DISABLE_SERVER_SIDE_CURSORS", True), ("OPTIONS", {"server_side_binding": True})],
    ids=["transaction pooler declared", "psycopg binds and prepares itself"],
)
def test_settings_that_rule_out_our_prepare_run_the_plain_statement(
    monkeypatch: pytest.MonkeyPatch, sql_run: list[str], setting: str, value: Any
) -> None:
    monkeypatch.setitem(connection.settings_dict, setting, value)
    for _ in range(2):
        assert_answered(*callback_for_a_new_call())

    assert sql_run == ["WITH p AS"] * 2


def test_a_statement_deallocated_behind_our_back_is_prepared_again(
    sql_run: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert_answered(*callback_for_a_new_call())
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # a DISCARD ALL, a pool's reset
    sql_run.clear()

    assert_answered(*callback_for_a_new_call())
    assert_answered(*callback_for_a_new_call())

    assert [sql.split()[0] for sql in sql_run] == ["EXECUTE", "PREPARE", "EXECUTE", "EXECUTE"]
    assert not [r for r in caplog.records if r.name == "django_esms_voice.prepared"]


def test_a_statement_another_process_prepared_in_this_session_is_used(
    sql_run: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert_answered(*callback_for_a_new_call())
    prepared.forget_sessions()  # as if a new process took over the pooled session
    sql_run.clear()

    assert_answered(*callback_for_a_new_call())  # PREPARE: already there (42P05)
    assert [sql.split()[0] for sql in sql_run] == ["PREPARE", "EXECUTE"]
    assert not [r for r in caplog.records if r.name == "django_esms_voice.prepared"]


def test_behind_an_undeclared_transaction_pooler_it_gives_up_once_and_loses_nothing(
    sql_run: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    def pooler(execute: Wrapper, sql: str, params: Any, many: bool, context: Any) -> Any:
        # The next statement runs on another server session, which never saw the PREPARE.
        result = execute(sql, params, many, context)
        if sql.startswith("PREPARE"):
            context["cursor"].execute("DEALLOCATE ALL")
        return result

    with caplog.at_level(logging.WARNING), connection.execute_wrapper(pooler):
        calls = [callback_for_a_new_call() for _ in range(3)]

    for call, response in calls:
        assert_answered(call, response)
    [warning] = [r for r in caplog.records if r.name == "django_esms_voice.prepared"]
    assert "DISABLE_SERVER_SIDE_CURSORS" in warning.getMessage()
    # Two tries, then the plain statement for this callback and every later one.
    assert [sql.split()[0] for sql in sql_run] == [
        *("PREPARE", "DEALLOCATE", "EXECUTE") * 2,
        *("WITH",) * 3,
    ]


def test_a_refused_prepare_gives_up_once_and_the_callback_is_applied(
    sql_run: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(execute: Wrapper, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("PREPARE"):
            raise ProgrammingError("permission denied")
        return execute(sql, params, many, context)

    with caplog.at_level(logging.WARNING), connection.execute_wrapper(refuse):
        first = callback_for_a_new_call()
        second = callback_for_a_new_call()

    assert_answered(*first)
    assert_answered(*second)
    [warning] = [r for r in caplog.records if r.name == "django_esms_voice.prepared"]
    assert "PREPARE failed (ProgrammingError: permission denied)" in warning.getMessage()
    assert [sql.split()[0] for sql in sql_run] == ["PREPARE", "WITH", "WITH"]


def test_after_giving_up_it_tries_again_later(
    monkeypatch: pytest.MonkeyPatch, sql_run: list[str]
) -> None:
    def refuse(execute: Wrapper, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("PREPARE"):
            raise ProgrammingError("relation does not exist")  # say, before migrate ran
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        assert_answered(*callback_for_a_new_call())
    later = time.monotonic() + prepared.GIVE_UP_SECONDS - 1
    monkeypatch.setattr(prepared.time, "monotonic", lambda: later)
    assert_answered(*callback_for_a_new_call())
    monkeypatch.setattr(prepared.time, "monotonic", lambda: later + 2)
    assert_answered(*callback_for_a_new_call())

    assert [sql.split()[0] for sql in sql_run] == ["PREPARE", "WITH", "WITH", "PREPARE", "EXECUTE"]


def test_database_unavailable_while_preparing_answers_503_and_stores_nothing() -> None:
    def down(execute: Wrapper, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("PREPARE"):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    call = make_call()
    with connection.execute_wrapper(down):
        response = deliver(call, answered(call.smsid))

    assert response.status_code == 503
    assert not CallbackEvent.objects.exists()
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED
    # Nothing was given up: once the database is back, the statement is prepared.
    assert_answered(*callback_for_a_new_call())
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (1,)


class Psycopg2StyleError(Exception):
    """A driver error that carries its SQLSTATE as psycopg2 does, in ``pgcode``."""

    pgcode = "26000"


def test_a_lost_statement_reported_the_psycopg2_way_is_prepared_again(
    sql_run: list[str],
) -> None:
    assert_answered(*callback_for_a_new_call())
    lost: list[str] = []

    def lose_once(execute: Wrapper, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("EXECUTE") and not lost:
            lost.append(sql)
            # psycopg2 classes 26000 as an OperationalError, as it does a dropped connection.
            raise OperationalError("prepared statement does not exist") from Psycopg2StyleError()
        return execute(sql, params, many, context)

    sql_run.clear()
    with connection.execute_wrapper(lose_once):
        assert_answered(*callback_for_a_new_call())

    assert [sql.split()[0] for sql in sql_run] == ["EXECUTE", "PREPARE", "EXECUTE"]
    assert not prepared._given_up


def test_a_plan_made_stale_by_a_migration_is_prepared_again(
    sql_run: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    def receiver(**kwargs: Any) -> None:
        """Makes the statement return the whole call row, whose types a migration changes."""

    call_status_changed.connect(receiver, dispatch_uid="test_prepared_stale")
    try:
        assert_answered(*callback_for_a_new_call())
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE esms_voice_voicecall ALTER COLUMN cid TYPE varchar(41)")
        try:
            sql_run.clear()
            assert_answered(*callback_for_a_new_call())
            assert_answered(*callback_for_a_new_call())
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE esms_voice_voicecall ALTER COLUMN cid TYPE varchar(40)")
    finally:
        call_status_changed.disconnect(dispatch_uid="test_prepared_stale")

    # "cached plan must not change result type": dropped, prepared again, then plain EXECUTEs.
    assert [sql.split()[0] for sql in sql_run] == [
        "EXECUTE", "DEALLOCATE", "PREPARE", "EXECUTE", "EXECUTE",
    ]  # fmt: skip
    assert not [r for r in caplog.records if r.name == "django_esms_voice.prepared"]


def test_a_connection_killed_during_the_statement_answers_503_and_the_next_callback_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import psycopg

    assert_answered(*callback_for_a_new_call())  # prepared in this session
    killed: list[int] = []

    def kill_backend(execute: Wrapper, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("EXECUTE") and not killed:
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
    assert not prepared._given_up  # an outage is not a reason to stop preparing
    assert_answered(call, deliver(call, answered(call.smsid)))  # eSMS's retry: a new session
    assert not [r for r in caplog.records if r.name == "django_esms_voice.prepared"]
