"""A host model with a phone number, as a real project would have."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Customer(models.Model):
    """Someone the shop may call: to confirm an order, or to remind them of a payment."""

    name = models.CharField(_("name"), max_length=200)
    phone = models.CharField(_("phone"), max_length=32)
    amount = models.DecimalField(
        _("amount"), max_digits=14, decimal_places=0, default=0, help_text=_("In đồng (VND).")
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["-created", "-pk"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        return f"{self.name} ({self.phone})"
