"""The callback token is an HMAC of the call's uuid: its salt, its key rotation, its URLconf.

Every URL sent with a call carries its token: a change of salt or algorithm would refuse the
callbacks of every call already placed, so the token of a fixed uuid and key is written out.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core import signing
from django.urls import URLPattern

from django_esms_voice.exceptions import EsmsSettingsError
from django_esms_voice.signing import callback_path, callback_token, is_valid_token

# This module is also the URLconf of the last test: a site that forgot the app's URLs.
urlpatterns: list[URLPattern] = []

CALL = uuid.UUID("066107ee-6ec4-4283-b595-aa74977c65c5")
KEY = "vector-secret-key-0123456789-abcdefghijklmnop"
# HMAC-SHA256 keyed on sha256("django_esms_voice.callback" "signer" KEY), URL-safe base64.
VECTOR = "S98vE9hj1Nv_xFR46AcP0MCoxIlEN3T7LaOeIoIu8ZU"


def test_the_token_of_a_known_uuid_and_key(settings: Any) -> None:
    settings.SECRET_KEY = KEY
    assert callback_token(CALL) == VECTOR
    assert callback_token(str(CALL)) == VECTOR
    assert is_valid_token(CALL, VECTOR)


@pytest.mark.parametrize("salt", ["", "django_esms_voice", "django_esms_voice.callbacks"])
def test_a_token_signed_with_another_salt_is_refused(settings: Any, salt: str) -> None:
    settings.SECRET_KEY = KEY
    other = signing.Signer(salt=salt).sign(str(CALL)).rsplit(":", 1)[1]
    assert other != VECTOR
    assert not is_valid_token(CALL, other)


def test_a_token_of_another_call_is_refused(settings: Any) -> None:
    settings.SECRET_KEY = KEY
    assert not is_valid_token(uuid.UUID(int=CALL.int + 1), VECTOR)


def test_a_token_made_under_a_rotated_key_is_still_accepted(settings: Any) -> None:
    settings.SECRET_KEY = "the-new-secret-key-after-a-rotation-0123456789"
    settings.SECRET_KEY_FALLBACKS = []
    assert not is_valid_token(CALL, VECTOR)  # the old key is gone: refused
    settings.SECRET_KEY_FALLBACKS = [KEY]
    assert is_valid_token(CALL, VECTOR)  # the old key kept as a fallback: accepted
    assert callback_token(CALL) != VECTOR  # new URLs are signed with the new key


@pytest.mark.urls(__name__)
def test_a_urlconf_without_the_app_urls_is_a_settings_error() -> None:
    with pytest.raises(EsmsSettingsError) as caught:
        callback_path(CALL)
    assert str(caught.value) == (
        "The eSMS callback URL cannot be built: include django_esms_voice.urls in your "
        "ROOT_URLCONF, e.g. path('esms-voice/', include('django_esms_voice.urls'))."
    )
    assert caught.value.__cause__ is None
