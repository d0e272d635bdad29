#!/usr/bin/env python
"""Place N calls through real Celery workers against the eSMS simulator, and time them.

    PYTHONPATH=. python bench/place_calls.py            # 10,000 calls, 200 ms provider latency
    PYTHONPATH=. python bench/place_calls.py --quick    # 1,000 calls, a smoke run

In one run it: creates and migrates the PostgreSQL database ``esms_voice_bench``, starts the
simulator (bench/sim_server.py) and the Celery workers (bench/celery_app.py) as separate
processes, times a plain sequential ``requests`` loop against the simulator (the baseline),
creates the calls with services.create_calls (one bulk insert, one task per call enqueued on
commit), and waits until every call is accepted. It prints calls/s for both, their ratio, the
peak number of PostgreSQL connections (pg_stat_activity sampled every 50 ms), the
provider-latency limit (calls in flight ÷ latency), where the CPU went, and checks that the
simulator accepted every call exactly once. Everything it started is stopped and dropped at
the end, also on Ctrl-C and on the time limit (--timeout).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PYTHON = sys.executable
PG_DSN = "host={host} port={port} user={user} dbname=postgres"
API_KEY, SECRET_KEY = "bench-key", "bench-secret"
TEMPLATE_ID = "bench-recording"
PY_SPY = (
    shutil.which("py-spy", path=f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    or "py-spy"
)


class BenchAbort(BaseException):
    """The run cannot go on; the message says why.

    A BaseException, like KeyboardInterrupt: the time limit fires anywhere, also inside the
    app's `except Exception` (enqueue_calls treats any error as "broker down" and goes on).
    """


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=10_000, help="calls to place (default 10000)")
    p.add_argument("--quick", action="store_true", help="1,000 calls: a smoke run")
    p.add_argument("--latency", type=float, default=0.2, help="provider latency, s (0.2)")
    p.add_argument("--workers", type=int, default=2, help="celery worker processes (2)")
    p.add_argument("--concurrency", type=int, default=64, help="threads per worker (64)")
    p.add_argument("--pool", default="threads", choices=["threads", "gevent"], help="(threads)")
    p.add_argument("--prefetch", type=int, default=4, help="worker_prefetch_multiplier (4)")
    p.add_argument(
        "--db-pool-max",
        type=int,
        default=8,
        help="psycopg pool max_size per worker (8); 0: no pool, a new connection per use",
    )
    p.add_argument("--baseline-calls", type=int, default=50, help="sequential calls (50)")
    p.add_argument("--rate-limit", type=float, default=None, help="ESMS_VOICE RATE_LIMIT, /s")
    p.add_argument("--timeout", type=float, default=600, help="abort the run after this, s (600)")
    p.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server")
    p.add_argument("--redis-db", type=int, default=12, help="Redis db, emptied by the run (12)")
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", default="5432")
    p.add_argument("--pg-user", default="postgres")
    p.add_argument("--db-name", default="esms_voice_bench", help="dropped and re-created")
    p.add_argument("--py-spy", metavar="DIR", help="py-spy record every worker into DIR")
    p.add_argument(
        "--prefill",
        action="store_true",
        help="enqueue every call before the workers consume (measures the workers alone)",
    )
    p.add_argument(
        "--claim",
        choices=["returning", "update-select"],
        default="returning",
        help="how workers claim a call: UPDATE ... RETURNING (default), or the portable "
        "UPDATE then SELECT (A/B comparison)",
    )
    p.add_argument(
        "--place-batch",
        type=int,
        default=None,
        help="calls per place_calls message in the fan-out (the app's PLACE_BATCH); "
        "1: one place_call task per call, as before batching",
    )
    p.add_argument(
        "--compare-with",
        metavar="DIR",
        help="another checkout of the app (e.g. a git worktree of an older commit): the same "
        "load runs again with the workers started from it, and both are printed side by side",
    )
    p.add_argument("--app-root", default=str(ROOT), help=argparse.SUPPRESS)
    p.add_argument("--summary-file", help=argparse.SUPPRESS)
    p.add_argument("--keep-logs", action="store_true", help="keep the workers' logs")
    args = p.parse_args(argv)
    if args.quick:
        args.calls = 1_000
    if args.calls < 1 or args.workers < 1 or args.concurrency < 1:
        p.error("--calls, --workers and --concurrency must be at least 1")
    return args


# ----------------------------------------------------------------------------- processes


@dataclass
class Child:
    """A process the run started, and where its output goes."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path | None = None

    def tail(self, lines: int = 15) -> str:
        """Return the end of the process's log, without Celery's start-up banner."""
        if self.log is None or not self.log.exists():
            return ""
        text = self.log.read_text(errors="replace").splitlines()
        banner_end = max((i for i, line in enumerate(text) if "[queues]" in line), default=-3)
        return "\n".join(text[banner_end + 3 :][-lines:])

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the process group, SIGKILL it after grace seconds."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def proc_cpu(pid: int) -> tuple[float, float]:
    """Return (user, system) CPU seconds of a process, its threads included; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def pids_named(name: str) -> list[int]:
    """Return the pids whose command name is `name` (e.g. redis-server)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU used during the load by each process of the system under test, and the machine's."""

    def __init__(self, args: argparse.Namespace, children: list[Child]) -> None:
        self.args, self.children = args, children

    def _groups(self) -> dict[str, list[int]]:
        with pg_admin(self.args) as conn:
            backends = conn.execute(
                "SELECT pid, application_name FROM pg_stat_activity WHERE datname = %s",
                (self.args.db_name,),
            ).fetchall()
        groups = {c.name: [c.proc.pid] for c in self.children}
        groups["driver"] = [os.getpid()]
        groups["redis"] = pids_named("redis-server")
        # The workers' backends apart from the driver's: the driver's poll of the counts
        # (every 50 ms) is the benchmark's own cost, not the app's.
        groups["postgres"] = [pid for pid, app in backends if app == "esms-bench-worker"]
        groups["pg-driver"] = [pid for pid, app in backends if app != "esms-bench-worker"]
        return groups

    @staticmethod
    def _machine() -> tuple[float, float]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        total = sum(values[:8])
        tick = os.sysconf("SC_CLK_TCK")
        return (total - idle) / tick, total / tick

    def start(self) -> None:
        self._before_groups = self._groups()
        self._before = {pid: proc_cpu(pid) for pids in self._before_groups.values() for pid in pids}
        self._machine_before = self._machine()

    def stop(self) -> None:
        machine = self._machine()
        groups = self._groups()
        for name, pids in self._before_groups.items():
            groups[name] = sorted(set(groups.get(name, [])) | set(pids))
        self.used: dict[str, tuple[float, float]] = {}
        for name, pids in groups.items():
            user = system = 0.0
            for pid in pids:
                now, before = proc_cpu(pid), self._before.get(pid, (0.0, 0.0))
                if now == (0.0, 0.0):
                    continue  # exited meanwhile: unknown
                user += now[0] - before[0]
                system += now[1] - before[1]
            self.used[name] = (user, system)
        self.machine_busy = machine[0] - self._machine_before[0]
        self.machine_total = machine[1] - self._machine_before[1]


def start_simulator(args: argparse.Namespace, logdir: Path) -> tuple[Child, int]:
    """Start bench/sim_server.py and return it with its port."""
    log = logdir / "simulator.log"
    proc = subprocess.Popen(  # noqa: S603
        [
            PYTHON,
            str(ROOT / "bench" / "sim_server.py"),
            "--latency",
            str(args.latency),
            "--api-key",
            API_KEY,
            "--secret-key",
            SECRET_KEY,
        ],
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        start_new_session=True,
    )
    child = Child("simulator", proc, log)
    assert proc.stdout is not None
    ready: list[str] = []
    reader = threading.Thread(target=lambda: ready.append(proc.stdout.readline().decode()))
    reader.start()
    reader.join(15)
    if not ready or not ready[0].startswith("PORT "):
        child.stop()
        raise BenchAbort(f"the simulator did not start:\n{child.tail()}")
    return child, int(ready[0].split()[1])


def start_workers(
    args: argparse.Namespace,
    env: dict[str, str],
    logdir: Path,
    *,
    name: str = "worker",
    count: int | None = None,
    concurrency: int | None = None,
    queues: list[str] | None = None,
) -> list[Child]:
    """Start `count` (--workers) celery worker processes, on `queues` (the default queue)."""
    workers = []
    for index in range(args.workers if count is None else count):
        log = logdir / f"{name}{index}.log"
        cmd = [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "bench.celery_app",
            "worker",
            "--pool",
            args.pool,
            "--concurrency",
            str(args.concurrency if concurrency is None else concurrency),
            "--hostname",
            f"bench-{name}{index}@%h",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--prefetch-multiplier",
            str(args.prefetch),
            *(["--queues", ",".join(queues)] if queues else []),
        ]
        proc = subprocess.Popen(  # noqa: S603
            cmd,
            cwd=args.app_root,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        workers.append(Child(f"{name}{index}", proc, log))
    return workers


def wait_for_workers(app: Any, workers: list[Child], timeout: float = 60.0) -> None:
    """Wait until every worker answers a ping."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in workers:
            if child.proc.poll() is not None:
                raise BenchAbort(f"{child.name} exited at start:\n{child.tail()}")
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= len(workers):
            return
    raise BenchAbort(f"the workers did not answer within {timeout:g} s:\n{workers[0].tail()}")


# ----------------------------------------------------------------------------- services


def pg_admin(args: argparse.Namespace) -> Any:
    """Return an autocommit connection to the postgres database."""
    import psycopg

    dsn = PG_DSN.format(host=args.pg_host, port=args.pg_port, user=args.pg_user)
    return psycopg.connect(dsn, autocommit=True, application_name="esms-bench-admin")


def create_database(args: argparse.Namespace) -> None:
    """Drop and create the benchmark database; check there is room for its connections."""
    with pg_admin(args) as conn:
        max_conn = int(conn.execute("SHOW max_connections").fetchone()[0])
        used = conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()[0]
        per_worker = args.db_pool_max if args.db_pool_max > 0 else args.concurrency
        needed = args.workers * per_worker + 3
        if used + needed > max_conn:
            raise BenchAbort(
                f"PostgreSQL has {max_conn - used} free connections, the run needs {needed}"
            )
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db_name}"')


def drop_database(args: argparse.Namespace) -> None:
    """Drop the benchmark database."""
    with pg_admin(args) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')


def empty_redis_db(args: argparse.Namespace, *, check: bool) -> None:
    """Empty the benchmark's Redis db; refuse at start if it holds other keys than Celery's."""
    import redis

    client = redis.Redis.from_url(f"{args.redis}/{args.redis_db}")
    try:
        if check:
            foreign = [
                k
                for k in client.scan_iter(count=1000)
                if not k.startswith((b"celery", b"_kombu", b"unacked", b"esms_voice", b":1:"))
            ]
            if foreign:
                raise BenchAbort(
                    f"Redis db {args.redis_db} holds keys the benchmark did not make "
                    f"(e.g. {foreign[0]!r}); pick another with --redis-db"
                )
        client.flushdb()
    finally:
        client.close()


class ConnectionSampler(threading.Thread):
    """Count the benchmark database's connections in pg_stat_activity every 50 ms."""

    def __init__(self, args: argparse.Namespace, interval: float = 0.05) -> None:
        super().__init__(name="pg-sampler", daemon=True)
        self.args, self.interval = args, interval
        self.peak_total = 0
        self.peak_by_app: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._halt = threading.Event()
        self._conn = pg_admin(args)

    def run(self) -> None:
        query = (
            "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s GROUP BY 1"
        )
        with self._conn:
            while not self._halt.is_set():
                rows = self._conn.execute(query, (self.args.db_name,)).fetchall()
                self.samples += 1
                self.peak_total = max(self.peak_total, sum(n for _, n in rows))
                for app, n in rows:
                    self.peak_by_app[app] = max(self.peak_by_app[app], n)
                self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        if self.ident is None:  # never started
            self._conn.close()
        else:
            self.join(5)


# ----------------------------------------------------------------------------- measurements


def sim_get(base: str, path: str) -> Any:
    """GET a /bench/ endpoint of the simulator."""
    import requests

    response = requests.get(base + path, timeout=30)
    response.raise_for_status()
    return response.json()


def sequential_baseline(sim_url: str, count: int) -> float:
    """Return calls/s of a plain requests loop of MakeCallRecord_V2 (one keep-alive session)."""
    import requests

    with requests.Session() as session:
        started = time.perf_counter()
        for index in range(count):
            response = session.get(
                sim_url + "MakeCallRecord_V2",
                params={
                    "ApiKey": API_KEY,
                    "SecretKey": SECRET_KEY,
                    "Phone": f"0912{index:06d}",
                    "TemplateId": TEMPLATE_ID,
                    "RequestID": f"baseline-{uuid.uuid4()}",
                },
                timeout=30,
            )
            assert response.json()["CodeResult"] == "100", response.text
        return count / (time.perf_counter() - started)


@dataclass
class LoadResult:
    """What the placing of the calls measured."""

    created: int
    validate_s: float
    insert_s: float
    enqueue_s: float
    elapsed_s: float
    timeline: list[tuple[float, int]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    def rate_between(self, low: float, high: float) -> float | None:
        """Return calls/s between the moments low and high fractions of the calls were done."""
        lo, hi = low * self.created, high * self.created
        t_lo = next((t for t, n in self.timeline if n >= lo), None)
        t_hi = next((t for t, n in self.timeline if n >= hi), None)
        if t_lo is None or t_hi is None or t_hi <= t_lo:
            return None
        done_lo = next(n for t, n in self.timeline if t == t_lo)
        done_hi = next(n for t, n in self.timeline if t == t_hi)
        return (done_hi - done_lo) / (t_hi - t_lo)


class Poller(threading.Thread):
    """Count the batch's calls by status every 50 ms, on its own connection, until all are done."""

    OPEN = ("pending", "submitting")

    def __init__(self, batch: str, expected: int) -> None:
        super().__init__(name="status-poller", daemon=True)
        self.batch, self.expected = batch, expected
        self.timeline: list[tuple[float, int]] = []  # (perf_counter, accepted)
        self.finished_at: float | None = None
        self.statuses: dict[str, int] = {}
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        from django.db import connection
        from django.db.models import Count

        from django_esms_voice.models import VoiceCall

        query = (
            VoiceCall.objects.filter(batch=self.batch)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        try:
            while not self._halt.is_set():
                counts = dict(query.all())
                now = time.perf_counter()
                self.statuses = counts
                self.timeline.append((now, counts.get("accepted", 0)))
                done = sum(n for status, n in counts.items() if status not in self.OPEN)
                if done >= self.expected:
                    # Seen by this poll: the true moment lies within the last 50 ms.
                    self.finished_at = now
                    return
                self._halt.wait(0.05)
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()

    def progress_since(self, seconds: float) -> int:
        """Return how many calls were done over the last `seconds`."""
        if not self.timeline:
            return 0
        now, latest = self.timeline[-1]
        earlier = next((n for t, n in reversed(self.timeline) if t <= now - seconds), 0)
        return latest - earlier

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def place_calls(args: argparse.Namespace, app: Any, batch: str, deadline: float) -> LoadResult:
    """Create the calls with create_calls and wait until each one has left pending/submitting.

    The clock starts when the rows are committed, i.e. when create_calls starts enqueueing.
    With --prefill the workers stop consuming during the enqueueing, and the clock starts
    when they resume: that measures the workers alone, with a full queue.
    """
    from django.db import transaction

    from django_esms_voice import services
    from django_esms_voice.models import VoiceCall

    rows = [
        {"phone": f"09{index // 1_000_000 % 10}{index % 1_000_000:07d}", "template_id": TEMPLATE_ID}
        for index in range(args.calls)
    ]
    queue = app.conf.task_default_queue
    if args.prefill:
        app.control.cancel_consumer(queue, reply=True, timeout=5)
    poller = Poller(batch, args.calls)
    poller.start()
    # Validation (phonenumbers) happens in create_calls before the insert; time it apart.
    marks: dict[str, float] = {}
    started = time.perf_counter()
    original_bulk_create = VoiceCall.objects.bulk_create

    def timed_bulk_create(*a: Any, **kw: Any) -> Any:
        marks["validated"] = time.perf_counter()
        return original_bulk_create(*a, **kw)

    VoiceCall.objects.bulk_create = timed_bulk_create  # type: ignore[method-assign]
    try:
        with transaction.atomic():
            # Registered before create_calls' own on_commit, so it runs first: the moment the
            # rows are committed and the enqueueing starts.
            transaction.on_commit(lambda: marks.setdefault("committed", time.perf_counter()))
            created = services.create_calls(rows, batch=batch)
        marks["enqueued"] = time.perf_counter()
        t0 = marks["committed"]
        if args.prefill:
            t0 = time.perf_counter()
            app.control.add_consumer(queue, reply=True, timeout=5)
        last_check = time.monotonic()
        while poller.is_alive():
            poller.join(0.2)
            if poller.error is not None:
                raise BenchAbort(f"polling the calls failed: {poller.error!r}")
            if time.monotonic() > deadline:
                raise BenchAbort(f"time limit reached with {poller.statuses}")
            if time.monotonic() - last_check > 60:
                last_check = time.monotonic()
                if poller.progress_since(60) == 0:
                    raise BenchAbort(f"no progress for 60 s: {poller.statuses}")
        if poller.error is not None or poller.finished_at is None:
            raise BenchAbort(f"polling the calls failed: {poller.error!r}")
    finally:
        del VoiceCall.objects.bulk_create
        poller.stop()
        if args.prefill:
            with contextlib.suppress(Exception):
                app.control.add_consumer(queue, reply=True, timeout=5)
    return LoadResult(
        created=len(created),
        validate_s=marks["validated"] - started,
        insert_s=marks["committed"] - marks["validated"],
        enqueue_s=marks["enqueued"] - marks["committed"],
        elapsed_s=poller.finished_at - t0,
        timeline=[(t - t0, n) for t, n in poller.timeline if t >= t0],
        statuses=poller.statuses,
    )


def check_exactly_once(
    sim_url: str, since: int, batch: str, expected: int
) -> tuple[bool, list[str], dict[str, Any]]:
    """Compare the simulator's accepted requests with the database, call by call."""
    from django_esms_voice.models import VoiceCall

    base = sim_url.split("/MainService.svc")[0]
    accepted = sim_get(base, f"/bench/accepted?since={since}")["accepted"]
    db = {str(u): s for u, s in VoiceCall.objects.filter(batch=batch).values_list("uuid", "smsid")}
    attempts = sum(VoiceCall.objects.filter(batch=batch).values_list("attempts", flat=True))
    problems = []
    request_ids = collections.Counter(rid for rid, _ in accepted)
    twice = [rid for rid, n in request_ids.items() if n > 1]
    if len(accepted) != expected:
        problems.append(f"the simulator accepted {len(accepted)} calls, expected {expected}")
    if twice:
        problems.append(f"{len(twice)} RequestIds accepted more than once")
    missing = set(db) - set(request_ids)
    if missing:
        problems.append(f"{len(missing)} calls of the batch never accepted by the simulator")
    foreign = set(request_ids) - set(db)
    if foreign:
        problems.append(f"{len(foreign)} accepted RequestIds that are not calls of the batch")
    wrong_smsid = [rid for rid, smsid in accepted if rid in db and db[rid] != smsid]
    if wrong_smsid:
        problems.append(f"{len(wrong_smsid)} calls store another SMSID than the simulator's")
    return not problems, problems, {"accepted": len(accepted), "attempts": attempts}


# ----------------------------------------------------------------------------- main


def _raise_timeout(signum: int, frame: FrameType | None) -> None:
    raise BenchAbort("time limit (--timeout) reached; stopping everything")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[float]:
    """Abort the run with a clear message after `seconds` (SIGALRM); yield the deadline."""
    previous = signal.signal(signal.SIGALRM, _raise_timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield time.monotonic() + seconds
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; return the exit status."""
    broker = f"{args.redis}/{args.redis_db}"
    logdir = Path(tempfile.mkdtemp(prefix="esms-bench-"))
    env_common = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_DB_NAME": args.db_name,
        "BENCH_DB_HOST": args.pg_host,
        "BENCH_DB_PORT": args.pg_port,
        "BENCH_DB_USER": args.pg_user,
        "BENCH_BROKER_URL": broker,
        "BENCH_PREFETCH": str(args.prefetch),
        "BENCH_CLAIM": args.claim,
    }
    if args.place_batch is not None:
        env_common["BENCH_PLACE_BATCH"] = str(args.place_batch)
    if args.rate_limit:
        env_common["BENCH_RATE_LIMIT"] = str(args.rate_limit)
        env_common["BENCH_CACHE_URL"] = broker
    os.environ.update(env_common)
    # The driver keeps one plain connection: it only inserts the calls and polls the counts.
    os.environ.update({"BENCH_APP_NAME": "esms-bench-driver", "BENCH_POOL_MAX": "0"})

    children: list[Child] = []
    sampler: ConnectionSampler | None = None
    database_created = False
    failed = True
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)  # also when started in the background
    try:
        with time_limit(args.timeout) as deadline:
            print(
                f"Setting up: database {args.db_name}, Redis db {args.redis_db}, simulator, "
                f"{args.workers} worker(s) x {args.concurrency} {args.pool}…",
                flush=True,
            )
            empty_redis_db(args, check=True)
            create_database(args)
            database_created = True
            sim, port = start_simulator(args, logdir)
            children.append(sim)
            sim_url = f"http://127.0.0.1:{port}/MainService.svc/json/"
            os.environ["BENCH_SIM_URL"] = sim_url

            import django
            from django.core.management import call_command

            django.setup()
            call_command("migrate", verbosity=0)

            from bench.celery_app import app

            worker_env = {
                **os.environ,
                "BENCH_APP_NAME": "esms-bench-worker",
                "BENCH_POOL_MAX": str(args.db_pool_max),
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [args.app_root, os.environ.get("PYTHONPATH")])
                ),
            }
            workers = start_workers(args, worker_env, logdir)
            children.extend(workers)
            wait_for_workers(app, workers)

            baseline = sequential_baseline(sim_url, args.baseline_calls)
            print(
                f"Sequential baseline: {args.baseline_calls} calls, {baseline:.2f} calls/s",
                flush=True,
            )

            base = sim_url.split("/MainService.svc")[0]
            before = sim_get(base, "/bench/stats")
            sampler = ConnectionSampler(args)
            sampler.start()
            spies = []
            if args.py_spy:
                Path(args.py_spy).mkdir(parents=True, exist_ok=True)
                targets = [(c.name, c.proc.pid) for c in [*workers, children[0]]]
                for name, pid in [*targets, ("driver", os.getpid())]:
                    # --gil: only samples holding the GIL, i.e. where the CPU goes.
                    spies.append(
                        subprocess.Popen(  # noqa: S603
                            [
                                PY_SPY,
                                "record",
                                "--pid",
                                str(pid),
                                "--format",
                                "raw",
                                "--output",
                                str(Path(args.py_spy) / f"{name}.txt"),
                                "--rate",
                                "100",
                                "--nonblocking",
                                "--gil",
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=(logdir / f"py-spy-{name}.log").open("wb"),
                            start_new_session=True,
                        )
                    )
                time.sleep(1.0)
            cpu = CpuMeter(args, children)
            cpu.start()
            batch = f"bench-{uuid.uuid4().hex[:8]}"
            print(f"Placing {args.calls} calls…", flush=True)
            load = place_calls(args, app, batch, deadline)
            cpu.stop()
            for spy in spies:
                spy.send_signal(signal.SIGINT)
            for spy in spies:
                try:
                    spy.wait(30)
                except subprocess.TimeoutExpired:
                    spy.kill()
            sampler.stop()
            after = sim_get(base, "/bench/stats")
            ok, problems, counts = check_exactly_once(
                sim_url, before["requests"], batch, load.created
            )
            report(args, baseline, load, sampler, before, after, ok, problems, counts, cpu)
            failed = not ok or load.statuses.get("accepted", 0) != load.created
    except BenchAbort as exc:
        print(f"\nABORTED: {exc}", file=sys.stderr, flush=True)
        for child in children:
            if child.name.startswith("worker") and child.tail():
                print(f"--- {child.name} log (end) ---\n{child.tail()}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nInterrupted; cleaning up.", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the cleanup finish
        cleanup(args, sampler, children, database_created)
        if args.keep_logs or failed:
            print(f"Logs kept in {logdir}", file=sys.stderr)
        else:
            shutil.rmtree(logdir, ignore_errors=True)
    return 1 if failed else 0


def cleanup(
    args: argparse.Namespace,
    sampler: ConnectionSampler | None,
    children: list[Child],
    database_created: bool,
) -> None:
    """Stop and remove everything the run started; each step runs even if another fails."""
    steps: list[tuple[str, Any]] = []
    if sampler is not None:
        steps.append(("connection sampler", sampler.stop))
    steps += [(child.name, child.stop) for child in reversed(children)]

    def close_django() -> None:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()

    steps.append(("Django connections", close_django))
    if database_created:
        steps.append((f"database {args.db_name}", lambda: drop_database(args)))
    steps.append((f"Redis db {args.redis_db}", lambda: empty_redis_db(args, check=False)))
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # report and go on: the next step must still run
            print(f"cleanup: {name}: {type(exc).__name__}: {exc}", file=sys.stderr)


def report(
    args: argparse.Namespace,
    baseline: float,
    load: LoadResult,
    sampler: ConnectionSampler,
    before: dict[str, Any],
    after: dict[str, Any],
    ok: bool,
    problems: list[str],
    counts: dict[str, Any],
    cpu: CpuMeter,
) -> None:
    """Print the figures."""
    rate = load.created / load.elapsed_s
    steady = load.rate_between(0.1, 0.9)
    in_flight = args.workers * args.concurrency
    limit = in_flight / args.latency if args.latency > 0 else float("inf")
    requests_sent = after["make_call_requests"] - before["make_call_requests"]
    codes = collections.Counter(after["codes"]) - collections.Counter(before["codes"])
    cores = os.cpu_count() or 1
    print()
    print(
        f"== {load.created} calls, provider latency {args.latency * 1000:g} ms, "
        f"{args.workers} worker(s) x {args.concurrency} {args.pool}, prefetch {args.prefetch}, "
        f"db pool ≤{args.db_pool_max}/worker, claim {args.claim} =="
    )
    print(
        f"create_calls: validate {load.validate_s:.2f} s, insert {load.insert_s:.2f} s, "
        f"enqueue {load.enqueue_s:.2f} s ({load.created / load.enqueue_s:.0f} tasks/s published "
        f"by the caller's on_commit)"
    )
    clock = (
        "from the workers resuming on a full queue (--prefill)"
        if args.prefill
        else "from commit/enqueue start to all accepted"
    )
    print(
        f"Workers:             {rate:8.1f} calls/s  ({load.created} in {load.elapsed_s:.2f} s, "
        f"{clock})"
    )
    if steady is not None:
        print(f"  steady (10%→90%):  {steady:8.1f} calls/s")
    print(f"Sequential loop:     {baseline:8.2f} calls/s  ({args.baseline_calls} calls)")
    print(f"Ratio:               {rate / baseline:8.1f} x")
    print(
        f"Provider-latency limit: {limit:.0f} calls/s ({in_flight} in flight ÷ "
        f"{args.latency:g} s); reached {rate / limit:.0%} of it"
    )
    by_app = ", ".join(f"{app or '?'} {n}" for app, n in sorted(sampler.peak_by_app.items()))
    print(
        f"Peak PostgreSQL connections: {sampler.peak_total} ({by_app}; "
        f"{sampler.samples} samples every 50 ms)"
    )
    ours = sum(u + s for u, s in cpu.used.values())
    others = max(cpu.machine_busy - ours, 0.0)
    print(
        f"CPU from create_calls to all accepted ({cores} cores x the window = "
        f"{cpu.machine_total:.0f} CPU-s): machine busy {cpu.machine_busy / cpu.machine_total:.0%}; "
        f"other processes (not this run) {others:.1f} CPU-s"
    )
    for name, (user, system) in cpu.used.items():
        print(
            f"  {name:10s} {user + system:6.1f} CPU-s (user {user:5.1f}, sys {system:5.1f}) "
            f"= {(user + system) / load.created * 1000:5.2f} ms per call"
        )
    print(f"Final statuses: {load.statuses}")
    print(
        f"Simulator: {requests_sent} MakeCall requests, answers {dict(codes)}; "
        f"attempts recorded {counts['attempts']}"
    )
    verdict = "OK" if ok else "FAILED: " + "; ".join(problems)
    print(f"Exactly once: {verdict} (simulator accepted {counts['accepted']} of {load.created})")
    per_call = {
        name: round((user + system) / load.created * 1000, 2)
        for name, (user, system) in cpu.used.items()
    }
    grouped = {
        "cpu_workers": round(sum(v for k, v in per_call.items() if k.startswith("worker")), 2),
        "cpu_postgres": per_call.get("postgres", 0.0),
        "cpu_redis": per_call.get("redis", 0.0),
        "cpu_simulator": per_call.get("simulator", 0.0),
    }
    # The system under test: the workers, their PostgreSQL backends, the broker, the fake
    # eSMS. The driver (it created the calls before the clock started) and its polls apart.
    grouped["cpu_total"] = round(sum(grouped.values()), 2)
    print(
        f"CPU per placed call: workers {grouped['cpu_workers']:.2f} ms, PostgreSQL "
        f"{grouped['cpu_postgres']:.2f}, Redis {grouped['cpu_redis']:.2f}, simulator "
        f"{grouped['cpu_simulator']:.2f}; in all {grouped['cpu_total']:.2f} ms"
    )
    goal_met = (rate >= 0.8 * limit or grouped["cpu_total"] <= 3.0) and sampler.peak_total <= 20
    print(
        "Goal (≥80% of the in-flight limit or ≤3 ms of CPU per call, ≤20 connections): "
        f"{'met' if goal_met else 'NOT met'}"
    )
    summary = {
        "calls": load.created,
        "calls_per_s": round(rate, 1),
        "share_of_limit": f"{rate / limit:.0%}",
        "peak_pg_connections": sampler.peak_total,
        "exactly_once": ok,
        **grouped,
    }
    if args.summary_file:
        Path(args.summary_file).write_text(json.dumps(summary))
    print(
        json.dumps(
            {
                **summary,
                "steady_calls_per_s": round(steady, 1) if steady else None,
                "baseline_calls_per_s": round(baseline, 2),
                "ratio": round(rate / baseline, 1),
                "latency_limit_calls_per_s": round(limit),
                "workers": args.workers,
                "concurrency": args.concurrency,
                "pool": args.pool,
                "prefetch": args.prefetch,
                "prefill": args.prefill,
                "claim": args.claim,
                "place_batch": args.place_batch,
                "enqueue_tasks_per_s": round(load.created / load.enqueue_s),
            }
        )
    )


def main() -> int:
    """Entry point."""
    args = parse_args()
    if args.compare_with:
        return compare(args)
    return run(args)


def compare(args: argparse.Namespace) -> int:
    """Run the load with this checkout's workers, then with --compare-with's; print both."""
    other = str(Path(args.compare_with).resolve())
    argv = []
    skip = False
    for arg in sys.argv[1:]:  # every option but --compare-with DIR / --compare-with=DIR
        if skip or arg.startswith("--compare-with"):
            skip = not skip and arg == "--compare-with"
            continue
        argv.append(arg)
    results: dict[str, dict[str, Any]] = {}
    status = 0
    for label, root in (("this checkout", str(ROOT)), (f"{other}", other)):
        print(f"\n######## workers from {label}", flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json") as summary:
            code = subprocess.call(  # noqa: S603
                [PYTHON, __file__, *argv, "--app-root", root, "--summary-file", summary.name]
            )
            status = status or code
            text = Path(summary.name).read_text()
            results[label] = json.loads(text) if text else {}
    print("\n== side by side (CPU in ms per placed call) ==")
    keys = ["calls_per_s", "share_of_limit", "cpu_workers", "cpu_postgres", "cpu_redis"]
    keys += ["cpu_simulator", "cpu_total", "peak_pg_connections", "exactly_once"]
    print(f"{'':22s}" + "".join(f"{k:>20s}" for k in keys))
    for label, figures in results.items():
        row = "".join(f"{figures.get(k, '-')!s:>20s}" for k in keys)
        print(f"{Path(label).name[:21]:22s}{row}")
    return status


if __name__ == "__main__":
    sys.exit(main())
