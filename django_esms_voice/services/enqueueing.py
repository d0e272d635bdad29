"""Hand calls to the Celery workers, after the transaction that created them commits."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import current_app

logger = logging.getLogger(__name__)

#: The registered names of the tasks (tasks.py): the place task, and the fan-out of a batch.
PLACE_TASK = "django_esms_voice.place_call"
ENQUEUE_TASK = "django_esms_voice.enqueue_calls"
FAN_OUT_ABOVE = 100  # calls enqueued from the caller's process; more go through a worker
FAN_OUT_CHUNK = 1000


def enqueue_calls(call_ids: Sequence[int], *, fan_out: bool = True) -> int:
    """Send a place task per call; if the broker is down the sweep enqueues them later.

    A large batch is handed to a worker in chunks (one message per FAN_OUT_CHUNK ids), so
    that the request that created it does not wait for thousands of publishes.
    """
    # By their registered names (tasks.py imports this module; apps.ready imports tasks.py).
    fanning = fan_out and len(call_ids) > FAN_OUT_ABOVE
    task = current_app.tasks[ENQUEUE_TASK if fanning else PLACE_TASK]
    enqueued = 0
    for chunk in chunks(call_ids, FAN_OUT_CHUNK if fanning else 1):
        try:
            task.apply_async(
                (chunk if fanning else chunk[0],),
                retry=True,
                # Fail fast when the broker is down: the rows are safe and the sweep enqueues them.
                retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
            )
        except Exception as exc:  # the broker is unreachable; the rows are safe in the DB
            logger.warning(
                "Could not enqueue %d voice call(s) (%s); the sweep will place them.",
                len(call_ids) - enqueued,
                type(exc).__name__,
            )
            break
        enqueued += len(chunk)
    return enqueued


def chunks(items: Sequence[int], size: int) -> list[list[int]]:
    """Split a sequence into lists of at most `size` items."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
