"""call_action(): an admin action for any host model that calls each selected object's phone.

The action shows the options form and who will be called on the host's page; the form posts to
the voice call admin's call-objects view, which creates the calls in one batch once confirmed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..esms.phone import normalize_phone, repeats
from ..exceptions import EsmsInputError
from ..models import CallKind, CampaignSource, VoiceCall
from ..services import idempotency
from .campaign_controls import campaign_url
from .confirmation import already_created, calls_list_url, load_payload, new_nonce
from .forms import CallOptionsForm
from .permissions import can_create_calls
from .rows import MAX_ROWS, Row, check_rows
from .spending import spending_context
from .summaries import SHOWN_PER_GROUP, Group, count_in, queued_text, sentence, skipped_text

CALL_OBJECTS_SALT = "django_esms_voice.admin.call_objects"
#: The idempotency scope of the confirmation: each payload carries a nonce used once.
CALL_OBJECTS_SCOPE = "admin.call_objects"
#: The attribute that marks an action made by call_action(), holding its CallActionSpec.
SPEC_ATTRIBUTE = "esms_voice_call_spec"


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
    without them the action refuses to run and the form answers 403. Add
    ``VoiceCallActionMixin`` to the ModelAdmin's bases to offer the action only to those who
    have them (the mixin's ``has_esms_voice_call_permission(request)`` may be overridden).
    """
    spec = CallActionSpec(phone_field, tuple(variables), name or f"esms_voice_call_{phone_field}")

    def action(
        modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: models.QuerySet[Any]
    ) -> HttpResponse | None:
        return start_call_objects(modeladmin, request, queryset, spec)

    action.__name__ = spec.name
    action.__qualname__ = spec.name
    setattr(action, SPEC_ATTRIBUTE, spec)
    return admin.action(description=description or _("Call the selected %(verbose_name_plural)s"))(
        action
    )


def spec_of(action: object) -> CallActionSpec | None:
    """Return what an action made by call_action() reads, or None for any other action."""
    spec = getattr(action, SPEC_ATTRIBUTE, None)
    return spec if isinstance(spec, CallActionSpec) else None


@dataclass
class Target:
    """One selected object and the number that will be called."""

    obj: Any
    phone: str
    variables: list[str]
    error: str = ""
    label: str | Promise = ""


def read_targets(objects: Iterable[Any], spec: CallActionSpec) -> list[Target]:
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
            count_in(groups, str(target.label), target.label, "", target)
    return list(groups.values())


def start_call_objects(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: models.QuerySet[Any],
    spec: CallActionSpec,
) -> HttpResponse | None:
    """The action itself: show the options form and who will be called, on the host's page."""
    if not can_create_calls(request.user):
        # Reached when the host's admin offers the action to everyone (no VoiceCallActionMixin).
        modeladmin.message_user(
            request,
            gettext(
                "You may not place voice calls: ask an administrator for the permissions "
                "to add and to place voice calls."
            ),
            messages.ERROR,
        )
        return None
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
        targets=read_targets(objects, spec),
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
        **spending_context(count),
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


def call_objects_view(
    modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest
) -> HttpResponse:
    """The host-model action's form posts here: check, create the calls in one batch, report."""
    if not can_create_calls(request.user):
        raise PermissionDenied
    if request.method != "POST":
        return HttpResponseRedirect(reverse("admin:index", current_app=modeladmin.admin_site.name))
    data = load_payload(request.POST.get("payload", ""), CALL_OBJECTS_SALT, request)
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
    targets = read_targets([by_pk[pk] for pk in data["pks"] if pk in by_pk], spec)
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
            count_in(skipped, "invalid", _("invalid values"), "", target)
    batch = services.new_batch_name(model._meta.model_name or "call")
    created: list[VoiceCall] = []
    if ready:
        with transaction.atomic():
            first, fresh = idempotency.claim(
                CALL_OBJECTS_SCOPE, data["nonce"], batch=batch, call_count=len(ready)
            )
            if fresh:
                created = services.create_calls(
                    ready,
                    batch=batch,
                    purpose=options.get("purpose"),
                    frequency_cap=options.get("frequency_cap"),
                    source=CampaignSource.HOST_ACTION,
                    created_by=request.user,
                )
        if not fresh:
            already_created(modeladmin, request, first)
            site = data.get("site", "admin")
            target_url = campaign_url(request, site, batch=first.batch) or calls_list_url(
                request, site, first.batch
            )
            return HttpResponseRedirect(target_url or back)
    modeladmin.message_user(
        request,
        sentence(queued_text(len(created)), skipped_text(skipped.values())),
        messages.SUCCESS if created else messages.WARNING,
    )
    site = data.get("site", "admin")
    target_url = None
    if created:
        target_url = campaign_url(
            request, site, campaign_id=created[0].campaign_id
        ) or calls_list_url(request, site, batch)
    return HttpResponseRedirect(target_url or back)
