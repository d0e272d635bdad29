"""Celery tasks: thin wrappers that let workers run the services."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.app.task import Task

from . import services
from .schedule import PURGE_TASK, SWEEP_TASK
from .services.enqueueing import ENQUEUE_TASK, PLACE_BATCH_TASK, PLACE_TASK
from .services.refreshing import REFRESH_TASK

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name=PLACE_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,  # the call row counts attempts against ESMS_VOICE['MAX_ATTEMPTS']
)
def place_call_task(self: Task, call_id: int) -> str | None:
    """Place one call exactly once; transport failures come back through Celery's retry."""
    result = services.place_call(call_id)
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)
    return result.status


@shared_task(name=PLACE_BATCH_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def place_calls_task(call_ids: list[int]) -> str:
    """Place a large batch's calls, a few per message (services.enqueueing.PLACE_BATCH)."""
    accepted = services.place_calls(call_ids)
    return f"{accepted} of {len(call_ids)} calls accepted"  # the worker's log line


@shared_task(name=ENQUEUE_TASK, acks_late=True, ignore_result=True)
def enqueue_calls_task(call_ids: list[int], urgent: bool | None = None) -> int:
    """Publish the place task of each call of a large batch, off the creating request."""
    return services.enqueue_calls(call_ids, fan_out=False, urgent=urgent)


@shared_task(name=REFRESH_TASK, ignore_result=True)
def refresh_statuses_task(call_ids: list[int]) -> str:
    """Ask eSMS about the calls an operator selected, off the admin's request."""
    report = services.refresh_statuses(call_ids)
    return f"asked {report.asked}, changed {report.changed}, failed {report.failed}"


@shared_task(name=SWEEP_TASK, ignore_result=True)
def sweep_task() -> str:
    """Re-enqueue forgotten calls, recover stuck ones and poll the silent ones (run by beat)."""
    report = services.sweep()
    summary = report.in_english()  # a log line: English whatever the active language
    logger.info("eSMS voice sweep: %s", summary)
    return summary


@shared_task(name=PURGE_TASK, ignore_result=True)
def purge_task() -> str:
    """Empty old events and anonymise old finished calls (run by beat once a day)."""
    report = services.purge()  # it logs what it did
    return f"{report.events} events emptied, {report.calls} calls anonymised"
