#!/usr/bin/env python
"""Time a 1,000,000-call campaign's figures, timeline, overview and admin page on PostgreSQL.

    PYTHONPATH=. python bench/campaign_page.py            # 1,000,000 calls, 3,000,000 events
    PYTHONPATH=. python bench/campaign_page.py --quick    # 100,000 calls, 300,000 events

In one run it: creates and migrates the PostgreSQL database ``bench_campaign``, seeds one
campaign's calls (INSERT ... SELECT over generate_series: a realistic mix of results, prices,
durations and errors, spread over 8 hours up to now) and three callback events per call,
runs VACUUM ANALYZE, then times, 5 times each (median, min, max, queries): a plain COUNT(*)
of the campaign's calls (the baseline), services.reporting's campaign_figures, timeline (with
and without the figures' span) and overview, the general paths a campaign's figures and
timeline took before issue 11 (figures() and timeline() of its calls' queryset, the same
numbers read another way), and, when the admin has them, the campaign's
change page, its live-progress JSON and the overview page, through django.test.Client as a
superuser. The database is dropped at the end, also on Ctrl-C (--keep keeps it).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_DSN = "host={host} port={port} user={user} dbname=postgres"
#: The status mix, in percent of the calls, with the error code each refusal carries.
MIX = (
    ("answered", 55),
    ("no_answer", 18),
    ("failed", 5),
    ("rejected", 3),
    ("error", 1),
    ("unknown", 1),
    ("canceled", 2),
    ("pending", 8),
    ("accepted", 4),
    ("in_progress", 3),
)
FINAL = ("answered", "no_answer", "failed", "rejected", "error", "unknown", "canceled")
SPAN = dt.timedelta(hours=8)  # the calls are created over the 8 hours before the run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=1_000_000, help="calls in the campaign (1000000)")
    p.add_argument("--events-per-call", type=int, default=3, help="callback events per call (3)")
    p.add_argument("--quick", action="store_true", help="100,000 calls: a smoke run")
    p.add_argument("--runs", type=int, default=5, help="runs of each measure (5)")
    p.add_argument("--explain", action="store_true", help="print the figures query's plan")
    p.add_argument("--export", action="store_true", help="also time the CSV and .xlsx exports")
    p.add_argument("--keep", action="store_true", help="keep the database at the end")
    p.add_argument("--reuse", action="store_true", help="measure a kept database, no seed")
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", default="5432")
    p.add_argument("--pg-user", default="postgres")
    p.add_argument("--db-name", default="bench_campaign", help="dropped and re-created")
    args = p.parse_args(argv)
    if args.quick:
        args.calls = 100_000
    return args


@contextlib.contextmanager
def pg_admin(args: argparse.Namespace) -> Iterator[Any]:
    """An autocommit connection to the server's postgres database."""
    import psycopg

    dsn = PG_DSN.format(host=args.pg_host, port=args.pg_port, user=args.pg_user)
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def setup_django(args: argparse.Namespace) -> None:
    """Point Django at the benchmark's database and settings."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.campaign_settings"
    os.environ.update(
        BENCH_DB_NAME=args.db_name,
        BENCH_DB_HOST=args.pg_host,
        BENCH_DB_PORT=args.pg_port,
        BENCH_DB_USER=args.pg_user,
    )
    import django

    django.setup()


# ----------------------------------------------------------------------------- seeding


Override = str | tuple[str, list[Any]]  # raw SQL, or SQL with its %s parameters


def insert_select(
    model: Any, overrides: dict[str, Override], source: str, source_params: list[Any]
) -> tuple[str, list[Any]]:
    """INSERT INTO model's table SELECT ... FROM source: every column, defaults unless given.

    A column not in `overrides` gets NULL when nullable, else the field's default: columns
    added to the models later need no change here.
    """
    from django.db import connection

    qn = connection.ops.quote_name
    columns, values, params = [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(qn(f.column))
        given = overrides.get(f.name)
        if isinstance(given, tuple):
            values.append(given[0])
            params.extend(given[1])
        elif given is not None:
            values.append(given)
        elif f.null:
            values.append("NULL")
        else:
            values.append("%s")
            params.append(f.get_db_prep_save(f.get_default(), connection))
    table = qn(model._meta.db_table)
    values = [v.replace(" % ", " %% ") for v in values]  # SQL's modulo, not a placeholder
    source = source.replace(" % ", " %% ")
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source}"  # noqa: S608 - the bench's own SQL
    return sql, [*params, *source_params]


def status_case() -> str:
    """SQL: the status of call number g, by the MIX percentages."""
    whens, upper = [], 0
    for status, percent in MIX:
        upper += percent
        whens.append(f"WHEN g % 100 < {upper} THEN '{status}'")
    return f"CASE {' '.join(whens)} END"


def seed(args: argparse.Namespace, now: dt.datetime) -> tuple[Any, dict[str, float]]:
    """Create the campaign, its calls and their events; return it and each step's seconds."""
    from django.db import connection

    from django_esms_voice.models import CallbackEvent, Campaign, VoiceCall

    timings: dict[str, float] = {}
    campaign = Campaign.objects.create(
        name="Bench: nhắc lịch hẹn", kind="record", template_id="bench-rec"
    )
    final = ", ".join(f"'{s}'" for s in FINAL)
    step = SPAN / args.calls
    # The last call is created 5 minutes ago and ends 45 s later: the pace window has some.
    first = now - SPAN - dt.timedelta(minutes=5)
    calls_source = (
        f"(SELECT g, {status_case()} AS st, "  # noqa: S608 - the bench's own SQL
        f"%s::timestamptz + g * interval '{step.total_seconds()} seconds' AS t "
        f"FROM generate_series(1, {args.calls}) AS g) AS s"
    )
    placed = "s.st NOT IN ('pending', 'canceled')"
    calls_sql, calls_params = insert_select(
        VoiceCall,
        {
            "uuid": "gen_random_uuid()",
            "kind": "'record'",
            "template_id": "'bench-rec'",
            "phone": "'09' || lpad((s.g % 100000000)::text, 8, '0')",
            "status": "s.st",
            "attempts": f"CASE WHEN {placed} THEN 1 ELSE 0 END",
            "last_error_code": (
                "CASE s.st WHEN 'rejected' THEN (ARRAY['108', '99', '104'])[s.g % 3 + 1] "
                "WHEN 'error' THEN 'EsmsTimeout' WHEN 'unknown' THEN 'no_result' ELSE '' END"
            ),
            "smsid": f"CASE WHEN {placed} AND s.st <> 'rejected' THEN md5(s.g::text) ELSE '' END",
            "call_status": (
                "CASE s.st WHEN 'answered' THEN 'ANSWERED' WHEN 'no_answer' THEN 'NO ANSWER' "
                "ELSE '' END"
            ),
            "duration": "CASE s.st WHEN 'answered' THEN 5 + s.g % 60 WHEN 'no_answer' THEN 0 END",
            "ivr_pressed": "CASE WHEN s.st = 'answered' AND s.g % 4 = 0 THEN '1' ELSE '' END",
            "price": (
                "CASE s.st WHEN 'answered' THEN 750 WHEN 'no_answer' THEN 0 "
                "WHEN 'failed' THEN 0 END"
            ),
            "created_at": "s.t",
            "updated_at": "s.t + interval '45 seconds'",
            "submitted_at": f"CASE WHEN {placed} THEN s.t + interval '1 second' END",
            "completed_at": f"CASE WHEN s.st IN ({final}) THEN s.t + interval '45 seconds' END",
            "campaign": str(campaign.pk),
            "batch": ("%s", [campaign.name]),
        },
        calls_source,
        [first],
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
            "raw": (
                "'ReferenceId=' || v.smsid || '&CallDuration=' || coalesce(v.duration, 0) "
                "|| '&CallStatus=' || v.call_status || '&Ivr=' || v.ivr_pressed "
                "|| '&Price=750.0000&SentResult=1&CID=02871002454&SendStatus=' "
                "|| CASE k WHEN 1 THEN '2' WHEN 2 THEN '7' ELSE '5' END"
            ),
            "fingerprint": "md5(v.uuid::text || k::text)",
            "outcome": "'applied'",
            "old_status": "CASE k WHEN 1 THEN 'accepted' ELSE 'in_progress' END",
            "new_status": "CASE k WHEN 3 THEN v.status ELSE 'in_progress' END",
        },
        f"{qn(VoiceCall._meta.db_table)} AS v "
        f"CROSS JOIN generate_series(1, {args.events_per_call}) AS k "
        f"WHERE v.campaign_id = {campaign.pk}",
        [],
    )
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
    return campaign, timings


def vacuum_analyze(args: argparse.Namespace) -> float:
    """VACUUM ANALYZE the benchmark database (the visibility map and the statistics)."""
    import psycopg

    dsn = PG_DSN.format(host=args.pg_host, port=args.pg_port, user=args.pg_user)
    start = time.perf_counter()
    with psycopg.connect(dsn.replace("dbname=postgres", f"dbname={args.db_name}"),
                         autocommit=True) as conn:  # fmt: skip
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- measuring


def measure(runs: int, work: Callable[[], Any]) -> dict[str, Any]:
    """Run `work` `runs` times: the median, min and max seconds and the last run's queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    seconds, queries, result = [], 0, None
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            result = work()
            seconds.append(time.perf_counter() - start)
        queries = len(captured.captured_queries)
    return {
        "median": statistics.median(seconds),
        "min": min(seconds),
        "max": max(seconds),
        "queries": queries,
        "result": result,
    }


def page(client: Any, url: str) -> Callable[[], int]:
    """A GET of an admin page that must answer 200; returns the body's size."""

    def get() -> int:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        return len(response.content)

    return get


def admin_measures(campaign: Any) -> list[tuple[str, Callable[[], Any]]]:
    """The admin's campaign page, its progress JSON and the overview, if the admin has them."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    users = get_user_model().objects
    user = users.filter(username="bench").first() or users.create_superuser("bench", "", "bench")
    client = Client()
    client.force_login(user)
    found = []
    for label, name, args in (
        ("admin: campaign page", "change", [campaign.pk]),
        ("admin: live-progress JSON", "progress", [campaign.pk]),
        ("admin: overview page", "overview", []),
        ("admin: campaign list", "changelist", []),
    ):
        try:
            found.append(
                (label, page(client, reverse(f"admin:esms_voice_campaign_{name}", args=args)))
            )
        except NoReverseMatch:
            print(f"  ({label}: no such admin view yet, skipped)")
    return found


def report(label: str, m: dict[str, Any], baseline: float | None) -> dict[str, Any]:
    """Print one measure's line; return it for the JSON summary."""
    ratio = f"{m['median'] / baseline:7.1f} x" if baseline else "        "
    print(
        f"  {label:<34} {m['median'] * 1000:9.1f} ms  (min {m['min'] * 1000:8.1f}, "
        f"max {m['max'] * 1000:8.1f})  {m['queries']:3d} queries  {ratio}"
    )
    return {k: m[k] for k in ("median", "min", "max", "queries")}


def explain(campaign: Any) -> None:
    """Print the plans of the campaign page's two queries: its figures and its timeline."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_esms_voice.services import reporting

    with CaptureQueriesContext(connection) as captured:
        reporting.timeline(campaign, figures=reporting.campaign_figures(campaign))
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query['sql']}")
            print("\n".join(row[0] for row in cursor.fetchall()), end="\n\n")


def run(args: argparse.Namespace) -> int:
    """Seed (unless --reuse), then measure; return the exit status."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from django_esms_voice.models import Campaign, VoiceCall
    from django_esms_voice.services import reporting

    now = timezone.now()
    if args.reuse:
        campaign = Campaign.objects.get(name="Bench: nhắc lịch hẹn")
        print(f"Reusing {args.db_name}: {VoiceCall.objects.count():,} calls")
        call_command("migrate", verbosity=0)  # a kept database gets the newer migrations
        vacuum_analyze(args)
    else:
        start = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"migrate: {time.perf_counter() - start:.1f} s")
        campaign, timings = seed(args, now)
        timings["vacuum analyze"] = vacuum_analyze(args)
        print(
            "seed: "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
            + f" ({sum(timings.values()):.1f} s)"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('esms_voice_voicecall')), "
            "pg_size_pretty(pg_total_relation_size('esms_voice_callbackevent')), "
            "(SELECT count(*) FROM esms_voice_callbackevent)"
        )
        calls_size, events_size, events = cursor.fetchone()
    calls = VoiceCall.objects.filter(campaign=campaign).count()
    print(
        f"campaign: {calls:,} calls ({calls_size} with indexes), {events:,} events ({events_size})"
    )
    if args.explain:
        explain(campaign)

    print(f"\n== median of {args.runs} runs; the ratio is to the plain COUNT(*) ==")
    results: dict[str, Any] = {}
    base = measure(args.runs, lambda: VoiceCall.objects.filter(campaign=campaign).count())
    results["count"] = report("baseline: COUNT(*) of the campaign", base, None)
    figures = measure(args.runs, lambda: reporting.campaign_figures(campaign))
    f = figures["result"]
    results["campaign_figures"] = report("campaign_figures", figures, base["median"])
    # The general paths, which a campaign's figures and timeline took before issue 11's
    # change: the same numbers, read another way, measured in the same run.
    calls_of = reporting.campaign_calls(campaign)
    page = list(Campaign.objects.order_by("-created_at")[:100])  # the campaign list's first page
    listed = [c.pk for c in page]
    measures: list[tuple[str, Callable[[], Any]]] = [
        ("  before: figures(its calls)", lambda: reporting.figures(calls_of)),
        ("timeline (the figures' span)", lambda: reporting.timeline(campaign, figures=f)),
        ("  before: timeline(its calls)", lambda: reporting.timeline(calls_of, figures=f)),
        ("timeline (its own span)", lambda: reporting.timeline(campaign)),
        ("progress (what a live page polls)", lambda: reporting.progress(campaign)),
        ("overview", lambda: reporting.overview()),
        ("figures_by_campaign (the list's)", lambda: reporting.figures_by_campaign(listed)),
        ("  before: campaign_figures each", lambda: [reporting.campaign_figures(c) for c in page]),
        *admin_measures(campaign),
    ]
    for label, work in measures:
        try:
            results[label] = report(label, measure(args.runs, work), base["median"])
        except Exception as exc:  # an admin page in progress elsewhere: say so, go on
            print(f"  {label:<34} failed: {type(exc).__name__}: {exc}")
            results[label] = {"error": f"{type(exc).__name__}: {exc}"}
    if args.export:
        from django_esms_voice.services import exporting

        for label, work in (
            ("export: CSV", lambda: sum(len(p) for p in exporting.stream_csv(campaign))),
            ("export: xlsx", lambda: exporting.write_xlsx(campaign).seek(0, 2)),
        ):
            m = measure(1, work)
            results[label] = report(label, m, base["median"])
            print(f"    {m['result']:,} bytes")
    print(
        f"\nFigures: {f.total:,} calls, answered {f.answered:,} ({f.answer_rate:.1%}), "
        f"key pressed {f.key_press_rate:.1%}, cost {f.total_cost:,} đồng, "
        f"{f.per_minute:,.0f}/min, {len(f.error_groups)} error groups"
    )
    page_ms = results.get("admin: campaign page", {}).get("median")
    if page_ms is not None:
        verdict = "met" if page_ms < 1 else "NOT met"
        print(f"Goal (the campaign page under 1 s): {verdict} ({page_ms * 1000:.0f} ms)")
    print(json.dumps({"calls": calls, "events": events, **results}, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Create the database, run, drop it (unless --keep)."""
    args = parse_args(argv)
    if not args.reuse:
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
