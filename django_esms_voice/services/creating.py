"""Create calls: check them the way eSMS will, save them, enqueue them once committed.

check_calls() is the one check the admin, the API and the commands run on what they were
given; create_call() and create_calls() run it too, so nothing unchecked is ever saved.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import options, policies, secrecy
from ..conf import default_purpose
from ..esms.phone import repeats
from ..exceptions import EsmsInputError
from ..models import CallKind, Campaign, CampaignSource, VoiceCall
from ..purposes import PURPOSES
from . import campaigns
from .enqueueing import enqueue_calls, is_urgent

BULK_CHUNK_SIZE = 500
#: What links a call to the host's object and its campaign: copied by a retry with the options.
LINK_FIELDS = ("content_type", "object_id", "campaign")
#: What a row may hold besides the options: the host's object, who made it, what it retries.
EXTRA_FIELDS = ("content_object", "created_by", "retry_of", "hold", "purpose", *LINK_FIELDS)


class BulkCallError(EsmsInputError):
    """Some rows of a bulk call are invalid; nothing was created. `errors` maps row → error."""

    def __init__(self, errors: dict[int, EsmsInputError]) -> None:
        self.errors = errors
        first = next(iter(errors.items()))
        super().__init__("rows", f"{len(errors)} invalid row(s); row {first[0]}: {first[1]}")


class RepeatedPhone(EsmsInputError):
    """A row calls the same number as an earlier row; `earlier` is that row's index."""

    def __init__(self, earlier: int) -> None:
        self.earlier = earlier
        super().__init__("phone", _("The same number as row %(row)d.") % {"row": earlier + 1})


@dataclass
class CheckedCall:
    """One row after check_calls(): its normalised values, or why it would be refused."""

    values: dict[str, Any]
    error: EsmsInputError | None = None
    #: The unsaved call, when the row is valid.
    call: VoiceCall | None = field(default=None, repr=False)

    @property
    def valid(self) -> bool:
        """Whether the row can be created as it is."""
        return self.error is None


def new_call(values: Mapping[str, Any]) -> VoiceCall:
    """Build an unsaved call from an option → value mapping and check it the way eSMS will."""
    unknown = set(values) - {*options.NAMES, *EXTRA_FIELDS}
    if unknown:
        raise TypeError(f"unexpected field for a voice call: {sorted(unknown)[0]!r}")
    fields = dict(values)
    content_object: Model | None = fields.pop("content_object", None)
    if content_object is not None:
        fields["content_type"] = ContentType.objects.get_for_model(content_object)
        fields["object_id"] = str(content_object.pk)
    # A campaign's call has its campaign's purpose (_join): its window and secrecy follow it.
    campaign = fields.get("campaign")
    purpose = campaign.purpose if campaign is not None else fields.get("purpose")
    fields["purpose"] = purpose = purpose or default_purpose()
    if purpose not in PURPOSES:
        raise EsmsInputError(
            "purpose",
            _("Unknown purpose “%(purpose)s”: use one of %(purposes)s.")
            % {"purpose": purpose, "purposes": ", ".join(PURPOSES)},
        )
    fields.setdefault("kind", CallKind.RECORD)
    if fields["kind"] == CallKind.TEMPLATE:
        fields["secret_variables"] = secrecy.resolve(fields.get("secret_variables"), purpose)
    call = VoiceCall(**options.validate(fields))
    policies.check_send_at(purpose, call.send_at)
    return call


def check_calls(
    rows: Iterable[Mapping[str, Any]],
    *,
    allow_repeats: bool = False,
    frequency_cap: int | None = None,
) -> list[CheckedCall]:
    """Check every row as eSMS will, and refuse a number an earlier row has (unless allowed).

    Each row maps create_call()'s keywords to values. Nothing is saved; a valid row's values
    are normalised (the phone as 0901888484, ...) and can be passed to create_calls(). A
    number on the suppression list, or one that had the calls its frequency cap allows, is
    refused too (frequency_cap: a campaign's own number, Campaign.frequency_cap).
    """
    checked: list[CheckedCall] = []
    for row in rows:
        try:
            call = new_call(row)
        except EsmsInputError as exc:
            checked.append(CheckedCall(dict(row), exc))
            continue
        values = {name: getattr(call, name) for name in options.NAMES}
        values.update({name: row[name] for name in EXTRA_FIELDS if name in row})
        checked.append(CheckedCall(values, call=call))
    if not allow_repeats:
        phones = [row.values["phone"] if row.valid else None for row in checked]
        for index, earlier in repeats(phones).items():
            checked[index].error, checked[index].call = RepeatedPhone(earlier), None
    # The suppression list, in one lookup for all the rows (policies.suppressions).
    valid = [row for row in checked if row.call is not None]
    refused = policies.refuse_suppressed(row.call for row in valid if row.call is not None)
    for index, refusal in refused.items():
        valid[index].error, valid[index].call = refusal, None
    # The frequency caps (frequency_cap: a campaign's own number), per number and purpose.
    valid = [row for row in checked if row.call is not None]
    calls = [row.call for row in valid if row.call is not None]
    for index, capped in policies.refuse_over_cap(calls, frequency_cap, timezone.now()).items():
        valid[index].error, valid[index].call = capped, None
    return checked


def new_batch_name(prefix: str) -> str:
    """Name a batch after what made it and when: customer-20260127-153012-1a2b."""
    return f"{prefix}-{timezone.localtime():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"[:100]


def create_call(
    *,
    phone: str,
    template_id: str,
    kind: str = CallKind.RECORD,
    variables: Sequence[object] = (),
    secret_variables: bool | None = None,
    voice: str | None = None,
    speed: int | None = None,
    ivr_key: int | None = None,
    number_forward: str | None = None,
    max_repeat: int | None = None,
    max_retry: int | None = None,
    time_wait_to_ivr: int | None = None,
    wait_retry: int | None = None,
    send_at: dt.datetime | None = None,
    batch: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    content_object: Model | None = None,
    created_by: Any = None,
    retry_of: VoiceCall | None = None,
    campaign: Campaign | None = None,
    purpose: str | None = None,
    enqueue: bool = True,
) -> VoiceCall:
    """Check, save and (after commit) enqueue one call; raises EsmsInputError when invalid.

    phone: any spelling of a Vietnamese number. template_id: the recording's id (kind
    "record", the default) or the script's (kind "template"). Script calls only: variables
    (the script's values, in order), secret_variables (a one-time password: never shown,
    wiped once eSMS has the call; None: as SECRET_VARIABLE_PURPOSES says), voice, speed
    (-3 to 3). Recording calls only: ivr_key (0-9) with number_forward (the number the key
    forwards to), max_repeat, max_retry, time_wait_to_ivr, wait_retry. send_at: an aware
    datetime eSMS places the call at.
    batch and metadata: your tag and your data. content_object: the object the call is about
    (a customer, an order). created_by: the user, if any. campaign: a Campaign to add the
    call to (held if it is paused; the call takes its purpose). purpose: advertising,
    customer_care or transactional (default: ESMS_VOICE['DEFAULT_PURPOSE']); outside its
    calling window the call waits, held, until it opens. enqueue=False leaves it to you.
    """
    arguments = dict(locals())  # every keyword above, as the call's values
    del arguments["enqueue"]
    return save_call(new_call({**arguments, "variables": list(variables)}), enqueue=enqueue)


def save_call(call: VoiceCall, *, enqueue: bool = True) -> VoiceCall:
    """Save a checked call (new_call) and enqueue it once the transaction commits.

    Raises SuppressedNumber when its purpose may not call its number (the suppression list),
    FrequencyCapped when the number had the calls its cap allows.
    """
    refused = policies.refuse_suppressed([call])
    if refused:
        raise refused[0]
    with transaction.atomic():
        if call.campaign is not None:
            _join(call, campaigns.lock_for_new_calls(call.campaign))
        else:
            policies.hold_new_call(call, None, timezone.now())
        cap = call.campaign.frequency_cap if call.campaign is not None else None
        over = policies.refuse_over_cap([call], cap, timezone.now())
        if over:
            raise over[0]
        call.save()
        if enqueue and not call.hold:
            transaction.on_commit(lambda: enqueue_calls([call.pk], urgent=is_urgent(call.purpose)))
    return call


def _join(call: VoiceCall, campaign: Campaign, now: dt.datetime | None = None) -> None:
    """Make a call one of a (locked) campaign's: its name as the batch, its purpose, its holds."""
    call.campaign, call.batch, call.purpose = campaign, campaign.name, campaign.purpose
    policies.hold_new_call(call, campaign.state, now or timezone.now())


def create_calls(
    rows: Iterable[Mapping[str, Any]],
    *,
    campaign: Campaign | str | None = None,
    batch: str = "",
    purpose: str | None = None,
    source: str = CampaignSource.CODE,
    created_by: Any = None,
    enqueue: bool = True,
    allow_repeats: bool = True,
    frequency_cap: int | None = None,
) -> list[VoiceCall]:
    """Check every row (check_calls), then bulk-create them as one campaign; all or nothing.

    A row maps create_call()'s keywords to values; created_by applies to every row that does
    not set its own. campaign: a Campaign to add the calls to, or the name of a new one (by
    default `batch`, else a made-up name); purpose, source and frequency_cap (calls per number,
    Campaign.frequency_cap) describe a new one. Raises BulkCallError with every invalid row
    (1-based).
    """
    # Every call has its campaign's purpose: its SendDate is checked against that window.
    purpose = campaign.purpose if isinstance(campaign, Campaign) else purpose or default_purpose()
    if isinstance(campaign, Campaign):
        frequency_cap = campaign.frequency_cap
    checked = check_calls(
        ({"created_by": created_by, **row, "purpose": purpose} for row in rows),
        allow_repeats=allow_repeats,
        frequency_cap=frequency_cap,
    )
    errors = {n: row.error for n, row in enumerate(checked, start=1) if row.error is not None}
    if errors:
        raise BulkCallError(errors)
    calls = [row.call for row in checked if row.call is not None]
    with transaction.atomic():
        if isinstance(campaign, Campaign):
            campaign = campaigns.lock_for_new_calls(campaign)
        else:
            first = checked[0].values if checked else {}
            campaign = campaigns.create_campaign(
                name=campaign or batch or new_batch_name("calls"),
                kind=first.get("kind", CallKind.RECORD),
                template_id=first.get("template_id", ""),
                options=campaigns.shared_options([row.values for row in checked]),
                purpose=purpose,
                created_by=created_by,
                source=source,
                frequency_cap=frequency_cap,
            )
        now = timezone.now()
        for call in calls:
            _join(call, campaign, now)
        created = VoiceCall.objects.bulk_create(calls, batch_size=BULK_CHUNK_SIZE)
        ids = [call.pk for call in created if not call.hold]
        if enqueue and ids:
            transaction.on_commit(lambda: enqueue_calls(ids, urgent=is_urgent(purpose)))
    return created
