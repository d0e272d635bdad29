"""A fake eSMS.vn voice API on loopback for demos, tests and benchmarks (stdlib and requests only).

Independent of the app on purpose: nothing here imports django_esms_voice or Django, and the
provider facts are the simulator's own copies (protocol.py), so a misreading of the docs in
the app shows up as a disagreement. Run it alone with
``python -m django_esms_voice.testing.simulator --port 8765``.
"""

from .cli import describe, main, serve_until_interrupted
from .core import EsmsSimulator
from .protocol import (
    CALLBACK_MODES,
    CALLBACK_TIMEOUT,
    ERROR_MESSAGES,
    FAILURE_KINDS,
    GET_BALANCE,
    GET_SEND_STATUS,
    MAKE_CALL_RECORD,
    MAKE_CALL_TEMPLATE,
    MAX_CALLBACK_RETRIES,
    SEND_STATUS_FINISHED,
    SEND_STATUS_SENT,
    SERVICE_PATH,
    USER_ID,
    normalise_phone,
)
from .records import OUTCOMES, CallbackDelivery, Outcome, ReceivedRequest, Script, SimulatedCall

__all__ = [
    "CALLBACK_MODES",
    "CALLBACK_TIMEOUT",
    "ERROR_MESSAGES",
    "FAILURE_KINDS",
    "GET_BALANCE",
    "GET_SEND_STATUS",
    "MAKE_CALL_RECORD",
    "MAKE_CALL_TEMPLATE",
    "MAX_CALLBACK_RETRIES",
    "OUTCOMES",
    "SEND_STATUS_FINISHED",
    "SEND_STATUS_SENT",
    "SERVICE_PATH",
    "USER_ID",
    "CallbackDelivery",
    "EsmsSimulator",
    "Outcome",
    "ReceivedRequest",
    "Script",
    "SimulatedCall",
    "describe",
    "main",
    "normalise_phone",
    "serve_until_interrupted",
]
