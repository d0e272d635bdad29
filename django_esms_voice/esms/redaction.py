"""Keep the eSMS ApiKey and SecretKey, and the callback tokens, out of every message and record."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from ..signing import callback_token

MASK = "***"
# The voice endpoints are GET-only, so the credentials travel in the query string, and
# urllib3 logs the full request line at DEBUG level. CallbackUrl carries the per-call token;
# VariableListStr the script's values, a one-time password among them (secrecy.py).
_SECRET_PARAMS = re.compile(
    r"((?:ApiKey|SecretKey|CallbackUrl|VariableListStr)\s*[=:]\s*[\"']?)[^&\s\"',}]*",
    re.IGNORECASE,
)
# "/" as an echoed URL can carry it: raw, JSON-escaped (\/ or \u002f), percent-encoded once
# or more (%2F, %252F), HTML-escaped.
_SLASH = r"(?:/|\\/|\\u002f|%(?:25)*2f|&#0*47;|&#x0*2f;|&sol;)"
# A callback path ends with callback/<call uuid>/<token>/: the token is the call's credential.
# Near misses count too: doubled slashes, another case, junk after the token.
_CALLBACK_TOKEN = re.compile(
    rf"(callback{_SLASH}+[0-9a-f-]{{32,36}}{_SLASH}+)[A-Za-z0-9_-]+", re.IGNORECASE
)
_known_secrets: set[str] = set()
_lock = threading.Lock()
THIRD_PARTY_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "requests")
#: The loggers that print request paths, callback URLs included; the docs name the same ones.
REQUEST_LOGGERS = (
    "django.request",
    "django.server",
    "gunicorn.error",
    "gunicorn.access",
    "uvicorn.access",
)


def register_secret(value: str | None) -> None:
    """Remember a credential so that its value is masked wherever it appears."""
    if value and len(value) >= 4:
        with _lock:
            _known_secrets.update({value, quote(value, safe=""), quote_plus(value)})


def _any_encoding(value: str) -> re.Pattern[str]:
    """Match value with any of its characters percent-encoded, once or more, in either case."""

    def char(c: str) -> str:
        escape = "".join(f"[{h}{h.upper()}]" if h.isalpha() else h for h in f"{ord(c):02x}")
        return f"(?:{re.escape(c)}|%(?:25)*{escape})"

    return re.compile("".join(char(c) for c in value))


def redact(text: str, *, tokens: Iterable[str] = ()) -> str:
    """Return the text with credentials and callback tokens masked, the given tokens anywhere."""
    text = _SECRET_PARAMS.sub(rf"\g<1>{MASK}", text)
    text = _CALLBACK_TOKEN.sub(rf"\g<1>{MASK}", text)
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for token in tokens:
        text = text.replace(token, MASK)
        if "%" in text:
            text = _any_encoding(token).sub(MASK, text)
    return text


def redact_for_call(text: str, call_uuid: uuid.UUID | str | None, *, phone: str = "") -> str:
    """Return provider text fit to store or show with a call: its own token masked too.

    phone: the callee's number, masked as well where the text leaves the call (a log line);
    an error page may echo the request's query string, and the number with it.
    """
    # The one door for the errors, event errors and poll answers a call keeps: masking the
    # call's token itself does not depend on recognising the URL around it.
    if not text:
        return text
    # Its national digits match 0901888484, 84901888484 and +84901888484 alike.
    national = phone.lstrip("0")
    numbers = (national,) if len(national) >= 8 else ()
    try:
        # The URL was signed with the uuid's canonical spelling, whatever spelling came here.
        canonical = uuid.UUID(str(call_uuid))
    except ValueError:
        return redact(text, tokens=numbers)
    return redact(text, tokens=(callback_token(canonical), *numbers))


def _unformattable(record: logging.LogRecord) -> str:
    """Return a record whose arguments do not fit its format as text: the format, then them."""
    try:
        return f"{record.msg} {record.args!r}"
    except Exception:  # a message or an argument whose str() or repr() fails in turn
        return f"<a {type(record.msg).__name__} log message that cannot be printed>"


class RedactSecretsFilter(logging.Filter):
    """Rewrite a log record with the eSMS credentials and callback tokens masked.

    Public: attach it to the handlers of the request logs (REQUEST_LOGGERS) so that callback
    URLs are not written in full; docs/callbacks.md has the LOGGING snippet.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the formatted message in place; never drop the record."""
        try:
            message = record.getMessage()
        except Exception:
            # Arguments that do not fit the format: logging would drop the line and print the
            # arguments raw to stderr (Handler.handleError). Keep it as text, masked.
            record.msg, record.args = redact(_unformattable(record)), None
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction() -> None:
    """Attach the filter to the loggers that print request URLs (idempotent)."""
    # A logger's filter sees only the records logged on that logger, not those its children
    # propagate to it: each logger is named, and handlers are the place that sees them all.
    for name in (*THIRD_PARTY_LOGGERS, *REQUEST_LOGGERS):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in logger.filters):
            logger.addFilter(RedactSecretsFilter())
