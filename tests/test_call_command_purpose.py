"""esms_voice_call --purpose: the call is made for it, and its rules apply."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from django_esms_voice import testing
from django_esms_voice.models import VoiceCall
from tests.test_commands import LOCMEM


@pytest.fixture(autouse=True)
def _locmem(settings: Any) -> None:
    """The locmem backend; advertising at any hour (this is about the purpose, not the hour)."""
    settings.ESMS_VOICE = {**LOCMEM, "CALLING_WINDOWS": {"advertising": None}}
    testing.reset_outbox()


def call(*args: str) -> str:
    """Run esms_voice_call --sync with these arguments; return its output."""
    out = StringIO()
    call_command("esms_voice_call", *args, "--sync", stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_purpose_is_given_to_the_call_and_its_cap_applies() -> None:
    call("0901888484", "--template-id", "rec-1", "--purpose", "advertising")
    assert VoiceCall.objects.get().purpose == "advertising"

    with pytest.raises(CommandError, match="its 1 call"):
        call("0901888484", "--template-id", "rec-1", "--purpose", "advertising")
    call("0901888484", "--template-id", "rec-1", "--purpose", "transactional")
    assert sorted(VoiceCall.objects.values_list("purpose", flat=True)) == [
        "advertising",
        "transactional",
    ]


@pytest.mark.django_db
def test_without_purpose_the_call_has_the_default_one() -> None:
    call("0901888484", "--template-id", "rec-1")
    assert VoiceCall.objects.get().purpose == "customer_care"


def test_an_unknown_purpose_is_refused_naming_the_choices() -> None:
    with pytest.raises(CommandError, match=r"invalid choice: 'spam'.*advertising"):
        call("0901888484", "--template-id", "rec-1", "--purpose", "spam")
