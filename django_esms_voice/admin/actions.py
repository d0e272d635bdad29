"""The admin's actions and views that place calls: every one that spends money asks first.

- Changelist actions on voice calls: place now, retry, cancel, refresh status from eSMS.
- ``call_action()``: an action for any host model's admin that calls each object's phone.
- The "call many numbers" view: paste or upload, preview, confirm.

Placing calls needs the ``esms_voice.place_voicecall`` permission; creating them also needs
``esms_voice.add_voicecall``. Confirmations carry what was checked in a signed payload
(django.core.signing), not in the session, bound to the user who saw them.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Count, Exists, OuterRef
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import idempotency, services
from .admin_forms import (
    MAX_ROWS,
    CallManyForm,
    CallOptionsForm,
    Row,
    check_rows,
    dump_options,
    load_options,
)
from .conf import CONFIRMATION_MAX_AGE
from .esms.phone import normalize_phone, repeats
from .exceptions import EsmsApiError, EsmsInputError, EsmsSettingsError, EsmsTransportError
from .models import CallKind, IdempotencyKey, VoiceCall
from .states import RETRYABLE, CallStatus, status_label

PLACE_PERMISSION = "esms_voice.place_voicecall"
ADD_PERMISSION = "esms_voice.add_voicecall"
#: How long a preview or an action form may wait for its confirmation.
PAYLOAD_MAX_AGE = CONFIRMATION_MAX_AGE
CALL_MANY_SALT = "django_esms_voice.admin.call_many"
CALL_OBJECTS_SALT = "django_esms_voice.admin.call_objects"
#: Idempotency scopes of the confirmations: each payload carries a nonce used once.
CALL_MANY_SCOPE = "admin.call_many"
CALL_OBJECTS_SCOPE = "admin.call_objects"
#: Calls listed by name on a confirmation page, per group; the rest are counted.
SHOWN_PER_GROUP = 20
#: Status polls (one HTTP request each) one "refresh status" run may make.
REFRESH_LIMIT = 100


def can_place_calls(user: Any) -> bool:
    """Whether the user may spend eSMS credit."""
    return bool(user.has_perm(PLACE_PERMISSION))


def can_see_calls(user: Any) -> bool:
    """Whether the user may look at voice calls (and so at their events)."""
    return bool(
        user.has_perm("esms_voice.view_voicecall") or user.has_perm("esms_voice.change_voicecall")
    )


def can_create_calls(user: Any) -> bool:
    """Whether the user may create calls and have them placed."""
    return bool(user.has_perm(PLACE_PERMISSION) and user.has_perm(ADD_PERMISSION))


def _has_esms_voice_call_permission(self: admin.ModelAdmin[Any], request: HttpRequest) -> bool:
    """Whether the user may run call_action() (and retry calls): place and add voice calls."""
    return can_create_calls(request.user)


# ----------------------------------------------------------------------------- summaries


@dataclass
class Group:
    """Calls or objects sharing one reason to be skipped (or one fate), with a few named."""

    label: str | Promise
    reason: str | Promise
    count: int = 0
    shown: list[Any] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.shown)


def _add(
    groups: dict[str, Group], key: str, label: str | Promise, reason: str | Promise, item: Any
) -> None:
    """Count an item in its group, naming it while the group is short."""
    group = groups.setdefault(key, Group(label=label, reason=reason))
    group.count += 1
    if len(group.shown) < SHOWN_PER_GROUP:
        group.shown.append(item)


def skipped_text(groups: Iterable[Group]) -> str:
    """Say how many were skipped and why: "2 skipped: invalid phone number"."""
    groups = [g for g in groups if g.count]
    total = sum(g.count for g in groups)
    if not total:
        return ""
    labels: Counter[str] = Counter()
    for group in groups:
        labels[str(group.label)] += group.count
    if len(labels) == 1:
        reasons = next(iter(labels))
    else:
        reasons = ", ".join(f"{label} ({count})" for label, count in labels.items())
    return ngettext("%(count)d skipped: %(reasons)s", "%(count)d skipped: %(reasons)s", total) % {
        "count": total,
        "reasons": reasons,
    }


def _join(*parts: str) -> str:
    """Join the parts of a message that say something."""
    return ", ".join(part for part in parts if part) + "."


def queued_text(count: int) -> str:
    """Say how many calls were queued: "12 calls queued"."""
    return ngettext("%(count)d call queued", "%(count)d calls queued", count) % {"count": count}


def _status_groups(
    queryset: models.QuerySet[VoiceCall], label: str | Promise, reason: str
) -> list[Group]:
    """Group calls by status, reason being a format with %(status)s; a few named per group."""
    counts = queryset.order_by().values_list("status").annotate(n=Count("pk"))
    groups = []
    for status, count in sorted(counts):
        display = status_label(status)
        shown = list(queryset.filter(status=status)[:SHOWN_PER_GROUP])
        groups.append(Group(label, reason % {"status": display}, count, shown))
    return groups


# ----------------------------------------------------------------------------- confirmation


def _confirmation(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    *,
    action: str,
    title: str | Promise,
    summary: str,
    count: int,
    eligible: Sequence[Any],
    skipped: Sequence[Group],
    confirm_label: str,
) -> TemplateResponse:
    """Render a page like Django's delete confirmation: what will happen, what is skipped."""
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "media": modeladmin.media,
        "action": action,
        "summary": summary,
        "count": count,
        "eligible": eligible,
        "more_eligible": max(count - len(eligible), 0),
        "skipped": skipped,
        "confirm_label": confirm_label,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across") == "1",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "esms_voice/admin/confirm_action.html", context)


def _confirmed(request: HttpRequest) -> bool:
    return request.POST.get("post") == "yes"


# ----------------------------------------------------------------------------- voice call actions


@admin.action(
    description=_("Place the selected pending calls now"), permissions=["place_voicecall"]
)
def place_now(
    modeladmin: admin.ModelAdmin[VoiceCall],
    request: HttpRequest,
    queryset: models.QuerySet[VoiceCall],
) -> HttpResponse | None:
    """Send pending calls to the workers now (a call claimed twice is still placed once)."""
    if not can_place_calls(request.user):
        raise PermissionDenied
    pending = queryset.filter(status=CallStatus.PENDING)
    skipped = _status_groups(
        queryset.exclude(status=CallStatus.PENDING),
        _("not pending"),
        gettext("Status “%(status)s”: only pending calls are placed."),
    )
    if not _confirmed(request):
        count = pending.count()
        return _confirmation(
            modeladmin,
            request,
            action="place_now",
            title=_("Place calls now"),
            summary=ngettext(
                "%(count)d call will be placed now. eSMS charges for it.",
                "%(count)d calls will be placed now. eSMS charges for each of them.",
                count,
            )
            % {"count": count},
            count=count,
            eligible=list(pending[:SHOWN_PER_GROUP]),
            skipped=skipped,
            confirm_label=ngettext("Yes, place %(count)d call", "Yes, place %(count)d calls", count)
            % {"count": count},
        )
    ids = list(pending.values_list("pk", flat=True))
    sent = services.enqueue_calls(ids)
    modeladmin.message_user(
        request,
        _join(queued_text(len(ids)), skipped_text(skipped)),
        messages.SUCCESS if ids else messages.WARNING,
    )
    if sent < len(ids):
        modeladmin.message_user(
            request,
            ngettext(
                "The queue did not answer for %(count)d call: the sweep will place it.",
                "The queue did not answer for %(count)d calls: the sweep will place them.",
                len(ids) - sent,
            )
            % {"count": len(ids) - sent},
            messages.WARNING,
        )
    return None


@admin.action(
    description=_("Retry the selected rejected or failed calls"),
    permissions=["esms_voice_call"],
)
def retry_calls(
    modeladmin: admin.ModelAdmin[VoiceCall],
    request: HttpRequest,
    queryset: models.QuerySet[VoiceCall],
) -> HttpResponse | None:
    """Place refused or failed calls again, as new calls linked to the old ones."""
    if not can_create_calls(request.user):
        raise PermissionDenied
    skipped = _status_groups(
        queryset.exclude(status__in=RETRYABLE),
        _("not rejected or failed"),
        gettext(
            "Status “%(status)s”: only rejected calls and calls that failed to send are retried."
        ),
    )
    retryable = queryset.filter(status__in=RETRYABLE)
    if not _confirmed(request):
        retried = Exists(VoiceCall.objects.filter(retry_of=OuterRef("pk")))
        eligible = retryable.filter(~retried)
        already = retryable.filter(retried)
        count, already_count = eligible.count(), already.count()
        if already_count:
            shown = list(already[:SHOWN_PER_GROUP])
            skipped.append(Group(_("already retried"), _("Already retried."), already_count, shown))
        return _confirmation(
            modeladmin,
            request,
            action="retry_calls",
            title=_("Retry calls"),
            summary=ngettext(
                "%(count)d call will be placed again, as a new call. eSMS charges for it.",
                "%(count)d calls will be placed again, as new calls. eSMS charges for each.",
                count,
            )
            % {"count": count},
            count=count,
            eligible=list(eligible[:SHOWN_PER_GROUP]),
            skipped=skipped,
            confirm_label=ngettext("Yes, retry %(count)d call", "Yes, retry %(count)d calls", count)
            % {"count": count},
        )
    created = 0
    refused: dict[str, Group] = {}
    with transaction.atomic():
        # Locked, then checked: two operators retrying the same call make one new call.
        for call in retryable.select_for_update():
            if VoiceCall.objects.filter(retry_of=call).exists():
                _add(refused, "retried", _("already retried"), _("Already retried."), call)
                continue
            try:
                services.retry_call(call, created_by=request.user)
            except EsmsInputError as exc:
                _add(refused, "invalid", _("invalid values"), str(exc.message), call)
            else:
                created += 1
    modeladmin.message_user(
        request,
        _join(queued_text(created), skipped_text([*skipped, *refused.values()])),
        messages.SUCCESS if created else messages.WARNING,
    )
    return None


@admin.action(description=_("Cancel the selected pending calls"), permissions=["change"])
def cancel_calls(
    modeladmin: admin.ModelAdmin[VoiceCall],
    request: HttpRequest,
    queryset: models.QuerySet[VoiceCall],
) -> None:
    """Cancel calls not sent yet; a call already on its way to eSMS cannot be called back."""
    canceled = 0
    for call in queryset.filter(status=CallStatus.PENDING):
        canceled += services.cancel_call(call)
    skipped = queryset.count() - canceled
    message = ngettext("%(count)d call canceled", "%(count)d calls canceled", canceled) % {
        "count": canceled
    }
    if skipped:
        message = _join(
            message,
            ngettext(
                "%(count)d skipped: already sent to eSMS or finished",
                "%(count)d skipped: already sent to eSMS or finished",
                skipped,
            )
            % {"count": skipped},
        )
    modeladmin.message_user(request, message, messages.SUCCESS if canceled else messages.WARNING)


@admin.action(
    description=_("Refresh the status of the selected calls from eSMS"), permissions=["change"]
)
def refresh_calls(
    modeladmin: admin.ModelAdmin[VoiceCall],
    request: HttpRequest,
    queryset: models.QuerySet[VoiceCall],
) -> None:
    """Ask eSMS (GetSendStatus, free of charge) for the state of calls it has."""
    known = queryset.exclude(smsid="")
    count = known.count()
    if count > REFRESH_LIMIT:
        modeladmin.message_user(
            request,
            gettext("Select at most %(max)d calls sent to eSMS at a time: each one is a request.")
            % {"max": REFRESH_LIMIT},
            messages.ERROR,
        )
        return
    refreshed = changed = unknown = 0
    failures: list[str] = []
    for call in known:
        try:
            event = services.refresh_status(call)
        except (EsmsApiError, EsmsTransportError, EsmsSettingsError) as exc:
            failures.append(f"{call.phone}: {exc}")
            continue
        if event is None:
            unknown += 1
            continue
        refreshed += 1
        changed += event.old_status != event.new_status
    not_sent = queryset.count() - count
    parts = [
        ngettext(
            "%(count)d call refreshed from eSMS (%(changed)d changed)",
            "%(count)d calls refreshed from eSMS (%(changed)d changed)",
            refreshed,
        )
        % {"count": refreshed, "changed": changed}
    ]
    if unknown:
        parts.append(
            ngettext(
                "%(count)d not known to eSMS yet",
                "%(count)d not known to eSMS yet",
                unknown,
            )
            % {"count": unknown}
        )
    if not_sent:
        parts.append(
            ngettext(
                "%(count)d skipped: not sent to eSMS yet",
                "%(count)d skipped: not sent to eSMS yet",
                not_sent,
            )
            % {"count": not_sent}
        )
    modeladmin.message_user(request, _join(*parts), messages.SUCCESS)
    if failures:
        modeladmin.message_user(
            request,
            gettext("eSMS could not be asked about: %(calls)s")
            % {"calls": "; ".join(failures[:5])},
            messages.ERROR,
        )


# ----------------------------------------------------------------------------- host models


@dataclass(frozen=True)
class CallActionSpec:
    """What call_action() reads from each object."""

    phone_field: str
    variables: tuple[str, ...]
    name: str


def _resolve(obj: Any, path: str) -> Any:
    """Read an attribute path ("customer__phone"), calling methods on the way."""
    value = obj
    for part in path.split("__"):
        if value is None:
            return None
        value = getattr(value, part, None)
        if callable(value):
            value = value()
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def call_action(
    phone_field: str = "phone",
    variables: Sequence[str] = (),
    *,
    description: Any = None,
    name: str | None = None,
) -> Callable[..., HttpResponse | None]:
    """Return an admin action that calls the phone of every selected object.

    ``actions = [call_action(phone_field="phone", variables=["name", "amount"])]`` on any
    ModelAdmin: the action opens a form (recording or script, voice, schedule) listing which
    objects will be called and which are skipped (no phone, or a wrong one); once confirmed it
    creates one call per object, linked to it, in one batch. ``variables`` are attribute paths
    read from each object, in the order of the script's variables (script calls only).

    It needs the ``esms_voice.place_voicecall`` and ``esms_voice.add_voicecall`` permissions:
    without them the action is not offered (a ModelAdmin may override
    ``has_esms_voice_call_permission(request)``) and the form answers 403.
    """
    spec = CallActionSpec(phone_field, tuple(variables), name or f"esms_voice_call_{phone_field}")

    def action(
        modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: models.QuerySet[Any]
    ) -> HttpResponse | None:
        return start_call_objects(modeladmin, request, queryset, spec)

    action.__name__ = spec.name
    action.__qualname__ = spec.name
    return admin.action(
        description=description or _("Call the selected %(verbose_name_plural)s"),
        permissions=["esms_voice_call"],
    )(action)


@dataclass
class Target:
    """One selected object and the number that will be called."""

    obj: Any
    phone: str
    variables: list[str]
    error: str = ""
    label: str | Promise = ""


def _targets(objects: Iterable[Any], spec: CallActionSpec) -> list[Target]:
    """Read each object's phone and variables; say which have no usable (or a repeated) phone."""
    targets = []
    for obj in objects:
        raw = _text(_resolve(obj, spec.phone_field)).strip()
        target = Target(obj, raw, [_text(_resolve(obj, path)) for path in spec.variables])
        if not raw:
            target.error, target.label = gettext("No phone number."), _("no phone number")
        else:
            try:
                target.phone = normalize_phone(raw)
            except EsmsInputError as exc:
                target.error, target.label = str(exc.message), _("invalid phone number")
        targets.append(target)
    for index in repeats([t.phone if not t.error else None for t in targets]):
        targets[index].error = gettext("The same number as another selected object.")
        targets[index].label = _("same number as another")
    return targets


def _skip_groups(targets: Iterable[Target]) -> list[Group]:
    groups: dict[str, Group] = {}
    for target in targets:
        if target.error:
            _add(groups, str(target.label), target.label, "", target)
    return list(groups.values())


def start_call_objects(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: models.QuerySet[Any],
    spec: CallActionSpec,
) -> HttpResponse | None:
    """The action itself: show the options form and who will be called, on the host's page."""
    if not can_create_calls(request.user):
        raise PermissionDenied
    objects = list(queryset[: MAX_ROWS + 1])
    if len(objects) > MAX_ROWS:
        modeladmin.message_user(
            request,
            gettext("Select at most %(max)d objects at a time.") % {"max": MAX_ROWS},
            messages.ERROR,
        )
        return None
    opts = modeladmin.model._meta
    payload = signing.dumps(
        {
            "ct": ContentType.objects.get_for_model(modeladmin.model).pk,
            "pks": [str(obj.pk) for obj in objects],
            "phone_field": spec.phone_field,
            "variables": list(spec.variables),
            "user": request.user.pk,
            "back": request.get_full_path(),
            "site": modeladmin.admin_site.name,
            "nonce": new_nonce(),
        },
        salt=CALL_OBJECTS_SALT,
        compress=True,
    )
    return render_call_objects(
        request,
        admin_site=modeladmin.admin_site,
        opts=opts,
        targets=_targets(objects, spec),
        has_variables=bool(spec.variables),
        form=CallOptionsForm(),
        payload=payload,
        back=request.get_full_path(),
        media=modeladmin.media,
    )


def render_call_objects(
    request: HttpRequest,
    *,
    admin_site: admin.AdminSite,
    opts: Any,
    targets: list[Target],
    has_variables: bool,
    form: CallOptionsForm,
    payload: str,
    back: str,
    media: forms.Media,
) -> TemplateResponse:
    """Render the host-model action's form: the options, who is called, who is skipped."""
    callable_targets = [t for t in targets if not t.error]
    count = len(callable_targets)
    context = {
        **admin_site.each_context(request),
        "title": gettext("Call the selected %(name)s") % {"name": opts.verbose_name_plural},
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "form": form,
        "media": media + form.media,
        "targets": callable_targets[: SHOWN_PER_GROUP * 5],
        "more_targets": max(count - SHOWN_PER_GROUP * 5, 0),
        "count": count,
        "skipped": _skip_groups(targets),
        "has_variables": has_variables,
        "summary": ngettext(
            "%(count)d number will be called. eSMS charges for the call.",
            "%(count)d numbers will be called. eSMS charges for each call.",
            count,
        )
        % {"count": count},
        "confirm_label": ngettext("Place %(count)d call", "Place %(count)d calls", count)
        % {"count": count},
        "payload": payload,
        "back": back,
        "form_url": reverse("admin:esms_voice_voicecall_call_objects", current_app=admin_site.name),
    }
    request.current_app = admin_site.name
    return TemplateResponse(request, "esms_voice/admin/call_objects.html", context)


def _loads(payload: str, salt: str, request: HttpRequest) -> dict[str, Any] | None:
    """Read a signed payload made for this user, or None when it is forged, old or not theirs."""
    try:
        data = signing.loads(payload, salt=salt, max_age=PAYLOAD_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one too
        return None
    if not isinstance(data, dict) or data.get("user") != request.user.pk:
        return None
    if not data.get("nonce"):  # made before confirmations were single-use
        return None
    return data


def new_nonce() -> str:
    """Return the single-use key a confirmation's payload carries."""
    return secrets.token_urlsafe(16)


def already_created(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, first: IdempotencyKey
) -> None:
    """Tell the user a confirmation was posted again: nothing new was placed."""
    modeladmin.message_user(
        request,
        ngettext(
            "This batch was already created: %(count)d call (batch “%(batch)s”). "
            "No new call was placed.",
            "This batch was already created: %(count)d calls (batch “%(batch)s”). "
            "No new call was placed.",
            first.call_count,
        )
        % {"count": first.call_count, "batch": first.batch},
        messages.WARNING,
    )


def _calls_list_url(request: HttpRequest, site_name: str, batch: str) -> str | None:
    """The voice call list filtered on a batch, when the user may see it."""
    if not can_see_calls(request.user):
        return None
    try:
        url = reverse("admin:esms_voice_voicecall_changelist", current_app=site_name)
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode({'batch': batch})}"


def call_objects_view(
    modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest
) -> HttpResponse:
    """The host-model action's form posts here: check, create the calls in one batch, report."""
    if not can_create_calls(request.user):
        raise PermissionDenied
    if request.method != "POST":
        return HttpResponseRedirect(reverse("admin:index", current_app=modeladmin.admin_site.name))
    data = _loads(request.POST.get("payload", ""), CALL_OBJECTS_SALT, request)
    if data is None:
        modeladmin.message_user(
            request,
            gettext("This form has expired or is not yours: select the objects again."),
            messages.ERROR,
        )
        return HttpResponseRedirect(reverse("admin:index", current_app=modeladmin.admin_site.name))
    model = ContentType.objects.get_for_id(data["ct"]).model_class()
    if model is None:
        raise PermissionDenied
    back = data["back"]
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("admin:index", current_app=modeladmin.admin_site.name)
    spec = CallActionSpec(data["phone_field"], tuple(data["variables"]), "")
    by_pk = {str(obj.pk): obj for obj in model._default_manager.filter(pk__in=data["pks"])}
    targets = _targets([by_pk[pk] for pk in data["pks"] if pk in by_pk], spec)
    form = CallOptionsForm(request.POST)
    if not form.is_valid() or not any(not t.error for t in targets):
        return render_call_objects(
            request,
            admin_site=modeladmin.admin_site,
            opts=model._meta,
            targets=targets,
            has_variables=bool(spec.variables),
            form=form,
            payload=request.POST["payload"],
            back=back,
            media=modeladmin.media,
        )
    options = form.options()
    template = options["kind"] == CallKind.TEMPLATE
    rows = check_rows(
        (
            Row(line=n, text="", phone=t.phone, variables=t.variables if template else [])
            for n, t in enumerate(targets, start=1)
            if not t.error
        ),
        options,
    )
    skipped = {str(g.label): g for g in _skip_groups(targets)}
    ready = []
    for target, row in zip([t for t in targets if not t.error], rows, strict=True):
        if row.valid:
            ready.append({**row.fields, "content_object": target.obj})
        else:  # e.g. a variable with "||" in it
            target.error = row.error
            _add(skipped, "invalid", _("invalid values"), "", target)
    batch = services.new_batch_name(model._meta.model_name or "call")
    created: list[VoiceCall] = []
    if ready:
        with transaction.atomic():
            first, fresh = idempotency.claim(
                CALL_OBJECTS_SCOPE, data["nonce"], batch=batch, call_count=len(ready)
            )
            if fresh:
                created = services.create_calls(ready, batch=batch, created_by=request.user)
        if not fresh:
            already_created(modeladmin, request, first)
            target_url = _calls_list_url(request, data.get("site", "admin"), first.batch)
            return HttpResponseRedirect(target_url or back)
    modeladmin.message_user(
        request,
        _join(queued_text(len(created)), skipped_text(skipped.values())),
        messages.SUCCESS if created else messages.WARNING,
    )
    target_url = _calls_list_url(request, data.get("site", "admin"), batch) if created else None
    return HttpResponseRedirect(target_url or back)


# ----------------------------------------------------------------------------- call many numbers


def call_many_view(modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest) -> HttpResponse:
    """Paste numbers or upload a CSV, see which rows are wrong, confirm, get one batch."""
    if not modeladmin.has_add_permission(request):
        raise PermissionDenied
    if request.method == "POST" and "payload" in request.POST:
        return _call_many_confirmed(modeladmin, request)
    if request.method == "POST":
        form = CallManyForm(request.POST, request.FILES)
        if form.is_valid():
            return _call_many_preview(modeladmin, request, form)
    else:
        form = CallManyForm()
    return _call_many_page(
        modeladmin,
        request,
        "esms_voice/admin/call_many.html",
        {"form": form, "media": modeladmin.media + form.media},
    )


def _call_many_page(
    modeladmin: admin.ModelAdmin[VoiceCall],
    request: HttpRequest,
    template: str,
    extra: Mapping[str, Any],
) -> TemplateResponse:
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": _("Call many numbers"),
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "max_rows": MAX_ROWS,
        **extra,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, template, context)


def _call_many_preview(
    modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest, form: CallManyForm
) -> TemplateResponse:
    """Show the valid rows and the invalid ones (line and reason); nothing is created yet."""
    options = form.options()
    rows = check_rows(form.cleaned_data["rows"], options)
    valid = [row for row in rows if row.valid]
    invalid = [row for row in rows if not row.valid]
    batch = form.cleaned_data["batch"].strip() or services.new_batch_name("call-many")
    payload = ""
    if valid:
        payload = signing.dumps(
            {
                "user": request.user.pk,
                "nonce": new_nonce(),
                "batch": batch,
                "options": dump_options(options),
                "rows": [[row.fields["phone"], row.fields["variables"]] for row in valid],
            },
            salt=CALL_MANY_SALT,
            compress=True,
        )
    count = len(valid)
    return _call_many_page(
        modeladmin,
        request,
        "esms_voice/admin/call_many_preview.html",
        {
            "valid": valid[: SHOWN_PER_GROUP * 10],
            "more_valid": max(count - SHOWN_PER_GROUP * 10, 0),
            "invalid": invalid,
            "count": count,
            "batch": batch,
            "options": options,
            "kind_label": CallKind(options["kind"]).label,
            "is_template": options["kind"] == CallKind.TEMPLATE,
            "payload": payload,
            "summary": ngettext(
                "%(count)d number will be called in batch “%(batch)s”. eSMS charges for it.",
                "%(count)d numbers will be called in batch “%(batch)s”. eSMS charges for each.",
                count,
            )
            % {"count": count, "batch": batch},
            "invalid_summary": ngettext(
                "%(count)d row is invalid and will be skipped:",
                "%(count)d rows are invalid and will be skipped:",
                len(invalid),
            )
            % {"count": len(invalid)},
            "confirm_label": ngettext("Place %(count)d call", "Place %(count)d calls", count)
            % {"count": count},
        },
    )


def _call_many_confirmed(
    modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest
) -> HttpResponse:
    """Create the confirmed rows as one batch, in bulk."""
    data = _loads(request.POST["payload"], CALL_MANY_SALT, request)
    if data is None:
        modeladmin.message_user(
            request,
            gettext("This preview has expired or is not yours: check the numbers again."),
            messages.ERROR,
        )
        return HttpResponseRedirect(request.path)
    options = load_options(data["options"])
    template = options["kind"] == CallKind.TEMPLATE
    rows = [
        {**options, "phone": phone, "variables": variables if template else []}
        for phone, variables in data["rows"]
    ]
    url = reverse("admin:esms_voice_voicecall_changelist", current_app=modeladmin.admin_site.name)
    try:
        with transaction.atomic():
            first, fresh = idempotency.claim(
                CALL_MANY_SCOPE, data["nonce"], batch=data["batch"], call_count=len(rows)
            )
            if fresh:
                created = services.create_calls(rows, batch=data["batch"], created_by=request.user)
    except services.BulkCallError as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return HttpResponseRedirect(request.path)
    if not fresh:
        already_created(modeladmin, request, first)
        return HttpResponseRedirect(f"{url}?{urlencode({'batch': first.batch})}")
    modeladmin.message_user(
        request,
        ngettext(
            "%(count)d call queued in batch “%(batch)s”.",
            "%(count)d calls queued in batch “%(batch)s”.",
            len(created),
        )
        % {"count": len(created), "batch": data["batch"]},
        messages.SUCCESS,
    )
    return HttpResponseRedirect(f"{url}?{urlencode({'batch': data['batch']})}")
