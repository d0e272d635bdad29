"""Without eSMS credentials a project still migrates and runs its admin; `check --deploy` fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MANAGE = Path(__file__).resolve().parents[1] / "example_project" / "manage.py"


def manage(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the example project's manage.py as production would: DEBUG off, no eSMS keys."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ESMS_VOICE_", "DJANGO_"))
    }
    env |= {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "a-long-production-like-secret-key-for-this-test-only-0123456789",
        "DJANGO_SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    return subprocess.run(  # noqa: S603 - our interpreter and manage.py
        [sys.executable, str(MANAGE), *args],
        cwd=MANAGE.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["migrate", "--noinput"],
        ["makemigrations", "--check", "--dry-run"],
        ["check"],
        ["collectstatic", "--noinput", "--dry-run"],
    ],
    ids=lambda command: command[0],
)
def test_a_project_without_credentials_still_runs_its_commands(
    command: list[str], tmp_path: Path
) -> None:
    done = manage(*command, tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    if command[0] in ("migrate", "check"):  # these run every check: the warning says what to set
        assert "esms_voice.W006" in done.stderr
        assert "ESMS_VOICE_API_KEY" in done.stderr


def test_check_deploy_fails_naming_the_missing_credentials(tmp_path: Path) -> None:
    done = manage("check", "--deploy", tmp_path=tmp_path)
    assert done.returncode == 1
    assert "esms_voice.E001" in done.stderr
    assert "esms_voice.E002" in done.stderr
