#!/usr/bin/env python
"""Callback view throughput under gunicorn on PostgreSQL, against a bare one-INSERT view.

    PYTHONPATH=. python bench/callbacks.py                  # 50,000 calls, 30 s per view
    PYTHONPATH=. python bench/callbacks.py --quick          # 10,000 calls, 6 s per view
    PYTHONPATH=. python bench/callbacks.py --prepared       # PostgreSQL prepared statements
    PYTHONPATH=. python bench/callbacks.py --compare-with ../other-checkout   # A/B, one run

In one run it: creates and migrates a throwaway PostgreSQL database
(``esms_voice_bench_callbacks``), fills it with --calls accepted calls, starts ONE gunicorn
serving both the real callback view (/esms-voice/callback/<uuid>/<token>/) and a bare Django
view that does one raw INSERT of the query string (/bench/bare/), so both run under the same
workers, middleware and database settings; warms both up, then drives each for --duration
seconds with wrk (or, without wrk, a Python keep-alive load generator), and prints
requests/s, p50/p99 latency, the ratio callback ÷ bare, and the outcomes of the measured
callbacks. gunicorn is stopped and the database dropped at the end, also on Ctrl-C and on
the time limit.

With --compare-with DIR (another checkout of the app, e.g. a ``git worktree`` of the code
before a change), a second gunicorn serves the app from DIR beside this one, on the same
database and settings; the rounds alternate between both, and each gets its own figures and
ratio: an A/B in one run, under the same background load.

This module is also the benchmark server's settings module, URLconf and WSGI application
(gunicorn imports it as ``bench.callbacks``), so that the benchmark is a single file.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DB_NAME_ENV = "BENCH_CALLBACKS_DB_NAME"
SERVER_ENV = "BENCH_CALLBACKS_SERVER"
PREPARED_ENV = "BENCH_CALLBACKS_PREPARED"
DEFAULT_DB_NAME = "esms_voice_bench_callbacks"
BARE_TABLE = "bench_bare_callback"

# ----------------------------------------------------------------------------- server settings
# Read by Django when DJANGO_SETTINGS_MODULE=bench.callbacks (the gunicorn workers, the
# migrate and fill steps). A production-like stack: startproject's middleware, DEBUG off,
# persistent connections (one per worker thread), the app's real URLconf.

SECRET_KEY = "bench-callbacks-only-secret-key-0123456789"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "Asia/Ho_Chi_Minh"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "django_esms_voice",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "bench.callbacks"
DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get(DB_NAME_ENV, DEFAULT_DB_NAME),
        "HOST": os.environ.get("BENCH_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BENCH_DB_PORT", "5432"),
        "USER": os.environ.get("BENCH_DB_USER", "postgres"),
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            "application_name": "esms-bench-callbacks",
            # --prepared: server-side binding, and psycopg prepares a statement on its 2nd run
            # (Django leaves prepared statements off by default, for connection poolers).
            **(
                {"server_side_binding": True, "prepare_threshold": 2}
                if os.environ.get(PREPARED_ENV) == "1"
                else {}
            ),
        },
    }
}
ESMS_VOICE = {
    "API_KEY": "bench-key",
    "SECRET_KEY": "bench-secret",
    "CALLBACK_BASE_URL": "http://127.0.0.1:8000",
}
LOGGING = {  # the workers stay quiet but for errors
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "ERROR"},
}


def _bare_view(request: Any) -> Any:
    """The baseline: one raw INSERT of the query string, autocommit, a tiny answer."""
    from django.db import connection
    from django.http import HttpResponse

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BARE_TABLE} (raw) VALUES (%s)",  # noqa: S608 - a constant name
            [request.META.get("QUERY_STRING", "")],
        )
    return HttpResponse(b"ok", content_type="text/plain")


def _ping_view(request: Any) -> Any:
    """Answer 200 without touching the database (readiness probe)."""
    from django.http import HttpResponse

    return HttpResponse(b"pong", content_type="text/plain")


def __getattr__(name: str) -> Any:
    """Build the URL patterns lazily: settings are read before the URL modules can load."""
    if name == "urlpatterns":
        from django.urls import include, path
        from django.views.decorators.csrf import csrf_exempt

        return [
            path("esms-voice/", include("django_esms_voice.urls")),
            path("bench/bare/", csrf_exempt(_bare_view)),
            path("bench/ping/", _ping_view),
        ]
    raise AttributeError(name)


_wsgi_app: Any = None


def application(environ: dict[str, Any], start_response: Any) -> Any:
    """The WSGI entry point gunicorn serves (Django is set up on the first request)."""
    global _wsgi_app
    if _wsgi_app is None:
        from django.core.wsgi import get_wsgi_application

        _wsgi_app = get_wsgi_application()
    return _wsgi_app(environ, start_response)


if os.environ.get(SERVER_ENV) == "1":
    # In gunicorn's master (--preload): set Django up and import every view before the
    # workers fork, so that no worker pays for imports during a measured round.
    from django.core.wsgi import get_wsgi_application
    from django.urls import get_resolver

    _wsgi_app = get_wsgi_application()
    get_resolver().url_patterns  # noqa: B018 - imports the URL modules and views


# ----------------------------------------------------------------------------- load generation

WRK_SCRIPT = r"""
local paths = {}
local nthreads = 1
local next_id = 0
local threads = {}
counter = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  nthreads = tonumber(args[2])
  counter = tonumber(args[3]) + id
end

function request()
  local path = paths[(counter % #paths) + 1]
  counter = counter + nthreads
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  local next_offset = 0
  for _, thread in ipairs(threads) do
    local c = thread:get("counter")
    if c > next_offset then next_offset = c end
  end
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "status_errors": %d, ' ..
    '"socket_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"next_offset": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max, next_offset))
end
"""


def _free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_wrk(
    url: str,
    paths_file: Path,
    offset: int,
    duration: float,
    threads: int,
    connections: int,
    workdir: Path,
) -> dict[str, float]:
    """Drive url with wrk cycling through the paths from offset; return req/s and latencies."""
    script = workdir / "rotate.lua"
    script.write_text(WRK_SCRIPT)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        "--",
        str(paths_file),
        str(threads),
        str(offset),
    ]
    done = subprocess.run(  # noqa: S603 - fixed argv
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK-JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("WRK-JSON "))
    seconds = data["duration_us"] / 1e6
    return {
        "requests": data["requests"],
        "seconds": seconds,
        "rps": data["requests"] / seconds,
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "max_ms": data["max_us"] / 1000,
        "errors": data["status_errors"] + data["socket_errors"] + data["timeouts"],
        "next_offset": data["next_offset"],
    }


def _python_load_process(
    host: str,
    port: int,
    paths: list[str],
    start: int,
    stride: int,
    threads: int,
    deadline: float,
    results: Any,
) -> None:
    """One load process: `threads` keep-alive http.client connections until the deadline."""
    import http.client

    latencies: list[float] = []
    errors = [0]
    furthest = [0]
    lock = threading.Lock()

    def worker(index: int) -> None:
        own: list[float] = []
        failed = 0
        position = start + index * stride
        step = stride * threads
        conn = http.client.HTTPConnection(host, port, timeout=10)
        while time.monotonic() < deadline:
            path = paths[position % len(paths)]
            position += step
            began = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    failed += 1
                if response.will_close:  # sync workers close after every answer
                    conn.close()
            except (OSError, http.client.HTTPException):
                failed += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=10)
                continue
            own.append(time.perf_counter() - began)
        conn.close()
        with lock:
            latencies.extend(own)
            errors[0] += failed
            furthest[0] = max(furthest[0], position)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put((latencies, errors[0], furthest[0]))


def run_python_load(
    url: str, paths_file: Path, offset: int, duration: float, processes: int, connections: int
) -> dict[str, float]:
    """Drive url like run_wrk, with processes x threads of http.client keep-alive clients."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    paths = paths_file.read_text().splitlines()
    threads = max(1, connections // processes)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    began = time.monotonic()
    deadline = began + duration
    workers = [
        context.Process(
            target=_python_load_process,
            daemon=True,
            args=(
                parts.hostname,
                parts.port,
                paths,
                offset + p,
                processes,
                threads,
                deadline,
                results,
            ),
        )
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    errors = 0
    next_offset = offset
    for _ in workers:
        own, failed, furthest = results.get(timeout=duration + 60)
        latencies.extend(own)
        errors += failed
        next_offset = max(next_offset, furthest)
    for worker in workers:
        worker.join(timeout=10)
    elapsed = time.monotonic() - began
    latencies.sort()

    def percentile(q: float) -> float:
        if not latencies:
            return math.nan
        return latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(50),
        "p99_ms": percentile(99),
        "max_ms": latencies[-1] * 1000 if latencies else math.nan,
        "errors": errors,
        "next_offset": next_offset,
    }


# ----------------------------------------------------------------------------- the run


def _admin_connection() -> Any:
    """Connect to the server's maintenance database with autocommit (CREATE/DROP DATABASE)."""
    import psycopg

    db = DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True
    )


def create_database(name: str) -> None:
    """Create the throwaway database, dropping a leftover of an interrupted run first."""
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    """Drop the throwaway database, whoever is still connected."""
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(calls: int, warmup_calls: int, workdir: Path) -> dict[str, Path]:
    """Migrate, fill the table, and write the request paths for both views."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from django_esms_voice.models import CallKind, VoiceCall
    from django_esms_voice.signing import callback_path
    from django_esms_voice.states import CallStatus

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {BARE_TABLE} (id bigserial PRIMARY KEY, raw text NOT NULL, "
            "received_at timestamptz NOT NULL DEFAULT now())"
        )
    rows = (
        VoiceCall(
            kind=CallKind.RECORD,
            template_id="42",
            phone="0901888484",
            status=CallStatus.ACCEPTED,
            smsid=str(uuid.uuid4()),
        )
        for _ in range(calls)
    )
    VoiceCall.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    finals = [
        ("ANSWERED", 1, 13, "1", "500.0000"),
        ("NO ANSWER", 1, 0, "", "0.0000"),
        ("", 0, 0, "", "0.0000"),
    ]

    def query(smsid: str, final: int | None) -> str:
        from urllib.parse import urlencode

        if final is None:  # SendStatus 7: sent, waiting for the report
            status, sent, duration, ivr, price, send_status = "", 1, 0, "", "0.0000", 7
        else:
            status, sent, duration, ivr, price = finals[final]
            send_status = 5
        return urlencode(
            [
                ("ReferenceId", smsid),
                ("CallDuration", duration),
                ("CallStatus", status),
                ("Ivr", ivr),
                ("Price", price),
                ("SentResult", sent),
                ("CID", "02871002454"),
                ("SendStatus", send_status),
            ]
        )

    # Each call gets its in-progress callback, then (after every call's in-progress one) its
    # final one, answered / no answer / failed in turn: every request is a new, authentic
    # delivery that changes a row, until the list wraps round (repeats are duplicates).
    calls_list = list(VoiceCall.objects.order_by("id").values_list("uuid", "smsid"))
    files: dict[str, Path] = {}
    for name, chunk in (
        ("warmup", calls_list[:warmup_calls]),
        ("measure", calls_list[warmup_calls:]),
    ):
        real = [f"{callback_path(u)}?{query(s, None)}" for u, s in chunk]
        real += [f"{callback_path(u)}?{query(s, i % 3)}" for i, (u, s) in enumerate(chunk)]
        bare = ["/bench/bare/?" + path.split("?", 1)[1] for path in real]
        for kind, lines in (("callback", real), ("bare", bare)):
            target = workdir / f"{name}-{kind}.txt"
            target.write_text("\n".join(lines) + "\n")
            files[f"{name}-{kind}"] = target
    connection.close()
    return files


def outcome_mix(since_id: int) -> tuple[collections.Counter[str], int]:
    """Count the outcomes of the events stored after since_id; return them and the last id."""
    from django.db import connection

    from django_esms_voice.models import CallbackEvent

    rows = CallbackEvent.objects.filter(id__gt=since_id).values_list("id", "outcome")
    counter: collections.Counter[str] = collections.Counter()
    last = since_id
    for event_id, outcome in rows.iterator():
        counter[outcome] += 1
        last = max(last, event_id)
    connection.close()
    return counter, last


def wait_until_up(url: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Poll the ping URL until gunicorn answers."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=2)
            conn.request("GET", "/bench/ping/")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer in time")


def combine(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Sum a view's rounds: overall req/s, median p50, worst p99, CPU per request."""
    seconds = sum(r["seconds"] for r in rounds)
    requests = sum(r["requests"] for r in rounds)
    p50s = sorted(r["p50_ms"] for r in rounds)
    return {
        "requests": requests,
        "seconds": seconds,
        "rps": requests / seconds if seconds else 0.0,
        "p50_ms": p50s[len(p50s) // 2],
        "p99_ms": max(r["p99_ms"] for r in rounds),
        "errors": sum(r["errors"] for r in rounds),
        "app_cpu_s": sum(r["app_cpu_s"] for r in rounds),
        "db_cpu_s": sum(r["db_cpu_s"] for r in rounds),
    }


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> list[str] | None:
    """Return the fields of /proc/<pid>/stat after the command name, or None (not Linux)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def cpu_seconds(pids: list[int]) -> float:
    """Return the user+system CPU seconds the processes have used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = _proc_stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _CLOCK_TICKS


def worker_pids(master: int) -> list[int]:
    """Return the gunicorn workers: the processes whose parent is the master."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields is not None and int(fields[1]) == master:
                pids.append(int(entry.name))
    return pids


def backend_pids(db_name: str) -> list[int]:
    """Return the PostgreSQL backends serving the gunicorn workers (same host)."""
    with _admin_connection() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            [db_name, DATABASES["default"]["OPTIONS"]["application_name"]],
        ).fetchall()
    return [row[0] for row in rows]


def start_profiler(output: str, pid: int, seconds: float) -> subprocess.Popen[bytes]:
    """Sample gunicorn and its workers with py-spy for `seconds`, collapsed stacks to output."""
    command = [
        shutil.which("py-spy") or "py-spy",
        "record",
        "--subprocesses",
        "--format=raw",
        "--gil",  # samples holding the GIL only: where the Python CPU goes, not the waits
        "--rate=250",
        f"--duration={max(1, round(seconds))}",
        f"--output={output}",
        f"--pid={pid}",
    ]
    return subprocess.Popen(  # noqa: S603 - fixed argv
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def summarize_profile(path: str, top: int = 18) -> list[str]:
    """Return where request time went: inclusive share of each frame, in request samples."""
    import re

    inclusive: collections.Counter[str] = collections.Counter()
    requests = 0
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or "handle_request" not in stack:
            continue
        requests += int(count)
        frames = {re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")}
        for frame in frames:
            inclusive[frame] += int(count)
    keep = ("django_esms_voice", "rest_framework/views", "django/db", "psycopg/", "middleware")
    rows = [
        f"{100 * n / requests:5.1f}%  {frame}"
        for frame, n in inclusive.most_common()
        if any(k in frame for k in keep)
    ]
    return rows[:top]


def stop_server(server: subprocess.Popen[bytes] | None) -> None:
    """Stop the gunicorn this script started: SIGTERM its master, then kill its group."""
    if server is None or server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)  # its own session: only its workers
        server.wait(timeout=5)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=50_000, help="calls in the table")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per view")
    parser.add_argument(
        "--rounds", type=int, default=6, help="alternating rounds the duration is split into"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per view")
    # One process per core: measured faster for both views than 2 per core on 2 cores (the
    # processes, PostgreSQL and wrk share them; fewer processes keep their caches warm).
    parser.add_argument("--workers", type=int, default=cores, help="gunicorn workers")
    parser.add_argument(
        "--worker-class", choices=("sync", "gthread"), default="gthread", help="gunicorn -k"
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument(
        "--load", choices=("auto", "wrk", "python"), default="auto", help="load generator"
    )
    parser.add_argument("--db-name", default=DEFAULT_DB_NAME, help="throwaway database name")
    parser.add_argument("--timeout", type=float, default=600, help="hard limit for the run (s)")
    parser.add_argument(
        "--profile", metavar="FILE", help="py-spy callback round 1 to FILE (collapsed stacks)"
    )
    parser.add_argument(
        "--prepared",
        action="store_true",
        help="both views: DATABASES OPTIONS server_side_binding + prepare_threshold",
    )
    parser.add_argument(
        "--compare-with",
        metavar="DIR",
        action="append",
        default=[],
        help="also serve the app from another checkout DIR, alternating rounds (A/B)",
    )
    parser.add_argument("--quick", action="store_true", help="10,000 calls, 6 s per view")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.duration, args.warmup, args.rounds = 10_000, 6.0, 1.0, 3
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args = parse_args(argv)
    os.environ[DB_NAME_ENV] = args.db_name
    os.environ[PREPARED_ENV] = "1" if args.prepared else "0"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.callbacks"
    sys.path.insert(0, str(ROOT))
    load = args.load
    if load == "auto":
        load = "wrk" if shutil.which("wrk") else "python"
    if load == "wrk" and not shutil.which("wrk"):
        print("wrk is not installed (apt-get install -y wrk); use --load python", file=sys.stderr)
        return 2
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which(
        "gunicorn"
    )
    if gunicorn is None:
        print("gunicorn is not installed (pip install gunicorn)", file=sys.stderr)
        return 2
    # The variants: this checkout, and each --compare-with one, served side by side.
    roots = {ROOT.name: ROOT}
    for other in args.compare_with:
        path = Path(other).resolve()
        if not (path / "bench" / "callbacks.py").is_file():
            print(f"{path} is not a checkout of the app (no bench/callbacks.py)", file=sys.stderr)
            return 2
        roots[path.name if path.name not in roots else str(path)] = path

    def time_limit(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the benchmark exceeded --timeout {args.timeout:g} s")

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, time_limit)
    signal.signal(signal.SIGTERM, interrupted)
    signal.alarm(int(args.timeout))
    servers: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    profiler: subprocess.Popen[bytes] | None = None
    cores = os.cpu_count() or 1
    wrk_threads = max(1, min(cores, args.connections))
    warmup_calls = max(1, args.calls // 10)
    try:
        with tempfile.TemporaryDirectory(prefix="esms-bench-callbacks-") as tmp:
            workdir = Path(tmp)
            print(f"Creating database {args.db_name} with {args.calls:,} calls ...", flush=True)
            create_database(args.db_name)
            files = prepare(args.calls, warmup_calls, workdir)
            for variant, root in roots.items():
                port = _free_port()
                urls[variant] = f"http://127.0.0.1:{port}"
                command = [
                    gunicorn,
                    "bench.callbacks:application",
                    f"--bind=127.0.0.1:{port}",
                    f"--workers={args.workers}",
                    f"--worker-class={args.worker_class}",
                    f"--threads={args.threads if args.worker_class == 'gthread' else 1}",
                    "--backlog=2048",
                    "--timeout=30",
                    "--graceful-timeout=5",
                    "--log-level=warning",
                    "--preload",
                    f"--chdir={root}",
                ]
                env = {**os.environ, SERVER_ENV: "1", "PYTHONPATH": str(root)}
                servers[variant] = subprocess.Popen(  # noqa: S603 - fixed argv
                    command, cwd=root, env=env, start_new_session=True
                )
            for variant, server in servers.items():
                wait_until_up(urls[variant], server)
            print(
                f"gunicorn {args.workers} workers x {args.worker_class}"
                + (f" ({args.threads} threads)" if args.worker_class == "gthread" else "")
                + f", load: {load}, {args.connections} connections, {cores} CPU cores shared "
                "by gunicorn, PostgreSQL and the load generator"
                + (", prepared statements (--prepared)" if args.prepared else "")
                + (
                    "; variants served side by side: "
                    + ", ".join(f"{v} ({r})" for v, r in roots.items())
                    if len(roots) > 1
                    else ""
                ),
                flush=True,
            )

            offsets = collections.Counter[str]()

            def drive(variant: str, kind: str, phase: str, seconds: float) -> dict[str, float]:
                """Run the load on one view, continuing the path list where it stopped."""
                key = f"{phase}-{kind}"
                app = worker_pids(servers[variant].pid)
                db = backend_pids(args.db_name)
                app_cpu, db_cpu = cpu_seconds(app), cpu_seconds(db)
                url = urls[variant]
                if load == "wrk":
                    figures = run_wrk(
                        url, files[key], offsets[key], seconds, wrk_threads, args.connections,
                        workdir,
                    )  # fmt: skip
                else:
                    figures = run_python_load(
                        url, files[key], offsets[key], seconds, max(1, cores), args.connections
                    )
                # wrk's threads run at different speeds: continue after the furthest one.
                offsets[key] = int(figures.get("next_offset", offsets[key] + figures["requests"]))
                # Backends opened during the round started from zero: count them whole.
                figures["app_cpu_s"] = cpu_seconds(app) - app_cpu
                figures["db_cpu_s"] = cpu_seconds(backend_pids(args.db_name)) - db_cpu
                return figures

            for variant in roots:
                for kind in ("callback", "bare"):
                    drive(variant, kind, "warmup", args.warmup)
            _, last_event = outcome_mix(0)
            # Alternate short rounds, so that a change in background load hits every view.
            round_seconds = args.duration / args.rounds
            rounds: dict[tuple[str, str], list[dict[str, float]]] = {
                (v, k): [] for v in roots for k in ("callback", "bare")
            }
            first = next(iter(roots))
            for index in range(args.rounds):
                # Each round starts with another variant, so that none always runs first.
                order = [*roots][index % len(roots) :] + [*roots][: index % len(roots)]
                for variant in order:
                    for kind in ("callback", "bare"):
                        if args.profile and (variant, kind, index) == (first, "callback", 0):
                            profiler = start_profiler(
                                args.profile, servers[variant].pid, round_seconds
                            )
                        rounds[variant, kind].append(drive(variant, kind, "measure", round_seconds))
                        if profiler is not None:
                            profiler.wait(timeout=round_seconds + 60)
                            profiler = None
            mix, _ = outcome_mix(last_event)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except TimeoutError as exc:
        print(f"Stopped: {exc}", file=sys.stderr)
        return 124
    finally:
        signal.alarm(0)
        if profiler is not None and profiler.poll() is None:
            profiler.terminate()
        for server in servers.values():
            stop_server(server)
        with contextlib.suppress(Exception):
            drop_database(args.db_name)

    totals = {key: combine(figures) for key, figures in rounds.items()}
    ratios = {
        v: totals[v, "callback"]["rps"] / totals[v, "bare"]["rps"]
        if totals[v, "bare"]["rps"]
        else 0.0
        for v in roots
    }
    measured_paths = 2 * (args.calls - warmup_calls)
    width = max(10, *(len(f"{v} {k}") + 2 for v, k in rounds)) if len(roots) > 1 else 10
    print()
    header = f"{'view':<{width}}{'round':>6}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
    print(header + f"{'errors':>8}{'app CPU':>9}{'db CPU':>8}")
    for (variant, kind), variant_rounds in rounds.items():
        name = f"{variant} {kind}" if len(roots) > 1 else kind
        rows: list[tuple[int | str, dict[str, float]]] = [*enumerate(variant_rounds, 1)]
        for label, figures in [*rows, ("all", totals[variant, kind])]:
            count = max(1, int(figures["requests"]))
            print(
                f"{name:<{width}}{label!s:>6}{int(figures['requests']):>10,}"
                f"{figures['rps']:>9,.0f}"
                f"{figures['p50_ms']:>9.2f}{figures['p99_ms']:>9.2f}{int(figures['errors']):>8,}"
                f"{1000 * figures['app_cpu_s'] / count:>9.2f}"
                f"{1000 * figures['db_cpu_s'] / count:>8.2f}"
            )
    print(
        "(all: requests / seconds over the rounds, median p50, worst p99; CPU columns: "
        "milliseconds of gunicorn-worker and PostgreSQL-backend CPU per request)"
    )
    for variant in roots:
        label = f" ({variant})" if len(roots) > 1 else ""
        print(f"ratio callback / bare{label}: {ratios[variant]:.2f} (target >= 0.60)")
        cpu = {
            k: (t["app_cpu_s"] + t["db_cpu_s"]) / max(1, t["requests"])
            for (v, k), t in totals.items()
            if v == variant
        }
        if cpu["callback"] > 0:
            print(
                f"CPU per request, bare / callback (the ratio when CPU-bound){label}: "
                f"{cpu['bare'] / cpu['callback']:.2f}"
            )
    print(
        f"callback mix: {measured_paths:,} distinct deliveries (SendStatus 7 for every call, "
        "then SendStatus 5 answered / no answer / failed in turn); outcomes measured: "
        + ", ".join(f"{k} {v:,}" for k, v in mix.most_common())
    )
    if args.profile:
        print(f"py-spy profile of callback round 1 (raw collapsed stacks): {args.profile}")
        print("share of request samples (inclusive) in the callback view's main frames:")
        for row in summarize_profile(args.profile):
            print("  " + row)
    return 0 if min(ratios.values()) >= 0.6 else 1


if __name__ == "__main__":
    sys.exit(main())
