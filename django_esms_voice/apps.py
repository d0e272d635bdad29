"""The Django app configuration."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EsmsVoiceConfig(AppConfig):
    """Registers the system checks and the log redaction when Django starts."""

    name = "django_esms_voice"
    label = "esms_voice"
    verbose_name = _("eSMS voice calls")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Load the checks and the Celery tasks; mask credentials and tokens in the loggers."""
        from . import (
            checks,  # noqa: F401
            tasks,  # noqa: F401  # registers the tasks services enqueue by name
        )
        from .esms.redaction import install_log_redaction

        # django.setup() applied the host's LOGGING already, and a later dictConfig keeps a
        # logger's filters. Under gunicorn or uvicorn their loggers are these same objects.
        install_log_redaction()
