"""Before money is spent: the eSMS balance, cached briefly, and the estimate of what calls cost."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone, translation

from django_esms_voice.backends import LOCMEM_BACKEND, LocmemBackend
from django_esms_voice.backends.locmem import STATE
from django_esms_voice.esms.payloads import Balance
from django_esms_voice.exceptions import EsmsHTTPError, EsmsSettingsError, EsmsTimeout
from django_esms_voice.models import CallKind, VoiceCall
from django_esms_voice.services import estimates
from django_esms_voice.services.estimates import current_balance, estimate_cost
from django_esms_voice.states import CallStatus
from django_esms_voice.testing import reset_outbox, script_balance

pytestmark = pytest.mark.django_db

PHONE = "0901888484"


@pytest.fixture(autouse=True)
def locmem(settings: Any) -> Iterator[None]:
    """The locmem backend, its script reset and no balance cached from another test."""
    settings.ESMS_VOICE = {**settings.ESMS_VOICE, "BACKEND": LOCMEM_BACKEND}
    reset_outbox()  # forgets the cached balance too
    yield
    reset_outbox()


def priced(status: str, price: str | None, *, kind: str = CallKind.RECORD, age: int = 0) -> None:
    """A call that ended with this status and Price, `age` minutes ago."""
    call = VoiceCall.objects.create(
        phone=PHONE, kind=kind, template_id="1", status=status, price=price
    )
    created = timezone.now() - dt.timedelta(minutes=age)
    VoiceCall.objects.filter(pk=call.pk).update(created_at=created)


# ----------------------------------------------------------------------------- the estimate


def test_no_priced_call_yet_gives_no_estimate_and_says_so(
    django_assert_num_queries: Any,
) -> None:
    priced(CallStatus.PENDING, None)
    priced(CallStatus.REJECTED, None)
    with django_assert_num_queries(1):
        estimate = estimate_cost(10)
    assert not estimate.known
    assert (estimate.expected, estimate.low, estimate.high, estimate.sample) == (
        None,
        None,
        None,
        0,
    )
    assert estimate.note == "No priced call yet: no estimate."


def test_the_estimate_weighs_each_outcomes_average_price_by_the_answer_rate() -> None:
    for price in ("700", "800", "900"):
        priced(CallStatus.ANSWERED, price)
    priced(CallStatus.NO_ANSWER, "0")
    priced(CallStatus.FAILED, "100")
    # Not results, or not priced: left out.
    priced(CallStatus.UNKNOWN, None)
    priced(CallStatus.ANSWERED, None)
    priced(CallStatus.REJECTED, None)
    estimate = estimate_cost(10)
    assert estimate.sample == 5
    assert estimate.answer_rate == Decimal("0.6")
    assert (estimate.per_answered, estimate.per_unanswered) == (Decimal(800), Decimal(50))
    # 10 * (0.6 * 800 + 0.4 * 50) = 5,000 đồng; between every call unanswered and answered.
    assert (estimate.expected, estimate.low, estimate.high) == (
        Decimal(5000),
        Decimal(500),
        Decimal(8000),
    )
    assert estimate.note == ""


def test_the_estimate_is_in_whole_dong() -> None:
    priced(CallStatus.ANSWERED, "333.3333")
    priced(CallStatus.NO_ANSWER, "0")
    priced(CallStatus.NO_ANSWER, "0")
    estimate = estimate_cost(1)
    assert (estimate.expected, estimate.low, estimate.high) == (Decimal(111), 0, Decimal(333))


def test_with_only_answered_calls_the_estimate_is_their_price() -> None:
    priced(CallStatus.ANSWERED, "600")
    estimate = estimate_cost(3)
    assert estimate.per_unanswered is None
    assert (estimate.expected, estimate.low, estimate.high) == (Decimal(1800),) * 3


def test_only_the_latest_priced_results_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(estimates, "RECENT_CALLS", 3)
    for age in (100, 101, 102):  # old answered calls at another price
        priced(CallStatus.ANSWERED, "5000", age=age)
    priced(CallStatus.ANSWERED, "1000", age=1)
    priced(CallStatus.NO_ANSWER, "0", age=2)
    priced(CallStatus.FAILED, "0", age=3)
    estimate = estimate_cost(3)
    assert estimate.sample == 3
    assert estimate.answer_rate == Decimal(1) / 3
    assert (estimate.expected, estimate.high) == (Decimal(1000), Decimal(3000))


def test_an_estimate_for_one_kind_reads_that_kinds_calls() -> None:
    priced(CallStatus.ANSWERED, "1200", kind=CallKind.TEMPLATE)
    priced(CallStatus.ANSWERED, "400", kind=CallKind.RECORD)
    assert estimate_cost(1, kind=CallKind.TEMPLATE).expected == Decimal(1200)
    assert estimate_cost(1, kind=CallKind.RECORD).expected == Decimal(400)
    assert estimate_cost(2).expected == Decimal(1600)


@pytest.mark.parametrize("calls", [3, 300])
def test_the_estimate_is_one_query_whatever_the_history(
    calls: int, django_assert_num_queries: Any
) -> None:
    VoiceCall.objects.bulk_create(
        VoiceCall(
            phone=PHONE,
            kind=CallKind.RECORD,
            template_id="1",
            status=CallStatus.ANSWERED if n % 3 else CallStatus.NO_ANSWER,
            price=Decimal(900 if n % 3 else 0),
        )
        for n in range(calls)
    )
    with django_assert_num_queries(1):
        estimate = estimate_cost(1000, kind=CallKind.RECORD)
    assert estimate.sample == calls


def test_each_outcomes_latest_calls_come_from_the_status_index() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    priced(CallStatus.ANSWERED, "800")
    sql, params = estimates._recent_results_sql(None)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table is read whole otherwise
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert plan.count("esms_voice_status_created") == len(estimates.PRICED_RESULTS), plan
    assert "Sort" not in plan.split("Limit")[-1], plan  # each part read in index order


# ----------------------------------------------------------------------------- the balance


def balance_at_esms_becomes(balance: int | str) -> None:
    """The account's balance changes at eSMS (a top-up, a spend), unseen by the app's cache."""
    with STATE.lock:
        STATE.balance = (
            Balance(balance=Decimal(balance), user_id="locmem")
            if isinstance(balance, int)
            else balance
        )


def test_the_balance_is_read_from_esms_and_kept_briefly() -> None:
    script_balance(250_000)
    reading = current_balance()
    assert (reading.balance, reading.note, reading.known) == (Decimal(250_000), "", True)
    balance_at_esms_becomes(1)
    assert current_balance().balance == Decimal(250_000)  # cached
    assert current_balance().read_at == reading.read_at
    estimates.forget_balance()
    assert current_balance().balance == Decimal(1)


def test_no_cache_with_balance_cache_seconds_0(settings: Any) -> None:
    settings.ESMS_VOICE = {**settings.ESMS_VOICE, "BALANCE_CACHE_SECONDS": 0}
    script_balance(250_000)
    assert current_balance().balance == Decimal(250_000)
    balance_at_esms_becomes(1)
    assert current_balance().balance == Decimal(1)


def test_a_scripted_balance_shows_at_once() -> None:
    """script_balance() drops the cached reading: a test sees the balance it scripted."""
    assert current_balance().balance == Decimal(1_000_000)  # the locmem default, now cached
    script_balance(5)
    assert current_balance().balance == Decimal(5)
    script_balance(code=101)
    assert not current_balance().known


def test_a_refused_balance_request_gives_a_note_why_and_no_balance() -> None:
    script_balance(code=101)
    reading = current_balance()
    assert not reading.known
    assert reading.note == ("The eSMS balance could not be read: wrong ApiKey or SecretKey (101).")
    with translation.override("vi"):
        estimates.forget_balance()
        note = current_balance().note
    assert note.startswith("Không đọc được số dư eSMS: "), note
    assert "(101)" in note


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (EsmsTimeout("no answer within 30 s", endpoint="GetBalance_json"), "eSMS did not answer"),
        (
            EsmsHTTPError("HTTP 503", endpoint="GetBalance_json", status_code=503),
            "eSMS answered with HTTP error 503",
        ),
        (
            EsmsSettingsError("ESMS_VOICE['API_KEY'] is missing."),
            "the ESMS_VOICE setting is incomplete or wrong",
        ),
    ],
    ids=["timeout", "http", "settings"],
)
def test_a_balance_that_cannot_be_read_never_raises(
    monkeypatch: pytest.MonkeyPatch, error: Exception, reason: str
) -> None:
    def fail(self: LocmemBackend) -> None:
        raise error

    monkeypatch.setattr(LocmemBackend, "get_balance", fail)
    reading = current_balance()
    assert reading.balance is None
    assert reading.note.startswith(f"The eSMS balance could not be read: {reason}")


def test_a_failure_is_kept_as_long_as_a_balance() -> None:
    script_balance(code=103)
    assert not current_balance().known
    balance_at_esms_becomes(90_000)
    assert not current_balance().known  # no second request to eSMS within the cache time
    estimates.forget_balance()
    assert current_balance().balance == Decimal(90_000)


def test_the_logged_failure_carries_no_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(self: LocmemBackend) -> None:
        raise EsmsTimeout("GET /x?ApiKey=SECRET-API&SecretKey=SECRET-KEY", endpoint="Balance")

    monkeypatch.setattr(LocmemBackend, "get_balance", fail)
    with caplog.at_level(logging.WARNING, logger=estimates.__name__):
        reading = current_balance()
    assert "eSMS balance could not be read" in caplog.text
    assert "SECRET" not in caplog.text + reading.note + repr(reading)


def test_a_cache_that_is_down_does_not_stop_the_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the cache server is down")

    monkeypatch.setattr(estimates.cache, "get", down)
    monkeypatch.setattr(estimates.cache, "set", down)
    script_balance(42_000)
    assert current_balance().balance == Decimal(42_000)
