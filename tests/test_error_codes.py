"""The error vocabulary: every stored code explained in the reader's language."""

from __future__ import annotations

import pytest
from django.utils import translation

from django_esms_voice import errors
from django_esms_voice.exceptions import (
    EsmsConnectionError,
    EsmsHTTPError,
    EsmsInputError,
    EsmsInvalidResponse,
    EsmsSettingsError,
    EsmsTimeout,
    EsmsTransportError,
    error_for_code,
)

OWN_CODES = {
    "timeout",
    "connection",
    "http_4xx",
    "http_5xx",
    "bad_response",
    "transport",
    "settings",
    "invalid",
    "suppressed",
    "frequency_capped",
    "no_result",
}


def test_the_vocabulary_is_esms_codes_and_the_documented_own_codes() -> None:
    own = {code for code in errors.VOCABULARY if not code.isdigit()}
    assert own == OWN_CODES
    assert {"101", "103", "108", "140"} <= set(errors.VOCABULARY)
    assert all(len(code) <= 32 for code in errors.VOCABULARY)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (EsmsTimeout("no answer within 30 s", endpoint="x"), "timeout"),
        (EsmsConnectionError("connection failed", endpoint="x"), "connection"),
        (EsmsHTTPError("HTTP 404", endpoint="x", status_code=404), "http_4xx"),
        (EsmsHTTPError("HTTP 429", endpoint="x", status_code=429), "http_4xx"),
        (EsmsHTTPError("HTTP 503", endpoint="x", status_code=503), "http_5xx"),
        (EsmsInvalidResponse("not JSON", endpoint="x"), "bad_response"),
        (EsmsTransportError("request failed", endpoint="x"), "transport"),
        (EsmsSettingsError("ESMS_VOICE['API_KEY'] is missing."), "settings"),
        (EsmsInputError("phone", "wrong"), "invalid"),
        (error_for_code("108", endpoint="x"), "108"),
    ],
)
def test_each_error_has_its_code_in_the_vocabulary(exc: Exception, code: str) -> None:
    assert errors.error_code(exc) == code  # type: ignore[arg-type]
    assert code in errors.VOCABULARY


@pytest.mark.parametrize("code", errors.VOCABULARY)
def test_every_code_is_explained_in_english_and_vietnamese(code: str) -> None:
    with translation.override("en"):
        entry = errors.explain(code)
        en = (str(entry.meaning), str(entry.advice))
    with translation.override("vi"):
        vi = (str(entry.meaning), str(entry.advice))
    assert entry.code == code
    assert str(errors.UNKNOWN_CODE_MEANING) not in en
    assert all(en), en
    assert vi[0] != en[0], f"{code}: meaning not translated"
    assert vi[1] != en[1], f"{code}: advice not translated"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("EsmsTimeout", "timeout"),
        ("EsmsConnectionError", "connection"),
        ("EsmsInvalidResponse", "bad_response"),
        ("EsmsTransportError", "transport"),
        ("EsmsSettingsError", "settings"),
    ],
)
def test_a_class_name_stored_before_the_vocabulary_is_still_explained(old: str, new: str) -> None:
    assert errors.explain(old) == errors.explain(new)


def test_an_old_http_error_keeps_its_own_explanation() -> None:
    with translation.override("vi"):
        assert str(errors.explain("EsmsHTTPError").meaning) == "eSMS trả về lỗi HTTP"


def test_an_html_page_is_stored_as_one_bounded_line_of_its_text() -> None:
    page = "eSMS X: HTTP 502: '<!DOCTYPE html>\\n<html><body><h1>Bad &amp; Gateway</h1>\\n<p>ngi"
    assert errors.short_message(page) == "eSMS X: HTTP 502: ' Bad & Gateway ngi"
    assert errors.short_message("a < b") == "a < b"
    long = errors.short_message("x" * 5000)
    assert len(long) == errors.MESSAGE_LIMIT
    assert long.endswith("…")
