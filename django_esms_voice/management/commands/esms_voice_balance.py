"""manage.py esms_voice_balance: print the eSMS account balance."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ...backends import get_backend
from ...exceptions import EsmsApiError, EsmsSettingsError, EsmsTransportError
from ..base import TranslatedCommand


class Command(TranslatedCommand):
    """Ask eSMS for the balance (GetBalance_json) and print it."""

    help = gettext_lazy(
        "Print the eSMS account balance. Exits with status 1 when eSMS refuses the keys or "
        "cannot be reached."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        """Print the balance, or fail with what went wrong (never with the credentials)."""
        try:
            balance = get_backend().get_balance()
        except EsmsSettingsError as exc:
            raise CommandError(str(exc)) from None
        except EsmsApiError as exc:
            raise CommandError(
                _("eSMS refused the balance request: code %(code)s, %(description)s")
                % {"code": exc.code, "description": exc.description or exc.provider_message}
            ) from None
        except EsmsTransportError as exc:
            raise CommandError(_("eSMS could not be reached: %(error)s") % {"error": exc}) from None
        amount = f"{balance.balance:,}"
        if balance.user_id:
            self.stdout.write(
                _("Balance: %(amount)s (eSMS account %(user)s)")
                % {"amount": amount, "user": balance.user_id}
            )
        else:
            self.stdout.write(_("Balance: %(amount)s") % {"amount": amount})
