"""How a call and its events read on the admin's pages: status badges, results, the timeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin
from django.db import models
from django.utils import formats, timezone
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import secrecy
from ..errors import explain
from ..esms.protocol import (
    CALL_OUTCOME_MEANINGS,
    RESULT_FIELDS,
    SEND_STATUS_MEANINGS,
    SENT_RESULT_MEANINGS,
    call_outcome,
)
from ..models import CallbackEvent, VoiceCall
from ..moments import local_time
from ..money import format_dong
from ..options import CallKind
from ..states import CallStatus, Hold, status_label
from . import readable

#: Callback events shown on a call's page (inline and timeline), newest first.
EVENTS_SHOWN = 50
#: The result fields an event's summary shows, under eSMS's names.
SUMMARY_FIELDS = ("send_status", "call_status", "call_duration", "ivr", "sent_result", "price")
#: Why a held call waits, shown next to its status.
HOLD_NOTES: dict[str, str | Promise] = {Hold.CAMPAIGN_PAUSED: _("Waiting: its campaign is paused")}


#: What each status means for the call, in words (the change page's "result").
OUTCOMES: dict[str, Promise] = {
    CallStatus.PENDING: _("Not placed yet: it waits for a worker to send it to eSMS."),
    CallStatus.SUBMITTING: _("Being sent to eSMS now."),
    CallStatus.ACCEPTED: _("eSMS has the call and will ring the number; no result yet."),
    CallStatus.IN_PROGRESS: _("eSMS is ringing the number; no final result yet."),
    CallStatus.ANSWERED: _("The call was answered."),
    CallStatus.NO_ANSWER: _("The phone was called but nobody answered."),
    CallStatus.FAILED: _("The carrier did not put the call through."),
    CallStatus.REJECTED: _("eSMS refused the call: the number was not called."),
    CallStatus.ERROR: _("The app gave up sending the call to eSMS: the number was not called."),
    CallStatus.CANCELED: _("Canceled before it was sent to eSMS: the number was not called."),
    CallStatus.UNKNOWN: _("eSMS accepted and charged the call, but reported no result in time."),
}


def window_note(opens: dt.datetime) -> str:
    """Say when a call waiting for its calling window will be placed: at 08:00 (and which day)."""
    local, today = timezone.localtime(opens), timezone.localdate()
    if local.date() == today:
        return gettext("Waiting for the calling window, opens at %(time)s") % {
            "time": formats.time_format(local, "H:i")
        }
    return gettext("Waiting for the calling window, opens at %(time)s on %(day)s") % {
        "time": formats.time_format(local, "H:i"),
        "day": formats.date_format(local, "SHORT_DATE_FORMAT"),
    }


def script_values(call: VoiceCall) -> str:
    """A call's script values as staff see them: hidden when secret, wiped or not."""
    if call.secret_variables:
        return str(secrecy.HIDDEN)
    return " | ".join(str(value) for value in call.variables) or "-"


def said(call: VoiceCall) -> str:
    """What the call played: "Recording 1234" or "Text-to-speech script 2002"."""
    return f"{CallKind(call.kind).label} {call.template_id}" if call.kind else call.template_id


#: The kind of call as the list says it: short, so that "Script 2002" stays on one line.
LIST_KINDS: dict[str, Promise] = {CallKind.RECORD: _("Recording"), CallKind.TEMPLATE: _("Script")}


def said_briefly(call: VoiceCall) -> str:
    """What the call played, for the list: "Script 2002" or "Recording 1234"."""
    kind = LIST_KINDS.get(call.kind)
    return f"{kind} {call.template_id}" if kind else call.template_id


def outcome(call: VoiceCall) -> str:
    """The call's result in words."""
    return str(OUTCOMES.get(call.status, status_label(call.status)))


def error_explained(call: VoiceCall) -> SafeString:
    """The call's last error: its code, what it means and what to do about it."""
    explained = explain(call.last_error_code)
    return format_html(
        "<strong>{}</strong> ({})<br>{}", explained.meaning, call.last_error_code, explained.advice
    )


def error_briefly(call: VoiceCall) -> SafeString | str:
    """The call's last error for the list: what it means (admin.css cuts it to two lines).

    The whole explanation, its code and what to do, is the title: a mouse-over away.
    """
    if not call.last_error_code:
        return ""
    explained = explain(call.last_error_code)
    return format_html(
        '<span class="esms-voice-error" title="{} ({}). {}">{}</span>',
        explained.meaning,
        call.last_error_code,
        explained.advice,
        explained.meaning,
    )


def duration(call: VoiceCall) -> str:
    """How long the call lasted, in words ("42 s"), a dash while unknown."""
    return "-" if call.duration is None else readable.duration(call.duration)


def explained(value: object, meaning: object) -> str:
    """A raw eSMS value with its meaning: "5 (finished)"; a dash when empty."""
    if value in (None, ""):
        return "-"
    return f"{value} ({meaning})" if meaning else str(value)


def send_status(call: VoiceCall) -> str:
    """SendStatus as stored, explained."""
    return explained(call.send_status, SEND_STATUS_MEANINGS.get(call.send_status))  # type: ignore[arg-type]


def sent_result(call: VoiceCall) -> str:
    """SentResult as stored, explained."""
    return explained(call.sent_result, SENT_RESULT_MEANINGS.get(call.sent_result))  # type: ignore[arg-type]


def call_status(call: VoiceCall) -> str:
    """CallStatus as eSMS spelled it, explained."""
    spelled = " ".join(call.call_status.upper().split())
    return explained(call.call_status, CALL_OUTCOME_MEANINGS[call_outcome(spelled)])


def moment(call: VoiceCall, name: str) -> str:
    """One of the call's times in the page's one format, a dash while unset."""
    value = getattr(call, name)
    return "-" if value is None else local_time(value)


def moment_field(name: str) -> Any:
    """A change page's display method showing the call's time `name` in the one format."""

    def shown(modeladmin: Any, call: VoiceCall) -> str:
        return moment(call, name)

    shown.__name__ = f"{name}_shown"
    field = VoiceCall._meta.get_field(name)
    label = field.verbose_name if isinstance(field, models.Field) else name
    return admin.display(description=label, ordering=name)(shown)


def price(call: VoiceCall) -> str:
    """What eSMS charged for the call in whole đồng ("1.500 ₫"), a dash while unknown."""
    return "-" if call.price is None else format_dong(call.price)


def status_badge(call: VoiceCall) -> SafeString:
    """The call's status as a coloured badge (admin.css has one colour per status).

    A held call says why it waits.
    """
    badge = format_html(
        '<span class="esms-voice-status esms-voice-status-{}">{}</span>',
        call.status,
        call.get_status_display(),
    )
    if not call.hold:
        return badge
    note = HOLD_NOTES.get(call.hold, call.get_hold_display())
    if call.hold == Hold.CALLING_WINDOW and call.next_attempt_at is not None:
        note = window_note(call.next_attempt_at)
    return format_html('{} <span class="esms-voice-held">{}</span>', badge, note)


def status_in_list(call: VoiceCall) -> SafeString:
    """The list's status: the badge, then how long the call lasted, the key and the price.

    One column instead of four keeps the list within a 1280 px laptop screen; each part stays
    on one line (admin.css), the call's page shows them under their own names.
    """
    parts = [
        readable.duration(call.duration) if call.duration is not None else "",
        gettext("key %(key)s") % {"key": call.ivr_pressed} if call.ivr_pressed else "",
        format_dong(call.price) if call.price is not None else "",
    ]
    shown = [part for part in parts if part]
    if not shown:
        return status_badge(call)
    return format_html(
        '{}<span class="esms-voice-result">{}</span>',
        status_badge(call),
        format_html_join(" · ", "<span>{}</span>", ((part,) for part in shown)),
    )


def result_summary(event: CallbackEvent) -> str:
    """Return the parsed result fields that carry a value: SendStatus=5, CallStatus=ANSWERED..."""
    parsed = event.parsed or {}
    return ", ".join(
        f"{RESULT_FIELDS[key]}={_summary_value(key, parsed[key])}"
        for key in SUMMARY_FIELDS
        if parsed.get(key) not in (None, "")
    )


def _summary_value(key: str, value: Any) -> str:
    """A parsed result value as shown: the price in đồng, anything else as received."""
    if key == "price":
        try:
            return format_dong(value)
        except (ArithmeticError, ValueError):  # not a number: shown as received
            pass
    return str(value)


def status_change(event: CallbackEvent) -> str:
    """Return the move an event made: "Accepted by eSMS → Answered", one status, or "-"."""
    if not event.old_status and not event.new_status:
        return "-"
    if event.old_status == event.new_status:
        return status_label(event.new_status)
    return f"{status_label(event.old_status)} → {status_label(event.new_status)}"


def timeline(call: VoiceCall) -> SafeString:
    """What happened to the call, in order: our steps and every callback and poll."""
    entries: list[tuple[dt.datetime, str, str]] = []

    def add(moment: dt.datetime | None, what: str, detail: str = "") -> None:
        if moment is not None:
            entries.append((moment, what, detail))

    add(call.created_at, gettext("Created"), call.batch)
    add(
        call.claimed_at,
        gettext("Claimed by a worker"),
        gettext("attempt %(n)d") % {"n": call.attempts},
    )
    add(call.submitted_at, gettext("Accepted by eSMS"), call.smsid)
    events = list(call.events.order_by("-received_at", "-id")[:EVENTS_SHOWN])
    completed = call.completed_at
    for event in reversed(events):
        what = f"{event.get_source_display()}: {event.get_outcome_display()}"
        detail = "; ".join(filter(None, [status_change(event), result_summary(event)]))
        add(event.received_at, what, detail)
        if completed and event.new_status == call.status != event.old_status:
            # The event that ended the call is stored just after the call is updated.
            completed = max(completed, event.received_at)
    add(call.last_polled_at, gettext("Last status poll"))
    add(
        completed,
        gettext("Completed: %(status)s") % {"status": status_label(call.status)},
    )
    entries.sort(key=lambda entry: entry[0])
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((local_time(moment), what, detail) for moment, what, detail in entries),
    )
    return format_html('<table class="esms-voice-timeline"><tbody>{}</tbody></table>', rows)
