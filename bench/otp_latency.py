#!/usr/bin/env python
"""OTP latency while a campaign drains: commit to eSMS, with and without URGENT_QUEUE.

    PYTHONPATH=. python bench/otp_latency.py                 # 10,000-call campaign, both runs
    PYTHONPATH=. python bench/otp_latency.py --calls 2000    # a shorter smoke run

Each of the two runs ("shared": URGENT_QUEUE None, "urgent": URGENT_QUEUE set) creates a
customer-care campaign of --calls calls and, while it drains through --workers worker
processes on the default queue, one transactional script call (an OTP) per second. In the
urgent run one more worker (--urgent-concurrency threads) consumes only the urgent queue. The
latency of an OTP is from just before its transaction commits (the enqueue runs on commit) to
the moment the simulator receives its MakeCallTemplate_V2 request; both clocks are this
process's time.monotonic(), as the simulator runs in this process. It prints p50, p99 and the
worst for each run, the campaign's calls/s, then one JSON line; exit status 1 if a call was
not placed exactly once or the urgent run's p99 is over --goal seconds.

Like place_calls.py it creates the PostgreSQL database ``esms_voice_bench`` and empties a
Redis db, and removes both at the end, also on Ctrl-C and --timeout.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import sys
import tempfile
import time
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

URGENT_QUEUE = "esms_voice.urgent"
OTP_TEMPLATE = "bench-otp"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=10_000, help="calls in the campaign (10000)")
    p.add_argument("--otp-interval", type=float, default=1.0, help="seconds between OTPs (1)")
    p.add_argument("--latency", type=float, default=0.2, help="provider latency, s (0.2)")
    p.add_argument("--workers", type=int, default=2, help="campaign worker processes (2)")
    p.add_argument("--concurrency", type=int, default=64, help="threads per worker (64)")
    p.add_argument("--urgent-concurrency", type=int, default=4, help="urgent worker threads (4)")
    p.add_argument("--prefetch", type=int, default=4, help="worker_prefetch_multiplier (4)")
    p.add_argument("--db-pool-max", type=int, default=8, help="psycopg pool per worker (8)")
    p.add_argument("--goal", type=float, default=1.0, help="p99 goal with the queue, s (1.0)")
    p.add_argument("--timeout", type=float, default=1200, help="abort after this, s (1200)")
    p.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server")
    p.add_argument("--redis-db", type=int, default=12, help="Redis db, emptied by the run (12)")
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", default="5432")
    p.add_argument("--pg-user", default="postgres")
    p.add_argument("--db-name", default="esms_voice_bench", help="dropped and re-created")
    args = p.parse_args(argv)
    args.pool = "threads"
    return args


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile (share 0.99: the value 99 % of them are at most)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * share // 1)))
    return ordered[int(rank) - 1]


def statuses() -> dict[str, int]:
    """Return how many calls have each status."""
    from django_esms_voice.models import VoiceCall

    return dict(collections.Counter(VoiceCall.objects.values_list("status", flat=True)))


class Run:
    """One configuration: its workers, its campaign, its OTPs and what they measured."""

    def __init__(self, args: argparse.Namespace, sim: Any, app: Any, logdir: Path, name: str):
        self.args, self.sim, self.app, self.name = args, sim, app, name
        self.logdir = logdir / name
        self.logdir.mkdir()
        self.workers: list[Child] = []
        self.sent_at: dict[str, float] = {}  # OTP uuid -> monotonic just before its commit

    def env(self) -> dict[str, str]:
        """Return the workers' environment."""
        return {
            **os.environ,
            "BENCH_APP_NAME": "esms-bench-worker",
            "BENCH_POOL_MAX": str(self.args.db_pool_max),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }

    def start_workers(self, urgent: bool) -> None:
        """Start the campaign workers and, for the urgent run, the worker of the urgent queue."""
        started = start_workers(self.args, self.env(), self.logdir)
        if urgent:
            # Prefetch 1: an OTP must not wait in this worker's buffer behind another one.
            args = argparse.Namespace(**{**vars(self.args), "prefetch": 1})
            started += start_workers(
                args,
                self.env(),
                self.logdir,
                name="urgent",
                count=1,
                concurrency=self.args.urgent_concurrency,
                queues=[URGENT_QUEUE],
            )
        self.workers = started
        wait_for_workers(self.app, started)

    def send_otp(self, index: int) -> None:
        """Create one OTP call; note the time just before its transaction commits."""
        from django.db import transaction

        from django_esms_voice import services

        with transaction.atomic():
            call = services.create_call(
                phone=f"0909{index:06d}",
                kind="template",
                template_id=OTP_TEMPLATE,
                variables=[f"{index % 1_000_000:06d}"],
                purpose="transactional",
            )
            self.sent_at[str(call.uuid)] = time.monotonic()

    def measure(self, deadline: float) -> dict[str, Any]:
        """Drain a campaign while sending OTPs; return the figures."""
        from django_esms_voice import services
        from django_esms_voice.models import VoiceCall

        rows = [
            {"phone": f"0903{i:06d}", "template_id": TEMPLATE_ID} for i in range(self.args.calls)
        ]
        started = time.monotonic()
        campaign = services.create_calls(
            rows, batch=f"bench-campaign-{self.name}", purpose="customer_care"
        )
        waiting = VoiceCall.objects.filter(campaign=campaign[0].campaign_id).exclude(
            status="accepted"
        )
        index = 0
        while index == 0 or waiting.exists():  # an OTP each interval until the campaign is done
            if time.monotonic() > deadline:
                raise BenchAbort(f"{self.name}: timed out: {statuses()}")
            self.send_otp(index)
            index += 1
            time.sleep(max(0.0, started + index * self.args.otp_interval - time.monotonic()))
        drained = time.monotonic() - started
        while VoiceCall.objects.filter(purpose="transactional").exclude(status="accepted").exists():
            if time.monotonic() > deadline:
                raise BenchAbort(f"{self.name}: the last OTPs were not placed: {statuses()}")
            time.sleep(0.05)
        received: dict[str, float] = {}
        for request in list(self.sim.requests):  # the first request of each call
            received.setdefault(request.request_id or "", request.received_at)
        latencies = [received[uuid] - at for uuid, at in self.sent_at.items()]
        accepted = collections.Counter(r.request_id for r in self.sim.accepted())
        return {
            "otps": len(latencies),
            "p50_s": round(percentile(latencies, 0.50), 3),
            "p99_s": round(percentile(latencies, 0.99), 3),
            "max_s": round(max(latencies), 3),
            "campaign_calls": len(campaign),
            "campaign_calls_per_s": round(len(campaign) / drained, 1),
            "placed_once": sum(1 for n in accepted.values() if n == 1),
            "placed_twice": sum(1 for n in accepted.values() if n > 1),
            "calls": VoiceCall.objects.count(),
        }

    def stop_workers(self) -> None:
        """Stop every worker this run started."""
        for child in self.workers:
            child.stop()


def clear_tables() -> None:
    """Forget the previous run's calls and campaigns."""
    from django_esms_voice.models import Campaign, VoiceCall

    VoiceCall.objects.all().delete()
    Campaign.objects.all().delete()


def main() -> int:
    """Run both configurations; return the exit status."""
    args = parse_args()
    broker = f"{args.redis}/{args.redis_db}"
    logdir = Path(tempfile.mkdtemp(prefix="esms-bench-otp-"))
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

            # In this process: its received_at and the OTPs' commit times share one clock.
            sim = EsmsSimulator(api_key=API_KEY, secret_key=SECRET_KEY, latency=args.latency)
            sim.start()
            os.environ["BENCH_SIM_URL"] = sim.base_url  # the driver's settings and the workers'
            import django
            from django.conf import settings
            from django.core.management import call_command
            from django.test import override_settings

            django.setup()
            call_command("migrate", verbosity=0)
            from bench.celery_app import app

            for name, queue in (("shared", None), ("urgent", URGENT_QUEUE)):
                clear_tables()
                sim.reset()
                run = Run(args, sim, app, logdir, name)
                print(
                    f"{name}: {args.calls} campaign calls, an OTP every "
                    f"{args.otp_interval:g} s, URGENT_QUEUE={queue!r}…",
                    flush=True,
                )
                try:
                    run.start_workers(urgent=queue is not None)
                    with override_settings(
                        ESMS_VOICE={**settings.ESMS_VOICE, "URGENT_QUEUE": queue}
                    ):
                        results[name] = run.measure(deadline)
                finally:
                    run.stop_workers()
                    children.extend(run.workers)
                figures = results[name]
                print(
                    f"  {figures['otps']} OTPs: p50 {figures['p50_s']:.3f} s, p99 "
                    f"{figures['p99_s']:.3f} s, worst {figures['max_s']:.3f} s; campaign "
                    f"{figures['campaign_calls_per_s']} calls/s",
                    flush=True,
                )
            problems = [
                f"{name}: {figures['calls'] - figures['placed_once']} calls not placed once"
                for name, figures in results.items()
                if figures["placed_once"] != figures["calls"] or figures["placed_twice"]
            ]
            if results["urgent"]["p99_s"] > args.goal:
                problems.append(f"urgent p99 {results['urgent']['p99_s']} s > goal {args.goal} s")
            ratio = results["shared"]["p99_s"] / max(results["urgent"]["p99_s"], 1e-6)
            print(f"p99 without the urgent queue / with it: {ratio:.1f} times", flush=True)
            print(json.dumps({"otp_latency": results, "problems": problems}), flush=True)
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
