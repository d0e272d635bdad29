"""Serve the fake eSMS voice API on this machine, for demos and local development."""

from __future__ import annotations

import errno
import os
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ...testing.simulator import OUTCOMES, EsmsSimulator, Script, serve_until_interrupted
from ..base import TranslatedCommand

DEFAULT_API_KEY = "test-key"
DEFAULT_SECRET_KEY = "test-secret"  # noqa: S105


class Command(TranslatedCommand):
    """Run django_esms_voice.testing.simulator until Ctrl-C."""

    help = gettext_lazy(
        "Serve a fake eSMS.vn voice API (calls, status, balance, callbacks) for demos and "
        "local development, until Ctrl-C."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the command's options."""
        parser.add_argument("--host", default="127.0.0.1", help=_("Address to bind."))
        parser.add_argument("--port", type=int, default=8765, help=_("Port to bind."))
        parser.add_argument(
            "--api-key",
            help=_(
                "ApiKey to accept (default: ESMS_VOICE['API_KEY'], then the "
                "ESMS_VOICE_API_KEY environment variable, then test-key)."
            ),
        )
        parser.add_argument(
            "--secret-key",
            help=_(
                "SecretKey to accept (default: ESMS_VOICE['SECRET_KEY'], then the "
                "ESMS_VOICE_SECRET_KEY environment variable, then test-secret)."
            ),
        )
        parser.add_argument(
            "--callback-delay",
            type=float,
            default=2.0,
            help=_("Seconds from a call's acceptance to its final callback."),
        )
        parser.add_argument(
            "--outcome",
            choices=sorted(OUTCOMES),
            default="answered",
            help=_("Result of every call."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Start the simulator, print where it listens, and serve until Ctrl-C."""
        sim = EsmsSimulator(
            api_key=options["api_key"] or self._credential("API_KEY", DEFAULT_API_KEY),
            secret_key=options["secret_key"] or self._credential("SECRET_KEY", DEFAULT_SECRET_KEY),
            host=options["host"],
            port=options["port"],
            callback_delay=options["callback_delay"],
        )
        sim.default = Script(outcome=OUTCOMES[options["outcome"]]())
        try:
            sim.start()
        except OSError as exc:
            where = {"host": options["host"], "port": options["port"]}
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(
                    _(
                        "Port %(port)s on %(host)s is already in use: stop the program "
                        "listening there or choose another --port."
                    )
                    % where
                ) from exc
            raise CommandError(
                _("Cannot listen on %(host)s:%(port)s: %(error)s")
                % {**where, "error": exc.strerror or exc}
            ) from exc
        self.stdout.write(
            _("eSMS voice simulator listening on %(host)s:%(port)s. Set:")
            % {"host": sim.host, "port": sim.port}
        )
        self.stdout.write(f'  ESMS_VOICE["BASE_URL"] = "{sim.base_url}"')
        self.stdout.write(f'  ESMS_VOICE["BALANCE_URL"] = "{sim.balance_url}"')
        self.stdout.write(
            _("Callbacks come %(delay)s s after a call is accepted. Ctrl-C stops.")
            % {"delay": f"{sim.callback_delay:g}"}
        )
        self.stdout.flush()  # piped to a log or a test, the banner must not sit in a buffer
        serve_until_interrupted(sim)
        self.stdout.write(str(_("Stopping the simulator.")))

    @staticmethod
    def _credential(name: str, fallback: str) -> str:
        """Return a credential from settings.ESMS_VOICE, then the environment, then fallback."""
        configured = getattr(settings, "ESMS_VOICE", None) or {}
        value = configured.get(name) if isinstance(configured, dict) else None
        return str(value or os.environ.get(f"ESMS_VOICE_{name}") or fallback)
