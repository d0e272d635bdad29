"""A base for the app's management commands, whose help texts are translated."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.functional import Promise


class TranslatedCommand(BaseCommand):
    """A command whose `help` may be a lazy translation."""

    help: str | Promise = ""  # type: ignore[assignment]

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        """Build the parser with the help as the plain string argparse needs."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.description = str(self.help)
        return parser
