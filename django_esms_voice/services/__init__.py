"""The domain operations: create, place, apply a result, cancel, retry, sweep; campaigns.

`from django_esms_voice import services` is the public entry; each operation lives in its
own module (creating, campaigns, account, enqueueing, placing, results, canceling,
operators, sweeping, retention, suppressions).
"""

from __future__ import annotations

from .account import pause_placement, probe_balance, resume_placement
from .campaigns import (
    cancel_campaign,
    complete_campaigns,
    create_campaign,
    pause_campaign,
    resume_campaign,
)
from .canceling import cancel_call, cancel_calls
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
from .enqueueing import (
    FAN_OUT_ABOVE,
    FAN_OUT_CHUNK,
    PLACE_BATCH,
    PLACE_BATCH_SPREAD,
    calls_per_message,
    enqueue_calls,
    is_urgent,
)
from .judging import FINGERPRINTS_KEPT, result_fingerprint
from .operators import AlreadyRetried, Retries, retried, retry_call, retry_calls
from .placing import PlaceResult, place_call, place_calls, retry_delay
from .refreshing import REFRESH_TASK, RefreshReport, enqueue_refresh, refresh_statuses
from .reprocessing import (
    FAILED,
    NotReprocessable,
    ReprocessReport,
    failed_events,
    reprocess_event,
    reprocess_events,
)
from .results import MAX_RAW_LENGTH, record_result, refresh_status
from .retention import PURGE_CHUNK_SIZE, PurgeReport, purge
from .suppressions import (
    ImportReport,
    RowProblem,
    check_suppressions,
    import_suppressions,
    is_suppressed,
    suppress,
    unsuppress,
)
from .sweeping import NO_RESULT, SWEEP_BATCH_SIZE, SweepReport, sweep

__all__ = [
    "BULK_CHUNK_SIZE",
    "FAILED",
    "FAN_OUT_ABOVE",
    "FAN_OUT_CHUNK",
    "FINGERPRINTS_KEPT",
    "MAX_RAW_LENGTH",
    "NO_RESULT",
    "PLACE_BATCH",
    "PLACE_BATCH_SPREAD",
    "PURGE_CHUNK_SIZE",
    "REFRESH_TASK",
    "SWEEP_BATCH_SIZE",
    "AlreadyRetried",
    "BulkCallError",
    "CheckedCall",
    "ImportReport",
    "NotReprocessable",
    "PlaceResult",
    "PurgeReport",
    "RefreshReport",
    "RepeatedPhone",
    "ReprocessReport",
    "Retries",
    "RowProblem",
    "SweepReport",
    "calls_per_message",
    "cancel_call",
    "cancel_calls",
    "cancel_campaign",
    "check_calls",
    "check_suppressions",
    "complete_campaigns",
    "create_call",
    "create_calls",
    "create_campaign",
    "enqueue_calls",
    "enqueue_refresh",
    "failed_events",
    "import_suppressions",
    "is_suppressed",
    "is_urgent",
    "new_batch_name",
    "pause_campaign",
    "pause_placement",
    "place_call",
    "place_calls",
    "probe_balance",
    "purge",
    "record_result",
    "refresh_status",
    "refresh_statuses",
    "reprocess_event",
    "reprocess_events",
    "result_fingerprint",
    "resume_campaign",
    "resume_placement",
    "retried",
    "retry_call",
    "retry_calls",
    "retry_delay",
    "suppress",
    "sweep",
    "unsuppress",
]
