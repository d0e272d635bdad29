"""How a call and its events read on the admin's pages: status badges, results, the timeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import formats, timezone
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import secrecy
from ..esms.protocol import RESULT_FIELDS
from ..models import CallbackEvent, VoiceCall
from ..money import format_dong
from ..states import Hold, status_label

#: Callback events shown on a call's page (inline and timeline), newest first.
EVENTS_SHOWN = 50
#: The result fields an event's summary shows, under eSMS's names.
SUMMARY_FIELDS = ("send_status", "call_status", "call_duration", "ivr", "sent_result", "price")
#: Why a held call waits, shown next to its status.
HOLD_NOTES: dict[str, str | Promise] = {Hold.CAMPAIGN_PAUSED: _("Waiting: its campaign is paused")}


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


def local_time(value: dt.datetime) -> str:
    """Show a moment in the current time zone, to the second."""
    return formats.date_format(timezone.localtime(value), "Y-m-d H:i:s")


def script_values(call: VoiceCall) -> str:
    """A call's script values as staff see them: hidden when secret, wiped or not."""
    if call.secret_variables:
        return str(secrecy.HIDDEN)
    return " | ".join(str(value) for value in call.variables) or "-"


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
