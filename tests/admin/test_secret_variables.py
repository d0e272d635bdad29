"""Secret script values in the admin: chosen on the add form, never shown on a call's page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from django_esms_voice import services
from django_esms_voice.models import VoiceCall
from tests.admin.helpers import CALL_MANY, CHANGELIST, PHONE, many_data
from tests.admin.test_forms import add_data, place

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]

OTP = "483920"


def otp_data(**fields: str) -> dict[str, str]:
    """The add form filled in for a script call reading a one-time password."""
    return add_data(kind="template", template_id="otp-1", variables=f"{OTP}\n5", **fields)


@pytest.mark.parametrize(
    ("purpose", "answer", "secret"),
    [
        ("transactional", "", True),  # as the purpose says
        ("customer_care", "", False),
        ("customer_care", "yes", True),
        ("transactional", "no", False),
    ],
)
def test_the_add_form_asks_whether_the_values_are_secret(
    op: Client, purpose: str, answer: str, secret: bool
) -> None:
    place(op, otp_data(purpose=purpose, secret_variables=answer))
    call = VoiceCall.objects.get()
    assert (call.secret_variables, call.variables) == (secret, [OTP, "5"])


@pytest.mark.parametrize(("language", "hidden"), [("en", "hidden (secret values)"),
                                                   ("vi", "đã ẩn (giá trị bí mật)")])  # fmt: skip
def test_a_secret_calls_page_and_list_never_show_its_values(
    op: Client, language: str, hidden: str
) -> None:
    call = services.create_call(
        phone=PHONE, kind="template", template_id="otp-1", variables=[OTP, "5"],
        purpose="transactional", enqueue=False,
    )  # fmt: skip
    with translation.override(language):
        page = op.get(
            reverse("admin:esms_voice_voicecall_change", args=[call.pk]),
            HTTP_ACCEPT_LANGUAGE=language,
        ).content.decode()
        listed = op.get(CHANGELIST, {"q": PHONE}, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert hidden in page
    assert OTP not in page
    assert OTP not in listed


def test_a_plain_script_calls_page_shows_its_values(op: Client) -> None:
    call = services.create_call(
        phone=PHONE, kind="template", template_id="s-1", variables=["Lan", "150.000"],
        purpose="customer_care", enqueue=False,
    )  # fmt: skip
    page = op.get(reverse("admin:esms_voice_voicecall_change", args=[call.pk])).content.decode()
    assert "Lan | 150.000" in page


@pytest.mark.parametrize(("purpose", "shown"), [("transactional", False), ("customer_care", True)])
def test_the_call_many_preview_hides_secret_values(op: Client, purpose: str, shown: bool) -> None:
    data = many_data(numbers=f"{PHONE}, {OTP}", kind="template", purpose=purpose)
    page = op.post(reverse(CALL_MANY), data).content.decode()
    assert (OTP in page) is shown
    assert ("hidden (secret values)" in page) is not shown
