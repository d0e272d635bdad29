"""The API answers in the request's language, in a host project without LocaleMiddleware too."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.utils import translation
from rest_framework.test import APIClient

from django_esms_voice import services
from django_esms_voice.models import VoiceCall
from django_esms_voice.states import CallStatus
from tests.api.helpers import (
    ACCOUNT,
    CALLS,
    CAMPAIGNS,
    SCHEMA,
    client_for,
    make_user,
    new_call,
)
from tests.settings import MIDDLEWARE

pytestmark = [pytest.mark.urls("tests.api.urls"), pytest.mark.django_db]

SUPPRESSIONS = "/api/esms-voice/suppressions/"
BAD_PHONE = {"phone": "0901abcdef", "template_id": "rec-1"}
BAD_PHONE_VI = "0901abcdef không phải là số điện thoại Việt Nam hợp lệ: số có chứa chữ cái."
BAD_PHONE_EN = "0901abcdef is not a valid Vietnamese phone number: it contains letters."
REFUSED_VI = "Bạn không được cấp quyền để thực hiện hành động này."  # DRF's own catalog
REFUSED_EN = "You do not have permission to perform this action."


def test_a_validation_error_is_in_vietnamese_when_the_request_asks_for_it(placer: User) -> None:
    response = client_for(placer).post(CALLS, BAD_PHONE, format="json", HTTP_ACCEPT_LANGUAGE="vi")
    assert response.status_code == 400
    assert response.json() == {"phone": [BAD_PHONE_VI]}
    assert response["Content-Language"] == "vi"
    assert "Accept-Language" in response["Vary"]  # a cache keeps one answer per language
    assert not VoiceCall.objects.exists()


def test_drfs_own_validation_messages_follow_the_request_too(placer: User) -> None:
    body = {**BAD_PHONE, "phone": ""}
    response = client_for(placer).post(CALLS, body, format="json", HTTP_ACCEPT_LANGUAGE="vi")
    assert response.status_code == 400
    assert response.json() == {"phone": ["Trường này không được bỏ trống."]}


@override_settings(LANGUAGE_CODE="vi")
def test_a_request_asking_for_english_gets_english_from_a_vietnamese_host(placer: User) -> None:
    response = client_for(placer).post(CALLS, BAD_PHONE, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json() == {"phone": [BAD_PHONE_EN]}
    assert response["Content-Language"] == "en"


@pytest.mark.parametrize(
    ("host", "other", "expected"),
    [("en", "vi", BAD_PHONE_EN), ("vi", "en", BAD_PHONE_VI)],
    ids=["english-host", "vietnamese-host"],
)
def test_without_the_header_the_hosts_language_whatever_the_last_request_asked(
    placer: User, host: str, other: str, expected: str
) -> None:
    client = client_for(placer)
    with override_settings(LANGUAGE_CODE=host):
        before = translation.get_language()
        asked = client.post(CALLS, BAD_PHONE, format="json", HTTP_ACCEPT_LANGUAGE=other)
        assert asked["Content-Language"] == other
        assert translation.get_language() == before  # the request's language did not stay
        response = client.post(CALLS, BAD_PHONE, format="json")
    assert response.json() == {"phone": [expected]}
    assert response["Content-Language"] == host


@pytest.mark.parametrize("url", [CALLS, CAMPAIGNS, ACCOUNT, SUPPRESSIONS])
def test_every_endpoint_refuses_in_the_requests_language(url: str) -> None:
    client = client_for(make_user("nobody"))
    assert client.get(url, HTTP_ACCEPT_LANGUAGE="vi").json() == {"detail": REFUSED_VI}
    assert client.get(url, HTTP_ACCEPT_LANGUAGE="en").json() == {"detail": REFUSED_EN}


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", f"{CALLS}{uuid.UUID(int=1)}/"),
        ("post", f"{CALLS}{uuid.UUID(int=1)}/cancel/"),
        ("get", f"{CAMPAIGNS}999/"),
        ("delete", f"{SUPPRESSIONS}0912345678/"),
    ],
)
def test_a_404_is_in_the_requests_language_and_names_no_class(
    admin: APIClient, method: str, url: str
) -> None:
    send = getattr(admin, method)
    missing = send(url, HTTP_ACCEPT_LANGUAGE="vi")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Không tìm thấy."})
    missing = send(url, HTTP_ACCEPT_LANGUAGE="en")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})


def test_the_apps_own_refusals_are_in_vietnamese(admin: APIClient) -> None:
    call = new_call()
    VoiceCall.objects.filter(pk=call.pk).update(status=CallStatus.ACCEPTED)
    refused = admin.post(f"{CALLS}{call.uuid}/cancel/", HTTP_ACCEPT_LANGUAGE="vi")
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "Chỉ có thể hủy cuộc gọi đang chờ; cuộc gọi này đang ở trạng thái accepted."
    }
    nothing = admin.post(f"{ACCOUNT}resume/", HTTP_ACCEPT_LANGUAGE="vi")
    assert nothing.json() == {"detail": "Việc gọi không bị tạm dừng: không có gì để tiếp tục."}


def test_the_account_explains_a_pause_in_the_requests_language(admin: APIClient) -> None:
    services.pause_placement("103", "Balance not enough", new_call())
    english = admin.get(ACCOUNT, HTTP_ACCEPT_LANGUAGE="en").json()
    vietnamese = admin.get(ACCOUNT, HTTP_ACCEPT_LANGUAGE="vi").json()
    with translation.override("vi"):
        assert vietnamese == admin.get(ACCOUNT).json()  # as with the language already active
    assert vietnamese["advice"] != english["advice"]
    assert vietnamese["meaning"] != english["meaning"]


PHONE_HELP_VI, PHONE_HELP_EN = "Một số điện thoại Việt Nam.", "A Vietnamese phone number."


@pytest.mark.parametrize(
    ("query", "expected", "not_expected"),
    [("", PHONE_HELP_VI, PHONE_HELP_EN), ("?lang=en", PHONE_HELP_EN, PHONE_HELP_VI)],
    ids=["header", "lang-parameter-wins"],
)
def test_the_schema_describes_the_api_in_the_requests_language(
    admin: APIClient, query: str, expected: str, not_expected: str
) -> None:
    openapi = "application/vnd.oai.openapi+json"
    response = admin.get(f"{SCHEMA}{query}", HTTP_ACCEPT=openapi, HTTP_ACCEPT_LANGUAGE="vi")
    assert response.status_code == 200
    schema = response.content.decode()
    assert expected in schema
    assert not_expected not in schema


def test_a_language_the_hosts_own_middleware_activated_is_kept(placer: User) -> None:
    with translation.override("vi"):  # as a middleware activating the user's language does
        response = client_for(placer).post(CALLS, BAD_PHONE, format="json")
        assert translation.get_language() == "vi"
    assert response.json() == {"phone": [BAD_PHONE_VI]}


@pytest.mark.urls("tests.api.i18n_urls")
@override_settings(MIDDLEWARE=[*MIDDLEWARE, "django.middleware.locale.LocaleMiddleware"])
@pytest.mark.parametrize(
    ("prefix", "header", "expected"),
    [("vi", "en", BAD_PHONE_VI), ("en", "vi", BAD_PHONE_EN)],
    ids=["vi-path", "en-path"],
)
def test_with_locale_middleware_its_choice_wins(
    placer: User, prefix: str, header: str, expected: str
) -> None:
    # The API under i18n_patterns: the middleware takes the language from the path.
    url = f"/{prefix}{CALLS}"
    try:
        response = client_for(placer).post(
            url, BAD_PHONE, format="json", HTTP_ACCEPT_LANGUAGE=header
        )
    finally:
        translation.deactivate()  # LocaleMiddleware leaves its language active in the thread
    assert response.status_code == 400
    assert response.json() == {"phone": [expected]}
    assert response["Content-Language"] == prefix
