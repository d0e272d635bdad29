"""Django settings for the test suite: PostgreSQL when it answers, SQLite otherwise."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432


def _postgres_answers(timeout: float = 0.5) -> bool:
    """Say whether something accepts TCP connections on the PostgreSQL port."""
    try:
        with socket.create_connection((POSTGRES_HOST, POSTGRES_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def select_database(choice: str | None, postgres_answers: bool) -> str:
    """Pick "postgres" or "sqlite" from ESMS_VOICE_TEST_DB, probing the server when unset."""
    if choice:
        return "postgres" if choice.strip().lower() in ("postgres", "postgresql") else "sqlite"
    return "postgres" if postgres_answers else "sqlite"


_TEST_DB = os.environ.get("ESMS_VOICE_TEST_DB")
TEST_DATABASE = select_database(_TEST_DB, postgres_answers=bool(_TEST_DB) or _postgres_answers())

DATABASES: dict[str, dict[str, Any]]
if TEST_DATABASE == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "test",
            "HOST": POSTGRES_HOST,
            "PORT": str(POSTGRES_PORT),
            "USER": "postgres",
            # Parallel runs on one server (tox envs, several checkouts) need their own name.
            "TEST": {"NAME": os.environ.get("ESMS_VOICE_TEST_DB_NAME", "test_esms_voice")},
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

SECRET_KEY = "tests-only-secret-key-not-for-production"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "django_esms_voice",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tests.urls"

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

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("vi", "Vietnamese")]

STATIC_URL = "static/"

# Fast hashing: the suite creates users, it does not test password storage.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

ESMS_VOICE = {
    "API_KEY": "test-key",
    "SECRET_KEY": "test-secret",
    "CALLBACK_BASE_URL": "https://voice.example.test",
}

CELERY_BROKER_URL = os.environ.get("ESMS_VOICE_TEST_BROKER", "redis://127.0.0.1:6379/15")

# ----------------------------------------------------------------------------- worker processes
# Celery workers started by tests/integration (``celery -A tests.celery_app worker``) must use
# the database pytest-django created and the simulator the test started. Only those workers set
# these variables; the test process itself is configured by the tests.
if os.environ.get("ESMS_VOICE_WORKER_USE_TEST_DB") == "1":
    if TEST_DATABASE == "postgres":
        DATABASES["default"]["NAME"] = DATABASES["default"]["TEST"]["NAME"]
        if os.environ.get("ESMS_VOICE_TEST_DB_POOL"):  # the pool's max size; needs psycopg[pool]
            DATABASES["default"]["OPTIONS"] = {
                "pool": {"min_size": 1, "max_size": int(os.environ["ESMS_VOICE_TEST_DB_POOL"])}
            }
    # No AMQP heartbeat timer on loopback: with one, a warm shutdown waits up to 10 s for the
    # worker's event loop to wake up.
    CELERY_BROKER_HEARTBEAT = 0
    if os.environ.get("ESMS_VOICE_TEST_BASE_URL"):
        ESMS_VOICE["BASE_URL"] = os.environ["ESMS_VOICE_TEST_BASE_URL"]
        ESMS_VOICE["BALANCE_URL"] = os.environ["ESMS_VOICE_TEST_BASE_URL"]
    if os.environ.get("ESMS_VOICE_TEST_OVERRIDES"):  # a JSON object merged into ESMS_VOICE
        import json

        ESMS_VOICE.update(json.loads(os.environ["ESMS_VOICE_TEST_OVERRIDES"]))
    if os.environ.get("ESMS_VOICE_TEST_QUEUE"):
        CELERY_TASK_DEFAULT_QUEUE = os.environ["ESMS_VOICE_TEST_QUEUE"]
