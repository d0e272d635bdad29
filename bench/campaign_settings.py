"""Django settings for bench/campaign_page.py: the admin on its own PostgreSQL database."""

from __future__ import annotations

import os

SECRET_KEY = "bench-only-secret-key"  # noqa: S105
DEBUG = False  # DEBUG=True would keep every query in memory
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
LANGUAGE_CODE = os.environ.get("BENCH_LANGUAGE", "vi")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "bench.campaign_urls"
STATIC_URL = "static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_esms_voice",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_DB_NAME", "bench_campaign"),
        "HOST": os.environ.get("BENCH_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BENCH_DB_PORT", "5432"),
        "USER": os.environ.get("BENCH_DB_USER", "postgres"),
        "OPTIONS": {"application_name": "esms-bench-campaign"},
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
ESMS_VOICE = {
    "API_KEY": "bench-key",
    "SECRET_KEY": "bench-secret",
    # Nothing listens here: a page that asks eSMS for the balance gets a quick refusal.
    "BASE_URL": "http://127.0.0.1:9/MainService.svc/json/",
    "BALANCE_URL": "http://127.0.0.1:9/MainService.svc/json/",
    "CALLBACK_BASE_URL": None,
    "TIMEOUT": (0.5, 0.5),
}
SILENCED_SYSTEM_CHECKS = ["esms_voice.W001"]
CELERY_BROKER_URL = "memory://"
