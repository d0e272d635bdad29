"""The admin pages' tags: the account pause banner every page of the app shows."""

from __future__ import annotations

from typing import Any

from django import template

from ..admin.banner import account_banner

register = template.Library()


@register.inclusion_tag("esms_voice/admin/_account_pause.html", takes_context=True)
def esms_voice_account_pause(context: template.Context) -> dict[str, Any]:
    """Show the account pause banner, if placement is paused (one query per page)."""
    request = context.get("request")
    return {"banner": account_banner(request) if request is not None else None, "request": request}
