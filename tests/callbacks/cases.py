"""The security tests every entry point of the callback view inherits (as anymail's webhook_cases).

An entry point is a way a delivery reaches the view: eSMS's GET with a query string, a POST
with a form or a JSON body (proxies that re-post), and the URL whose trailing slash was lost.
Each is a subclass in test_entry_points.py that says how it sends a delivery; every test here
then runs for each of them. The package's conftest fails any test that logs a token.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl

import pytest
from django.db import OperationalError, connection
from django.test import Client

from django_esms_voice import services
from django_esms_voice.models import CallbackEvent, EventOutcome
from django_esms_voice.signing import callback_token

from .helpers import (
    LOGIN_REQUIRED,
    SAMPLE_QUERY,
    SAMPLE_SMSID,
    answered,
    assert_no_token_logged,
    events,
    forged_token,
    make_call,
    other_calls_token,
    progress,
    result_query,
    security_warnings,
    snapshot,
    url_for,
)

FORGERIES = {
    "forged token": lambda call: url_for(call.uuid, forged_token(call)),
    "token of another call": lambda call: url_for(call.uuid, other_calls_token(call)),
    "empty-looking token": lambda call: url_for(call.uuid, "-" * 43),
    "token over the uuid without dashes": lambda call: url_for(
        call.uuid, callback_token(call.uuid.hex)
    ),
}
MALFORMED_IDS = [
    "not-a-uuid",
    "066107EE-6EC4-4283-B595-AA74977C65C5",  # upper case: the same uuid, spelled otherwise
    "066107ee6ec44283b595aa74977c65c5",  # no dashes
    "066107ee-6ec4-4283-b595-aa74977c65c",  # one digit short
]
# Authentic deliveries every entry point can carry that say nothing a call can take.
GARBAGE = {
    "CallDuration=abc": lambda s: result_query(s, duration="abc"),
    "SendStatus=9": lambda s: result_query(s, send_status=9),
    "SendStatus missing": lambda s: result_query(s).replace("&SendStatus=5", ""),
    "Price=NaN": lambda s: result_query(s, price="NaN"),
}
UNUSED_METHODS = ["options", "head", "put", "patch", "delete", "trace"]
# Limits that make a delivery oversized whatever carries it: too many fields, too many bytes.
SMALL_LIMITS = {"DATA_UPLOAD_MAX_NUMBER_FIELDS": 20, "DATA_UPLOAD_MAX_MEMORY_SIZE": 1000}


def oversized(smsid: str) -> str:
    """Return a delivery past SMALL_LIMITS: 30 fields more, 1,500 bytes more."""
    return answered(smsid) + "".join(f"&extra{i}={'x' * 50}" for i in range(30))


@pytest.mark.django_db
class CallbackSecurityCases:
    """Refuse what is not authentic, store what is, never log a token: for one entry point."""

    method = "get"  # what eSMS's delivery is sent with through this entry point

    def path(self, url: str) -> str:
        """Return the path this entry point uses for a callback URL (url_for's)."""
        return url

    def send(self, url: str, query: str, client: Client | None = None, **extra: Any) -> Any:
        """Send a delivery (a query string as eSMS writes it) to a callback URL."""
        raise NotImplementedError

    def stored_raw(self, query: str) -> str:
        """Return what the view stores as the raw delivery of `query` sent this way."""
        return query

    def deliver(self, call: Any, query: str, client: Client | None = None, **extra: Any) -> Any:
        """Send a delivery to a call's own callback URL."""
        return self.send(url_for(call.uuid), query, client, **extra)

    # ------------------------------------------------------------------------- authentic

    def test_an_authentic_delivery_is_stored_and_applied(self) -> None:
        call = make_call(smsid=SAMPLE_SMSID)

        response = self.deliver(call, SAMPLE_QUERY)

        assert response.status_code == 200
        assert response.json() == {"outcome": EventOutcome.APPLIED}
        [event] = events(call)
        assert (event.method, event.raw) == (self.method.upper(), self.stored_raw(SAMPLE_QUERY))
        assert event.remote_addr == "127.0.0.1"

    @pytest.mark.parametrize("case", list(GARBAGE))
    def test_authentic_garbage_is_stored_as_invalid_and_answered_200(self, case: str) -> None:
        call = make_call()
        before = snapshot(call)
        query = GARBAGE[case](call.smsid)

        response = self.deliver(call, query)

        assert response.status_code == 200  # a retry cannot fix it
        assert response.json() == {"outcome": EventOutcome.INVALID}
        assert snapshot(call) == before
        [event] = events(call)
        assert (event.outcome, event.raw) == (EventOutcome.INVALID, self.stored_raw(query))
        assert event.error

    def test_an_oversized_authentic_delivery_is_stored_as_invalid(self, settings: Any) -> None:
        for name, value in SMALL_LIMITS.items():
            setattr(settings, name, value)
        call = make_call()
        before = snapshot(call)
        query = oversized(call.smsid)

        response = self.deliver(call, query)

        assert response.status_code == 200
        assert response.json() == {"outcome": EventOutcome.INVALID}
        assert snapshot(call) == before
        [event] = events(call)
        assert event.outcome == EventOutcome.INVALID
        assert event.raw == self.stored_raw(query)[: services.MAX_RAW_LENGTH]
        assert "DATA_UPLOAD_MAX_" in event.error

    # ------------------------------------------------------------------------- refused

    @pytest.mark.parametrize("forgery", list(FORGERIES))
    def test_forged_urls_are_refused_and_nothing_is_stored(self, caplog, forgery: str) -> None:
        call = make_call()
        before = snapshot(call)
        path = FORGERIES[forgery](call)
        token = path.rstrip("/").rsplit("/", 1)[1]
        caplog.clear()

        response = self.send(path, answered(call.smsid))

        assert response.status_code == 404
        assert CallbackEvent.objects.count() == 0
        assert snapshot(call) == before
        [warning] = security_warnings(caplog)
        assert warning.levelno == logging.WARNING
        assert token not in warning.getMessage()

    def test_valid_token_of_a_deleted_call_is_refused(self, caplog) -> None:
        call = make_call()
        path = url_for(call.uuid)
        token = path.rstrip("/").rsplit("/", 1)[1]
        call.delete()
        caplog.clear()

        response = self.send(path, answered(call.smsid))

        assert response.status_code == 404
        assert CallbackEvent.objects.count() == 0
        [warning] = security_warnings(caplog)
        assert warning.levelno == logging.WARNING
        assert token not in warning.getMessage()

    @pytest.mark.parametrize("call_id", MALFORMED_IDS)
    def test_malformed_uuid_is_refused_and_nothing_is_stored(self, caplog, call_id: str) -> None:
        make_call(smsid=SAMPLE_SMSID)
        token = callback_token(call_id)  # even a validly signed malformed id is refused
        path = url_for(call_id, token)
        caplog.clear()

        response = self.send(path, SAMPLE_QUERY)

        assert response.status_code == 404
        assert CallbackEvent.objects.count() == 0
        [warning] = security_warnings(caplog)
        assert warning.levelno == logging.WARNING
        assert token not in warning.getMessage()
        assert_no_token_logged(caplog)

    def test_a_forged_delivery_is_refused_before_its_body_is_read(
        self, caplog, settings: Any, body_reads: list[int]
    ) -> None:
        for name, value in SMALL_LIMITS.items():
            setattr(settings, name, value)
        call = make_call()
        before = snapshot(call)

        response = self.send(url_for(call.uuid, forged_token(call)), oversized(call.smsid))

        assert response.status_code == 404
        assert body_reads == []
        assert CallbackEvent.objects.count() == 0
        assert snapshot(call) == before
        assert len(security_warnings(caplog)) == 1

    @pytest.mark.parametrize(
        ("remote_addr", "allowed"),
        [("203.0.113.9", True), ("203.0.113.254", True), ("198.51.100.7", False), ("::1", False)],
    )
    def test_allowed_networks(self, caplog, esms_settings, remote_addr: str, allowed: bool):
        esms_settings(CALLBACK_ALLOWED_NETWORKS=["203.0.113.0/24"])
        call = make_call()
        caplog.clear()

        response = self.deliver(call, answered(call.smsid), REMOTE_ADDR=remote_addr)

        if allowed:
            assert response.status_code == 200
            assert [e.remote_addr for e in events(call)] == [remote_addr]
            assert security_warnings(caplog) == []
        else:
            assert response.status_code == 404
            assert CallbackEvent.objects.count() == 0
            [warning] = security_warnings(caplog)
            assert remote_addr in warning.getMessage()

    def test_without_proxies_x_forwarded_for_is_ignored(self, esms_settings) -> None:
        esms_settings(CALLBACK_ALLOWED_NETWORKS=["203.0.113.0/24"], CALLBACK_PROXY_COUNT=0)
        call = make_call()

        spoofed = self.deliver(
            call,
            answered(call.smsid),
            REMOTE_ADDR="198.51.100.7",
            HTTP_X_FORWARDED_FOR="203.0.113.9",
        )

        assert spoofed.status_code == 404
        assert CallbackEvent.objects.count() == 0

    def test_token_signed_with_a_rotated_secret_key_works_while_it_is_a_fallback(
        self, settings: Any
    ) -> None:
        settings.SECRET_KEY = "the-old-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
        call = make_call()
        old_path = url_for(call.uuid)

        settings.SECRET_KEY = "the-new-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
        settings.SECRET_KEY_FALLBACKS = ["the-old-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"]
        assert url_for(call.uuid) != old_path  # new URLs use the new key
        accepted = self.send(old_path, progress(call.smsid))

        settings.SECRET_KEY_FALLBACKS = []
        refused = self.send(old_path, answered(call.smsid))

        assert accepted.status_code == 200
        assert refused.status_code == 404
        assert [e.outcome for e in events(call)] == [EventOutcome.APPLIED]

    # ------------------------------------------------------------------------- methods

    @pytest.mark.parametrize("method", UNUSED_METHODS)
    def test_methods_esms_does_not_use_are_refused_and_change_nothing(self, method: str) -> None:
        call = make_call()
        before = snapshot(call)

        path = f"{self.path(url_for(call.uuid))}?{answered(call.smsid)}"
        response = getattr(Client(), method)(path)

        assert response.status_code == 405
        assert response["Allow"] == "GET, POST"
        if method == "head":
            assert response.content == b""
        else:  # what PUT gets: no description of the view
            assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}
        assert CallbackEvent.objects.count() == 0
        assert snapshot(call) == before

    @pytest.mark.parametrize("method", ["get", "post", *UNUSED_METHODS])
    def test_a_forged_url_reveals_no_more_whatever_the_method(self, caplog, method: str) -> None:
        call = make_call()
        url = url_for(call.uuid, forged_token(call))

        def seen(response: Any) -> tuple[Any, ...]:
            return (response.status_code, response.content, sorted(response.headers.items()))

        forged = self.send(url, answered(call.smsid))
        response = getattr(Client(), method)(f"{self.path(url)}?{answered(call.smsid)}")

        assert forged.status_code == 404
        assert seen(response) == seen(forged)
        assert CallbackEvent.objects.count() == 0
        assert len(security_warnings(caplog)) == 2

    # ------------------------------------------------------------------------- the stack

    def test_is_csrf_exempt(self) -> None:
        call = make_call()

        response = self.deliver(call, answered(call.smsid), Client(enforce_csrf_checks=True))

        assert response.status_code == 200
        assert [e.outcome for e in events(call)] == [EventOutcome.APPLIED]

    def test_works_behind_login_required_middleware(self, settings: Any) -> None:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, LOGIN_REQUIRED]
        call = make_call()

        response = self.deliver(call, answered(call.smsid), Client(enforce_csrf_checks=True))

        assert response.status_code == 200
        assert [e.outcome for e in events(call)] == [EventOutcome.APPLIED]

    @pytest.mark.django_db(transaction=True)
    def test_works_with_atomic_requests(self, monkeypatch, status_changes) -> None:
        monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
        call = make_call()

        response = self.deliver(call, answered(call.smsid))

        assert response.status_code == 200
        assert [e.outcome for e in events(call)] == [EventOutcome.APPLIED]
        assert [c["new"] for c in status_changes] == ["answered"]

    # ------------------------------------------------------------------------- failures

    def test_database_unavailable_answers_503_so_esms_retries(self, monkeypatch) -> None:
        call = make_call()

        def unavailable(**kwargs: Any) -> None:
            raise OperationalError("could not connect to server")

        monkeypatch.setattr(services, "record_result", unavailable)
        response = self.deliver(call, answered(call.smsid))

        assert response.status_code == 503
        assert CallbackEvent.objects.count() == 0

        monkeypatch.undo()  # the database is back: eSMS's retry goes through
        retry = self.deliver(call, answered(call.smsid))
        assert retry.json() == {"outcome": EventOutcome.APPLIED}

    def test_an_unexpected_error_answers_500_without_logging_the_url(
        self, monkeypatch, caplog
    ) -> None:
        call = make_call()

        def broken(**kwargs: Any) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(services, "record_result", broken)
        response = self.deliver(call, answered(call.smsid))

        assert response.status_code == 500
        [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert record.exc_info is not None
        assert_no_token_logged(caplog)


def json_body(query: str) -> str:
    """Return a delivery's fields as the JSON object a re-posting proxy would send."""
    return json.dumps(dict(parse_qsl(query, keep_blank_values=True)))
