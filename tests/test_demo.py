"""`make demo` works: its entry point starts every process, the sample calls end, it stops clean.

The test runs `example_project/demo.py --check` exactly as a user's `make demo` runs the demo
(simulator, development server, a Celery worker and beat on the embedded filesystem broker),
on free ports and a temporary data folder, so it never meets a demo that is running. It needs
no Redis or PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO = REPO_ROOT / "example_project" / "demo.py"
DEMO_TIMEOUT = 60  # the demo's own deadline for the calls to be final
TEST_DEADLINE = 90  # after this the demo is stopped and the test fails
MARKER_ENV = "ESMS_VOICE_DEMO_TEST_MARKER"
PROC = Path("/proc")

pytestmark = [
    pytest.mark.skipif(os.name != "posix", reason="the demo stops process groups (POSIX)"),
    pytest.mark.timeout(TEST_DEADLINE + 60),
]


def free_port() -> int:
    """Return a loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def marked_processes(marker: str) -> list[int]:
    """Return the live processes whose environment carries this run's marker (Linux /proc)."""
    if not PROC.is_dir():  # not Linux: only the process-group check below applies
        return []
    needle = f"{MARKER_ENV}={marker}".encode()
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def group_exists(pgid: int) -> bool:
    """Say whether any process is left in the process group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def test_demo_check_places_three_calls_and_stops_cleanly(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env[MARKER_ENV] = marker
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    )
    command = [
        sys.executable, str(DEMO), "--check",
        "--port", str(free_port()), "--simulator-port", str(free_port()),
        "--data-dir", str(tmp_path / "demo"), "--callback-delay", "1",
        "--timeout", str(DEMO_TIMEOUT),
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our interpreter and script
        command,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    leftovers: list[int] = []
    try:
        try:
            output, _ = process.communicate(timeout=TEST_DEADLINE)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)  # the demo's own clean stop
            output, _ = process.communicate(timeout=30)
            pytest.fail(
                f"the demo did not finish in {TEST_DEADLINE} s:\n{output.decode(errors='replace')}"
            )
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        # The demo reaps what it started; give the kernel a moment, then look for strays.
        deadline = time.monotonic() + 5
        while (leftovers := marked_processes(marker)) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert "demo: check passed" in text, text
    summary = text.split("demo: summary", 1)[1]
    assert "0901000001: answered, key 1 pressed" in summary
    assert "0901000002: no_answer" in summary
    assert "0901000003: failed" in summary
    # Every process was stopped: the worker warmly, and nothing left behind anywhere.
    assert "worker: Warm shutdown" in text
    assert "demo: stopped" in text
    assert not group_exists(process.pid)
    assert leftovers == [], f"processes left running: {leftovers}\n{text}"
    # The callback token never reaches the development server's log.
    assert "/esms-voice/callback/" in text
    for line in text.splitlines():
        if "/esms-voice/callback/" in line:
            assert "/***/" in line, line
