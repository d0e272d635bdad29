"""Run the simulator from a shell: ``python -m django_esms_voice.testing.simulator --port 8765``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .core import EsmsSimulator
from .records import OUTCOMES, Script


def describe(sim: EsmsSimulator) -> str:
    """Return the lines that tell a developer how to point the app at a running simulator."""
    return (
        f"eSMS voice simulator listening on {sim.host}:{sim.port}\n"
        f'  ESMS_VOICE["BASE_URL"] = "{sim.base_url}"\n'
        f'  ESMS_VOICE["BALANCE_URL"] = "{sim.balance_url}"\n'
        f"Callbacks come {sim.callback_delay:g} s after a call is accepted. Ctrl-C stops.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator from the command line until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m django_esms_voice.testing.simulator",
        description="Serve a fake eSMS.vn voice API for demos and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind (default %(default)s)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("ESMS_VOICE_API_KEY") or "test-key",
        help="ApiKey to accept (default: $ESMS_VOICE_API_KEY or test-key)",
    )
    parser.add_argument(
        "--secret-key",
        default=os.environ.get("ESMS_VOICE_SECRET_KEY") or "test-secret",
        help="SecretKey to accept (default: $ESMS_VOICE_SECRET_KEY or test-secret)",
    )
    parser.add_argument(
        "--callback-delay",
        type=float,
        default=2.0,
        help="seconds from acceptance to the final callback (default %(default)s)",
    )
    parser.add_argument(
        "--outcome",
        choices=sorted(OUTCOMES),
        default="answered",
        help="result of every call (default %(default)s)",
    )
    args = parser.parse_args(argv)
    sim = EsmsSimulator(
        api_key=args.api_key,
        secret_key=args.secret_key,
        host=args.host,
        port=args.port,
        callback_delay=args.callback_delay,
    )
    sim.default = Script(outcome=OUTCOMES[args.outcome]())
    try:
        sim.start()
    except OSError as exc:
        sys.stderr.write(f"Cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n")
        return 1

    sys.stdout.write(describe(sim))
    sys.stdout.flush()
    serve_until_interrupted(sim)
    sys.stdout.write("Stopping the simulator.\n")
    return 0


def serve_until_interrupted(sim: EsmsSimulator) -> None:
    """Block until Ctrl-C or SIGTERM, then stop the simulator."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Set both explicitly: a process started in the background by a shell (or by some service
    # managers) inherits SIGINT as ignored, and would then never see Ctrl-C.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
