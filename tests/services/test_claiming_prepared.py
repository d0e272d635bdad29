"""The claim and the answer are prepared once per database session, and survive losing it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import connection

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


@pytest.fixture(autouse=True)
def _one_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep one database session across placements (a worker's pool would hand it back)."""
    monkeypatch.setattr(placing, "_release_connection", lambda: None)


def placement_statements() -> dict[str, int]:
    """Return the claim's and the answer's prepared statements, by kind, and their runs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements "
            "WHERE NOT from_sql AND statement LIKE 'UPDATE%%'"
        )
        rows = cursor.fetchall()
    return {("claim" if "RETURNING" in sql else "answer"): runs for sql, runs in rows}


def test_the_claim_and_the_answer_are_prepared_once_per_database_session(
    sim: EsmsSimulator,
) -> None:
    for i in range(3):
        assert services.place_call(new_call(phone=f"090188848{i}").pk).status == "accepted"

    assert placement_statements() == {"claim": 3, "answer": 3}


def test_a_statement_deallocated_behind_our_back_runs_again_and_no_call_is_lost(
    sim: EsmsSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    services.place_call(new_call(phone="0901888480").pk)
    connection.connection.pgconn.exec_(b"DEALLOCATE ALL")  # a pooler's reset psycopg never saw

    with caplog.at_level(logging.WARNING):
        calls = [new_call(phone=f"090188848{i}") for i in range(1, 4)]
        results = [services.place_call(c.pk) for c in calls]

    assert [r.status for r in results] == [CallStatus.ACCEPTED] * 3
    assert VoiceCall.objects.filter(status=CallStatus.ACCEPTED).count() == 4
    assert len(sim.requests) == 4  # each sent once
    # The first claim after the reset found its statement gone and ran again unprepared;
    # psycopg forgot what it had prepared, so that call's answer was prepared anew.
    assert placement_statements() == {"claim": 2, "answer": 3}
    lost = [r for r in caplog.records if "vanished" in r.getMessage()]
    assert len(lost) == 1
    assert "DISABLE_SERVER_SIDE_CURSORS" in lost[0].getMessage()


def test_nothing_is_prepared_inside_a_transaction(sim: Any) -> None:
    from django.db import transaction

    call = new_call()
    with transaction.atomic():
        services.place_call(call.pk)

    assert placement_statements() == {}
    assert VoiceCall.objects.get(pk=call.pk).status == CallStatus.ACCEPTED


@pytest.mark.parametrize(
    ("sqlstate", "message", "lost"),
    [
        ("26000", 'prepared statement "_pg3_0" does not exist', True),
        ("0A000", "cached plan must not change result type", True),
        ("0A000", "FOR UPDATE is not allowed with aggregate functions", False),
        ("40001", "could not serialize access", False),
    ],
)
def test_only_a_gone_or_stale_statement_counts_as_lost(
    sqlstate: str, message: str, lost: bool
) -> None:
    from django.db import DatabaseError

    from django_esms_voice.services.pg.prepared import is_lost

    class Cause(Exception):
        pass

    cause = Cause(message)
    cause.sqlstate = sqlstate  # type: ignore[attr-defined]
    error = DatabaseError(message)
    error.__cause__ = cause
    assert is_lost(error) is lost
