#!/usr/bin/env python
"""Time the retention purge over 1,000,000 calls and 3,000,000 events while callbacks arrive.

    PYTHONPATH=. python bench/purge.py            # 1,000,000 calls, 3,000,000 events
    PYTHONPATH=. python bench/purge.py --quick    # 100,000 calls, 300,000 events

In one run it: creates and migrates the PostgreSQL database ``bench_purge``, seeds calls
created over the year before now (bench/campaign_page.py's status mix; each with script
variables and metadata) and three callback events per call (raw query, sender address), runs
VACUUM ANALYZE, then with EVENT_RAW_RETENTION 30 days and CALL_ANONYMISE_AFTER 90 days:

1. baseline: callback threads (--threads, back to back) call services.record_result, as the
   callback view does, for --baseline seconds with nothing else running: half to recent open
   calls, half to old finished calls (late duplicates: the very rows the purge anonymises);
2. a dry run (the counts), then services.purge() while the same threads keep delivering;
   every callback accepted meanwhile is counted and timed (p50, p99, max), with ratios to
   the baseline; the longest chunk is reported;
3. a second purge (nothing left to do: it must be quick) and what is left unpurged.

The database is dropped at the end, also on Ctrl-C (--keep keeps it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.campaign_page import (  # noqa: E402 - after the path is set
    FINAL,
    insert_select,
    pg_admin,
    setup_django,
    status_case,
    vacuum_analyze,
)

DAY = 86400
YEAR = dt.timedelta(days=365)
RETENTION = {"EVENT_RAW_RETENTION": 30 * DAY, "CALL_ANONYMISE_AFTER": 90 * DAY}
#: The raw query of a late callback, as eSMS sends it (the ReferenceId is filled in).
LATE_CALLBACK = (
    "ReferenceId={smsid}&CallDuration=20&CallStatus=ANSWERED&Ivr=&Price=750.0000"
    "&SentResult=1&CID=02871002454&SendStatus=5"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=1_000_000, help="calls (1000000)")
    p.add_argument("--events-per-call", type=int, default=3, help="callback events per call (3)")
    p.add_argument("--quick", action="store_true", help="100,000 calls: a smoke run")
    p.add_argument("--chunk-size", type=int, default=5000, help="the purge's chunk size (5000)")
    p.add_argument("--threads", type=int, default=4, help="callback threads (4)")
    p.add_argument("--baseline", type=float, default=10.0, help="baseline seconds (10)")
    p.add_argument("--keep", action="store_true", help="keep the database at the end")
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", default="5432")
    p.add_argument("--pg-user", default="postgres")
    p.add_argument("--db-name", default="bench_purge", help="dropped and re-created")
    args = p.parse_args(argv)
    if args.quick:
        args.calls = 100_000
    return args


def seed(args: argparse.Namespace, now: dt.datetime) -> dict[str, float]:
    """Create the calls (over the past year) and their events; return each step's seconds."""
    from django.db import connection

    from django_esms_voice.models import CallbackEvent, VoiceCall

    final = ", ".join(f"'{s}'" for s in FINAL)
    step = YEAR / args.calls
    source = (
        f"(SELECT g, {status_case()} AS st, "  # noqa: S608 - the bench's own SQL
        f"%s::timestamptz + g * interval '{step.total_seconds()} seconds' AS t "
        f"FROM generate_series(1, {args.calls}) AS g) AS s"
    )
    placed = "s.st NOT IN ('pending', 'canceled')"
    calls_sql, calls_params = insert_select(
        VoiceCall,
        {
            "uuid": "gen_random_uuid()",
            "kind": "'template'",
            "template_id": "'bench-tpl'",
            "variables": "jsonb_build_array('Nguyễn Văn ' || s.g, 'DH' || s.g)",
            "metadata": "jsonb_build_object('order', s.g)",
            "phone": "'09' || lpad((s.g % 100000000)::text, 8, '0')",
            "number_forward": "CASE WHEN s.g % 10 = 0 THEN '02871002454' ELSE '' END",
            "status": "s.st",
            "attempts": f"CASE WHEN {placed} THEN 1 ELSE 0 END",
            "smsid": f"CASE WHEN {placed} AND s.st <> 'rejected' THEN md5(s.g::text) ELSE '' END",
            "created_at": "s.t",
            "updated_at": "s.t + interval '45 seconds'",
            "submitted_at": f"CASE WHEN {placed} THEN s.t + interval '1 second' END",
            "completed_at": f"CASE WHEN s.st IN ({final}) THEN s.t + interval '45 seconds' END",
        },
        source,
        [now - YEAR],
    )
    qn = connection.ops.quote_name
    events_sql, events_params = insert_select(
        CallbackEvent,
        {
            "call": "v.uuid",
            "source": "'callback'",
            "received_at": "v.created_at + k * interval '15 seconds'",
            "remote_addr": "'203.162.71.5'",
            "method": "'GET'",
            "raw": "'ReferenceId=' || v.smsid || '&Phone=' || v.phone || '&SendStatus=' || k",
            "fingerprint": "md5(v.uuid::text || k::text)",
            "outcome": "'applied'",
        },
        f"{qn(VoiceCall._meta.db_table)} AS v "
        f"CROSS JOIN generate_series(1, {args.events_per_call}) AS k",
        [],
    )
    timings = {}
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # no FK triggers while seeding
        cursor.execute("SET synchronous_commit = off")
        for name, sql, params in (
            ("calls", calls_sql, calls_params),
            ("events", events_sql, events_params),
        ):
            start = time.perf_counter()
            cursor.execute(sql, params)
            timings[name] = time.perf_counter() - start
        cursor.execute("SET session_replication_role = origin")
    return timings


class Callbacks:
    """Threads delivering callbacks back to back, as the callback view would store them."""

    def __init__(self, threads: int, targets: list[tuple[Any, str]]) -> None:
        self.targets = targets
        self.count = threads
        self.latencies: list[tuple[float, float]] = []  # (when it was accepted, seconds)
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start delivering."""
        self.stop.clear()
        self.threads = [
            threading.Thread(target=self._deliver, args=(n,), daemon=True)
            for n in range(self.count)
        ]
        for thread in self.threads:
            thread.start()

    def halt(self) -> None:
        """Stop delivering and wait for the threads."""
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _deliver(self, n: int) -> None:
        """One thread: the callback view's service call, again and again."""
        from django.db import connection

        from django_esms_voice import services
        from django_esms_voice.models import EventSource
        from django_esms_voice.services.deliveries import read_delivery

        i = n
        try:
            while not self.stop.is_set():
                call_uuid, smsid = self.targets[i % len(self.targets)]
                i += self.count
                raw = LATE_CALLBACK.format(smsid=smsid)
                result, error = read_delivery(raw)
                start = time.perf_counter()
                try:
                    event = services.record_result(
                        call_uuid=call_uuid,
                        source=EventSource.CALLBACK,
                        raw=raw,
                        result=result,
                        error=error,
                        remote_addr="203.162.71.5",
                        method="GET",
                    )
                except Exception as exc:  # a 503 or 500 for eSMS: counted, not accepted
                    with self.lock:
                        self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                end = time.perf_counter()
                if event is None:
                    with self.lock:
                        self.failures.append("404: no such call")
                    continue
                with self.lock:
                    self.latencies.append((end, end - start))
        finally:
            connection.close()

    def between(self, start: float, end: float) -> list[float]:
        """The latencies of the callbacks accepted between two perf_counter instants."""
        with self.lock:
            return [s for when, s in self.latencies if start <= when <= end]


def stats(latencies: list[float], seconds: float) -> dict[str, float]:
    """Count, rate, p50, p99 and max of some callbacks' latencies."""
    ordered = sorted(latencies) or [0.0]
    return {
        "accepted": len(latencies),
        "per_second": len(latencies) / seconds if seconds else 0.0,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def line(label: str, s: dict[str, float], base: dict[str, float] | None = None) -> None:
    """Print one set of callback figures, with ratios to the baseline when given."""

    def ratio(key: str) -> str:
        return f" ({s[key] / base[key]:.2f} x)" if base and base[key] else ""

    print(
        f"  {label:<18} {s['accepted']:7,} accepted, {s['per_second']:7.1f}/s{ratio('per_second')}"
        f"; p50 {s['p50_ms']:6.1f} ms{ratio('p50_ms')}, p99 {s['p99_ms']:6.1f} ms"
        f"{ratio('p99_ms')}, max {s['max_ms']:7.1f} ms{ratio('max_ms')}"
    )


def targets(now: dt.datetime) -> list[tuple[Any, str]]:
    """Half recent open calls, half old finished calls the purge will anonymise."""
    from django_esms_voice.models import VoiceCall

    recent = VoiceCall.objects.filter(
        status__in=["accepted", "in_progress"], created_at__gte=now - dt.timedelta(days=30)
    ).values_list("uuid", "smsid")[:2000]
    old = VoiceCall.objects.filter(
        status="answered", completed_at__lt=now - dt.timedelta(days=200)
    ).values_list("uuid", "smsid")[:2000]
    mixed = [call for pair in zip(recent, old, strict=False) for call in pair]
    if not mixed:
        raise RuntimeError("no calls to deliver callbacks to")
    return mixed


def run(args: argparse.Namespace) -> int:
    """Seed, measure the baseline, purge under callbacks; return the exit status."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings
    from django.utils import timezone

    from django_esms_voice import services
    from django_esms_voice.models import CallbackEvent, VoiceCall
    from django_esms_voice.services import retention

    now = timezone.now()
    start = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrate: {time.perf_counter() - start:.1f} s")
    timings = seed(args, now)
    timings["vacuum analyze"] = vacuum_analyze(args)
    print("seed: " + ", ".join(f"{name} {s:.1f} s" for name, s in timings.items()))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('esms_voice_voicecall')), "
            "pg_size_pretty(pg_total_relation_size('esms_voice_callbackevent')), "
            "(SELECT count(*) FROM esms_voice_voicecall), "
            "(SELECT count(*) FROM esms_voice_callbackevent)"
        )
        calls_size, events_size, calls, events = cursor.fetchone()
    print(f"tables: {calls:,} calls ({calls_size}), {events:,} events ({events_size})")

    override_settings(ESMS_VOICE={**settings.ESMS_VOICE, **RETENTION}).enable()
    delivery = Callbacks(args.threads, targets(now))

    print(f"\n== callbacks, {args.threads} threads back to back; ratios to the baseline ==")
    delivery.start()
    start = time.perf_counter()
    time.sleep(args.baseline)
    end = time.perf_counter()
    base = stats(delivery.between(start, end), end - start)
    line("baseline", base)

    cutoff_now = timezone.now()  # one instant for every run: "again" finds only skipped rows
    start = time.perf_counter()
    planned = services.purge(cutoff_now, dry_run=True)
    dry_seconds = time.perf_counter() - start
    chunk_ends: list[float] = []
    start = time.perf_counter()
    report = services.purge(
        cutoff_now,
        chunk_size=args.chunk_size,
        progress=lambda *_: chunk_ends.append(time.perf_counter()),
    )
    end = time.perf_counter()
    during = stats(delivery.between(start, end), end - start)
    line("during the purge", during, base)
    delivery.halt()
    purge_seconds = end - start

    starts = [start, *chunk_ends[:-1]]
    longest = max((e - s for s, e in zip(starts, chunk_ends, strict=True)), default=0.0)
    rows = report.events + report.calls
    start = time.perf_counter()
    again = services.purge(cutoff_now, chunk_size=args.chunk_size)
    again_seconds = time.perf_counter() - start
    cutoff_calls = cutoff_now - dt.timedelta(seconds=RETENTION["CALL_ANONYMISE_AFTER"])
    left = retention._call_candidates(cutoff_calls).count()
    masked = VoiceCall.objects.filter(phone__startswith="*").count()
    emptied = CallbackEvent.objects.filter(raw="").count()

    print(
        f"\n== purge (chunks of {args.chunk_size:,}) ==\n"
        f"  dry run: {planned.events:,} events, {planned.calls:,} calls in {dry_seconds:.2f} s\n"
        f"  purge:   {report.events:,} events emptied, {report.calls:,} calls anonymised in "
        f"{purge_seconds:.1f} s ({rows / purge_seconds:,.0f} rows/s), {report.chunks} chunks, "
        f"longest {longest * 1000:.0f} ms\n"
        f"  again:   {again.events} events, {again.calls} calls (skipped while a callback held "
        f"their lock) in {again_seconds * 1000:.0f} ms\n"
        f"  after:   {masked:,} calls masked, {emptied:,} events emptied, {left} calls left, "
        f"{len(delivery.failures)} callbacks failed"
    )
    for failure in sorted(set(delivery.failures))[:5]:
        print(f"    {failure}")
    print(
        json.dumps(
            {
                "calls": calls,
                "events": events,
                "seed": timings,
                "baseline": base,
                "during": during,
                "purge_seconds": purge_seconds,
                "purged_events": report.events,
                "purged_calls": report.calls,
                "chunks": report.chunks,
                "longest_chunk_ms": longest * 1000,
                "second_purge_ms": again_seconds * 1000,
                "callback_failures": len(delivery.failures),
            }
        )
    )
    return 1 if delivery.failures or left else 0


def main(argv: list[str] | None = None) -> int:
    """Create the database, run, drop it (unless --keep)."""
    args = parse_args(argv)
    with pg_admin(args) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db_name}"')
    setup_django(args)
    try:
        return run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            with pg_admin(args) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
            print(f"dropped {args.db_name}")


if __name__ == "__main__":
    sys.exit(main())
