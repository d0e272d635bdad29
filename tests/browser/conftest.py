"""The browser test: a real headless Chromium (Debian's), driven by Playwright.

It runs under tests.browser.settings (the shop app of the example project installed). A plain
run of the suite (tests.settings) starts it in a pytest subprocess with those settings, so
``make test`` runs it too. Screenshots go to test-artifacts/browser/django-<major.minor>/, one
folder per Django version so that the tox envs' runs sit side by side; their paths are printed
at the end of the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from django.apps import apps
from django.db import connections

from tests.conftest import MISSING_PREFIX, service_unavailable

# The fixtures of the integration tests: a private Redis, Celery workers, the simulator.
from tests.integration.conftest import (  # noqa: F401
    harness,
    private_redis,
    redis_broker,
    simulator,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
#: One folder per Django version: each tox env's screenshots are kept, to be compared.
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser" / "django-{}.{}".format(*django.VERSION[:2])
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Printed in the run's summary.
SCREENSHOTS: list[str] = []
SHOP_INSTALLED = apps.is_installed("shop")

if SHOP_INSTALLED:
    # Playwright's sync API keeps an event loop on the main thread, which makes Django refuse
    # ORM calls from the test ("you cannot call this from an async context"): the test is
    # plain synchronous code, so that guard does not apply (Playwright's own advice).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def browser_missing_reason() -> str | None:
    """Say why no browser can be driven here, or None when one can."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{MISSING_PREFIX} chromium ({CHROMIUM})"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return f"{MISSING_PREFIX} playwright (pip install -e '.[browser]')"
    return None


@pytest.fixture
def require_chromium() -> str:
    """Need Debian's chromium and Playwright; skipped (or failed under CI) without them."""
    reason = browser_missing_reason()
    if reason is not None:
        service_unavailable(reason)
    return CHROMIUM


@pytest.fixture
def locale() -> str:
    """The browser's language (Accept-Language); a test parametrizes it to run in Vietnamese."""
    return "en-US"


@pytest.fixture
def page(require_chromium: str, locale: str) -> Iterator[Any]:
    """A page in a fresh headless Chromium, asking for `locale`'s language."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=require_chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 1280, "height": 900}, locale=locale, accept_downloads=True
            )
            page = context.new_page()
            page.set_default_timeout(20_000)
            yield page
        finally:
            with contextlib.suppress(Exception):
                browser.close()
            # Django keeps its connections in asgiref Locals, which are per event-loop context:
            # the ORM calls made while Playwright's loop ran got connections of their own.
            connections.close_all()


@pytest.fixture
def screenshot(page: Any, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Save a full-page screenshot as test-artifacts/browser/django-<x.y>/<test>/<name>.png."""
    directory = ARTIFACTS / request.node.name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        record_screenshot(str(path))
        return path

    return take


def record_screenshot(path: str) -> None:
    """Print a screenshot's path now and list it again in the summary."""
    print(f"screenshot: {path}")  # noqa: T201 - the point: show where it is
    SCREENSHOTS.append(path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the browser test that fits the settings: the real one, or its subprocess runner."""
    keep, drop = [], []
    for item in items:
        wants_shop = getattr(getattr(item, "function", None), "needs_shop_app", None)
        (keep if wants_shop is None or wants_shop == SHOP_INSTALLED else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS:
        terminalreporter.section("browser screenshots")
        for path in SCREENSHOTS:
            terminalreporter.line(path)
