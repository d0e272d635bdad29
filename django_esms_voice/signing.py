"""The per-call callback URL: eSMS cannot sign callbacks, so the URL itself is the credential."""

from __future__ import annotations

import uuid

from django.core import signing
from django.urls import NoReverseMatch, reverse

from .conf import voice_settings
from .exceptions import EsmsSettingsError

SALT = "django_esms_voice.callback"
URL_NAME = "esms_voice:callback"


def _signer() -> signing.Signer:
    """Return a signer keyed on SECRET_KEY (SECRET_KEY_FALLBACKS keep old URLs valid)."""
    return signing.Signer(salt=SALT)


def callback_token(call_uuid: uuid.UUID | str) -> str:
    """Return the HMAC token that authenticates callbacks for one call."""
    return _signer().sign(str(call_uuid)).rsplit(":", 1)[1]


def is_valid_token(call_uuid: uuid.UUID | str, token: str) -> bool:
    """Check a token in constant time against SECRET_KEY and its fallbacks."""
    try:
        _signer().unsign(f"{call_uuid}:{token}")
    except signing.BadSignature:
        return False
    return True


def callback_path(call_uuid: uuid.UUID | str) -> str:
    """Return the path of a call's callback URL within this site."""
    try:
        return reverse(
            URL_NAME, kwargs={"call_uuid": call_uuid, "token": callback_token(call_uuid)}
        )
    except NoReverseMatch:
        raise EsmsSettingsError(
            "The eSMS callback URL cannot be built: include django_esms_voice.urls in your "
            "ROOT_URLCONF, e.g. path('esms-voice/', include('django_esms_voice.urls'))."
        ) from None


def callback_url(call_uuid: uuid.UUID | str) -> str | None:
    """Return the full CallbackUrl sent with a call, or None when CALLBACK_BASE_URL is unset."""
    base = voice_settings().callback_base_url
    if not base:
        return None
    return base + callback_path(call_uuid)
