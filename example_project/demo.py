"""Run the example project for a demo: `make demo` (or `.venv/bin/python example_project/demo.py`).

Migrates the SQLite database, creates (or resets) the superuser `admin` with a fresh random
password, starts the background processes (the eSMS simulator), waits until each answers, then
runs the development server in the foreground. Ctrl-C, or any process exiting, stops them all.
To add a process (a Celery worker, beat...), append a `Process` to `processes()`.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

HERE = Path(__file__).resolve().parent
MANAGE = str(HERE / "manage.py")
PYTHON = sys.executable
HOST = "127.0.0.1"
SERVER_PORT = 8000
SIMULATOR_PORT = 8765
ADMIN_USERNAME = "admin"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def say(message: str = "") -> None:
    """Print a line for the person running the demo; a closed terminal or pipe is no error."""
    try:
        sys.stdout.write(f"{message}\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


class DemoError(Exception):
    """Something the person running the demo has to fix; the message says what."""


@dataclass
class Process:
    """A program the demo runs and stops; ready once `port` accepts connections."""

    name: str
    argv: list[str]
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self, base_env: dict[str, str]) -> None:
        say(f"demo: starting {self.name}: {' '.join(self.argv[1:])}")
        # A session of its own: the terminal's Ctrl-C reaches only this script, which then
        # stops each process group (runserver's autoreloader child included) in order.
        self.popen = subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
            self.argv, env={**base_env, **self.env}, start_new_session=True
        )

    def exited(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until the port answers; fail if the process exits or the time runs out."""
        if self.port is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.exited()
            if code is not None:
                raise DemoError(f"{self.name} exited with status {code} while starting.")
            if port_answers(self.port):
                say(f"demo: {self.name} answers on {HOST}:{self.port}")
                return
            time.sleep(0.2)
        raise DemoError(f"{self.name} did not answer on {HOST}:{self.port} in {timeout:.0f} s.")

    def signal_group(self, sig: signal.Signals) -> bool:
        """Send a signal to the process's group; False when nothing of it is left."""
        if self.popen is None:
            return False
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        """Terminate the process group, then kill it if it lingers."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            say(f"demo: stopping {self.name}")
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if not self.signal_group(sig):
                    break
                try:
                    self.popen.wait(timeout=STOP_TIMEOUT)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # Children of a leader that is already gone (runserver's autoreloader) go too.
        self.signal_group(signal.SIGTERM)


def processes() -> tuple[list[Process], Process]:
    """The background processes, in start order, and the foreground one."""
    background = [
        Process(
            "eSMS simulator",
            [PYTHON, MANAGE, "esms_voice_simulator", "--port", str(SIMULATOR_PORT)],
            port=SIMULATOR_PORT,
        ),
    ]
    server = Process(
        "development server",
        [PYTHON, MANAGE, "runserver", f"{HOST}:{SERVER_PORT}"],
        port=SERVER_PORT,
    )
    return background, server


def port_answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def manage(*args: str, env: dict[str, str]) -> None:
    """Run a management command to completion, failing the demo if it fails."""
    say(f"demo: manage.py {' '.join(args)}")
    result = subprocess.run([PYTHON, MANAGE, *args], env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        raise DemoError(f"manage.py {' '.join(args)} failed with status {result.returncode}.")


def reset_admin() -> str:
    """Create or reset the superuser with a new random password, and return the password."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connections

    password = secrets.token_urlsafe(12)
    user_model = get_user_model()
    user = user_model._default_manager.filter(username=ADMIN_USERNAME).first()
    if user is None:
        user = user_model(username=ADMIN_USERNAME)
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()
    connections.close_all()
    return password


def demo_env() -> dict[str, str]:
    """Set up this process's environment, which every process of the demo inherits."""
    os.environ.pop("DJANGO_DB", None)  # the demo is SQLite, whatever the shell says
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["PYTHONUNBUFFERED"] = "1"
    return dict(os.environ)


def run() -> int:
    env = demo_env()
    background, server = processes()
    everything = [*background, server]
    busy = [p for p in everything if p.port is not None and port_answers(p.port)]
    if busy:
        ports = ", ".join(f"{HOST}:{p.port} ({p.name})" for p in busy)
        raise DemoError(f"already in use: {ports}. Is another demo still running?")

    manage("migrate", "--no-input", env=env)
    password = reset_admin()

    started: list[Process] = []
    try:
        for process in everything:
            process.start(env)
            started.append(process)
            process.wait_ready()
        say()
        say(f"demo: open http://{HOST}:{SERVER_PORT}/admin/")
        say(f"demo:   username: {ADMIN_USERNAME}")
        say(f"demo:   password: {password}")
        say(f"demo: eSMS is simulated at http://{HOST}:{SIMULATOR_PORT}/MainService.svc/json/")
        say("demo: press Ctrl-C to stop everything")
        say()
        while True:
            for process in started:
                code = process.exited()
                if code is not None:
                    say(f"demo: {process.name} exited with status {code}; stopping the rest")
                    return code if code > 0 else 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        say()
        say("demo: asked to stop")
        return 0
    finally:
        # Nothing may skip the cleanup: not a second Ctrl-C, not one process refusing to stop.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        for process in reversed(started):
            try:
                process.stop()
            except Exception as error:
                say(f"demo: could not stop {process.name}: {error}")
        say("demo: stopped")


def on_terminate(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM/SIGHUP into the same clean stop as Ctrl-C."""
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGHUP, on_terminate)
    try:
        return run()
    except DemoError as error:
        say(f"demo: error: {error}")
        return 1
    except KeyboardInterrupt:
        say("demo: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
