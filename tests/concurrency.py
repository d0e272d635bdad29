"""Two requests at once on real PostgreSQL: the first to create calls waits for the other."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pytest
from django.db import connection

from django_esms_voice import services

T = TypeVar("T")
#: How long the first request waits for the second to block on it.
LOCK_WAIT = 5.0


def another_session_waits_for_a_lock(timeout: float = LOCK_WAIT) -> bool:
    """Wait until another session of this database waits on a lock; False if none did in time.

    PostgreSQL only (pg_locks): a test that calls it asks for the require_postgres fixture.
    """
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # pg_stat_activity is cached
            cursor.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.datname = current_database() "
                "AND a.pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


@dataclass
class Race(Generic[T]):
    """What two simultaneous requests answered, and whether creating calls met a waiting one."""

    results: list[T]
    waited: list[bool] = field(default_factory=list)


def at_once(monkeypatch: pytest.MonkeyPatch, request: Callable[[], T]) -> Race[T]:
    """Run request() in two threads at once; creating calls waits for the other to block first.

    Without a lock between them both create their calls, after LOCK_WAIT seconds each.
    """
    race: Race[Any] = Race(results=[None, None])
    create_calls = services.create_calls

    def slow_create_calls(*args: Any, **kwargs: Any) -> Any:
        race.waited.append(another_session_waits_for_a_lock())
        return create_calls(*args, **kwargs)

    monkeypatch.setattr(services, "create_calls", slow_create_calls)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            race.results[index] = request()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a request never finished"
    if errors:
        raise errors[0]
    return race
