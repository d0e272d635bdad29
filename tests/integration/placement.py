"""What the pause and account-pause tests read: the simulator's log, per call and in time."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from django_esms_voice.models import VoiceCall
from django_esms_voice.testing.simulator import MAKE_CALL_RECORD, MAKE_CALL_TEMPLATE, EsmsSimulator

from .conftest import Harness, wait_until

TEMPLATE = "1234"
#: A place_call task the worker finished, whatever it did (placed, skipped, refused).
HANDLED = re.compile(r"Task django_esms_voice\.place_call\[[^\]]+\] succeeded")
#: A batch's task says how many calls it handled: "... succeeded in 2.1s: '3 of 20 calls accepted'".
BATCH_HANDLED = re.compile(
    r"Task django_esms_voice\.place_calls\[[^\]]+\] succeeded in [^:]+: '\d+ of (\d+) calls"
)


def rows(count: int, start: int = 0) -> list[dict[str, str]]:
    """Return `count` rows for create_calls(), each with its own valid mobile number."""
    return [{"phone": f"0902{start + i:06d}", "template_id": TEMPLATE} for i in range(count)]


def statuses() -> dict[str, int]:
    """Return how many calls have each status."""
    return dict(Counter(VoiceCall.objects.values_list("status", flat=True)))


def make_calls(sim: EsmsSimulator, *, after: float = 0.0) -> list[tuple[str, str]]:
    """Return (RequestId, code) of each MakeCall request received after monotonic `after`."""
    return [
        (r.request_id or "", r.code or "")
        for r in list(sim.requests)
        if r.endpoint in (MAKE_CALL_RECORD, MAKE_CALL_TEMPLATE) and r.received_at > after
    ]


def codes_per_call(sim: EsmsSimulator, code: str) -> Counter[str]:
    """Return how many requests of each call (by RequestId) were answered `code`."""
    return Counter(rid for rid, answered in make_calls(sim) if answered == code)


def placed_more_or_less_than_once(sim: EsmsSimulator, calls: Iterable[VoiceCall]) -> dict[str, int]:
    """Return the calls not accepted exactly once by the simulator (a resend gets 124)."""
    accepted = codes_per_call(sim, "100")
    counts = {str(call.uuid): accepted.get(str(call.uuid), 0) for call in calls}
    return {uuid: n for uuid, n in counts.items() if n != 1}


def handled(harness: Harness) -> int:
    """Return how many calls the harness's workers finished placing (alone or in a batch)."""
    logs = [worker.log() for worker in harness.workers]
    singles = sum(len(HANDLED.findall(log)) for log in logs)
    return singles + sum(int(n) for log in logs for n in BATCH_HANDLED.findall(log))


def wait_handled(harness: Harness, count: int, timeout: float) -> None:
    """Wait until the workers finished placing `count` calls: every message was read."""
    wait_until(
        lambda: handled(harness) >= count,
        timeout,
        lambda: f"{handled(harness)} of {count} tasks handled, {statuses()}\n{harness.logs()}",
        0.2,
    )


def wait_status(harness: Harness, status: str, count: int, timeout: float) -> None:
    """Wait until at least `count` calls have `status`."""
    wait_until(
        lambda: VoiceCall.objects.filter(status=status).count() >= count,
        timeout,
        lambda: f"expected {count} {status}, have {statuses()}\n{harness.logs()}",
        0.05,
    )


def wait_nothing_in_flight(harness: Harness, timeout: float) -> None:
    """Wait until no call is being sent: none submitting, no request open at the simulator."""
    wait_until(
        lambda: (
            harness.sim.in_flight == 0
            and not VoiceCall.objects.filter(status="submitting").exists()
        ),
        timeout,
        lambda: f"still in flight: {statuses()}\n{harness.logs()}",
        0.1,
    )
