"""Whether a call may be placed now: the one home of the rules the creator and the claimer ask.

The claim is a single conditional UPDATE, so a rule that must hold under concurrent workers is
given here both as a Q (for the ORM) and as SQL (for the claim's UPDATE ... RETURNING): a call
held by its campaign or waiting for its calling window, a call whose purpose's window is
closed now (unless eSMS will place it later, at a SendDate checked to be inside the window),
or any call while the account is paused, is not claimed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .caps import DEFAULT_PERIOD, Cap
from .conf import voice_settings
from .exceptions import EsmsInputError, FrequencyCapped, SuppressedNumber
from .models import AccountPause, Campaign, Suppression, SuppressionReason, VoiceCall
from .purposes import PURPOSES, Purpose
from .states import CLAIMABLE, REACHING, CampaignState, Hold, hold_for
from .windows import Window


def open_pause() -> AccountPause | None:
    """Return the account pause in force, if placement is paused."""
    return AccountPause.objects.filter(active=True).first()


def placement_paused() -> Exists:
    """Select whether placement is paused for the whole account (an open AccountPause)."""
    return Exists(AccountPause.objects.filter(active=True))


def resumed_since(moment: dt.datetime | None) -> bool:
    """Whether placement resumed after `moment`: a refusal of a request sent before is stale."""
    return moment is not None and AccountPause.objects.filter(ended_at__gte=moment).exists()


def window_for(purpose: str) -> Window | None:
    """Return the calling window of a purpose (ESMS_VOICE['CALLING_WINDOWS']); None: any time."""
    return voice_settings().calling_windows.get(purpose)


def closed_purposes(now: dt.datetime) -> list[str]:
    """Return the purposes whose calling window is closed at `now`."""
    return [p for p, window in voice_settings().calling_windows.items() if not window.is_open(now)]


def checked_purposes() -> frozenset[str]:
    """Return the purposes whose calls the suppression list stops (SUPPRESSION_PURPOSES)."""
    return voice_settings().suppression_purposes


def suppressed_number() -> Exists:
    """Select whether a call's number is on the suppression list."""
    return Exists(Suppression.objects.filter(phone=OuterRef("phone")))


def claimable(now: dt.datetime | None = None) -> Q:
    """Select the calls a worker may claim now: pending, not held, in their window, not paused."""
    now = now or timezone.now()
    in_window = ~Q(purpose__in=closed_purposes(now)) | Q(send_at__gt=now)
    allowed = ~(Q(purpose__in=checked_purposes()) & Q(suppressed_number()))
    return Q(status__in=CLAIMABLE, hold=Hold.NONE) & in_window & allowed & Q(~placement_paused())


def claim_conditions(quote: Callable[[str], str]) -> str:
    """Return claimable()'s extra conditions as SQL for the claim's UPDATE (claim_params).

    The status test stays with the claim; `quote` is the connection's quote_name. The SQL is
    the same at every claim (the closed purposes are padded to all of them with "").
    """
    hold = quote(str(VoiceCall._meta.get_field("hold").column))
    purpose = quote(str(VoiceCall._meta.get_field("purpose").column))
    send_at = quote(str(VoiceCall._meta.get_field("send_at").column))
    phone = (
        f"{quote(VoiceCall._meta.db_table)}.{quote(str(VoiceCall._meta.get_field('phone').column))}"
    )
    pauses = quote(AccountPause._meta.db_table)
    active = quote(str(AccountPause._meta.get_field("active").column))
    listed = f"{quote(Suppression._meta.db_table)}.{quote('phone')}"
    padded = ", ".join(["%s"] * len(PURPOSES))
    window = f"({purpose} NOT IN ({padded}) OR {send_at} > %s)"
    suppressed = (
        f"({purpose} IN ({padded}) AND EXISTS (SELECT 1 FROM "  # noqa: S608 - names only
        f"{quote(Suppression._meta.db_table)} WHERE {listed} = {phone}))"
    )
    paused = f"EXISTS (SELECT 1 FROM {pauses} WHERE {active})"  # noqa: S608 - names only
    return f"{hold} = %s AND {window} AND NOT {suppressed} AND NOT {paused}"


def claim_params(now: dt.datetime, connection: BaseDatabaseWrapper) -> list[object]:
    """Return the params of claim_conditions() at `now`: the hold, the closed purposes, now."""
    moment = VoiceCall._meta.get_field("send_at").get_db_prep_value(now, connection)
    return [Hold.NONE, *_padded(closed_purposes(now)), moment, *_padded(checked_purposes())]


def _padded(purposes: Iterable[str]) -> list[str]:
    """The purposes, then "" (no purpose) up to their number: SQL of one shape at every claim."""
    listed = sorted(purposes)
    return [*listed, *[""] * (len(PURPOSES) - len(listed))]


def hold_new_call(call: VoiceCall, campaign_state: str | None, now: dt.datetime) -> None:
    """Hold a new (unsaved) call that may not be placed yet: its campaign paused, or its window.

    A call created outside its purpose's calling window is accepted and waits, pending, until
    the window opens (next_attempt_at); one with a SendDate leaves the wait to eSMS.
    """
    call.hold = hold_for(campaign_state)
    if call.hold:
        return
    window = window_for(call.purpose)
    if window is None or call.send_at is not None or window.is_open(now):
        return
    call.hold, call.next_attempt_at = Hold.CALLING_WINDOW, window.next_open(now)


def check_send_at(purpose: str, send_at: dt.datetime | None) -> None:
    """Refuse a SendDate outside the purpose's calling window: eSMS would call then."""
    window = window_for(purpose)
    if window is None or send_at is None or window.is_open(send_at):
        return
    opens = window.next_open(send_at)
    raise EsmsInputError(
        "send_at",
        _(
            "%(purpose)s calls may be placed only in their calling window (%(hours)s); "
            "this time is outside it. The window opens next at %(opens)s."
        )
        % {
            "purpose": Purpose(purpose).label,
            "hours": window.hours(),
            "opens": formats.date_format(timezone.localtime(opens), "Y-m-d H:i") if opens else "-",
        },
    )


def hold_outside_window(call_id: int, now: dt.datetime) -> bool:
    """Hold a pending call that a claim refused because its window closed; True if held.

    It waits for the window to open (next_attempt_at), released by the sweep.
    """
    for purpose in closed_purposes(now):
        window = window_for(purpose)
        opens = window.next_open(now) if window else None
        held = (
            VoiceCall.objects.filter(
                pk=call_id, status__in=CLAIMABLE, hold=Hold.NONE, purpose=purpose
            )
            .filter(Q(send_at__isnull=True) | Q(send_at__lte=now))
            .update(hold=Hold.CALLING_WINDOW, next_attempt_at=opens, updated_at=now)
        )
        if held:
            return True
    return False


#: How many numbers one query looks up: SQLite takes few parameters, PostgreSQL 65,535.
LOOKUP_CHUNK = 900
PG_LOOKUP_CHUNK = 30_000


def phone_chunks(phones: list[str], db: str) -> Iterator[list[str]]:
    """Split numbers into lists one query can take: one list up to 30,000 on PostgreSQL."""
    size = PG_LOOKUP_CHUNK if connections[db].vendor == "postgresql" else LOOKUP_CHUNK
    for start in range(0, len(phones), size):
        yield phones[start : start + size]


def suppressions(phones: Iterable[str]) -> dict[str, str]:
    """Return the reason of each of these (normalised) numbers on the suppression list.

    One query whatever their number on PostgreSQL (phone = ANY(array), the unique index);
    elsewhere one per LOOKUP_CHUNK numbers.
    """
    wanted = sorted(set(phones))
    if not wanted:
        return {}
    db = router.db_for_read(Suppression)
    if connections[db].vendor == "postgresql":
        table = connections[db].ops.quote_name(Suppression._meta.db_table)
        sql = f"SELECT phone, reason FROM {table} WHERE phone = ANY(%s)"  # noqa: S608 - a name
        with connections[db].cursor() as cursor:
            cursor.execute(sql, [wanted])
            return dict(cursor.fetchall())
    found: dict[str, str] = {}
    for chunk in phone_chunks(wanted, db):
        found.update(Suppression.objects.filter(phone__in=chunk).values_list("phone", "reason"))
    return found


def suppression_refusal(reason: str) -> SuppressedNumber:
    """The error a call to a suppressed number gets: it is never called, and why."""
    label = SuppressionReason(reason).label if reason in SuppressionReason.values else reason
    return SuppressedNumber(
        reason,
        _("This number is on the suppression list (%(reason)s): it is not called.")
        % {"reason": label},
    )


def refuse_suppressed(calls: Iterable[VoiceCall]) -> dict[int, SuppressedNumber]:
    """Return, by position, the refusal of each call whose number its purpose may not call."""
    calls = list(calls)
    checked = checked_purposes()
    found = suppressions(call.phone for call in calls if call.purpose in checked)
    return {
        index: suppression_refusal(found[call.phone])
        for index, call in enumerate(calls)
        if call.purpose in checked and call.phone in found
    }


def suppressed_refusal(call_id: int) -> tuple[VoiceCall, SuppressedNumber] | None:
    """Return a pending call a claim refused because its number is suppressed, and why.

    The number was added to the list after the call was made: it is never sent.
    """
    call = (
        VoiceCall.objects.filter(pk=call_id, status__in=CLAIMABLE, purpose__in=checked_purposes())
        .filter(suppressed_number())
        .first()
    )
    if call is None:
        return None
    reason = Suppression.objects.filter(phone=call.phone).values_list("reason", flat=True).first()
    return call, suppression_refusal(reason or SuppressionReason.OTHER)


def window_opened(now: dt.datetime) -> Q:
    """Select the calls waiting for a calling window that has opened by `now`."""
    return Q(status__in=CLAIMABLE, hold=Hold.CALLING_WINDOW, next_attempt_at__lte=now)


def check_campaign_open(campaign: Campaign) -> None:
    """Refuse to add calls to a canceled campaign: its calls would never be placed."""
    if campaign.state == CampaignState.CANCELED:
        raise EsmsInputError(
            "campaign",
            _("The campaign “%(name)s” was canceled: no call can be added to it.")
            % {"name": campaign.name},
        )


# -- frequency caps


def cap_for(purpose: str, campaign_cap: int | None = None) -> Cap | None:
    """Return the cap a call of this purpose (and campaign) has; None: no cap.

    A campaign's own number (Campaign.frequency_cap) replaces the purpose's: 0 is no cap.
    """
    cap = voice_settings().frequency_caps.get(purpose)
    if campaign_cap is None:
        return cap
    if campaign_cap == 0:
        return None
    return Cap(campaign_cap, cap.period if cap else DEFAULT_PERIOD)


def describe_cap(purpose: str, campaign_cap: int | None = None) -> str:
    """Say how often one number may be called for this purpose (and campaign), for people."""
    cap = cap_for(purpose, campaign_cap)
    if cap is None:
        return _("no limit on calls per number")
    return ngettext(
        "at most %(calls)d call per number in %(hours)s",
        "at most %(calls)d calls per number in %(hours)s",
        cap.calls,
    ) % {"calls": cap.calls, "hours": cap.hours()}


def reached(phone: str, purpose: str, since: dt.datetime) -> Q:
    """Select the calls of a purpose that went to the number since `since` (or go now)."""
    return Q(phone=phone, purpose=purpose, status__in=REACHING) & (
        Q(submitted_at__gte=since) | Q(submitted_at__isnull=True, claimed_at__gte=since)
    )


def cap_refusal(cap: Cap) -> FrequencyCapped:
    """The error a call over its number's cap gets."""
    return FrequencyCapped(
        _(
            "This number has had its %(calls)d call(s) of this purpose in %(hours)s: "
            "no more is placed before that period has passed."
        )
        % {"calls": cap.calls, "hours": cap.hours()}
    )


def refuse_over_cap(
    calls: Iterable[VoiceCall], campaign_cap: int | None, now: dt.datetime
) -> dict[int, FrequencyCapped]:
    """Return, by position, the refusal of each new call its number's cap does not allow.

    Counted per purpose and number: calls that went there within the period, calls still
    waiting to go (pending), and the earlier rows of these calls. One query per capped
    purpose up to 30,000 numbers on PostgreSQL.
    """
    calls = list(calls)
    refused: dict[int, FrequencyCapped] = {}
    by_purpose: dict[str, list[int]] = {}
    for index, call in enumerate(calls):
        by_purpose.setdefault(call.purpose, []).append(index)
    for purpose, indexes in by_purpose.items():
        cap = cap_for(purpose, campaign_cap)
        if cap is None:
            continue
        phones = sorted({calls[i].phone for i in indexes})
        since = now - cap.period
        counted: dict[str, int] = {}
        for chunk in phone_chunks(phones, router.db_for_read(VoiceCall)):
            went = Q(status__in=REACHING) & Q(sent__gte=since)
            rows = (
                VoiceCall.objects.filter(phone__in=chunk, purpose=purpose)
                .annotate(sent=Coalesce("submitted_at", "claimed_at"))
                .filter(went | Q(status__in=CLAIMABLE))
                .values("phone")
                .annotate(n=Count("*"))
            )
            counted.update({row["phone"]: row["n"] for row in rows})
        for index in indexes:
            phone = calls[index].phone
            if counted.get(phone, 0) >= cap.calls:
                refused[index] = cap_refusal(cap)
            else:
                counted[phone] = counted.get(phone, 0) + 1
    return refused


def capped_purposes() -> frozenset[str]:
    """Return the purposes that have a frequency cap (FREQUENCY_CAPS)."""
    return frozenset(voice_settings().frequency_caps)


def uncapped_condition(quote: Callable[[str], str]) -> str:
    """Return cap_for() as SQL for the claim's UPDATE: the call has no cap (uncapped_params).

    A campaign's own number decides when it has one (0: no cap), else the purpose's: one
    condition lets the claim of an uncapped call skip reading its cap first.
    """
    table = quote(VoiceCall._meta.db_table)
    campaign_col = quote(str(VoiceCall._meta.get_field("campaign").column))
    purpose = f"{table}.{quote(str(VoiceCall._meta.get_field('purpose').column))}"
    campaigns = quote(Campaign._meta.db_table)
    cap = quote(str(Campaign._meta.get_field("frequency_cap").column))
    key = quote(str(Campaign._meta.pk.column))
    padded = ", ".join(["%s"] * len(PURPOSES))
    return (
        f"COALESCE((SELECT {campaigns}.{cap} FROM {campaigns} "  # noqa: S608 - names only
        f"WHERE {campaigns}.{key} = {table}.{campaign_col}), "
        f"CASE WHEN {purpose} IN ({padded}) THEN 1 ELSE 0 END) = 0"
    )


def uncapped_params() -> list[object]:
    """Return the params of uncapped_condition(): the capped purposes, padded."""
    return list(_padded(capped_purposes()))


def claim_cap(call_id: int) -> tuple[str, Cap] | None:
    """Return the number and cap of a call about to be claimed, if it has a cap (one query)."""
    row = (
        VoiceCall.objects.filter(pk=call_id)
        .values_list("phone", "purpose", "campaign__frequency_cap")
        .first()
    )
    if row is None:
        return None
    phone, purpose, campaign_cap = row
    cap = cap_for(purpose, campaign_cap)
    return (phone, cap) if cap is not None else None


def lock_number(phone: str, db: str) -> None:
    """Serialise the claims of calls to one number until the transaction ends (PostgreSQL).

    Elsewhere the database serialises every write already (SQLite).
    """
    if connections[db].vendor == "postgresql":
        with connections[db].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"esms_voice:{phone}"])


def cap_refusal_at_claim(
    call_id: int, phone: str, cap: Cap, now: dt.datetime
) -> tuple[VoiceCall, FrequencyCapped] | None:
    """Return a pending call whose number had its calls within the period, and why.

    Run after lock_number(): the count sees every claim committed before it.
    """
    call = VoiceCall.objects.filter(pk=call_id, status__in=CLAIMABLE).first()
    if call is None:
        return None
    went = VoiceCall.objects.filter(reached(phone, call.purpose, now - cap.period))
    if went.exclude(pk=call_id).count() < cap.calls:
        return None
    return call, cap_refusal(cap)
