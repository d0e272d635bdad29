"""The Vietnamese translation: used at run time, complete, and compiled from the current .po."""

from __future__ import annotations

import ast
import gettext
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.apps import apps
from django.utils import translation

import django_esms_voice
from django_esms_voice.codes import describe_code
from django_esms_voice.exceptions import InvalidPhoneNumber
from django_esms_voice.payloads import TemplateCallRequest
from django_esms_voice.phone import normalize_phone

LC_MESSAGES = Path(django_esms_voice.__file__).parent / "locale" / "vi" / "LC_MESSAGES"
PO_FILE = LC_MESSAGES / "django.po"
MO_FILE = LC_MESSAGES / "django.mo"
# Python's %-style placeholders: %(name)s, %s, %d, %r ... but not a literal %%.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*\d*(?:\.\d+)?[sdifrxXeEgGc%]")


# -- a small .po reader -------------------------------------------------------------------------


@dataclass
class Entry:
    """One message of a .po file."""

    line: int
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def msgid(self) -> str:
        return self.fields.get("msgid", "")

    @property
    def translations(self) -> list[str]:
        return [v for k, v in self.fields.items() if k.startswith("msgstr")]

    def catalog_key(self) -> str:
        """The key gettext uses for this message in a compiled catalog (singular messages)."""
        if "msgctxt" in self.fields:
            return f"{self.fields['msgctxt']}\x04{self.msgid}"
        return self.msgid


def read_po(path: Path) -> list[Entry]:
    """Parse a .po file into entries: flags, obsolete marker and every keyword's full string."""
    entries: list[Entry] = []
    current: Entry | None = None
    keyword = ""
    seen_msgstr = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
        starts_entry = line.startswith(("#", "msgctxt ", "msgid ")) and not line.startswith(
            "msgid_plural"
        )
        if current is None or (seen_msgstr and starts_entry) or (not line and seen_msgstr):
            if current is not None and current.fields:
                entries.append(current)
            current, seen_msgstr = Entry(line=number), False
        if not line:
            continue
        current.obsolete = current.obsolete or obsolete
        if line.startswith("#,"):
            current.flags.update(f.strip() for f in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            current.fields[keyword] += ast.literal_eval(line)
        else:
            keyword, _, value = line.partition(" ")
            current.fields[keyword] = ast.literal_eval(value)
            seen_msgstr = seen_msgstr or keyword.startswith("msgstr")
    if current is not None and current.fields:
        entries.append(current)
    return entries


def po_catalog(entries: list[Entry]) -> dict[object, str]:
    """Build the catalog msgfmt would compile from these entries (translated, not fuzzy)."""
    catalog: dict[object, str] = {}
    for entry in entries:
        if entry.obsolete or "fuzzy" in entry.flags or not all(entry.translations):
            continue
        if "msgid_plural" in entry.fields:
            for keyword, value in entry.fields.items():
                if keyword.startswith("msgstr["):
                    catalog[(entry.catalog_key(), int(keyword[7:-1]))] = value
        else:
            catalog[entry.catalog_key()] = entry.fields["msgstr"]
    return catalog


def mo_catalog(path: Path) -> dict[object, str]:
    """Load a compiled .mo file the way Django's gettext does."""
    with path.open("rb") as handle:
        return dict(gettext.GNUTranslations(handle)._catalog)  # type: ignore[attr-defined]


def comparable(catalog: dict[object, str]) -> dict[object, str]:
    """Drop the header's POT-Creation-Date, which recent msgfmt versions leave out of a .mo."""
    header = "".join(
        line
        for line in catalog.get("", "").splitlines(keepends=True)
        if not line.startswith("POT-Creation-Date:")
    )
    return {**catalog, "": header}


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return read_po(PO_FILE)


# -- the translation is used at run time ----------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "vietnamese"),
    [
        ("0901", "0901 không phải là số điện thoại Việt Nam hợp lệ: số quá ngắn."),
        (
            "+1 650 253 0000",
            "+1 650 253 0000 không phải là số điện thoại Việt Nam hợp lệ: "
            "số thuộc mã quốc gia +1, không phải Việt Nam (+84).",
        ),
        ("", "Cần nhập số điện thoại."),
    ],
    ids=["too-short", "foreign", "empty"],
)
def test_a_phone_error_comes_out_in_vietnamese(number: str, vietnamese: str) -> None:
    with translation.override("vi"), pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(number)
    assert caught.value.message == vietnamese


def test_the_same_phone_error_stays_english_in_english() -> None:
    with translation.override("en"), pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone("0901")
    assert caught.value.message == "0901 is not a valid Vietnamese phone number: it is too short."


@pytest.mark.parametrize(
    ("code", "vietnamese"),
    [
        ("101", "Sai ApiKey hoặc SecretKey"),
        ("103", "Số dư tài khoản eSMS không đủ"),
        ("108", "Số điện thoại sai định dạng"),
        ("124", "Yêu cầu này đã được nhận trước đó (trùng RequestId)"),
        ("999", "Mã kết quả eSMS không xác định"),
    ],
    ids=["101", "103", "108", "124", "unknown"],
)
def test_a_result_code_description_comes_out_in_vietnamese(code: str, vietnamese: str) -> None:
    description = describe_code(code).description  # lazy: translated when shown
    with translation.override("vi"):
        assert str(description) == vietnamese
    with translation.override("en"):
        assert str(description) != vietnamese


def test_a_request_error_comes_out_in_vietnamese() -> None:
    with translation.override("vi"), pytest.raises(InvalidPhoneNumber):
        TemplateCallRequest(phone="12", template_id="1")
    with translation.override("vi"), pytest.raises(ValueError, match="nhưng nhận được 'robot'"):
        TemplateCallRequest(phone="0901888484", template_id="1", voice="robot")


def test_the_app_name_is_translated() -> None:
    with translation.override("vi"):
        assert str(apps.get_app_config("esms_voice").verbose_name) == "Cuộc gọi thoại eSMS"


# -- the .po file is complete ----------------------------------------------------------------------


def test_the_po_reader_sees_every_message(entries: list[Entry]) -> None:
    text = PO_FILE.read_text(encoding="utf-8")
    assert len(entries) == len(re.findall(r"^(?:#~ )?msgid ", text, flags=re.MULTILINE))
    assert entries[0].msgid == ""
    assert len(entries) > 100


def test_the_po_header_declares_vietnamese(entries: list[Entry]) -> None:
    header = entries[0]
    assert header.msgid == ""
    assert "fuzzy" not in header.flags
    lines = header.fields["msgstr"].splitlines()
    assert "Language: vi" in lines
    assert "Plural-Forms: nplurals=1; plural=0;" in lines
    assert "Content-Type: text/plain; charset=UTF-8" in lines
    assert not any("PACKAGE VERSION" in line or "FULL NAME" in line for line in lines)


def test_the_po_has_no_untranslated_fuzzy_or_obsolete_entry(entries: list[Entry]) -> None:
    problems = [
        f"line {e.line}: {e.msgid!r}"
        + (" is fuzzy" if "fuzzy" in e.flags else "")
        + (" is obsolete" if e.obsolete else "")
        + (" is untranslated" if not all(e.translations) else "")
        for e in entries[1:]
        if "fuzzy" in e.flags or e.obsolete or not all(e.translations)
    ]
    assert problems == []


def test_every_translation_keeps_the_placeholders_of_its_message(entries: list[Entry]) -> None:
    for entry in entries[1:]:
        expected = sorted(PLACEHOLDER.findall(entry.msgid))
        for text in entry.translations:
            assert sorted(PLACEHOLDER.findall(text)) == expected, f"line {entry.line}: {text!r}"


def test_translations_are_vietnamese_not_copies(entries: list[Entry]) -> None:
    # Names that read the same in both languages are allowed; everything else must differ.
    same_in_both: set[str] = set()
    copies = [
        e.msgid for e in entries[1:] if e.msgid in e.translations and e.msgid not in same_in_both
    ]
    assert copies == []


# -- the .mo is compiled from the current .po -----------------------------------------------------


def test_the_mo_file_holds_exactly_what_the_po_file_says(entries: list[Entry]) -> None:
    """A .po edited without `compilemessages` afterwards fails here."""
    assert MO_FILE.exists(), "run `django-admin compilemessages` in django_esms_voice/"
    assert comparable(mo_catalog(MO_FILE)) == comparable(po_catalog(entries))


def test_compiling_the_po_now_gives_the_committed_mo(tmp_path: Path) -> None:
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("GNU gettext's msgfmt is not installed (the catalog comparison above ran)")
    compiled = tmp_path / "django.mo"
    # The options Django's compilemessages passes; --check also validates the header.
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [msgfmt, "--check", "-o", str(compiled), str(PO_FILE)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    # Compare the content, not the bytes: another gettext version may lay the file out
    # differently while holding the same messages.
    assert comparable(mo_catalog(compiled)) == comparable(mo_catalog(MO_FILE))
