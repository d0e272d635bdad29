"""The Vietnamese translation: used at run time, complete, and compiled from the current .po."""

from __future__ import annotations

import ast
import datetime as dt
import gettext
import re
import shutil
import subprocess
from contextlib import chdir
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation
from django.utils.translation import gettext as gettext_django

import django_esms_voice
from django_esms_voice import services
from django_esms_voice.admin import actions as admin_actions
from django_esms_voice.admin import summaries as admin_summaries
from django_esms_voice.admin.filters import NoResultAfterFilter
from django_esms_voice.api.serializers import VoiceCallCreateSerializer
from django_esms_voice.esms.payloads import TemplateCallRequest
from django_esms_voice.esms.phone import normalize_phone
from django_esms_voice.esms.protocol import describe_code
from django_esms_voice.exceptions import EsmsInputError, InvalidPhoneNumber
from django_esms_voice.management.commands.esms_voice_call import Command as CallCommand
from django_esms_voice.models.events import CallbackEvent, EventOutcome, EventSource
from django_esms_voice.options import CallKind
from tests.conftest import MISSING_PREFIX, service_unavailable

PACKAGE = Path(django_esms_voice.__file__).parent
LC_MESSAGES = PACKAGE / "locale" / "vi" / "LC_MESSAGES"
PO_FILE = LC_MESSAGES / "django.po"
MO_FILE = LC_MESSAGES / "django.mo"
#: The example project's app, with a catalog of its own (absent from an installed package).
EXAMPLE_SHOP = Path(__file__).resolve().parent.parent / "example_project" / "shop"
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


def one_line(text: str) -> str:
    """Join the lines argparse wraps, to compare help texts whatever the terminal width."""
    return " ".join(text.split())


def test_a_management_commands_help_comes_out_in_vietnamese() -> None:
    with translation.override("vi"):
        parser = CallCommand().create_parser("manage.py", "esms_voice_call")
        help_text = one_line(parser.format_help())
    assert "Gọi điện qua eSMS: phát bản ghi âm (mặc định)" in help_text
    assert "Số điện thoại Việt Nam cần gọi." in help_text
    # argparse fills %(default)s in: the translation must have kept it.
    assert "Số giây chờ khi dùng --wait (mặc định 300.0)." in help_text


def test_an_api_validation_error_comes_out_in_vietnamese() -> None:
    with translation.override("vi"):
        serializer = VoiceCallCreateSerializer(data={"phone": "0901", "template_id": "1"})
        assert not serializer.is_valid()
    assert serializer.errors == {
        "phone": ["0901 không phải là số điện thoại Việt Nam hợp lệ: số quá ngắn."]
    }


def test_a_services_error_comes_out_in_vietnamese() -> None:
    # Refused while validating, before anything is saved: no database needed.
    with translation.override("vi"), pytest.raises(EsmsInputError) as caught:
        services.create_call(phone="0901888484", template_id="1", ivr_key=1)
    assert caught.value.field == "ivr"
    assert str(caught.value.message) == (
        "Phím IVR và số chuyển tiếp phải đi cùng nhau: hãy nhập cả hai hoặc bỏ trống cả hai."
    )


@pytest.mark.parametrize(
    ("action", "vietnamese"),
    [
        (admin_actions.place_now, "Gọi ngay các cuộc gọi đang chờ đã chọn"),
        (admin_actions.retry_calls, "Thử lại các cuộc gọi bị từ chối hoặc lỗi đã chọn"),
        (admin_actions.cancel_calls, "Hủy các cuộc gọi đang chờ đã chọn"),
    ],
    ids=["place_now", "retry_calls", "cancel_calls"],
)
def test_an_admin_action_label_comes_out_in_vietnamese(action: object, vietnamese: str) -> None:
    description = action.short_description  # type: ignore[attr-defined]  # lazy
    with translation.override("vi"):
        assert str(description) == vietnamese


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


# -- the .po holds every translatable string of the sources ---------------------------------------

#: What identifies a message in a catalog: (msgctxt, msgid, msgid_plural), "" when absent.
MessageKey = tuple[str, str, str]


def message_keys(entries: list[Entry]) -> set[MessageKey]:
    """Return the messages of a catalog's live entries, without the header."""
    return {
        (e.fields.get("msgctxt", ""), e.msgid, e.fields.get("msgid_plural", ""))
        for e in entries
        if e.msgid and not e.obsolete
    }


def extract_messages(
    source: Path, work: Path, extra: dict[str, str] | None = None
) -> set[MessageKey]:
    """Run makemessages on a copy of source, in work, and return the messages it finds.

    The copy keeps the real tree untouched (makemessages writes a .po, and a temporary .py
    next to each template); `extra` adds files (relative path -> text) to the copy only.
    """
    if shutil.which("xgettext") is None:
        service_unavailable(f"{MISSING_PREFIX} gettext (xgettext)")
    copy = work / source.name
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("locale", "__pycache__", "*.pyc"))
    for name, text in (extra or {}).items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_text(text, encoding="utf-8")
    (copy / "locale").mkdir()
    # Run from inside the copy, as `django-admin makemessages` is run from inside the app; with
    # no LOCALE_PATHS, the copy's own locale/ is the only place it can write to.
    with chdir(copy), override_settings(LOCALE_PATHS=[]):
        call_command(
            "makemessages",
            locale=["vi"],
            extensions=["html", "txt", "py"],
            no_obsolete=True,
            verbosity=0,
        )
    return message_keys(read_po(copy / "locale" / "vi" / "LC_MESSAGES" / "django.po"))


def catalog_differences(found: set[MessageKey], po_file: Path) -> list[str]:
    """List the messages the sources have and the .po lacks, and the reverse."""
    committed = message_keys(read_po(po_file))
    return [f"not in the .po: {m!r}" for m in sorted(found - committed)] + [
        f"in the .po but no longer in the sources: {m!r}" for m in sorted(committed - found)
    ]


@pytest.mark.parametrize(
    ("source", "po_file"),
    [
        (PACKAGE, PO_FILE),
        (EXAMPLE_SHOP, EXAMPLE_SHOP / "locale" / "vi" / "LC_MESSAGES" / "django.po"),
    ],
    ids=["django_esms_voice", "example-shop"],
)
def test_the_po_holds_exactly_the_translatable_strings_of_the_sources(
    source: Path, po_file: Path, tmp_path: Path
) -> None:
    """A string marked for translation but left out of the .po would show in English."""
    if not source.is_dir():
        pytest.skip(f"{source} is not here (an installed package has no example project)")
    differences = catalog_differences(extract_messages(source, tmp_path), po_file)
    assert differences == [], (
        f"refresh the catalog: cd {source} && django-admin makemessages -l vi --no-obsolete, "
        "translate, then compilemessages"
    )


def test_the_source_check_notices_a_new_string(tmp_path: Path) -> None:
    """The check above can fail: a string added to a copy of the sources is reported."""
    python = "Some new string"
    template = "Some new template string"
    found = extract_messages(
        PACKAGE,
        tmp_path,
        extra={
            "canary.py": (
                "from django.utils.translation import gettext_lazy\n\n"
                f'CANARY = gettext_lazy("{python}")\n'
            ),
            "templates/esms_voice/canary.html": (
                f'{{% load i18n %}}<p>{{% translate "{template}" %}}</p>\n'
            ),
        },
    )
    assert catalog_differences(found, PO_FILE) == [
        f"not in the .po: {('', python, '')!r}",
        f"not in the .po: {('', template, '')!r}",
    ]


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


# -- the translation reads naturally to the office staff who use the admin -----------------------

#: Phrasings that read as word-for-word English to a Vietnamese reader, and what replaced them.
AWKWARD = {
    "worker": "the English word: the admin says 'tiến trình gọi'",
    "bởi không": "a filter title after Django's 'Bởi' must name what is filtered by",
    "kết quả gửi": "eSMS's SentResult is whether the call was handed to the carrier",
    "thử lại của": "English word order ('retry of'): 'gọi lại từ cuộc gọi'",
    "thực hiện một cuộc gọi": "English word order ('place a call'): 'Gọi điện'",
    ")d bỏ qua": "English word order ('3 skipped'): 'bỏ qua 3 cuộc gọi'",
}


def test_no_translation_uses_a_word_for_word_phrasing(entries: list[Entry]) -> None:
    found = [
        (entry.line, phrase)
        for entry in entries[1:]
        for text in entry.translations
        for phrase in AWKWARD
        if phrase in text.lower()
    ]
    assert found == []


def test_a_skipped_count_names_what_was_skipped(entries: list[Entry]) -> None:
    with translation.override("vi"):
        text = admin_summaries.skipped_text(
            [admin_summaries.Group(label="số không hợp lệ", reason="x", count=2)]
        )
    assert text == "bỏ qua 2 mục: số không hợp lệ"


def test_the_no_result_filter_reads_after_djangos_by(entries: list[Entry]) -> None:
    with translation.override("vi"):
        title = str(NoResultAfterFilter.title)
        heading = gettext_django(" By %(filter_title)s ") % {"filter_title": title}
    assert heading.strip() == "Bởi thời gian chưa có kết quả"


@pytest.mark.parametrize("kind", list(CallKind))
def test_a_call_kind_label_fits_a_change_list_column(kind: CallKind) -> None:
    with translation.override("vi"):
        label = str(kind.label)
    assert len(label) <= 12, label


def test_an_event_title_says_its_outcome_in_vietnamese() -> None:
    event = CallbackEvent(
        source=EventSource.CALLBACK,
        outcome=EventOutcome.APPLIED,
        received_at=dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC),
    )
    with translation.override("vi"):
        title = str(event)
    assert title.endswith("(Đã áp dụng)"), title
    assert "applied" not in title
