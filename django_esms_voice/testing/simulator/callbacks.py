"""The simulator's callbacks: each call's messages, sent on time and retried as eSMS does."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from .protocol import CALLBACK_TIMEOUT, MAX_CALLBACK_RETRIES, SEND_STATUS_FINISHED, SEND_STATUS_SENT
from .records import CallbackDelivery, SimulatedCall
from .scheduler import Scheduler


@dataclass
class Message:
    """One callback in a call's sequence."""

    params: list[tuple[str, str]]
    due: float
    final: bool


@dataclass
class Job:
    """A callback message on its way, with the messages that follow it."""

    call: SimulatedCall
    url: str
    message: Message
    rest: list[Message]
    generation: int
    attempt: int = 1


def callback_params(call: SimulatedCall, cid: str, *, final: bool) -> list[tuple[str, str]]:
    """Return a callback's query parameters, in the docs' order."""
    outcome = call.outcome
    if final:
        values = (outcome.duration, outcome.call_status, outcome.ivr, outcome.price)
        sent_result, send_status = outcome.sent_result, SEND_STATUS_FINISHED
    else:
        values = (0, "", "", "0.0000")
        sent_result, send_status = 1, SEND_STATUS_SENT
    return [
        ("ReferenceId", call.smsid),
        ("CallDuration", str(values[0])),
        ("CallStatus", str(values[1])),
        ("Ivr", str(values[2])),
        ("Price", str(values[3])),
        ("SentResult", str(sent_result)),
        ("CID", cid),
        ("SendStatus", str(send_status)),
    ]


class CallbackSender:
    """Plans, sends and logs the callbacks of accepted calls; reset() forgets the pending ones."""

    def __init__(
        self,
        changed: threading.Condition,
        stop_event: threading.Event,
        *,
        workers: int,
        retry_delay: Callable[[], float],
    ) -> None:
        """Share the simulator's lock (through `changed`) and its stop event; start() sends."""
        #: Every delivery attempt, oldest first (the same list object for good).
        self.deliveries: list[CallbackDelivery] = []
        self.delivered = 0
        self._changed = changed
        self._stop_event = stop_event
        self._retry_delay = retry_delay
        self._generation = 0
        self._scheduler = Scheduler(workers)

    def start(self) -> None:
        """Start the timer and sender threads."""
        self._scheduler.start()

    def stop(self) -> None:
        """Stop the threads and wait for them."""
        self._scheduler.stop()

    def reset(self) -> None:
        """Forget the log and every callback not sent yet; a callback in flight is not logged."""
        with self._changed:
            self._generation += 1
            self.deliveries.clear()
            self.delivered = 0
            self._scheduler.clear()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until count callbacks were answered 200; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self.delivered >= count, timeout)

    def plan(self, call: SimulatedCall, *, delay: float, cid: str) -> None:
        """Schedule a new call's callbacks; its final state shows when the final one is due."""
        final_due = call.accepted_at + delay
        if call.callback_url is None or call.script.callbacks == "none":
            call.final_at = final_due
            return
        progress = Message(
            callback_params(call, cid, final=False), call.accepted_at + delay / 2, False
        )
        final = Message(callback_params(call, cid, final=True), final_due, True)
        plan = [progress, final] if call.script.progress_callback else [final]
        if call.script.callbacks == "duplicate":
            plan.append(Message(final.params, 0.0, False))
        elif call.script.callbacks == "out_of_order":
            plan.append(Message(progress.params, 0.0, False))
        job = Job(call, call.callback_url, plan[0], plan[1:], self._generation)
        self._schedule(job, plan[0].due)

    def _schedule(self, job: Job, due: float) -> None:
        """Queue a job; the final result becomes visible when its first delivery is due."""
        if job.attempt == 1 and job.message.final:
            with self._changed:
                job.call.final_at = due
        self._scheduler.schedule(due, functools.partial(self._deliver, job))

    def _deliver(self, job: Job, session: requests.Session) -> None:
        """Send one callback attempt, then retry it or move on to the next message."""
        if self._stop_event.is_set() or job.generation != self._generation:
            return
        status: int | None = None
        error: str | None = None
        sent_at = time.monotonic()
        try:
            response = session.get(job.url, params=job.message.params, timeout=CALLBACK_TIMEOUT)
            status = response.status_code
            response.close()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = CallbackDelivery(
            smsid=job.call.smsid,
            url=job.url,
            params=dict(job.message.params),
            attempt=job.attempt,
            sent_at=sent_at,
            status=status,
            error=error,
        )
        with self._changed:
            if job.generation != self._generation:
                return
            self.deliveries.append(delivery)
            if delivery.ok:
                self.delivered += 1
                self._changed.notify_all()
        now = time.monotonic()
        # eSMS retries a callback the receiver did not answer with 200, at most 5 times.
        if not delivery.ok and job.attempt <= MAX_CALLBACK_RETRIES:
            retry = Job(job.call, job.url, job.message, job.rest, job.generation, job.attempt + 1)
            self._schedule(retry, now + self._retry_delay())
        elif job.rest:
            following = Job(job.call, job.url, job.rest[0], job.rest[1:], job.generation)
            self._schedule(following, max(job.rest[0].due, now))
