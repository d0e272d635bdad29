"""The test suite's own plumbing: service detection, skip-or-fail, and the databases in use."""

from __future__ import annotations

import dataclasses
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests import conftest
from tests.conftest import (
    MISSING_PREFIX,
    REQUIRE_SERVICES_ENV,
    Service,
    port_answers,
    require_service,
    services_required,
)
from tests.settings import select_database

REPO_ROOT = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    """Return a loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def listening_port() -> Iterator[int]:
    """Listen on a free loopback port for the duration of a test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def fake_redis_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the Redis service at a port nothing listens on."""
    service = dataclasses.replace(conftest.SERVICES["redis"], port=closed_port())
    monkeypatch.setitem(conftest.SERVICES, "redis", service)


def test_port_answers_tells_an_open_port_from_a_closed_one(listening_port: int) -> None:
    assert port_answers("127.0.0.1", listening_port)
    assert not port_answers("127.0.0.1", closed_port())


@pytest.mark.usefixtures("fake_redis_port")
def test_missing_service_skips_the_test_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_SERVICES_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception) as excinfo:
        require_service("redis")
    message = str(excinfo.value)
    assert message.startswith(MISSING_PREFIX)
    assert "Redis is not answering on 127.0.0.1:" in message
    assert "start it, or run .ci/run" in message


@pytest.mark.usefixtures("fake_redis_port")
def test_missing_service_fails_the_test_when_services_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(REQUIRE_SERVICES_ENV, "1")
    assert services_required()
    with pytest.raises(pytest.fail.Exception) as excinfo:
        require_service("redis")
    assert str(excinfo.value).startswith(f"{MISSING_PREFIX} Redis is not answering")


def test_answering_service_is_returned(
    monkeypatch: pytest.MonkeyPatch, listening_port: int
) -> None:
    monkeypatch.setenv(REQUIRE_SERVICES_ENV, "1")
    service = Service("Fake", "127.0.0.1", listening_port, "fake://")
    monkeypatch.setitem(conftest.SERVICES, "fake", service)
    assert require_service("fake") is service


@pytest.mark.parametrize(
    ("choice", "answers", "expected"),
    [
        (None, True, "postgres"),
        (None, False, "sqlite"),
        ("", True, "postgres"),
        ("postgres", False, "postgres"),
        ("PostgreSQL", False, "postgres"),
        ("sqlite", True, "sqlite"),
    ],
)
def test_database_selection_rule(choice: str | None, answers: bool, expected: str) -> None:
    assert select_database(choice, answers) == expected


INNER_CONFTEST = """
    import dataclasses
    import socket

    import tests.conftest as shared

    pytest_plugins = ["tests.conftest"]

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    shared.SERVICES["redis"] = dataclasses.replace(shared.SERVICES["redis"], port=closed)
"""

INNER_TESTS = """
    import pytest

    def test_needs_redis(require_redis):
        pass

    def test_skipped_by_hand():
        pytest.skip("service missing: Nothing is answering anywhere")

    def test_skipped_for_another_reason():
        pytest.skip("not relevant on this platform")

    def test_passes():
        pass
"""


@pytest.fixture
def inner_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A throwaway test suite that uses this suite's conftest, run in a subprocess."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    monkeypatch.delenv(REQUIRE_SERVICES_ENV, raising=False)
    pytester.makeconftest(textwrap.dedent(INNER_CONFTEST))
    pytester.makepyfile(test_inner=textwrap.dedent(INNER_TESTS))
    return pytester


def run_inner(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess("-p", "no:django", "-p", "no:cacheprovider", *args)


def test_inner_suite_skips_missing_services_by_default(inner_suite: pytest.Pytester) -> None:
    result = run_inner(inner_suite, "-rs")
    result.assert_outcomes(passed=1, skipped=3)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*service missing: Redis is not answering on 127.0.0.1:*"])


def test_inner_fixture_fails_when_services_are_required(
    inner_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE_SERVICES_ENV, "1")
    result = run_inner(inner_suite, "-k", "needs_redis or passes")
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*service missing: Redis is not answering*"])


def test_inner_skip_for_a_missing_service_fails_the_session_when_required(
    inner_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE_SERVICES_ENV, "1")
    result = run_inner(inner_suite, "-k", "skipped_by_hand or passes")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*services required but missing*", "*test_skipped_by_hand: service missing: Nothing*"]
    )


def test_inner_skip_for_another_reason_passes_when_required(
    inner_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE_SERVICES_ENV, "1")
    result = run_inner(inner_suite, "-k", "another_reason or passes")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.django_db
def test_test_database_follows_the_selection_rule() -> None:
    if services_required():
        assert connection.vendor == "postgresql", (
            f"{REQUIRE_SERVICES_ENV}=1 but the suite runs on {connection.vendor}: "
            "PostgreSQL must answer on 127.0.0.1:5432 (and ESMS_VOICE_TEST_DB must not say sqlite)"
        )
    expected = {"postgres": "postgresql", "sqlite": "sqlite"}[settings.TEST_DATABASE]
    assert connection.vendor == expected


@pytest.mark.integration
@pytest.mark.django_db
def test_postgres_runs_a_query(require_postgres: Service) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        (version,) = cursor.fetchone()
    assert version.startswith("PostgreSQL ")


@pytest.mark.integration
def test_redis_answers_ping(require_redis: Service) -> None:
    import redis

    client = redis.Redis.from_url(require_redis.url, socket_timeout=5)
    try:
        assert client.ping() is True
    finally:
        client.close()


@pytest.mark.integration
def test_rabbitmq_accepts_an_amqp_connection(require_rabbitmq: Service) -> None:
    from kombu import Connection

    with Connection(require_rabbitmq.url, connect_timeout=5) as amqp:
        amqp.ensure_connection(max_retries=1)
        assert amqp.connected
