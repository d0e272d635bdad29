"""The caller's address behind proxies: which X-Forwarded-For entry is trusted, and recorded."""

from __future__ import annotations

import pytest

from django_esms_voice.models import (
    CallbackEvent,
)

from .helpers import (
    answered,
    deliver,
    events,
    make_call,
)


@pytest.mark.django_db
def test_one_proxy_uses_the_address_it_appended(esms_settings) -> None:
    esms_settings(CALLBACK_ALLOWED_NETWORKS=["203.0.113.0/24"], CALLBACK_PROXY_COUNT=1)
    call = make_call()

    response = deliver(
        call,
        answered(call.smsid),
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9",
    )

    assert response.status_code == 200
    assert [e.remote_addr for e in events(call)] == ["203.0.113.9"]


@pytest.mark.django_db
def test_one_proxy_ignores_what_the_client_put_before(esms_settings) -> None:
    esms_settings(CALLBACK_ALLOWED_NETWORKS=["203.0.113.0/24"], CALLBACK_PROXY_COUNT=1)
    call = make_call()

    response = deliver(
        call,
        answered(call.smsid),
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7",
    )

    assert response.status_code == 404
    assert CallbackEvent.objects.count() == 0


@pytest.mark.django_db
def test_without_a_network_list_the_forwarded_address_is_still_recorded(esms_settings) -> None:
    esms_settings(CALLBACK_PROXY_COUNT=1)
    call = make_call()

    deliver(call, answered(call.smsid), REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert [e.remote_addr for e in events(call)] == ["203.0.113.9"]
