"""The eSMS result codes, what each means, and how the app treats it: one table."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class CodeKind(enum.StrEnum):
    """How a result code is handled."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    CONFIGURATION = "configuration"
    LATER = "later"


@dataclass(frozen=True)
class ResultCode:
    """One eSMS result code with its meaning and handling."""

    code: str
    description: str | Promise
    kind: CodeKind

    @property
    def retryable(self) -> bool:
        """Whether asking again can give another answer."""
        return self.kind is CodeKind.LATER

    @property
    def known(self) -> bool:
        """Whether the code is one of the documented voice codes."""
        return self.code in RESULT_CODES


ACCEPTED = "100"
NOT_FOUND_YET = "105"
DUPLICATE_REQUEST = "124"

RESULT_CODES: dict[str, ResultCode] = {
    entry.code: entry
    for entry in (
        ResultCode("100", _("Request accepted"), CodeKind.ACCEPTED),
        ResultCode("99", _("Phone number blocked on the eSMS system"), CodeKind.REJECTED),
        ResultCode("101", _("Wrong ApiKey or SecretKey"), CodeKind.CONFIGURATION),
        ResultCode("102", _("No price table for the eSMS account"), CodeKind.CONFIGURATION),
        ResultCode("103", _("eSMS balance too low"), CodeKind.REJECTED),
        ResultCode("104", _("Call script (template) does not exist"), CodeKind.REJECTED),
        ResultCode("105", _("Call not known to eSMS yet; ask again later"), CodeKind.LATER),
        ResultCode("106", _("Recording file does not exist"), CodeKind.REJECTED),
        ResultCode("108", _("Phone number has a wrong format"), CodeKind.REJECTED),
        ResultCode("124", _("Request already received (same RequestId)"), CodeKind.DUPLICATE),
        ResultCode("140", _("Caller IP address not allowed by eSMS"), CodeKind.CONFIGURATION),
    )
}


def describe_code(code: str) -> ResultCode:
    """Return a code's table entry; an unknown code is kept as it came and treated as a refusal."""
    code = str(code).strip()
    return RESULT_CODES.get(code) or ResultCode(
        code, _("Unknown eSMS result code"), CodeKind.REJECTED
    )
