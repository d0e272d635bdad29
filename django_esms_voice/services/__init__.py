"""The domain operations: create, place, apply a result, cancel, retry and sweep calls.

`from django_esms_voice import services` is the public entry; each operation lives in its
own module (creating, enqueueing, placing, results, operators, sweeping).
"""

from __future__ import annotations

from .creating import (
    BULK_CHUNK_SIZE,
    BulkCallError,
    CheckedCall,
    RepeatedPhone,
    check_calls,
    create_call,
    create_calls,
    new_batch_name,
)
from .enqueueing import FAN_OUT_ABOVE, FAN_OUT_CHUNK, enqueue_calls
from .judging import FINGERPRINTS_KEPT, result_fingerprint
from .operators import (
    AlreadyRetried,
    Retries,
    cancel_call,
    cancel_calls,
    retried,
    retry_call,
    retry_calls,
)
from .placing import PlaceResult, place_call, retry_delay
from .results import MAX_RAW_LENGTH, record_result, refresh_status
from .sweeping import NO_RESULT, SWEEP_BATCH_SIZE, SweepReport, sweep

__all__ = [
    "BULK_CHUNK_SIZE",
    "FAN_OUT_ABOVE",
    "FAN_OUT_CHUNK",
    "FINGERPRINTS_KEPT",
    "MAX_RAW_LENGTH",
    "NO_RESULT",
    "SWEEP_BATCH_SIZE",
    "AlreadyRetried",
    "BulkCallError",
    "CheckedCall",
    "PlaceResult",
    "RepeatedPhone",
    "Retries",
    "SweepReport",
    "cancel_call",
    "cancel_calls",
    "check_calls",
    "create_call",
    "create_calls",
    "enqueue_calls",
    "new_batch_name",
    "place_call",
    "record_result",
    "refresh_status",
    "result_fingerprint",
    "retried",
    "retry_call",
    "retry_calls",
    "retry_delay",
    "sweep",
]
