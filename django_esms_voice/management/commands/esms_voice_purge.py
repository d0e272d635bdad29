"""manage.py esms_voice_purge: empty old callback events, anonymise old finished calls."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ... import services
from ...services.retention import EVENTS, retention_enabled
from ..base import TranslatedCommand


class Command(TranslatedCommand):
    """Apply ESMS_VOICE['EVENT_RAW_RETENTION'] and ['CALL_ANONYMISE_AFTER'] once, in chunks."""

    help = gettext_lazy(
        "Empty the raw text and sender address of callback events older than "
        "EVENT_RAW_RETENTION, and anonymise calls that ended more than CALL_ANONYMISE_AFTER "
        "ago (phone number masked to its last 3 digits, variables and metadata emptied). "
        "Works in short chunks: safe to run while callbacks arrive."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare --dry-run and --chunk-size."""
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Count what would be purged, change nothing."),
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=services.PURGE_CHUNK_SIZE,
            help=_("Rows changed per transaction (default %(default)s)."),
        )

    def handle(self, *args: Any, dry_run: bool, chunk_size: int, **options: Any) -> None:
        """Purge, printing a line per chunk and a summary."""
        if chunk_size < 1:
            raise CommandError(_("--chunk-size must be at least 1."))
        if not retention_enabled():
            self.stdout.write(
                _(
                    "Nothing to purge: neither ESMS_VOICE['EVENT_RAW_RETENTION'] nor "
                    "ESMS_VOICE['CALL_ANONYMISE_AFTER'] is set, everything is kept."
                )
            )
            return
        report = services.purge(dry_run=dry_run, chunk_size=chunk_size, progress=self._progress)
        self.stdout.write(self.style.SUCCESS(_("Purge finished: %(report)s.") % {"report": report}))

    def _progress(self, kind: str, rows: int, done: int) -> None:
        """Print one chunk: how many rows it changed and how many so far."""
        line = (
            _("%(rows)d callback events emptied (%(done)d so far)")
            if kind == EVENTS
            else _("%(rows)d calls anonymised (%(done)d so far)")
        )
        self.stdout.write(line % {"rows": rows, "done": done})
