"""The eSMS result-code table: every documented voice code, and unknown codes kept as they came."""

from __future__ import annotations

import pytest
from django.utils import translation

from django_esms_voice.esms.protocol import (
    ACCEPTED,
    DUPLICATE_REQUEST,
    NOT_FOUND_YET,
    RESULT_CODES,
    CodeKind,
    describe_code,
)

# From esms-docs/voice-api.md, "Result codes (shared by all eSMS APIs)".
DOCUMENTED: dict[str, CodeKind] = {
    "100": CodeKind.ACCEPTED,
    "99": CodeKind.REJECTED,  # number blocked
    "101": CodeKind.CONFIGURATION,  # wrong ApiKey/SecretKey
    "102": CodeKind.CONFIGURATION,  # no price table
    "103": CodeKind.REJECTED,  # balance too low
    "104": CodeKind.REJECTED,  # template does not exist
    "105": CodeKind.LATER,  # id not known yet: ask again later
    "106": CodeKind.REJECTED,  # recording does not exist
    "108": CodeKind.REJECTED,  # wrong phone format
    "124": CodeKind.DUPLICATE,  # same RequestId: already accepted
    "140": CodeKind.CONFIGURATION,  # IP not whitelisted
}


def test_the_table_holds_exactly_the_documented_voice_codes() -> None:
    assert set(RESULT_CODES) == set(DOCUMENTED)


@pytest.mark.parametrize(("code", "kind"), sorted(DOCUMENTED.items()))
def test_each_documented_code_has_its_kind(code: str, kind: CodeKind) -> None:
    entry = describe_code(code)
    assert entry.code == code
    assert entry.kind is kind
    assert entry.code in RESULT_CODES
    assert entry.retryable is (kind is CodeKind.LATER)
    with translation.override("en"):
        assert str(entry.description).strip()
        assert str(entry.description) != "Unknown eSMS result code"


@pytest.mark.parametrize(("code", "kind"), sorted(DOCUMENTED.items()))
def test_a_code_is_found_whatever_form_it_came_in(code: str, kind: CodeKind) -> None:
    # Call endpoints send the code as a string, status answers may send a number.
    assert describe_code(f" {code} ").kind is kind
    assert describe_code(int(code)).code == code  # type: ignore[arg-type]


def test_the_named_constants_point_at_their_entries() -> None:
    assert RESULT_CODES[ACCEPTED].kind is CodeKind.ACCEPTED
    assert RESULT_CODES[NOT_FOUND_YET].kind is CodeKind.LATER
    assert RESULT_CODES[DUPLICATE_REQUEST].kind is CodeKind.DUPLICATE


def test_only_not_found_yet_is_retryable() -> None:
    assert [code for code, entry in RESULT_CODES.items() if entry.retryable] == ["105"]


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (" 999 ", "999"),
        ("107", "107"),  # an SMS/Zalo code, not a voice one
        ("146", "146"),
        ("789", "789"),
        ("0100", "0100"),  # not "100": kept exactly as it came, not guessed
        ("-1", "-1"),
        ("ABC", "ABC"),
        ("", ""),
        (799, "799"),
    ],
)
def test_an_unknown_code_is_kept_as_it_came_and_treated_as_a_refusal(
    raw: object, kept: str
) -> None:
    entry = describe_code(raw)  # type: ignore[arg-type]
    assert entry.code == kept
    assert entry.kind is CodeKind.REJECTED
    assert entry.code not in RESULT_CODES
    assert not entry.retryable
    with translation.override("en"):
        assert str(entry.description) == "Unknown eSMS result code"


def test_an_unknown_code_does_not_join_the_table() -> None:
    describe_code("999")
    assert "999" not in RESULT_CODES
