"""Hand calls to the Celery workers, after the transaction that created them commits."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import current_app

from ..conf import voice_settings
from ..models import VoiceCall

logger = logging.getLogger(__name__)

#: The registered names of the tasks (tasks.py): the place task, and the fan-out of a batch.
PLACE_TASK = "django_esms_voice.place_call"
PLACE_BATCH_TASK = "django_esms_voice.place_calls"
ENQUEUE_TASK = "django_esms_voice.enqueue_calls"
FAN_OUT_ABOVE = 100  # calls enqueued from the caller's process; more go through a worker
#: Calls per place_calls message in a large batch's fan-out, at most: Celery's own work per
#: message (receiving, acknowledging, tracing) was a third of a worker's CPU per placed call.
PLACE_BATCH = 20
#: A large batch goes in at least this many messages while each can hold 2 calls or more: a
#: thread places a message's calls one after another, so fewer messages than threads would
#: leave threads idle (a gevent worker's 200, the benchmark's 2 x 64).
PLACE_BATCH_SPREAD = 128
#: Ids per fan-out message, at most. A batch goes in chunks of calls_per_message() x
#: PLACE_BATCH_SPREAD ids: the worker that publishes a chunk knows only the chunk, and batches
#: its calls as the whole batch allows (the message is the same as in earlier releases).
FAN_OUT_CHUNK = PLACE_BATCH * PLACE_BATCH_SPREAD
#: Fail fast when the broker is down: the rows are safe and the sweep enqueues them.
FAIL_FAST = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}


def is_urgent(purpose: str) -> bool:
    """Whether calls of this purpose go to URGENT_QUEUE, when it is set (URGENT_PURPOSES)."""
    return purpose in voice_settings().urgent_purposes


def calls_per_message(calls: int) -> int:
    """Return how many of a large batch's calls go to one place_calls message (1: a task each)."""
    return max(1, min(PLACE_BATCH, calls // PLACE_BATCH_SPREAD))


def enqueue_calls(
    call_ids: Sequence[int], *, fan_out: bool = True, urgent: bool | None = None
) -> int:
    """Send a place task per call; if the broker is down the sweep enqueues them later.

    A large batch is handed to a worker in chunks (FAN_OUT_CHUNK ids at most), so
    that the request that created it does not wait for thousands of publishes. With
    URGENT_QUEUE set, calls of the URGENT_PURPOSES go to that queue: `urgent` says whether
    all of these are (a caller that knows their purpose), None looks it up (one query).
    """
    queue = voice_settings().urgent_queue
    if queue is None or not call_ids:
        return _publish(call_ids, fan_out=fan_out, queue=None)
    if urgent is None:
        purposes = VoiceCall.objects.filter(pk__in=call_ids).values_list("pk", "purpose")
        found = {pk for pk, purpose in purposes if is_urgent(purpose)}
        # The urgent first: an OTP among a sweep's re-enqueued calls goes out at once.
        sent = _publish([pk for pk in call_ids if pk in found], fan_out=fan_out, queue=queue)
        if sent < len(found):  # the broker is down: the sweep enqueues the rest too
            return sent
        rest = [pk for pk in call_ids if pk not in found]
        return sent + _publish(rest, fan_out=fan_out, queue=None)
    return _publish(call_ids, fan_out=fan_out, queue=queue if urgent else None)


def _publish(
    call_ids: Sequence[int],
    *,
    fan_out: bool,
    queue: str | None,
    countdown: float | None = None,
    per_message: int | None = None,
) -> int:
    """Publish the place tasks of these calls (or their fan-out) to `queue`, None the default.

    From the fan-out (fan_out=False, in a worker), calls that are not urgent go
    calls_per_message() to a message (`per_message` when given); an urgent call, and a small
    batch from the caller, one to a message, so that each starts at once on a thread of its
    own.
    """
    count = len(call_ids)
    fanning = fan_out and count > FAN_OUT_ABOVE
    if per_message is None:
        per_message = calls_per_message(count)
    batching = not fan_out and queue is None and per_message > 1 and count > 1
    # By their registered names (tasks.py imports this module; apps.ready imports tasks.py).
    name = ENQUEUE_TASK if fanning else PLACE_BATCH_TASK if batching else PLACE_TASK
    size = per_message * PLACE_BATCH_SPREAD if fanning else per_message if batching else 1
    task = current_app.tasks[name]
    # queue=None leaves the host's task_routes and default queue in charge.
    routing = {"queue": queue} if queue is not None else {}
    enqueued = 0
    for chunk in chunks(call_ids, size):
        try:
            task.apply_async(
                (chunk if size > 1 else chunk[0],),
                kwargs={"urgent": queue is not None} if fanning else None,
                retry=True,
                retry_policy=FAIL_FAST,
                countdown=countdown,
                **routing,
            )
        except Exception as exc:  # the broker is unreachable; the rows are safe in the DB
            logger.warning(
                "Could not enqueue %d voice call(s) (%s); the sweep will place them.",
                count - enqueued,
                type(exc).__name__,
            )
            break
        enqueued += len(chunk)
    return enqueued


def chunks(items: Sequence[int], size: int) -> list[list[int]]:
    """Split a sequence into lists of at most `size` items."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def enqueue_retry(call_id: int, countdown: float) -> bool:
    """Place a call of a batch again after `countdown` seconds, in a place task of its own.

    False if the broker is down: the call waits, pending, and the sweep enqueues it then.
    """
    return _publish([call_id], fan_out=False, queue=None, countdown=countdown) == 1


def requeue_batch(call_ids: Sequence[int]) -> int:
    """Publish a batch's calls not placed yet again, as a batch of their own."""
    if not call_ids:
        return 0
    return _publish(call_ids, fan_out=False, queue=None, per_message=len(call_ids))
