"""Settings for the example project: a shop that calls its customers through eSMS.

Out of the box it runs for a demo: DEBUG on, SQLite in example_project/db.sqlite3, and eSMS
replaced by the simulator on 127.0.0.1:8765. For production-like use set DJANGO_DEBUG=0,
DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, ESMS_VOICE_API_KEY, ESMS_VOICE_SECRET_KEY,
ESMS_VOICE_BASE_URL, ESMS_VOICE_CALLBACK_BASE_URL, and DJANGO_DB=postgres with the
PGHOST/PGPORT/PGDATABASE/PGUSER/PGPASSWORD variables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool) -> bool:
    """Read a yes/no environment variable."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


DEBUG = env_flag("DJANGO_DEBUG", default=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY when DJANGO_DEBUG is off.")
    SECRET_KEY = "django-insecure-example-project-demo-only"

ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_esms_voice",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

DATABASES: dict[str, dict[str, Any]]
_DB = os.environ.get("DJANGO_DB", "sqlite").strip().lower() or "sqlite"
if _DB == "sqlite":
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
    }
elif _DB in ("postgres", "postgresql"):
    # Empty values fall back to libpq's own defaults (the local socket, the OS user).
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "esms_voice_example"),
            "USER": os.environ.get("PGUSER", ""),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "HOST": os.environ.get("PGHOST", ""),
            "PORT": os.environ.get("PGPORT", ""),
            "CONN_MAX_AGE": 60,
        }
    }
else:
    raise ImproperlyConfigured(f"DJANGO_DB must be 'sqlite' or 'postgres', not {_DB!r}.")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "vi"
LANGUAGES = [("en", _("English")), ("vi", _("Vietnamese"))]
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "static"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# eSMS: the simulator (`manage.py esms_voice_simulator --port 8765`) stands in for eSMS by
# default; point ESMS_VOICE_BASE_URL at https://voiceapi.esms.vn/MainService.svc/json/ (and
# the balance URL at https://rest.esms.vn/MainService.svc/json/) to call for real.
_ESMS_BASE_URL = os.environ.get(
    "ESMS_VOICE_BASE_URL", "http://127.0.0.1:8765/MainService.svc/json/"
)
ESMS_VOICE: dict[str, Any] = {
    "BASE_URL": _ESMS_BASE_URL,
    "BALANCE_URL": os.environ.get("ESMS_VOICE_BALANCE_URL", _ESMS_BASE_URL),
    "CALLBACK_BASE_URL": os.environ.get("ESMS_VOICE_CALLBACK_BASE_URL", "http://127.0.0.1:8000"),
}
# Credentials come from the environment; the demo values exist only with DEBUG on, so a
# production-like run without them fails the app's system checks, naming the missing setting.
for _key, _demo in (("API_KEY", "demo-key"), ("SECRET_KEY", "demo-secret")):
    _value = os.environ.get(f"ESMS_VOICE_{_key}") or (_demo if DEBUG else None)
    if _value:
        ESMS_VOICE[_key] = _value
