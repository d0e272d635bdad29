"""Data migrations: what they do to rows made before them."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from django_esms_voice.models import Campaign, CampaignSource, VoiceCall
from django_esms_voice.states import CallStatus, CampaignState

BATCHES = importlib.import_module("django_esms_voice.migrations.0005_campaigns")


def old_call(batch: str, status: str = CallStatus.PENDING, **fields: object) -> VoiceCall:
    """A call as the app stored it before campaigns: a batch tag and no campaign."""
    return VoiceCall.objects.create(
        kind="record", template_id="rec-1", phone="0901888484", batch=batch, status=status, **fields
    )


@pytest.mark.django_db
def test_each_batch_becomes_one_campaign_with_its_calls() -> None:
    done = [old_call("june", CallStatus.ANSWERED), old_call("june", CallStatus.NO_ANSWER)]
    running = [old_call("july", CallStatus.ANSWERED), old_call("july")]
    untagged = old_call("")

    BATCHES.batches_to_campaigns(apps, SimpleNamespace(connection=connection))

    june, july = Campaign.objects.get(name="june"), Campaign.objects.get(name="july")
    assert Campaign.objects.count() == 2
    assert set(june.calls.values_list("pk", flat=True)) == {c.pk for c in done}
    assert set(july.calls.values_list("pk", flat=True)) == {c.pk for c in running}
    assert (june.state, july.state) == (CampaignState.COMPLETED, CampaignState.RUNNING)
    assert june.finished_at is not None
    assert july.finished_at is None
    assert june.source == CampaignSource.BATCH
    assert (june.kind, june.template_id) == ("record", "rec-1")
    assert june.created_at == min(c.created_at for c in done)
    assert VoiceCall.objects.get(pk=untagged.pk).campaign is None


@pytest.mark.django_db
def test_running_it_again_makes_no_second_campaign() -> None:
    old_call("june")
    BATCHES.batches_to_campaigns(apps, SimpleNamespace(connection=connection))
    BATCHES.batches_to_campaigns(apps, SimpleNamespace(connection=connection))
    assert Campaign.objects.filter(name="june").count() == 1


PURPOSES = importlib.import_module("django_esms_voice.migrations.0009_call_purpose")


@pytest.mark.django_db
def test_the_calls_of_a_campaign_take_its_purpose_the_others_keep_the_default() -> None:
    ads = Campaign.objects.create(name="ads", kind="record", template_id="1", purpose="advertising")
    otp = Campaign.objects.create(
        name="otp", kind="record", template_id="1", purpose="transactional"
    )
    # As AddField left them: every call with the DEFAULT_PURPOSE setting's purpose.
    in_ads, in_otp, alone = (
        old_call("ads", campaign=ads, purpose="customer_care"),
        old_call("otp", campaign=otp, purpose="customer_care"),
        old_call("", purpose="customer_care"),
    )

    PURPOSES.purpose_of_campaign(apps, SimpleNamespace(connection=connection))

    purposes = dict(VoiceCall.objects.values_list("pk", "purpose"))
    assert purposes == {
        in_ads.pk: "advertising",
        in_otp.pk: "transactional",
        alone.pk: "customer_care",
    }


VOCABULARY = importlib.import_module("django_esms_voice.migrations.0015_error_code_vocabulary")


@pytest.mark.django_db
def test_class_names_stored_as_error_codes_become_the_vocabulary_and_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(VOCABULARY, "BATCH_SIZE", 2)  # several UPDATEs per code
    stored = {
        "EsmsTimeout": "timeout",
        "EsmsConnectionError": "connection",
        "EsmsInvalidResponse": "bad_response",
        "EsmsTransportError": "transport",
        "EsmsSettingsError": "settings",
        "108": "108",
        "no_result": "no_result",
        "": "",
    }
    calls = {old_call("", last_error_code=old).pk: new for old, new in stored.items()}
    calls.update({old_call("", last_error_code="EsmsTimeout").pk: "timeout" for _ in range(4)})
    server = old_call(
        "",
        last_error_code="EsmsHTTPError",
        last_error_message="gave up after 3 attempt(s): eSMS MakeCallRecord_V2: HTTP 502: 'x'",
    )
    client = old_call(
        "",
        last_error_code="EsmsHTTPError",
        last_error_message="eSMS MakeCallRecord_V2: HTTP 404: '<html>Not Found</html>'",
    )
    calls.update({server.pk: "http_5xx", client.pk: "http_4xx"})
    editor = SimpleNamespace(connection=connection)

    VOCABULARY.class_names_to_codes(apps, editor)

    assert dict(VoiceCall.objects.values_list("pk", "last_error_code")) == calls

    VOCABULARY.codes_to_class_names(apps, editor)

    codes = dict(VoiceCall.objects.values_list("pk", "last_error_code"))
    assert (codes[server.pk], codes[client.pk]) == ("EsmsHTTPError", "EsmsHTTPError")
    assert sorted(code for pk, code in codes.items() if pk not in (server.pk, client.pk)) == sorted(
        [*stored, *["EsmsTimeout"] * 4]
    )
