"""manage.py esms_voice_sweep: re-enqueue forgotten calls, recover stuck ones, poll silent ones."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ... import services
from ...exceptions import EsmsVoiceError
from ..base import TranslatedCommand


class Command(TranslatedCommand):
    """Run the sweep once, or until nothing is left to do with --until-done."""

    help = gettext_lazy(
        "Re-enqueue voice calls left pending (the broker was down), recover calls stuck in "
        "'submitting' (a worker died), and ask eSMS for calls with no result yet. Safe to run "
        "beside the workers and beside another sweep."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare --batch-size and --until-done."""
        parser.add_argument(
            "--batch-size",
            type=int,
            default=services.SWEEP_BATCH_SIZE,
            help=_("Calls handled per pass and per kind (default %(default)s)."),
        )
        parser.add_argument(
            "--until-done",
            action="store_true",
            help=_("Repeat passes until one finds nothing to do (for a large backlog)."),
        )

    def handle(self, *args: Any, batch_size: int, until_done: bool, **options: Any) -> None:
        """Run the passes and print a line per pass."""
        if batch_size < 1:
            raise CommandError(_("--batch-size must be at least 1."))
        passes = 0
        while True:
            passes += 1
            try:
                report = services.sweep(batch_size=batch_size)
            except EsmsVoiceError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(_("Pass %(n)d: %(report)s") % {"n": passes, "report": report})
            if not until_done or not report.more_left(batch_size):
                break
        self.stdout.write(self.style.SUCCESS(_("Sweep finished.")))
