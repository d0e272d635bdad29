"""Fixtures for the integration tests: a private Redis, Celery worker processes, the simulator.

Every test gets a broker of its own (a flushed private ``redis-server``, or a fresh RabbitMQ
queue), a started EsmsSimulator, and a ``harness`` that starts real ``celery worker``
processes on the database pytest-django created. Workers run in their own process group and
are always stopped at teardown (SIGTERM, then SIGKILL); every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from celery import Celery, _state
from django.db import connection

from django_esms_voice.testing.simulator import EsmsSimulator
from tests.celery_app import create_app
from tests.conftest import MISSING_PREFIX, SERVICES, service_unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_READY_TIMEOUT = 60.0
WORKER_STOP_TIMEOUT = 10.0
REDIS_START_TIMEOUT = 10.0
LOG_TAIL_CHARS = 4000


def free_port() -> int:
    """Return a loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    message: str | Callable[[], str],
    interval: float = 0.1,
) -> Any:
    """Poll predicate until it returns something truthy; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            pytest.fail(f"timed out after {timeout:g} s: {text}", pytrace=False)
        time.sleep(interval)


def _stop_process_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM a process group, then SIGKILL it if it has not exited within grace seconds."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    # Threads or children may outlive the leader: clear the whole group all the same.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace)


# ----------------------------------------------------------------------------- redis


class RedisServer:
    """A private ``redis-server`` on a free loopback port, without persistence; restartable."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the broker URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the server (on the same port as before) and wait until it answers PING."""
        if self.running:
            return
        log = (self.directory / "redis.log").open("ab")
        command = [
            "redis-server", "--save", "", "--appendonly", "no", "--port", str(self.port),
            "--bind", "127.0.0.1", "--dir", str(self.directory),
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        wait_until(self.ping, REDIS_START_TIMEOUT, f"redis-server did not answer on {self.port}")

    def stop(self) -> None:
        """Stop the server and wait until its port is closed."""
        if self.process is not None:
            _stop_process_group(self.process, 5.0)
            self.process = None

    def ping(self) -> bool:
        """Whether the server answers PING."""
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def flush(self) -> None:
        """Forget every key: no message left by an earlier test (or a killed worker) survives."""
        import redis

        client = redis.Redis(port=self.port, socket_timeout=2)
        try:
            client.flushall()
        finally:
            client.close()


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Start one private redis-server for the session (tests may stop and restart it)."""
    if shutil.which("redis-server") is None:
        service_unavailable(f"{MISSING_PREFIX} the redis-server program is not installed")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_broker(require_redis: Any, private_redis: RedisServer) -> RedisServer:
    """The private Redis, running and empty."""
    private_redis.start()
    private_redis.flush()
    return private_redis


# ----------------------------------------------------------------------------- workers


@dataclass
class Worker:
    """A ``celery worker`` process running in its own process group."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Return the worker's output so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self) -> str:
        """Return the end of the worker's output, for failure messages."""
        return f"--- worker {self.name} log (tail) ---\n{self.log()[-LOG_TAIL_CHARS:]}"

    @property
    def alive(self) -> bool:
        """Whether the worker process is running."""
        return self.process.poll() is None

    def wait_ready(self, timeout: float = WORKER_READY_TIMEOUT) -> None:
        """Wait until the worker logs that it is ready to consume."""

        def ready() -> bool:
            if not self.alive:
                pytest.fail(
                    f"worker exited with {self.process.returncode} before it was ready\n"
                    + self.log_tail(),
                    pytrace=False,
                )
            return " ready." in self.log()

        wait_until(ready, timeout, lambda: "worker not ready\n" + self.log_tail())

    def kill(self) -> None:
        """SIGKILL the whole process group at once, like an OOM kill or a lost machine."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(WORKER_STOP_TIMEOUT)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL after a deadline."""
        _stop_process_group(self.process, WORKER_STOP_TIMEOUT)


@dataclass
class Harness:
    """One test's broker, queue, simulator and worker processes, and the settings they share."""

    sim: EsmsSimulator
    broker_url: str
    queue: str
    directory: Path
    settings: Any
    voice: dict[str, Any] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    redis: RedisServer | None = None

    def configure(self, **overrides: Any) -> None:
        """Change ESMS_VOICE keys for this process and for the workers started afterwards."""
        self.voice.update(overrides)
        self.settings.ESMS_VOICE = dict(self.voice)

    @property
    def db_name(self) -> str:
        """Return the name of the test database pytest-django created."""
        return str(connection.settings_dict["NAME"])

    def worker_env(self, pool_size: int | None = None) -> dict[str, str]:
        """Return the environment of a worker process."""
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "ESMS_VOICE_WORKER_USE_TEST_DB": "1",
            "ESMS_VOICE_TEST_DB": "postgres",
            "ESMS_VOICE_TEST_DB_NAME": self.db_name,
            "ESMS_VOICE_TEST_BROKER": self.broker_url,
            "ESMS_VOICE_TEST_QUEUE": self.queue,
            "ESMS_VOICE_TEST_BASE_URL": self.sim.base_url,
            "ESMS_VOICE_TEST_OVERRIDES": json.dumps(self.voice),
            "PYTHONPATH": os.pathsep.join(
                [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "PYTHONUNBUFFERED": "1",
            "CELERY_SKIP_CHECKS": "1",
        }
        env.pop("ESMS_VOICE_TEST_DB_POOL", None)
        if pool_size:
            env["ESMS_VOICE_TEST_DB_POOL"] = str(pool_size)
        return env

    def start_worker(
        self, concurrency: int = 16, pool_size: int | None = None, queues: list[str] | None = None
    ) -> Worker:
        """Start a thread-pool worker on `queues` (this harness's queue) and wait until ready."""
        name = f"esms-test-{uuid.uuid4().hex[:8]}"
        log_path = self.directory / f"{name}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker",
            "--pool", "threads", "--concurrency", str(concurrency),
            "-Q", ",".join(queues or [self.queue]),
            "-n", f"{name}@%h", "--without-heartbeat", "--without-mingle", "--without-gossip",
            "-l", "info",
        ]  # fmt: skip
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - fixed arguments
                command,
                cwd=REPO_ROOT,
                env=self.worker_env(pool_size),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches every thread
            )
        worker = Worker(name, process, log_path)
        self.workers.append(worker)
        worker.wait_ready()
        return worker

    def logs(self) -> str:
        """Return the tails of every worker's log, for failure messages."""
        return "\n".join(worker.log_tail() for worker in self.workers)

    def stop_workers(self) -> None:
        """Stop every worker this harness started."""
        for worker in self.workers:
            worker.stop()


@contextlib.contextmanager
def publishing_to(broker_url: str, queue: str) -> Iterator[Celery]:
    """Make a Celery app on this broker and queue the current and default app of this process.

    A Celery app reads its configuration once and keeps its connections, so every test gets a
    new app rather than a changed one; the previous apps are restored afterwards.
    """
    previous_default = _state.default_app
    previous_current = getattr(_state._tls, "current_app", None)
    app = create_app(broker_url=broker_url, default_queue=queue)
    app.set_default()
    app.set_current()
    try:
        yield app
    finally:
        with contextlib.suppress(Exception):
            app.close()
        _state.set_default_app(previous_default)
        _state._set_current_app(previous_current)


@pytest.fixture
def simulator() -> Iterator[EsmsSimulator]:
    """A started simulator on a free loopback port (short stalls for scripted timeouts)."""
    sim = EsmsSimulator(port=0, stall_seconds=2.0, callback_delay=0.2)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def _base_voice_settings(sim: EsmsSimulator) -> dict[str, Any]:
    """Return ESMS_VOICE for the simulator; no CallbackUrl, so no callback leaves loopback."""
    return {
        "API_KEY": sim.api_key,
        "SECRET_KEY": sim.secret_key,
        "BASE_URL": sim.base_url,
        "BALANCE_URL": sim.balance_url,
        "CALLBACK_BASE_URL": None,
    }


@contextlib.contextmanager
def _harness(
    sim: EsmsSimulator,
    broker_url: str,
    queue: str,
    directory: Path,
    settings: Any,
    redis: RedisServer | None = None,
) -> Iterator[Harness]:
    """Configure this process for the broker and simulator; stop the workers at the end."""
    harness = Harness(sim, broker_url, queue, directory, settings, redis=redis)
    harness.configure(**_base_voice_settings(sim))
    settings.CELERY_BROKER_URL = broker_url
    with publishing_to(broker_url, queue):
        try:
            yield harness
        finally:
            harness.stop_workers()


@pytest.fixture
def harness(
    require_postgres: Any,
    redis_broker: RedisServer,
    simulator: EsmsSimulator,
    settings: Any,
    tmp_path: Path,
) -> Iterator[Harness]:
    """Workers and this process on the private Redis and the simulator."""
    queue = f"esms-voice-test-{uuid.uuid4().hex[:8]}"
    with _harness(simulator, redis_broker.url, queue, tmp_path, settings, redis_broker) as h:
        yield h


RABBITMQ_URL = SERVICES["rabbitmq"].url


def _rabbitmq_drop(queue: str, *, purge_only: bool) -> None:
    """Purge (before) or delete (after) a test queue and its exchange on the shared RabbitMQ."""
    from kombu import Connection

    with Connection(RABBITMQ_URL, connect_timeout=5) as conn:
        for action in ("queue_purge",) if purge_only else ("queue_delete", "exchange_delete"):
            channel = conn.channel()  # a fresh one: an absent queue closes the channel
            with contextlib.suppress(Exception):
                getattr(channel, action)(queue)
            with contextlib.suppress(Exception):
                channel.close()


@pytest.fixture
def rabbitmq_harness(
    require_postgres: Any,
    require_rabbitmq: Any,
    simulator: EsmsSimulator,
    settings: Any,
    tmp_path: Path,
) -> Iterator[Harness]:
    """Workers and this process on RabbitMQ, on a queue of this run's own, deleted afterwards."""
    queue = f"esms-voice-test-{uuid.uuid4().hex[:12]}"
    _rabbitmq_drop(queue, purge_only=True)
    try:
        with _harness(simulator, RABBITMQ_URL, queue, tmp_path, settings) as h:
            yield h
    finally:
        _rabbitmq_drop(queue, purge_only=False)
