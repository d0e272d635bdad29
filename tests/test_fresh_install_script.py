""".ci/fresh_install: valid bash, run by CI, failing when README.md's install blocks are wrong."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "fresh_install"
README = (ROOT / "README.md").read_text(encoding="utf-8")

if not SCRIPT.exists():  # the sdist carries tests/ but not .ci/
    pytest.skip("not a checkout: .ci/ is not in the sdist", allow_module_level=True)


def run_with_readme(tmp_path: Path, readme: str) -> subprocess.CompletedProcess[str]:
    """Run the script against another README; it must stop before building anything."""
    path = tmp_path / "README.md"
    path.write_text(readme, encoding="utf-8")
    return subprocess.run(  # noqa: S603 - our script
        ["bash", str(SCRIPT)],  # noqa: S607
        env={**os.environ, "FRESH_INSTALL_README": str(path), "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_script_is_valid_bash_and_executable() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True, timeout=30)  # noqa: S603, S607
    assert os.access(SCRIPT, os.X_OK)
    assert "set -euo pipefail" in SCRIPT.read_text()


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_finds_nothing() -> None:
    result = subprocess.run(  # noqa: S603
        ["shellcheck", str(SCRIPT)],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_ci_runs_it_after_the_docs_step() -> None:
    steps = re.findall(r"^step \"([^\"]+)\" (.+)$", (ROOT / ".ci" / "run").read_text(), re.M)
    commands = [command for _, command in steps]
    assert ("fresh install from the README", ".ci/fresh_install") in steps
    docs = next(i for i, (name, _) in enumerate(steps) if name.startswith("docs"))
    assert commands.index(".ci/fresh_install") > docs


def test_it_reads_the_readme_blocks_it_applies() -> None:
    # What the script extracts must be in the README: the settings and URLs placeholders
    # it fills in with startproject's entries, and the commands it runs.
    assert "# ... django.contrib apps ..." in README
    assert 'path("esms-voice/", include("django_esms_voice.urls")),' in README
    assert "celery -A yourproject worker" in README
    assert "celery -A yourproject beat" in README


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("(`yourproject/urls.py`)", "the URLs"),
        ("# ... django.contrib apps ...", "settings block has no"),
        ('pip install "django-esms-voice[redis,postgres]"', "not a PyPI install"),
        ("**4. Migrate, check, run**", "the run commands"),
    ],
)
def test_a_readme_without_a_block_fails_naming_it(
    tmp_path: Path, broken: str, message: str
) -> None:
    assert broken in README
    result = run_with_readme(tmp_path, README.replace(broken, "(something else)", 1))
    assert result.returncode != 0
    assert "README.md" in result.stderr
    assert message in result.stderr
    assert "building the wheel" not in result.stdout
    assert not list(tmp_path.glob("esms-fresh.*"))  # its temporary folder is gone
