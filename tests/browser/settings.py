"""Settings for the browser test: the test suite's, plus the example project's shop app.

The example project's ``Customer`` admin uses ``call_action()``; the admin's static files are
served by the live server so that the screenshots look like the real admin.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, MIDDLEWARE

EXAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "example_project"
if str(EXAMPLE_PROJECT) not in sys.path:
    sys.path.insert(0, str(EXAMPLE_PROJECT))

INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.staticfiles", "shop"]
LANGUAGE_CODE = "en"
# The language follows the browser's (Playwright's locale): the Vietnamese run asks for vi-VN.
MIDDLEWARE = [
    *MIDDLEWARE[:2],
    "django.middleware.locale.LocaleMiddleware",
    *MIDDLEWARE[2:],
]
