"""manage.py esms_voice_reprocess: judge failed callback events again, from their stored raw."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ... import services
from ...models import CallbackEvent
from ...services.reprocessing import Entry
from ..base import TranslatedCommand


class Command(TranslatedCommand):
    """Select events by --failed, --since and --id, and reprocess them (or list them)."""

    help = gettext_lazy(
        "Reprocess callback events stored with outcome 'error' or 'invalid': each is read "
        "again from its stored raw delivery and applied as a new delivery would be, and the "
        "result is recorded on the event itself. An event already processed is left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare --failed, --since, --id and --dry-run."""
        parser.add_argument(
            "--failed",
            action="store_true",
            help=_("Select the events stored with outcome 'error' or 'invalid'."),
        )
        parser.add_argument(
            "--since",
            help=_("Only events received from this date (YYYY-MM-DD) or ISO 8601 date and time."),
        )
        parser.add_argument(
            "--id",
            dest="ids",
            type=int,
            nargs="+",
            metavar="N",
            help=_("Only these events (their ids)."),
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Say which events would be reprocessed, and change nothing."),
        )

    def handle(
        self,
        *args: Any,
        failed: bool,
        since: str | None,
        ids: list[int] | None,
        dry_run: bool,
        **options: Any,
    ) -> None:
        """Reprocess the selected events, a line for each, then a summary."""
        if not failed and not ids:
            raise CommandError(_("Say which events to reprocess: --failed, --id N, or both."))
        events = _selected(failed=failed, since=_since(since) if since else None, ids=ids)
        verbose = options.get("verbosity", 1) >= 1

        def progress(entry: Entry) -> None:
            if verbose:
                self.stdout.write(str(entry))

        report = services.reprocess_events(events, dry_run=dry_run, progress=progress)
        if not report.entries:
            empty = _("No failed events to reprocess.") if failed else _("No such events.")
            self.stdout.write(empty)
            return
        style = self.style.SUCCESS if report.succeeded else self.style.WARNING
        self.stdout.write(style(str(report)))


def _since(value: str) -> dt.datetime:
    """Read --since: a date (its midnight, in the current time zone) or an ISO date and time."""
    try:
        moment = parse_datetime(value)
        day = None if moment else parse_date(value)
    except ValueError:  # well formed but impossible, e.g. 2026-02-30
        moment = day = None
    if day is not None:
        moment = dt.datetime.combine(day, dt.time())
    if moment is None:
        raise CommandError(
            _("--since must be a date (YYYY-MM-DD) or an ISO 8601 date and time, not %(value)r.")
            % {"value": value}
        )
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _selected(
    *, failed: bool, since: dt.datetime | None, ids: list[int] | None
) -> models.QuerySet[CallbackEvent]:
    """The events every given filter selects."""
    events = services.failed_events() if failed else CallbackEvent.objects.all()
    if since is not None:
        events = events.filter(received_at__gte=since)
    if ids:
        events = events.filter(pk__in=ids)
    return events
