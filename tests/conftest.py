"""Shared fixtures: detection of the real services the integration tests need.

An integration test asks for ``require_postgres``, ``require_redis`` or ``require_rabbitmq``.
When the service does not answer, the test is skipped with a reason that starts with
``service missing:``; with ``ESMS_VOICE_REQUIRE_SERVICES=1`` (as ``.ci/run`` sets) it fails
instead, and any skip with such a reason fails the session too, so CI never passes by
silently skipping the tests that matter.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

pytest_plugins = ["pytester"]

REQUIRE_SERVICES_ENV = "ESMS_VOICE_REQUIRE_SERVICES"
MISSING_PREFIX = "service missing:"
CONNECT_TIMEOUT = 0.5


@dataclass(frozen=True)
class Service:
    """A local service some tests need, and where it listens."""

    name: str
    host: str
    port: int
    url: str

    def answers(self, timeout: float = CONNECT_TIMEOUT) -> bool:
        """Say whether the service accepts a TCP connection within the timeout."""
        return port_answers(self.host, self.port, timeout)

    def missing_reason(self) -> str:
        """Explain why a test that needs this service cannot run."""
        return (
            f"{MISSING_PREFIX} {self.name} is not answering on {self.host}:{self.port}: "
            "integration test skipped (start it, or run .ci/run)"
        )


SERVICES: dict[str, Service] = {
    "postgres": Service("PostgreSQL", "127.0.0.1", 5432, "postgresql://postgres@127.0.0.1/test"),
    "redis": Service("Redis", "127.0.0.1", 6379, "redis://127.0.0.1:6379/15"),
    "rabbitmq": Service("RabbitMQ", "127.0.0.1", 5672, "amqp://guest:guest@127.0.0.1:5672//"),
}


def port_answers(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Say whether something accepts TCP connections on host:port within the timeout."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def services_required() -> bool:
    """Say whether a missing service is a failure (CI) rather than a skip (a laptop)."""
    return os.environ.get(REQUIRE_SERVICES_ENV, "").strip().lower() in ("1", "true", "yes")


def service_unavailable(reason: str) -> None:
    """Skip the current test, or fail it when services are required."""
    if services_required():
        pytest.fail(f"{reason} [{REQUIRE_SERVICES_ENV}=1]", pytrace=False)
    pytest.skip(reason)


def require_service(key: str) -> Service:
    """Return the service named by key, or skip/fail the current test when it is down."""
    service = SERVICES[key]
    if not service.answers():
        service_unavailable(service.missing_reason())
    return service


@pytest.fixture
def require_postgres() -> Service:
    """Need a PostgreSQL server, and the test database to be on it."""
    from django.conf import settings

    service = require_service("postgres")
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        service_unavailable(
            f"{MISSING_PREFIX} the test database is {engine}, not PostgreSQL "
            "(unset ESMS_VOICE_TEST_DB or set it to postgres)"
        )
    return service


@pytest.fixture
def no_prepared_statements(db: None) -> Iterator[None]:
    """Start and end in a new database session: nothing prepared in it, nor in psycopg's memory."""
    from django.db import connection

    from django_esms_voice.services.pg import prepared

    connection.close()
    prepared.warn_lost.cache_clear()
    yield
    connection.close()
    prepared.warn_lost.cache_clear()


@pytest.fixture
def require_redis() -> Service:
    """Need a Redis server."""
    return require_service("redis")


@pytest.fixture
def require_rabbitmq() -> Service:
    """Need a RabbitMQ server."""
    return require_service("rabbitmq")


# Belt and braces: under ESMS_VOICE_REQUIRE_SERVICES=1, a test skipped for a missing service
# by any route (a skipif mark, a module-level skip, a hand-written pytest.skip) fails the run.


def skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str | None:
    """Return the reason of a skip report, without pytest's "Skipped: " prefix."""
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return None
    return str(report.longrepr[2]).removeprefix("Skipped: ")


class MissingServiceGuard:
    """Collect skips for missing services; fail the session on them when services are required."""

    def __init__(self) -> None:
        self.missing: list[str] = []

    def record(self, report: pytest.CollectReport | pytest.TestReport) -> None:
        reason = skip_reason(report)
        if reason is not None and reason.startswith(MISSING_PREFIX):
            self.missing.append(f"{report.nodeid}: {reason}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.record(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.missing and services_required():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.missing and services_required():
            terminalreporter.section("services required but missing", red=True, bold=True)
            terminalreporter.line(
                f"{REQUIRE_SERVICES_ENV}=1, yet these tests were skipped for a missing "
                "service; the run fails:",
                red=True,
            )
            for line in self.missing:
                terminalreporter.line(f"  {line}", red=True)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(MissingServiceGuard(), "esms-voice-missing-service-guard")
