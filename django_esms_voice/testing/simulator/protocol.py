"""The simulator's own copy of eSMS's facts: endpoints, codes, messages, number format.

Kept apart from django_esms_voice.esms on purpose: the simulator is the independent side, so
a mistake in the app's reading of the docs shows up as a disagreement instead of being copied.
"""

from __future__ import annotations

import re
from decimal import Decimal

SERVICE_PATH = "/MainService.svc/json/"
MAKE_CALL_RECORD = "MakeCallRecord_V2"
MAKE_CALL_TEMPLATE = "MakeCallTemplate_V2"
GET_SEND_STATUS = "GetSendStatus"
GET_BALANCE = "GetBalance_json"

FAILURE_KINDS = frozenset({"timeout", "timeout_before", "http_500", "non_json", "drop"})
CALLBACK_MODES = frozenset({"normal", "none", "duplicate", "out_of_order"})
MAX_CALLBACK_RETRIES = 5
CALLBACK_TIMEOUT = 5.0
SEND_STATUS_FINISHED = 5
SEND_STATUS_SENT = 7
USER_ID = 9999

ERROR_MESSAGES: dict[str, str] = {
    "99": "Phone number is blocked",
    "101": "Authorize Failed",
    "102": "Price table not found",
    "103": "Balance not enough",
    "104": "Template not found",
    "105": "ReferenceId not found",
    "106": "Record file not found",
    "108": "Phone number is invalid",
    "124": "Duplicate RequestId",
    "140": "IP address not allowed",
}

# Mobiles are 0 + 9 digits; landlines since 2017 are 02 + 9 digits (02871002454, the docs' CID).
VN_PHONE = re.compile(r"(?:0|84)(?:[1-9]\d{8}|2\d{9})")
SECRET_PARAMS = frozenset({"ApiKey", "SecretKey"})
HTML_500 = (
    b"<html><head><title>Runtime Error</title></head>"
    b"<body><h1>Server Error in '/' Application.</h1></body></html>"
)
HTML_UNAVAILABLE = b"<html>Service Unavailable</html>"


def normalise_phone(phone: str) -> str:
    """Return the digits of a Vietnamese number in national form (84901888484 -> 0901888484)."""
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("84") and len(digits) == 11:
        return "0" + digits[2:]
    return digits


def masked(params: dict[str, str]) -> dict[str, str]:
    """Return params with the credentials hidden, for reprs."""
    return {key: "***" if key in SECRET_PARAMS else value for key, value in params.items()}


def json_number(value: Decimal) -> int | float:
    """Return a Decimal as a JSON number (an int when it is whole)."""
    return int(value) if value == value.to_integral_value() else float(value)
