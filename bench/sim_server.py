"""Run the eSMS simulator in its own process for the benchmark, with a stats endpoint.

The simulator must not share a GIL with the load it measures, so bench/place_calls.py starts
this script as a subprocess. It adds two read-only endpoints to the simulator:

* ``GET /bench/stats``   → {"requests", "accepted", "codes": {code: n}, "failures", ...}
* ``GET /bench/accepted?since=K`` → [[request_id, smsid], ...] of the accepted MakeCall
  requests from the K-th request on (K from an earlier /bench/stats "requests").

It prints ``PORT <n>`` on stdout once it listens, and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from django_esms_voice.testing.simulator import (
    MAKE_CALL_RECORD,
    MAKE_CALL_TEMPLATE,
    EsmsSimulator,
    Outcome,
    Script,
    serve_until_interrupted,
)

_MAKE_CALL = (MAKE_CALL_RECORD, MAKE_CALL_TEMPLATE)


class BenchSimulator(EsmsSimulator):
    """The simulator plus the /bench/ endpoints the benchmark reads its counts from."""

    def _dispatch(self, handler, method):  # type: ignore[no-untyped-def]
        split = urlsplit(handler.path)
        if split.path == "/bench/stats":
            handler.read_body()
            handler.send_json(self.stats())
            return
        if split.path == "/bench/accepted":
            handler.read_body()
            since = int(dict(parse_qsl(split.query)).get("since", "0"))
            handler.send_json({"accepted": self.accepted_since(since)})
            return
        super()._dispatch(handler, method)

    def stats(self) -> dict[str, object]:
        """Count the requests received so far, by answer code."""
        with self._lock:
            entries = list(self.requests)
            calls = len(self.calls)
        codes = collections.Counter(e.code or "none" for e in entries if e.endpoint in _MAKE_CALL)
        failures = collections.Counter(e.failure for e in entries if e.failure)
        return {
            "requests": len(entries),
            "make_call_requests": sum(codes.values()),
            "accepted": codes.get("100", 0),
            "codes": dict(codes),
            "failures": dict(failures),
            "calls": calls,
        }

    def accepted_since(self, since: int) -> list[list[str | None]]:
        """Return [request_id, smsid] for every accepted MakeCall request from index since."""
        with self._lock:
            entries = self.requests[since:]
            by_request = dict(self._request_ids)
        return [
            [e.request_id, by_request.get(e.request_id or "")]
            for e in entries
            if e.code == "100" and e.endpoint in _MAKE_CALL
        ]


def main() -> int:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per MakeCall answer")
    parser.add_argument("--api-key", default="bench-key")
    parser.add_argument("--secret-key", default="bench-secret")
    args = parser.parse_args()
    # The simulator answers every connection on its own thread; Python's default 8 MiB
    # stacks are not needed for a few hundred keep-alive connections.
    threading.stack_size(512 * 1024)
    sim = BenchSimulator(
        api_key=args.api_key,
        secret_key=args.secret_key,
        host=args.host,
        port=args.port,
        latency=args.latency,
        callback_delay=60.0,  # no CallbackUrl is sent; results are not part of this benchmark
        callback_workers=1,
    )
    sim.default = Script(outcome=Outcome.answered())
    sim.start()
    sys.stdout.write(f"PORT {sim.port}\n")
    sys.stdout.flush()
    serve_until_interrupted(sim)
    return 0


if __name__ == "__main__":
    sys.exit(main())
