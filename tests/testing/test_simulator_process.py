"""The simulator's lifecycle and entry points: stop, secrets, python -m, the command."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest
import requests

from django_esms_voice.testing.simulator import EsmsSimulator, Script
from tests.testing.simulator_helpers import (
    KEYS,
    ROOT,
    free_port,
    make_call,
    send_status,
    smsid_of,
)

# Lifecycle, secrets, entry points


def test_stop_is_idempotent_and_frees_the_port() -> None:
    sim = EsmsSimulator().start()
    url = sim.base_url
    assert sim.balance_url == url
    assert url == f"http://127.0.0.1:{sim.port}/MainService.svc/json/"

    sim.stop()
    sim.stop()

    with pytest.raises(requests.ConnectionError):
        requests.get(url + "GetSendStatus", timeout=1)


def test_stop_does_not_wait_for_stalled_requests() -> None:
    sim = EsmsSimulator(stall_seconds=30).start()
    sim.default = Script(failures=["timeout"])
    with pytest.raises(requests.ReadTimeout):
        make_call(sim, timeout=0.2)

    started = time.monotonic()
    sim.stop()

    assert time.monotonic() - started < 2


def test_credentials_are_never_printed(capfd: pytest.CaptureFixture[str]) -> None:
    keys = {"ApiKey": "key-7f3a", "SecretKey": "secret-9c1e"}
    with EsmsSimulator(api_key=keys["ApiKey"], secret_key=keys["SecretKey"]) as sim:
        sim.script("0912345678", Script(failures=["drop", "http_500"]))
        ok = make_call(sim, extra=keys)
        make_call(sim, ApiKey="wrong")
        with pytest.raises(requests.ConnectionError):
            make_call(sim, Phone="0912345678", extra=keys)
        make_call(sim, Phone="0912345678", extra=keys)
        send_status(sim, smsid_of(ok), **keys)
        requests.post(sim.balance_url + "GetBalance_json", json=keys, timeout=5)
        logged = repr(sim.requests) + repr(sim.calls) + repr(sim.accepted())

    out, err = capfd.readouterr()
    for secret in keys.values():
        assert secret not in out + err + logged


def subprocess_env() -> dict[str, str]:
    """Return an environment that imports the package from this checkout."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    env.pop("PYTHONUNBUFFERED", None)  # as under tox: output to a pipe is block-buffered
    return env


def started_in_background() -> None:
    """Start the child as a shell's background job would: with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_with_ctrl_c(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Send Ctrl-C and collect the output; kill the process if it does not stop in time."""
    process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError("the simulator did not stop on Ctrl-C") from None


def read_until(process: subprocess.Popen[str], marker: str) -> str:
    """Read the process's stdout until marker appears (or it ends); fail after 20 s."""
    assert process.stdout is not None
    fd, seen, deadline = process.stdout.fileno(), b"", time.monotonic() + 20
    # Raw reads from the pipe: a buffered readline() would hide data from select().
    while marker.encode() not in seen:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            process.kill()
            raise AssertionError(f"no {marker!r} on stdout within 20 s; got {seen!r}")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        seen += chunk
    return seen.decode()


@pytest.mark.parametrize(
    "module", ["django_esms_voice.testing.simulator", "django_esms_voice.simulator"]
)
def test_simulator_module_imports_no_django(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "assert not [m for m in sys.modules if m == 'django' or m.startswith('django.')]\n"
        # The independent side: nothing of the app but the packages it lives in.
        "app = {m for m in sys.modules if m.startswith('django_esms_voice')}\n"
        "inside = ('django_esms_voice.testing.simulator', 'django_esms_voice.simulator')\n"
        "extra = app - {'django_esms_voice', 'django_esms_voice.testing'}\n"
        "assert all(m.startswith(inside) for m in extra), sorted(extra)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=subprocess_env(), cwd=ROOT)  # noqa: S603


@pytest.mark.parametrize(
    "module", ["django_esms_voice.testing.simulator", "django_esms_voice.simulator"]
)
def test_module_runs_standalone_until_ctrl_c(module: str) -> None:
    port = free_port()
    command = [sys.executable, "-m", module, "--port", str(port)]
    with subprocess.Popen(  # noqa: S603
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**subprocess_env(), "ESMS_VOICE_SECRET_KEY": "from-env-5d2b"},
        cwd=ROOT,
        preexec_fn=started_in_background,  # Ctrl-C must work even so
    ) as process:
        banner = read_until(process, "BALANCE_URL")
        base_url = f"http://127.0.0.1:{port}/MainService.svc/json/"
        body = {"ApiKey": "test-key", "SecretKey": "from-env-5d2b"}
        balance = requests.post(base_url + "GetBalance_json", json=body, timeout=5)
        out, err = stop_with_ctrl_c(process)

    assert base_url in banner
    assert balance.json()["CodeResponse"] == "100"
    assert process.returncode == 0, err
    assert "from-env-5d2b" not in banner + out + err


COMMAND_SCRIPT = """
import sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=[],
    ESMS_VOICE={"API_KEY": "settings-key-1b", "SECRET_KEY": "settings-secret-2c"},
)
django.setup()
from django_esms_voice.management.commands.esms_voice_simulator import Command
Command().run_from_argv(["manage.py", "esms_voice_simulator", *sys.argv[1:]])
"""


def test_management_command_serves_with_the_settings_credentials() -> None:
    port = free_port()
    command = [sys.executable, "-c", COMMAND_SCRIPT, "--port", str(port), "--outcome", "failed"]
    with subprocess.Popen(  # noqa: S603
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=ROOT,
        preexec_fn=started_in_background,  # Ctrl-C must work even so
    ) as process:
        banner = read_until(process, "BALANCE_URL")
        base_url = f"http://127.0.0.1:{port}/MainService.svc/json/"
        keys = {"ApiKey": "settings-key-1b", "SecretKey": "settings-secret-2c"}
        balance = requests.post(base_url + "GetBalance_json", json=keys, timeout=5)
        refused = requests.post(base_url + "GetBalance_json", json=KEYS, timeout=5)
        busy = subprocess.run(  # noqa: S603
            [sys.executable, "-c", COMMAND_SCRIPT, "--port", str(port)],
            capture_output=True,
            text=True,
            env=subprocess_env(),
            cwd=ROOT,
            timeout=30,
        )
        out, err = stop_with_ctrl_c(process)

    assert f'ESMS_VOICE["BASE_URL"] = "{base_url}"' in banner
    assert f'ESMS_VOICE["BALANCE_URL"] = "{base_url}"' in banner
    assert balance.json()["CodeResponse"] == "100"
    assert refused.json()["CodeResponse"] == "101"
    assert process.returncode == 0, err
    assert busy.returncode == 1
    assert "already in use" in busy.stderr
    assert "settings-secret-2c" not in banner + out + err + busy.stdout + busy.stderr
