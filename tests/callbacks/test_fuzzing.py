"""Fuzzed deliveries: an authentic one never fails nor undoes a result, a forged one is refused."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from django_esms_voice.models import (
    CallbackEvent,
    EventOutcome,
    VoiceCall,
)
from django_esms_voice.states import CallStatus

from .helpers import (
    answered,
    deliver,
    make_call,
    snapshot,
    url_for,
)

KNOWN_KEYS = ["ReferenceId", "CallDuration", "CallStatus", "Ivr", "Price", "SentResult", "CID"]


KNOWN_KEYS += ["SendStatus"]


_chars = st.characters(codec="utf-8")  # what HTTP can carry: no lone surrogates


_keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(_chars, max_size=20))


_values = st.one_of(
    st.text(_chars, max_size=60),
    st.text(alphabet=st.sampled_from("\x00\x01\n\r\t %&=+#?/\\'\"5ANSWERED"), max_size=30),
    st.sampled_from(["", "2", "5", "7", "0", "1", "ANSWERED", "NO ANSWER", "NOANSWERED", " 5 "]),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["9" * 5000, "1e999999999", "-0", "0.00001", "999999999999.99995"]),
    st.builds(lambda char, size: char * size, _chars, st.integers(1000, 10_240)),
)


_pairs = st.one_of(
    st.lists(st.tuples(_keys, _values), max_size=12),
    st.dictionaries(_keys, _values, max_size=12).map(lambda d: list(d.items())),
)


_DELIMITERS = str.maketrans({"%": "%25", "&": "%26", "=": "%3D", "#": "%23", "+": "%2B"})


def _query(pairs: list[tuple[str, str]], raw: bool) -> str:
    """Encode pairs as a query string; raw leaves all but the delimiters unencoded."""
    if not raw:
        return urlencode(pairs)
    return "&".join(f"{k.translate(_DELIMITERS)}={v.translate(_DELIMITERS)}" for k, v in pairs)


@pytest.fixture
def answered_call(db) -> VoiceCall:
    """A call that ended answered."""
    call = make_call()
    deliver(call, answered(call.smsid, ivr="1", duration=20, price="500.0000"))
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    return call


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(pairs=_pairs, raw=st.booleans(), with_reference=st.booleans())
@example(pairs=[("Ivr", "1\x00"), ("SendStatus", "5"), ("CallStatus", "ANSWERED")], raw=False,
         with_reference=True)  # fmt: skip
@example(pairs=[("CID", "\x00"), ("SendStatus", "7")], raw=False, with_reference=False)
@example(pairs=[("ReferenceId", "x\x00"), ("SendStatus", "5")], raw=False, with_reference=False)
@example(pairs=[("Ivr", "\x00"), ("SendStatus", "5")], raw=True, with_reference=False)
@example(pairs=[("format", "xml"), ("SendStatus", "5")], raw=False, with_reference=False)
@example(
    pairs=[("Price", "999999999999.99995"), ("SendStatus", "5"), ("CallStatus", "ANSWERED")],
    raw=False,
    with_reference=True,
)
@example(pairs=[("Price", "1e-16384"), ("SendStatus", "5")], raw=False, with_reference=True)
@example(pairs=[("SendStatus", "\u0665"), ("CallStatus", "NO ANSWER")], raw=False,
         with_reference=True)  # fmt: skip
def test_fuzzed_authentic_callbacks_never_fail_and_never_undo_answered(
    answered_call: VoiceCall, pairs: list[tuple[str, str]], raw: bool, with_reference: bool
) -> None:
    call = answered_call
    VoiceCall.objects.filter(pk=call.pk).update(event_fingerprints=[])
    if with_reference:
        pairs = [("ReferenceId", call.smsid), *pairs]
    query = _query(pairs, raw)
    count = CallbackEvent.objects.count()

    response = Client().get(f"{url_for(call.uuid)}?{query}")

    assert response.status_code == 200
    assert response.json()["outcome"] in EventOutcome.values
    assert CallbackEvent.objects.count() == count + 1
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    assert call.call_status == "ANSWERED"


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    token=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:.~",
        min_size=1,
        max_size=80,
    ),
    pairs=_pairs,
)
def test_fuzzed_forged_callbacks_are_refused(
    answered_call: VoiceCall, token: str, pairs: list[tuple[str, str]]
) -> None:
    before = snapshot(answered_call)
    count = CallbackEvent.objects.count()

    response = Client().get(f"{url_for(answered_call.uuid, token)}?{urlencode(pairs)}")

    assert response.status_code == 404
    assert CallbackEvent.objects.count() == count
    assert snapshot(answered_call) == before
