"""A callback when the database fails: 503 and nothing stored, so that eSMS retries."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError

from django_esms_voice.models import (
    CallbackEvent,
    VoiceCallQuerySet,
)

from .helpers import (
    answered,
    deliver,
    make_call,
    snapshot,
)


@pytest.mark.django_db
def test_database_error_in_the_row_lock_answers_503(monkeypatch) -> None:
    call = make_call()
    before = snapshot(call)

    def unavailable(self: Any, *args: Any, **kwargs: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(VoiceCallQuerySet, "select_for_update", unavailable)
    response = deliver(call, answered(call.smsid))
    monkeypatch.undo()

    assert response.status_code == 503
    assert CallbackEvent.objects.count() == 0
    assert snapshot(call) == before
