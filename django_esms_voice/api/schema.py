"""The calls API's OpenAPI description, when drf-spectacular (the ``api`` extra) is installed."""

from __future__ import annotations

from typing import Any

from .campaign_serializers import (
    AccountSerializer,
    CampaignCancelSerializer,
    CampaignDetailSerializer,
    CampaignFilterSerializer,
    CampaignPauseSerializer,
    CampaignResumeSerializer,
    CampaignSerializer,
)
from .idempotency import IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY_LENGTH
from .serializers import (
    ErrorSerializer,
    OneCallCreateSerializer,
    VoiceCallBatchResultSerializer,
    VoiceCallBatchSerializer,
    VoiceCallFilterSerializer,
    VoiceCallSerializer,
)
from .suppression_serializers import (
    SuppressionBatchResultSerializer,
    SuppressionBatchSerializer,
    SuppressionCreateSerializer,
    SuppressionFilterSerializer,
    SuppressionSerializer,
)

try:
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import (
        OpenApiExample,
        OpenApiParameter,
        OpenApiResponse,
        PolymorphicProxySerializer,
    )
except ImportError:  # the "api" extra is not installed: no schema, the API works the same
    SPECTACULAR = False
else:
    SPECTACULAR = True


if SPECTACULAR:

    class VoiceCallSchema(AutoSchema):
        """The OpenAPI description of the calls API, without the host's DEFAULT_SCHEMA_CLASS."""

        _errors: dict[int, Any] = {
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input, by field."),
            401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
            403: OpenApiResponse(ErrorSerializer, description="Permission denied."),
        }
        _not_found: dict[int, Any] = {
            404: OpenApiResponse(ErrorSerializer, description="No such call.")
        }

        def _action(self) -> str:
            return str(getattr(self.view, "action", "") or "")

        _descriptions: dict[str, str] = {
            "list": (
                "List calls, newest first, with filters. Paginated with a cursor: follow `next`. "
                "Needs the esms_voice.view_voicecall permission."
            ),
            "retrieve": ("One call by its uuid. Needs the esms_voice.view_voicecall permission."),
            "create": (
                "Create one call, or a batch: an object with `calls` (a list of calls) and an "
                "optional `batch` name. A bare list of calls is accepted as a batch too. A batch "
                "makes a campaign (its id and URL are in the answer), or joins the existing one "
                "given as `campaign`; one call may join a campaign too. Every call is checked "
                "the way eSMS will check it; a batch is created whole or not at all. The calls "
                "are placed by the Celery workers once created. Needs the "
                "esms_voice.place_voicecall permission."
            ),
            "cancel": (
                "Cancel a call that has not been sent yet; 409 when it is already on its way. "
                "Needs the esms_voice.change_voicecall permission."
            ),
        }

        def get_description(self) -> str:  # type: ignore[override]
            """Describe each action and the permission it needs."""
            return self._descriptions.get(self._action()) or str(super().get_description())

        def get_tags(self) -> list[str]:
            """Group the operations under one tag."""
            return ["voice calls"]

        def get_override_parameters(self) -> list[Any]:
            """Document the list filters and create's Idempotency-Key header."""
            if self._action() == "list":
                return [VoiceCallFilterSerializer]
            if self._action() == "create":
                return [
                    OpenApiParameter(
                        IDEMPOTENCY_HEADER,
                        {"type": "string", "pattern": f"^[!-~]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}$"},
                        OpenApiParameter.HEADER,
                        description=(
                            "Any unique value (a UUID, say). A request repeated with the same "
                            "key gets the first answer back, with the header "
                            "Idempotent-Replayed: true, and creates nothing new."
                        ),
                    )
                ]
            return list(super().get_override_parameters())

        def get_request_serializer(self) -> Any:
            """Create takes one call or a batch; cancel takes no body."""
            if self._action() == "create":
                return PolymorphicProxySerializer(
                    component_name="VoiceCallCreateOrBatch",
                    serializers=[OneCallCreateSerializer, VoiceCallBatchSerializer],
                    resource_type_field_name=None,
                )
            if self._action() == "cancel":
                return None
            return super().get_request_serializer()

        def get_response_serializers(self) -> Any:
            """Every answer an action gives, errors included."""
            action = self._action()
            if action == "create":
                created = PolymorphicProxySerializer(
                    component_name="VoiceCallOrBatch",
                    serializers=[VoiceCallSerializer, VoiceCallBatchResultSerializer],
                    resource_type_field_name=None,
                )
                reused = OpenApiResponse(
                    ErrorSerializer, description="The Idempotency-Key was used for another body."
                )
                throttled = OpenApiResponse(ErrorSerializer, description="Too many requests.")
                return {201: created, **self._errors, 422: reused, 429: throttled}
            if action == "list":
                bad_cursor = OpenApiResponse(ErrorSerializer, description="Invalid cursor.")
                return {200: VoiceCallSerializer(many=True), **self._errors, 404: bad_cursor}
            if action == "retrieve":
                return {200: VoiceCallSerializer, **self._errors, **self._not_found}
            if action == "cancel":
                conflict = OpenApiResponse(ErrorSerializer, description="The call is not pending.")
                return {
                    200: VoiceCallSerializer,
                    409: conflict,
                    **self._errors,
                    **self._not_found,
                }
            return super().get_response_serializers()

        def get_examples(self) -> list[Any]:
            """Show a single call and a batch."""
            if self._action() != "create":
                return list(super().get_examples())
            return [
                OpenApiExample(
                    "A recording with an IVR key",
                    value={
                        "kind": "record",
                        "template_id": "12345",
                        "phone": "0901888484",
                        "ivr_key": 1,
                        "number_forward": "0912345678",
                    },
                    request_only=True,
                ),
                OpenApiExample(
                    "A batch of script calls",
                    value={
                        "batch": "reminders-2025-03-01",
                        "calls": [
                            {
                                "kind": "template",
                                "template_id": "678",
                                "phone": "0901888484",
                                "variables": ["Trung", "20000"],
                            }
                        ],
                    },
                    request_only=True,
                ),
            ]

    class CampaignSchema(VoiceCallSchema):
        """The OpenAPI description of the campaign endpoints."""

        _not_found = {404: OpenApiResponse(ErrorSerializer, description="No such campaign.")}
        _descriptions = {
            "list": (
                "List campaigns, newest first, filtered by state and purpose. Paginated with a "
                "cursor: follow `next`. Needs the esms_voice.view_campaign permission."
            ),
            "retrieve": (
                "One campaign by its id, with its calls counted by status. Needs the "
                "esms_voice.view_campaign permission."
            ),
            "pause": (
                "Pause a running campaign: every call of it not sent yet is held, and no worker "
                "sends it until the campaign resumes; calls already sent finish. Needs the "
                "esms_voice.run_campaign permission."
            ),
            "resume": (
                "Resume a paused campaign: its held calls go to the workers. Needs the "
                "esms_voice.run_campaign permission."
            ),
            "cancel": (
                "Cancel a running or paused campaign: every call of it never sent is canceled, "
                "calls already sent finish. Needs the esms_voice.run_campaign permission."
            ),
        }
        _answers: dict[str, Any] = {
            "pause": CampaignPauseSerializer,
            "resume": CampaignResumeSerializer,
            "cancel": CampaignCancelSerializer,
        }

        def get_tags(self) -> list[str]:
            """Group the operations under one tag."""
            return ["campaigns"]

        def get_override_parameters(self) -> list[Any]:
            """Document the list filters, and the campaign's id as the integer it is."""
            if self._action() == "list":
                return [CampaignFilterSerializer]
            return [
                OpenApiParameter(
                    "id",
                    # What the URL's lookup_value_regex ([0-9]{1,18}) routes.
                    {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
                    OpenApiParameter.PATH,
                    description="The campaign's id.",
                )
            ]

        def get_request_serializer(self) -> Any:
            """The actions take no body."""
            return None

        def get_response_serializers(self) -> Any:
            """Every answer an action gives, errors included."""
            action = self._action()
            if action == "list":
                bad_cursor = OpenApiResponse(ErrorSerializer, description="Invalid cursor.")
                return {200: CampaignSerializer(many=True), **self._errors, 404: bad_cursor}
            if action == "retrieve":
                return {200: CampaignDetailSerializer, **self._errors, **self._not_found}
            conflict = OpenApiResponse(
                ErrorSerializer, description="The campaign's state does not allow it."
            )
            return {
                200: self._answers[action],
                409: conflict,
                **self._errors,
                **self._not_found,
            }

        def get_examples(self) -> list[Any]:
            """No examples beyond the fields' own."""
            return []

    class AccountSchema(VoiceCallSchema):
        """The OpenAPI description of the account endpoints."""

        _descriptions = {
            "list": (
                "Whether placement is paused for the whole eSMS account (eSMS refused a call "
                "with 101, 102, 103 or 140), since when, what the code means and what to do. "
                "Needs the esms_voice.view_voicecall permission."
            ),
            "resume": (
                "Resume placement once the cause is fixed; the calls that waited go to the "
                "workers. 409 when placement is not paused. Needs the "
                "esms_voice.place_voicecall permission."
            ),
        }

        def get_tags(self) -> list[str]:
            """Group the operations under one tag."""
            return ["account"]

        def get_operation_id(self) -> str:
            """Name the account's state `account_retrieve`: it is one object, not a list."""
            return "account_retrieve" if self._action() == "list" else "account_resume_create"

        def get_override_parameters(self) -> list[Any]:
            """No parameters."""
            return []

        def get_request_serializer(self) -> Any:
            """Nothing to send."""
            return None

        def get_response_serializers(self) -> Any:
            """The account's state; resume's 409."""
            errors = {401: self._errors[401], 403: self._errors[403]}
            if self._action() == "list":
                return {200: AccountSerializer, **errors}
            conflict = OpenApiResponse(ErrorSerializer, description="Placement is not paused.")
            return {200: AccountSerializer, 409: conflict, **errors}

        def get_examples(self) -> list[Any]:
            """No examples beyond the fields' own."""
            return []

        def _is_list_view(self, serializer: Any = None) -> bool:
            """The account's state is one object, not a list."""
            return False

    class SuppressionSchema(VoiceCallSchema):
        """The OpenAPI description of the suppression list's endpoints."""

        _not_found = {
            404: OpenApiResponse(ErrorSerializer, description="The number is not on the list.")
        }
        _descriptions = {
            "list": (
                "List the numbers never called (for the purposes in SUPPRESSION_PURPOSES), "
                "newest first, filtered by reason and by number in any spelling. Paginated with "
                "a cursor: follow `next`. Needs the esms_voice.view_suppression permission."
            ),
            "create": (
                "Add one number (`phone`), or many (`numbers`, with one `reason` and `source`). "
                "A number is normalised: +84 90 188 8484 and 0901888484 are one entry. A number "
                "listed already is left as it is (one number: 200 with its entry). Many numbers "
                "are added all or none: a 400 names each wrong one by its index. Needs the "
                "esms_voice.add_suppression permission."
            ),
            "destroy": (
                "Take a number (in any spelling) off the list. Needs the "
                "esms_voice.delete_suppression permission."
            ),
        }

        def get_tags(self) -> list[str]:
            """Group the operations under one tag."""
            return ["suppression list"]

        def get_override_parameters(self) -> list[Any]:
            """Document the list filters, and the number in the URL."""
            if self._action() == "list":
                return [SuppressionFilterSerializer]
            if self._action() == "destroy":
                return [
                    OpenApiParameter(
                        "phone",
                        {"type": "string", "minLength": 1, "maxLength": 40},
                        OpenApiParameter.PATH,
                        description="The number, in any spelling (0901888484, 84901888484).",
                    )
                ]
            return []

        def get_request_serializer(self) -> Any:
            """Create takes one number or many; removing takes no body."""
            if self._action() == "create":
                return PolymorphicProxySerializer(
                    component_name="SuppressionCreateOrBatch",
                    serializers=[SuppressionCreateSerializer, SuppressionBatchSerializer],
                    resource_type_field_name=None,
                )
            return None

        def get_response_serializers(self) -> Any:
            """Every answer an action gives, errors included."""
            action = self._action()
            if action == "list":
                bad_cursor = OpenApiResponse(ErrorSerializer, description="Invalid cursor.")
                return {200: SuppressionSerializer(many=True), **self._errors, 404: bad_cursor}
            if action == "create":
                created = PolymorphicProxySerializer(
                    component_name="SuppressionOrBatchResult",
                    serializers=[SuppressionSerializer, SuppressionBatchResultSerializer],
                    resource_type_field_name=None,
                )
                listed = OpenApiResponse(
                    SuppressionSerializer, description="The number was listed already."
                )
                return {201: created, 200: listed, **self._errors}
            if action == "destroy":
                removed = OpenApiResponse(description="Taken off the list.")
                return {204: removed, **self._errors, **self._not_found}
            return super().get_response_serializers()

        def get_examples(self) -> list[Any]:
            """Show one number and many."""
            if self._action() != "create":
                return []
            return [
                OpenApiExample(
                    "One number",
                    value={"phone": "+84 90 188 8484", "reason": "opted_out", "source": "hotline"},
                    request_only=True,
                ),
                OpenApiExample(
                    "Many numbers",
                    value={
                        "numbers": ["0901888484", "0912345678"],
                        "reason": "national_dnc",
                        "source": "dnc-2025-03.csv",
                    },
                    request_only=True,
                ),
            ]
