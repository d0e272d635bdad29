"""manage.py esms_voice_call: place one call from the shell, and optionally wait for its result."""

from __future__ import annotations

import datetime as dt
from time import monotonic, sleep
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ... import options, policies, services
from ...backends import HttpBackend, get_backend
from ...conf import require_credentials
from ...exceptions import EsmsInputError, EsmsSettingsError
from ...models import CallKind, VoiceCall
from ...purposes import Purpose
from ...services.account import ADVICE
from ...states import RESULTS, CallStatus
from ..base import TranslatedCommand


class Command(TranslatedCommand):
    """Create a call, place it (through the workers, or here with --sync), and report it."""

    help = gettext_lazy(
        "Place one voice call through eSMS: a recording (the default) or a text-to-speech "
        "script (--script). Prints the call's id and status; with --wait, follows it until eSMS "
        "reports a result. Exits with status 1 when the call is refused, fails to be sent, or "
        "has no result before --timeout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the phone, the call options (from options.OPTIONS) and how to place it."""
        parser.add_argument("phone", help=_("The Vietnamese phone number to call."))
        parser.add_argument(
            "--script",
            action="store_true",
            help=_("Read a text-to-speech script (MakeCallTemplate_V2) instead of a recording."),
        )
        for option in options.OPTIONS:
            option.add_argument(parser, required=option.name == "template_id")
        parser.add_argument(
            "--purpose",
            choices=Purpose.values,
            help=_(
                "What the call is for (%(choices)s); the DEFAULT_PURPOSE setting when left out. "
                "Advertising calls wait for their calling window."
            )
            % {"choices": ", ".join(Purpose.values)},
        )
        parser.add_argument(
            "--sync",
            action="store_true",
            help=_("Send the call from this process instead of handing it to the Celery workers."),
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help=_("Wait until eSMS reports the call's result, printing each status."),
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=300.0,
            help=_("Seconds to wait with --wait (default %(default)s)."),
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help=_("Seconds between two looks at the call with --wait (default %(default)s)."),
        )

    def handle(self, *args: Any, **given: Any) -> None:
        """Create the call, place or enqueue it, and report; CommandError on every failure."""
        if given["timeout"] <= 0 or given["interval"] <= 0:
            raise CommandError(_("--timeout and --interval must be more than 0 seconds."))
        fields = self._fields(given)
        self._check_configuration()
        try:
            call = services.create_call(enqueue=False, **fields)
        except EsmsInputError as exc:
            raise CommandError(
                _("The call was not created: %(field)s: %(message)s")
                % {"field": exc.field, "message": exc.message}
            ) from None
        self.stdout.write(_("Call %(uuid)s created.") % {"uuid": call.uuid})
        if given["sync"]:
            self._place_here(call)
        elif not services.enqueue_calls([call.pk], urgent=services.is_urgent(call.purpose)):
            self.stderr.write(
                _(
                    "The Celery broker could not be reached: the call stays pending and the "
                    "sweep (esms_voice_sweep) will send it. Use --sync to send it from here."
                )
            )
        call.refresh_from_db()
        self._report(call)
        if given["wait"] and not call.is_final:
            call = self._wait(call, given["timeout"], given["interval"])
        self._finish(call)

    def _fields(self, given: dict[str, Any]) -> dict[str, Any]:
        """Turn the parsed flags into create_call() keywords; services check them."""
        fields: dict[str, Any] = {
            "phone": given["phone"],
            "kind": CallKind.TEMPLATE if given["script"] else CallKind.RECORD,
        }
        for option in options.OPTIONS:
            value = given.get(option.name)
            # --no-secret is an answer (False), not a flag left out (None: the purpose's).
            if option.flag is not None and (option.is_set(value) or value is False):
                fields[option.name] = given[option.name]
        if given.get("purpose"):
            fields["purpose"] = given["purpose"]
        if "send_at" in fields:
            fields["send_at"] = self._parse_time(fields["send_at"])
        return fields

    @staticmethod
    def _parse_time(text: str) -> dt.datetime:
        """Read --at; a time without an offset is in the site's TIME_ZONE."""
        try:
            value = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise CommandError(
                _("--at must be an ISO 8601 date and time like 2025-03-01T09:30, got %(value)r.")
                % {"value": text}
            ) from None
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value

    @staticmethod
    def _check_configuration() -> None:
        """Refuse before creating anything when the HTTP backend has no credentials."""
        try:
            if isinstance(get_backend(), HttpBackend):
                require_credentials()
        except EsmsSettingsError as exc:
            raise CommandError(str(exc)) from None

    def _place_here(self, call: VoiceCall) -> None:
        """Send the call from this process; a transport failure leaves it to the sweep."""
        try:
            result = services.place_call(call.pk)
        except EsmsSettingsError as exc:
            raise CommandError(str(exc)) from None
        if result.retry_in is None and result.status in (CallStatus.PENDING, None):
            self._paused(call)
        if result.retry_in is not None:
            call.refresh_from_db()
            raise CommandError(
                _(
                    "eSMS could not be reached (%(error)s). Call %(uuid)s stays pending; the "
                    "sweep (esms_voice_sweep) will send it again."
                )
                % {"error": call.last_error_message, "uuid": call.uuid}
            )

    @staticmethod
    def _paused(call: VoiceCall) -> None:
        """Exit 1 when the account is paused: the call stays pending until placement resumes."""
        pause = policies.open_pause()
        if pause is None:
            return
        raise CommandError(
            _(
                "Placement is paused for the whole eSMS account (code %(code)s: %(message)s). "
                "Call %(uuid)s stays pending and is sent once placement resumes. %(advice)s"
            )
            % {
                "code": pause.code,
                "message": pause.message,
                "uuid": call.uuid,
                "advice": ADVICE.get(pause.code, ""),
            }
        )

    def _report(self, call: VoiceCall) -> None:
        """Print the call's status."""
        self.stdout.write(_("Status: %(status)s") % {"status": call.status})

    def _wait(self, call: VoiceCall, timeout: float, interval: float) -> VoiceCall:
        """Reload the call until it is final or the time is up, printing each new status."""
        started = monotonic()
        seen = call.status
        while not call.is_final:
            elapsed = monotonic() - started
            if elapsed >= timeout:
                raise CommandError(
                    _(
                        "No result after %(seconds)d s; the call is still %(status)s. It goes on: "
                        "look it up later by its id, %(uuid)s."
                    )
                    % {"seconds": timeout, "status": call.status, "uuid": call.uuid}
                )
            sleep(min(interval, max(timeout - elapsed, 0.01)))
            call.refresh_from_db()
            if call.status != seen:
                seen = call.status
                self.stdout.write(
                    _("[%(seconds)5.1f s] %(status)s")
                    % {"seconds": monotonic() - started, "status": call.status}
                )
        return call

    def _finish(self, call: VoiceCall) -> None:
        """Print the outcome; exit 1 when the call was refused, given up or canceled."""
        if call.status in RESULTS:
            # The labels are outside the f-strings, where xgettext (makemessages) can see them.
            duration, key_pressed, price = _("duration"), _("key pressed"), _("price")
            details = [f"{duration}: {call.duration} s"] if call.duration is not None else []
            if call.ivr_pressed:
                details.append(f"{key_pressed}: {call.ivr_pressed}")
            if call.price is not None:
                details.append(f"{price}: {call.price}")
            line = _("Result: %(status)s") % {"status": call.status}
            self.stdout.write(self.style.SUCCESS(" ".join([line, *details])))
        elif call.status == CallStatus.REJECTED:
            raise CommandError(
                _("eSMS refused call %(uuid)s: %(message)s")
                % {"uuid": call.uuid, "message": call.last_error_message}
            )
        elif call.status == CallStatus.ERROR:
            raise CommandError(
                _("Call %(uuid)s could not be sent: %(message)s")
                % {"uuid": call.uuid, "message": call.last_error_message}
            )
        elif call.status == CallStatus.CANCELED:
            raise CommandError(_("Call %(uuid)s was canceled.") % {"uuid": call.uuid})
        elif call.status == CallStatus.UNKNOWN:
            raise CommandError(
                _("eSMS accepted call %(uuid)s (it is charged) but sent no result for it.")
                % {"uuid": call.uuid}
            )
