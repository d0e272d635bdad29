"""Why a call is made: advertising, customer care or transactional (Decree 91/2020/ND-CP)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Purpose(models.TextChoices):
    """What a call or campaign is for; the rules of when and whom to call follow from it."""

    #: Offers and promotions: the anti-spam decree's rules apply.
    ADVERTISING = "advertising", _("Advertising")
    #: Reminders, order confirmations: not advertising.
    CUSTOMER_CARE = "customer_care", _("Customer care")
    #: One-time passwords, security notices: not advertising, and urgent.
    TRANSACTIONAL = "transactional", _("Transactional (OTP, security)")


PURPOSES: tuple[str, ...] = tuple(Purpose.values)
