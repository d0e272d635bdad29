#!/usr/bin/env python
"""The account stops by itself: 10,000 calls through real workers meet 103, then 101.

    PYTHONPATH=. python bench/account_pause.py                      # both, 10,000 calls each
    PYTHONPATH=. python bench/account_pause.py --scenario 103 --calls 2000 --paid-for 600

103: the simulator's balance pays for --paid-for calls (3,000), then every call meets 103.
Placement pauses once; the balance probe asks GetBalance once however often it is called;
after the top-up the probe resumes placement. 101: the workers start with a wrong API key;
after the fix (workers restarted with the right key) an operator resumes placement.

For each it prints: accepted, rejected (with 103 or 101), pauses, the requests refused with
the code and by how many calls (at most once each), and the placed-once check from the
simulator's log (one accepted request per call, no call with two). Like place_calls.py it
creates the PostgreSQL database ``esms_voice_bench`` and a Redis db, starts the workers as
processes (the simulator runs in this process, to be told the balance and the key), and
removes everything at the end, also on Ctrl-C and --timeout. Exit status 1 if a check failed.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.place_calls import (  # noqa: E402 - after the path
    API_KEY,
    SECRET_KEY,
    TEMPLATE_ID,
    BenchAbort,
    Child,
    _raise_interrupt,
    cleanup,
    create_database,
    empty_redis_db,
    start_workers,
    time_limit,
    wait_for_workers,
)

WRONG_KEY = "bench-key-before-the-rotation"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=10_000, help="calls per scenario (10000)")
    p.add_argument("--paid-for", type=int, default=3_000, help="calls the balance pays (3000)")
    p.add_argument("--scenario", choices=["103", "101", "both"], default="both")
    p.add_argument("--latency", type=float, default=0.2, help="provider latency, s (0.2)")
    p.add_argument("--workers", type=int, default=2, help="celery worker processes (2)")
    p.add_argument("--concurrency", type=int, default=64, help="threads per worker (64)")
    p.add_argument("--prefetch", type=int, default=4, help="worker_prefetch_multiplier (4)")
    p.add_argument("--db-pool-max", type=int, default=8, help="psycopg pool per worker (8)")
    p.add_argument("--timeout", type=float, default=1200, help="abort after this, s (1200)")
    p.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server")
    p.add_argument("--redis-db", type=int, default=12, help="Redis db, emptied by the run (12)")
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", default="5432")
    p.add_argument("--pg-user", default="postgres")
    p.add_argument("--db-name", default="esms_voice_bench", help="dropped and re-created")
    args = p.parse_args(argv)
    args.pool = "threads"
    if not 0 < args.paid_for < args.calls:
        p.error("--paid-for must be between 0 and --calls")
    return args


class Run:
    """One scenario's simulator, workers and clock, and what it found."""

    def __init__(self, args: argparse.Namespace, sim: Any, app: Any, logdir: Path, deadline: float):
        self.args, self.sim, self.app, self.deadline = args, sim, app, deadline
        self.logdir = logdir / f"scenario{len(list(logdir.iterdir()))}"
        self.logdir.mkdir()
        sim.reset()  # no request, call or balance left from the previous scenario
        self.workers: list[Child] = []
        self.problems: list[str] = []
        self.figures: dict[str, Any] = {}

    def start_workers(self, api_key: str) -> None:
        """Start the worker processes with this API key (the one they read at start)."""
        env = {
            **os.environ,
            "BENCH_APP_NAME": "esms-bench-worker",
            "BENCH_POOL_MAX": str(self.args.db_pool_max),
            "BENCH_SIM_URL": self.sim.base_url,
            "BENCH_API_KEY": api_key,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        logdir = self.logdir / f"{len(self.workers)}"
        logdir.mkdir()
        started = start_workers(self.args, env, logdir)
        self.workers.extend(started)
        wait_for_workers(self.app, started)

    def stop_workers(self) -> None:
        """Stop every worker this scenario started."""
        for child in self.workers:
            child.stop()

    def wait(self, what: str, done: Callable[[], bool], interval: float = 0.2) -> float:
        """Wait until done(); return the seconds waited. BenchAbort past the deadline."""
        started = time.monotonic()
        while not done():
            if time.monotonic() > self.deadline:
                raise BenchAbort(f"timed out waiting for {what}: {statuses()}")
            time.sleep(interval)
        return time.monotonic() - started

    def quiet(self) -> bool:
        """Whether nothing is in flight and the broker holds no message for the workers."""
        import redis

        from django_esms_voice.models import VoiceCall

        client = redis.Redis.from_url(f"{self.args.redis}/{self.args.redis_db}")
        try:
            queued = client.llen("celery") + client.hlen("unacked")
        finally:
            client.close()
        return (
            queued == 0
            and self.sim.in_flight == 0
            and not VoiceCall.objects.filter(status="submitting").exists()
        )

    def refused(self, code: str) -> collections.Counter[str]:
        """Return how many requests of each call (RequestId) the simulator refused with code."""
        return collections.Counter(
            r.request_id or "" for r in list(self.sim.requests) if r.code == code
        )

    def balance_checks(self) -> int:
        """Return how many GetBalance requests the simulator received."""
        from django_esms_voice.testing.simulator import GET_BALANCE

        return sum(1 for r in list(self.sim.requests) if r.endpoint == GET_BALANCE)

    def check(self, name: str, ok: bool) -> None:
        """Record a check; a failed one fails the run."""
        print(f"  {'ok  ' if ok else 'FAIL'} {name}", flush=True)
        if not ok:
            self.problems.append(name)

    def finish(self, code: str, calls: list[Any], resumed_in: float) -> None:
        """Wait until every call is accepted, then count and check what happened."""
        from django_esms_voice.models import AccountPause, VoiceCall

        placing = self.wait("every call accepted", lambda: statuses().get("accepted") == len(calls))
        accepted = collections.Counter(rid for rid, _ in self.sim_accepted())
        uuids = {str(call.uuid) for call in calls}
        refused = self.refused(code)
        rejected = VoiceCall.objects.filter(status="rejected", last_error_code=code).count()
        self.figures.update(
            {
                "accepted": statuses().get("accepted", 0),
                f"rejected_{code}": rejected,
                "pauses": AccountPause.objects.count(),
                f"requests_refused_{code}": sum(refused.values()),
                f"calls_refused_{code}": len(refused),
                f"most_{code}_per_call": max(refused.values(), default=0),
                "placed_once": sum(1 for u in uuids if accepted.get(u) == 1),
                "accepted_twice": sum(1 for n in accepted.values() if n > 1),
                "not_placed": sum(1 for u in uuids if accepted.get(u, 0) == 0),
                "seconds_resume_to_all_accepted": round(resumed_in + placing, 1),
            }
        )
        print(f"  after the resume: {json.dumps(self.figures)}", flush=True)
        self.check(f"0 calls rejected with {code}", rejected == 0)
        self.check("one account pause", self.figures["pauses"] == 1)
        self.check(
            f"each call refused with {code} at most once",
            self.figures[f"most_{code}_per_call"] <= 1,
        )
        self.check(
            f"every one of the {len(calls)} placed exactly once",
            self.figures["placed_once"] == len(calls),
        )
        self.check("no call with two accepted requests", self.figures["accepted_twice"] == 0)
        self.check("accepted only our calls", set(accepted) == uuids)

    def sim_accepted(self) -> list[tuple[str, str]]:
        """Return (RequestId, code) of the accepted MakeCall requests."""
        return [(r.request_id or "", r.code or "") for r in self.sim.accepted()]


def statuses() -> dict[str, int]:
    """Return how many calls have each status."""
    from django_esms_voice.models import VoiceCall

    return dict(collections.Counter(VoiceCall.objects.values_list("status", flat=True)))


def clear_tables() -> None:
    """Forget the previous scenario's calls, campaigns and pauses."""
    from django_esms_voice.models import AccountPause, Campaign, VoiceCall

    AccountPause.objects.all().delete()
    VoiceCall.objects.all().delete()
    Campaign.objects.all().delete()


def rows(count: int) -> list[dict[str, str]]:
    """Return `count` rows with distinct valid mobile numbers."""
    return [{"phone": f"0903{i:06d}", "template_id": TEMPLATE_ID} for i in range(count)]


def paused(run: Run, code: str, calls: list[Any], started: float) -> None:
    """Wait until placement paused and went quiet; print and check the counts then."""
    from django_esms_voice.models import AccountPause

    run.wait("the pause", lambda: AccountPause.objects.filter(active=True).exists(), 0.05)
    pause_after = time.monotonic() - started
    run.wait("nothing in flight", run.quiet)
    at_pause = statuses()
    refused = run.refused(code)
    print(
        f"  paused after {pause_after:.1f} s; then {at_pause}; {sum(refused.values())} "
        f"requests refused with {code}, by {len(refused)} calls",
        flush=True,
    )
    run.figures.update(
        {
            "calls": len(calls),
            "at_pause": at_pause,
            f"requests_refused_{code}_at_pause": sum(refused.values()),
        }
    )
    run.check("no call rejected while pausing", "rejected" not in at_pause)


def scenario_103(run: Run) -> None:
    """The balance pays for --paid-for calls; the probe resumes after the top-up."""
    from django.utils import timezone

    from django_esms_voice import services
    from django_esms_voice.conf import voice_settings
    from django_esms_voice.models import AccountPause

    args, sim = run.args, run.sim
    sim.balance = sim.price_per_call * args.paid_for
    run.start_workers(API_KEY)
    print(f"103: {args.calls} calls, the balance pays for {args.paid_for}…", flush=True)
    started = time.monotonic()
    calls = services.create_calls(rows(args.calls), batch="bench-balance-runs-out")
    paused(run, "103", calls, started)
    run.check(
        f"{args.paid_for} accepted before the pause", statuses().get("accepted") == args.paid_for
    )
    for _ in range(100):  # the sweep runs every minute; one GetBalance per interval at most
        services.probe_balance()
    run.figures["balance_checks_for_100_probes"] = run.balance_checks()
    run.check("100 probes while empty made 1 GetBalance", run.balance_checks() == 1)
    run.check("still paused while the balance is empty", AccountPause.objects.get().is_open)

    sim.balance = Decimal(1_000_000_000)  # topped up
    interval = dt.timedelta(seconds=voice_settings().balance_probe_interval)
    resumed = time.monotonic()
    services.probe_balance(now=timezone.now() + interval)  # the next probe, one interval on
    run.check("the probe resumed placement", not AccountPause.objects.get().is_open)
    run.finish("103", calls, time.monotonic() - resumed)


def scenario_101(run: Run) -> None:
    """The workers start with a wrong key; fixed and restarted, an operator resumes."""
    from django_esms_voice import services
    from django_esms_voice.models import ResumedBy

    args = run.args
    run.start_workers(WRONG_KEY)
    print(f"101: {args.calls} calls, the workers have a wrong API key…", flush=True)
    started = time.monotonic()
    calls = services.create_calls(rows(args.calls), batch="bench-wrong-keys")
    paused(run, "101", calls, started)
    services.sweep()  # while paused for 101: no call enqueued, no balance probe
    run.check("no GetBalance for 101", run.balance_checks() == 0)

    run.stop_workers()  # the operator fixes ESMS_VOICE['API_KEY'] and restarts them
    run.start_workers(API_KEY)
    resumed = time.monotonic()
    services.resume_placement(by=ResumedBy.OPERATOR)
    run.finish("101", calls, time.monotonic() - resumed)


def main() -> int:
    """Run the scenarios; return the exit status."""
    args = parse_args()
    broker = f"{args.redis}/{args.redis_db}"
    logdir = Path(tempfile.mkdtemp(prefix="esms-bench-pause-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "BENCH_DB_NAME": args.db_name,
            "BENCH_DB_HOST": args.pg_host,
            "BENCH_DB_PORT": args.pg_port,
            "BENCH_DB_USER": args.pg_user,
            "BENCH_BROKER_URL": broker,
            "BENCH_PREFETCH": str(args.prefetch),
            "BENCH_APP_NAME": "esms-bench-driver",
            "BENCH_POOL_MAX": "0",
        }
    )
    children: list[Child] = []
    sim: Any = None
    results: dict[str, Any] = {}
    database_created, failed = False, True
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        with time_limit(args.timeout) as deadline:
            empty_redis_db(args, check=True)
            create_database(args)
            database_created = True
            from django_esms_voice.testing.simulator import EsmsSimulator

            # In this process: the scenarios set its balance and read its request log.
            sim = EsmsSimulator(api_key=API_KEY, secret_key=SECRET_KEY, latency=args.latency)
            sim.start()
            os.environ["BENCH_SIM_URL"] = sim.base_url  # the driver's settings and the workers'
            import django
            from django.core.management import call_command

            django.setup()
            call_command("migrate", verbosity=0)
            from bench.celery_app import app

            problems: list[str] = []
            for code, scenario in (("103", scenario_103), ("101", scenario_101)):
                if args.scenario not in (code, "both"):
                    continue
                clear_tables()
                run = Run(args, sim, app, logdir, deadline)
                try:
                    scenario(run)
                finally:
                    run.stop_workers()
                    children.extend(run.workers)
                results[code] = run.figures
                problems += [f"{code}: {p}" for p in run.problems]
            print(json.dumps({"account_pause": results, "problems": problems}), flush=True)
            failed = bool(problems)
    except BenchAbort as exc:
        print(f"\nABORTED: {exc}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("\nInterrupted; cleaning up.", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if sim is not None:
            sim.stop()
        cleanup(args, None, children, database_created)
        if failed:
            print(f"Logs kept in {logdir}", file=sys.stderr)
        else:
            shutil.rmtree(logdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
