"""Keep the eSMS ApiKey and SecretKey out of every message, log record and stored text."""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "***"
# The voice endpoints are GET-only, so the credentials travel in the query string, and
# urllib3 logs the full request line at DEBUG level. CallbackUrl carries the per-call token.
_SECRET_PARAMS = re.compile(
    r"((?:ApiKey|SecretKey|CallbackUrl)\s*[=:]\s*[\"']?)[^&\s\"',}]*", re.IGNORECASE
)
# A callback path ends with callback/<call uuid>/<token>/: the token is the call's credential.
_CALLBACK_TOKEN = re.compile(r"(/callback/[0-9a-fA-F-]{36}/)[^/?#\s\"']+")
_known_secrets: set[str] = set()
_lock = threading.Lock()
THIRD_PARTY_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "requests")


def register_secret(value: str | None) -> None:
    """Remember a credential so that its value is masked wherever it appears."""
    if value and len(value) >= 4:
        with _lock:
            _known_secrets.update({value, quote(value, safe=""), quote_plus(value)})


def redact(text: str) -> str:
    """Return the text with credentials, known credential values and callback tokens masked."""
    text = _SECRET_PARAMS.sub(rf"\g<1>{MASK}", text)
    text = _CALLBACK_TOKEN.sub(rf"\g<1>{MASK}", text)
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrite a log record with the eSMS credentials and callback tokens masked.

    Public: attach it to the handlers of access logs (runserver's django.server,
    uvicorn.access, gunicorn.access) so that callback URLs are not written in full.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the formatted message in place; never drop the record."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction() -> None:
    """Attach the filter to the loggers that print request URLs (idempotent)."""
    for name in THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in logger.filters):
            logger.addFilter(RedactSecretsFilter())
