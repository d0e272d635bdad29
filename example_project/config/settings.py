"""Settings for the example project: a shop that calls its customers through eSMS.

Out of the box it runs the demo (`make demo`): DEBUG on, SQLite in example_project/db.sqlite3,
an embedded Celery broker in example_project/.broker/ (kombu's filesystem transport: no Redis),
and eSMS replaced by the simulator on 127.0.0.1:8765. Every production-like value comes from the
environment:

- Django: DJANGO_DEBUG=0, DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS (comma-separated).
- Database: DJANGO_DB=postgres with PGHOST/PGPORT/PGDATABASE/PGUSER/PGPASSWORD, and
  DJANGO_DB_POOL_SIZE to use psycopg's connection pool (needs `psycopg[pool]`);
  DJANGO_SQLITE_PATH moves the SQLite file.
- Celery: CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0 or amqp://user:pass@host//);
  EXAMPLE_BROKER_DIR moves the embedded broker's folder.
- Cache: REDIS_CACHE_URL (e.g. redis://127.0.0.1:6379/1), needed for ESMS_VOICE_RATE_LIMIT
  to hold across workers (needs the `redis` package).
- eSMS: ESMS_VOICE_API_KEY, ESMS_VOICE_SECRET_KEY, ESMS_VOICE_BASE_URL,
  ESMS_VOICE_BALANCE_URL, ESMS_VOICE_CALLBACK_BASE_URL, ESMS_VOICE_RATE_LIMIT.
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
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("DJANGO_SQLITE_PATH") or BASE_DIR / "db.sqlite3",
            # The demo writes from the worker's threads and the dev server at once: wait for
            # the lock (up to 20 s) instead of failing, take it when a transaction begins
            # (a deferred read-then-write transaction cannot wait for it), and let readers
            # run beside the writer (WAL).
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            },
        }
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
    _POOL_SIZE = os.environ.get("DJANGO_DB_POOL_SIZE", "").strip()
    if _POOL_SIZE:
        # A Celery worker with --pool threads runs many tasks at once; the app closes (gives
        # back) its connection while it waits for eSMS, so a pool a little larger than the
        # worker's concurrency is plenty. A pool and CONN_MAX_AGE exclude each other.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["OPTIONS"] = {
            "pool": {"min_size": 2, "max_size": int(_POOL_SIZE), "timeout": 10}
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

# ----------------------------------------------------------------------------- eSMS
# With DEBUG on, eSMS is the simulator on 127.0.0.1:8765 (which `make demo` starts) unless
# ESMS_VOICE_BASE_URL says otherwise; with DEBUG off, the app's defaults (the real eSMS hosts)
# apply unless the environment names other ones.
_SIMULATOR_URL = "http://127.0.0.1:8765/MainService.svc/json/"
_ESMS_BASE_URL = os.environ.get("ESMS_VOICE_BASE_URL") or (_SIMULATOR_URL if DEBUG else "")
_ESMS_BALANCE_URL = os.environ.get("ESMS_VOICE_BALANCE_URL") or (_SIMULATOR_URL if DEBUG else "")
_CALLBACK_BASE_URL = os.environ.get("ESMS_VOICE_CALLBACK_BASE_URL") or (
    "http://127.0.0.1:8000" if DEBUG else ""
)
ESMS_VOICE: dict[str, Any] = {}
if _ESMS_BASE_URL:
    ESMS_VOICE["BASE_URL"] = _ESMS_BASE_URL
if _ESMS_BALANCE_URL:
    ESMS_VOICE["BALANCE_URL"] = _ESMS_BALANCE_URL
if _CALLBACK_BASE_URL:
    # The public https address of this site in production: eSMS sends each result there.
    ESMS_VOICE["CALLBACK_BASE_URL"] = _CALLBACK_BASE_URL
if os.environ.get("ESMS_VOICE_RATE_LIMIT"):
    ESMS_VOICE["RATE_LIMIT"] = float(os.environ["ESMS_VOICE_RATE_LIMIT"])
# Credentials come from the environment; the demo values exist only with DEBUG on, so a
# production-like run without them warns in `check` and fails `check --deploy`, naming the setting.
for _key, _demo in (("API_KEY", "demo-key"), ("SECRET_KEY", "demo-secret")):
    _value = os.environ.get(f"ESMS_VOICE_{_key}") or (_demo if DEBUG else None)
    if _value:
        ESMS_VOICE[_key] = _value

# ----------------------------------------------------------------------------- cache
# ESMS_VOICE['RATE_LIMIT'] counts calls in the default cache: it must be shared by every
# worker process (Redis, Memcached) for the limit to hold overall.
if os.environ.get("REDIS_CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_CACHE_URL"],
        }
    }

# ----------------------------------------------------------------------------- Celery
# config/celery.py reads every CELERY_* setting below. The default broker is embedded: kombu's
# filesystem transport keeps each message as a file in EXAMPLE_BROKER_DIR, so the demo needs
# no Redis. It suits one machine and a few calls a second; in production set
# CELERY_BROKER_URL to Redis or RabbitMQ.
BROKER_DIR = Path(os.environ.get("EXAMPLE_BROKER_DIR") or BASE_DIR / ".broker")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://localhost/"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _QUEUE_DIR = BROKER_DIR / "queue"
    _QUEUE_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder both ways: every process publishes into it and the worker reads from it.
        "data_folder_in": str(_QUEUE_DIR),
        "data_folder_out": str(_QUEUE_DIR),
        "control_folder": str(BROKER_DIR / "control"),
        "polling_interval": 0.5,  # seconds between two looks at the folder
    }
    # Remote control (celery inspect/control) broadcasts to every worker's own queue; on a
    # folder, the queues of workers long gone would fill up with those messages.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
# The app's tasks return nothing anyone waits for: the call rows are the results.
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Plain beat keeps its last run times in this file; config/celery.py adds the app's sweep to
# the schedule (django_esms_voice.schedule.beat_schedule()).
CELERY_BEAT_SCHEDULE_FILENAME = str(BROKER_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = TIME_ZONE

# ----------------------------------------------------------------------------- logging
# Each call's callback URL is its credential (it carries an HMAC token), and the development
# server logs every request line: mask the token before the line is written.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "callback_tokens": {"()": "django_esms_voice.esms.redaction.RedactSecretsFilter"},
    },
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "django.server": {
            "level": "INFO",
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["callback_tokens"],
        },
    },
    "loggers": {
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}
