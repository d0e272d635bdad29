"""Django settings for the throughput benchmark (bench/place_calls.py sets the environment).

PostgreSQL database ``esms_voice_bench`` (created, migrated and dropped by the script), a
Redis broker on its own db number, the simulator as the eSMS endpoint, and no
CALLBACK_BASE_URL: calls go out without a CallbackUrl, so the benchmark measures placing
calls only (callbacks are another path, with their own cost).
"""

from __future__ import annotations

import os
from typing import Any

SECRET_KEY = "bench-only-secret-key"  # noqa: S105
DEBUG = False  # DEBUG=True would keep every query in memory
USE_TZ = True
TIME_ZONE = "Asia/Ho_Chi_Minh"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_esms_voice",
]

BENCH_DB_NAME = os.environ.get("BENCH_DB_NAME", "esms_voice_bench")
_pool_max = int(os.environ.get("BENCH_POOL_MAX", "8"))
_options: dict[str, Any] = {
    # Tells the driver's, the workers' and the sampler's connections apart in pg_stat_activity.
    "application_name": os.environ.get("BENCH_APP_NAME", "esms-bench"),
}
if _pool_max > 0:
    # Django 5.1+: psycopg_pool. connection.close() (which the app calls around every HTTP
    # wait) gives the connection back to the pool instead of closing it.
    _options["pool"] = {
        "min_size": min(2, _pool_max),
        "max_size": _pool_max,
        "timeout": 30,
    }

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": BENCH_DB_NAME,
        "HOST": os.environ.get("BENCH_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BENCH_DB_PORT", "5432"),
        "USER": os.environ.get("BENCH_DB_USER", "postgres"),
        "CONN_MAX_AGE": 0,  # required with a pool
        "OPTIONS": _options,
    }
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
_rate_limit = os.environ.get("BENCH_RATE_LIMIT")
if _rate_limit:
    # The global rate limit needs a cache every worker shares.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["BENCH_CACHE_URL"],
        }
    }

ESMS_VOICE = {
    # bench/account_pause.py starts workers with a wrong key, then with the right one.
    "API_KEY": os.environ.get("BENCH_API_KEY", "bench-key"),
    "SECRET_KEY": "bench-secret",
    "BASE_URL": os.environ.get("BENCH_SIM_URL", "http://127.0.0.1:8765/MainService.svc/json/"),
    "BALANCE_URL": os.environ.get("BENCH_SIM_URL", "http://127.0.0.1:8765/MainService.svc/json/"),
    "CALLBACK_BASE_URL": None,
    "TIMEOUT": (5.0, 30.0),
    "RATE_LIMIT": float(_rate_limit) if _rate_limit else None,
}
SILENCED_SYSTEM_CHECKS = ["esms_voice.W001"]  # no CALLBACK_BASE_URL, on purpose

CELERY_BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = int(os.environ.get("BENCH_PREFETCH", "4"))
CELERY_WORKER_DISABLE_RATE_LIMITS = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_POOL_LIMIT = int(os.environ.get("BENCH_BROKER_POOL_LIMIT", "10"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
