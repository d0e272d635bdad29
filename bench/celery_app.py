"""The Celery app the benchmark's workers run: Django settings from bench.settings."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

app = Celery("esms_voice_bench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["django_esms_voice"])

if os.environ.get("BENCH_CLAIM") == "update-select":
    # A/B switch for the benchmark only: claim with the portable UPDATE, then SELECT (two
    # round trips) instead of PostgreSQL's UPDATE ... RETURNING.
    @app.on_after_finalize.connect
    def _two_query_claim(**kwargs: object) -> None:
        from django_esms_voice.services import claiming

        claiming.can_update_returning = lambda conn: False  # type: ignore[assignment]


if os.environ.get("BENCH_PLACE_BATCH"):
    # --place-batch: calls per place_calls message in the fan-out; 1 is one task per call,
    # as before batching (the previous configuration, for the A/B comparison).
    @app.on_after_finalize.connect
    def _place_batch(**kwargs: object) -> None:
        from django_esms_voice.services import enqueueing

        enqueueing.PLACE_BATCH = int(os.environ["BENCH_PLACE_BATCH"])
