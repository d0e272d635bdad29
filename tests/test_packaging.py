"""The wheel and sdist as PyPI would get them: metadata, extras, and what each contains."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build the wheel and the sdist once, offline, with the installed hatchling."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(  # noqa: S603 - our interpreter
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return {"wheel": next(out.glob("*.whl")), "sdist": next(out.glob("*.tar.gz"))}


@pytest.fixture(scope="module")
def metadata(built: dict[str, Path]) -> Message:
    """The wheel's METADATA, as PyPI shows it."""
    with zipfile.ZipFile(built["wheel"]) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(wheel.read(name).decode())


@pytest.fixture(scope="module")
def sdist_files(built: dict[str, Path]) -> set[str]:
    """The sdist's paths, without its top folder."""
    with tarfile.open(built["sdist"]) as sdist:
        return {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}


def test_the_wheel_says_its_license_and_carries_it(
    built: dict[str, Path], metadata: Message
) -> None:
    assert metadata["License-Expression"] == "MIT"
    with zipfile.ZipFile(built["wheel"]) as wheel:
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())
    assert "MIT License" in (ROOT / "LICENSE").read_text()


def test_the_project_urls_and_the_django_versions_are_listed(metadata: Message) -> None:
    urls = dict(value.split(", ", 1) for value in metadata.get_all("Project-URL", []))
    assert set(urls) >= {"Homepage", "Source", "Issues", "Changelog", "Documentation"}
    assert urls["Changelog"].endswith("/CHANGELOG.md")
    classifiers = metadata.get_all("Classifier", [])
    assert {"Framework :: Django :: 5.2", "Framework :: Django :: 6.1"} <= set(classifiers)


def test_each_broker_and_database_has_an_extra_with_what_it_needs(metadata: Message) -> None:
    extras = set(metadata.get_all("Provides-Extra", []))
    assert {"redis", "rabbitmq", "postgres", "api", "excel"} <= extras
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist", [])]

    def of(extra: str) -> dict[str, set[str]]:
        """Return the packages (with their extras) that installing this extra adds."""
        return {
            r.name: r.extras
            for r in requires
            if r.marker is not None and r.marker.evaluate({"extra": extra})
        }

    # kombu's Redis transport imports packaging: `redis` alone gives a worker that cannot start.
    assert of("redis") == {"redis": set(), "packaging": set()}
    assert of("postgres") == {"psycopg": {"binary", "pool"}}
    assert of("rabbitmq") == {"amqp": set()}


def test_the_sdist_holds_what_its_tests_and_readers_need(sdist_files: set[str]) -> None:
    for path in (
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
        "README.vi.md",
        "tests/conftest.py",
        "example_project/manage.py",
        "example_project/config/celery.py",
        "docs/index.md",
        "mkdocs.yml",
    ):
        assert path in sdist_files, path
    strays = [p for p in sdist_files if p.startswith(("bench/", "mutation/", ".venv/"))]
    assert strays == []
    assert not [p for p in sdist_files if "__pycache__" in p or p.endswith(".sqlite3")]


def test_the_readme_is_a_pypi_page(metadata: Message) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    # PyPI shows README.md with no repository around it: a relative link or image is broken.
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets
    assert [t for t in targets if not t.startswith(("https://", "http://", "mailto:"))] == []
    # Installing into your own project comes before this repository's demo.
    assert readme.index("## Install into your project") < readme.index("make demo")
    assert "django-esms-voice[redis,postgres]" in readme
    assert "example_project/config/celery.py" not in readme  # not in the wheel
    assert metadata.get_payload().strip().startswith("# django-esms-voice")


def test_the_vietnamese_readme_follows_the_same_order_and_links() -> None:
    readme = (ROOT / "README.vi.md").read_text("utf-8")
    # Shown on GitHub and linked from PyPI: links must work outside the repository too.
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets
    assert [t for t in targets if not t.startswith(("https://", "http://", "mailto:"))] == []
    assert readme.index("## Cài vào dự án của bạn") < readme.index("make demo")
    assert "celery -A yourproject worker" in readme  # your project's package, not ours
    assert "app.autodiscover_tasks()" in readme  # the Celery app, which the wheel does not ship
