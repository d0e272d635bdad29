"""The errors the app raises: bad input, eSMS refusals, configuration and transport failures."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import Promise

from .esms.protocol import CodeKind, describe_code


class EsmsVoiceError(Exception):
    """Base class of every error raised by django-esms-voice."""

    #: Whether sending the same request again (same RequestId) may succeed.
    retryable: bool = False
    #: The error code a call keeps when this error stops it: errors.ERRORS explains each one.
    code: str = ""


class EsmsSettingsError(EsmsVoiceError, ImproperlyConfigured):
    """The ESMS_VOICE setting is missing a value or holds a wrong one; the message names it."""

    code = "settings"


class EsmsInputError(EsmsVoiceError, ValueError):
    """A call was refused before any request because one of its values is wrong."""

    code = "invalid"

    def __init__(self, field: str, message: str | Promise) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class CampaignStateError(EsmsVoiceError):
    """A campaign's state does not allow the action (pause a paused one, resume a running one)."""

    def __init__(self, action: str, state: str, message: str | Promise) -> None:
        self.action = action
        self.state = state
        self.message = message
        super().__init__(f"campaign {action}: not allowed in state {state}")


class InvalidPhoneNumber(EsmsInputError):
    """A phone number is not a valid Vietnamese number; the message says why."""

    def __init__(self, message: str | Promise, *, field: str = "phone", value: str = "") -> None:
        self.value = value
        super().__init__(field, message)


class SuppressedNumber(EsmsInputError):
    """The number is on the suppression list for the call's purpose: it is never called."""

    #: The error code a call canceled for it keeps.
    code = "suppressed"

    def __init__(self, reason: str, message: str | Promise) -> None:
        self.reason = reason
        super().__init__("phone", message)


class FrequencyCapped(EsmsInputError):
    """The number had the calls its purpose's cap allows in the period: no more is placed."""

    #: The error code a call canceled for it keeps.
    code = "frequency_capped"

    def __init__(self, message: str | Promise) -> None:
        super().__init__("phone", message)


class EsmsApiError(EsmsVoiceError):
    """eSMS answered with a result code other than success."""

    def __init__(
        self,
        *,
        code: str,
        endpoint: str,
        provider_message: str = "",
        description: str = "",
        retryable: bool = False,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.endpoint = endpoint
        self.provider_message = provider_message
        self.description = description
        self.retryable = retryable
        self.data = data or {}
        detail = provider_message or description
        super().__init__(f"eSMS {endpoint} answered code {code}: {detail}")


class EsmsRejected(EsmsApiError):
    """eSMS refused the request (blocked number, low balance, missing template, unknown code)."""


class EsmsConfigurationError(EsmsApiError):
    """eSMS refused the account: wrong keys (101), no price table (102), IP not allowed (140)."""


class EsmsNotFoundYet(EsmsApiError):
    """The call id is not known to eSMS yet (105): ask again later."""


#: The error each kind of refusal code raises; an unknown kind is a refusal.
ERROR_CLASSES: dict[CodeKind, type[EsmsApiError]] = {
    CodeKind.CONFIGURATION: EsmsConfigurationError,
    CodeKind.LATER: EsmsNotFoundYet,
    CodeKind.REJECTED: EsmsRejected,
}


def error_for_code(
    code: str, *, endpoint: str, provider_message: str = "", data: dict[str, Any] | None = None
) -> EsmsApiError:
    """Return the error a refusal code raises, described from the code table (client, locmem)."""
    entry = describe_code(code)
    return ERROR_CLASSES.get(entry.kind, EsmsRejected)(
        code=entry.code,
        endpoint=endpoint,
        provider_message=provider_message,
        description=str(entry.description),
        retryable=entry.retryable,
        data=data,
    )


class EsmsTransportError(EsmsVoiceError):
    """The request may or may not have reached eSMS; resending with the same RequestId is safe."""

    retryable = True
    code = "transport"

    def __init__(self, message: str, *, endpoint: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"eSMS {endpoint}: {message}")


class EsmsTimeout(EsmsTransportError):
    """eSMS did not answer within the configured TIMEOUT."""

    code = "timeout"


class EsmsConnectionError(EsmsTransportError):
    """No connection to eSMS could be made or kept."""

    code = "connection"


class EsmsHTTPError(EsmsTransportError):
    """eSMS answered with an HTTP error status instead of a JSON result."""

    def __init__(self, message: str, *, endpoint: str, status_code: int) -> None:
        self.status_code = status_code
        super().__init__(message, endpoint=endpoint)
        # 5xx, 408 and 429 are passing conditions; another 4xx means a wrong URL or request.
        self.retryable = status_code >= 500 or status_code in (408, 429)
        self.code = "http_5xx" if status_code >= 500 else "http_4xx"


class EsmsInvalidResponse(EsmsTransportError):
    """eSMS answered something that is not the documented JSON (an HTML error page, say)."""

    code = "bad_response"
