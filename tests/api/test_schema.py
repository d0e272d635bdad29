"""The API's OpenAPI schema: valid, this API only, and true of the live API (schemathesis)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from django_esms_voice import services
from django_esms_voice.models import VoiceCall
from django_esms_voice.states import CallStatus
from tests.api.helpers import (
    HIDDEN,
    OTHER,
    PHONE,
    SCHEMA,
    new_call,
    new_campaign,
)

pytestmark = pytest.mark.urls("tests.api.urls")

ROOT = Path(__file__).resolve().parents[2]
#: Every operation of this API, as Schemathesis labels them.
OPERATIONS = {
    "GET /api/esms-voice/calls/",
    "POST /api/esms-voice/calls/",
    "GET /api/esms-voice/calls/{uuid}/",
    "POST /api/esms-voice/calls/{uuid}/cancel/",
    "GET /api/esms-voice/campaigns/",
    "GET /api/esms-voice/campaigns/{id}/",
    "POST /api/esms-voice/campaigns/{id}/pause/",
    "POST /api/esms-voice/campaigns/{id}/resume/",
    "POST /api/esms-voice/campaigns/{id}/cancel/",
    "GET /api/esms-voice/account/",
    "POST /api/esms-voice/account/resume/",
    "GET /api/esms-voice/suppressions/",
    "POST /api/esms-voice/suppressions/",
    "DELETE /api/esms-voice/suppressions/{phone}/",
}


@pytest.fixture
def schema(client: Any) -> dict[str, Any]:
    """The generated OpenAPI schema, as JSON."""
    response = client.get(SCHEMA, HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return dict(response.json())


@pytest.mark.django_db
def test_the_schema_is_valid_openapi_and_covers_this_api_only(schema: dict[str, Any]) -> None:
    from drf_spectacular.validation import validate_schema

    validate_schema(schema)
    operations = {
        f"{method.upper()} {route}" for route, item in schema["paths"].items() for method in item
    }  # fmt: skip
    assert operations == OPERATIONS
    components = schema["components"]["schemas"]
    assert not HIDDEN & set(components["VoiceCall"]["properties"])
    assert {"campaign", "hold"} <= set(components["VoiceCall"]["properties"])
    create = schema["paths"]["/api/esms-voice/calls/"]["post"]
    assert set(create["responses"]) >= {"201", "400", "403"}
    assert "409" in schema["paths"]["/api/esms-voice/calls/{uuid}/cancel/"]["post"]["responses"]
    parameters = {p["name"] for p in schema["paths"]["/api/esms-voice/calls/"]["get"]["parameters"]}
    assert parameters >= {"status", "kind", "batch", "campaign", "phone", "created_after", "cursor"}


@pytest.mark.django_db
def test_the_schema_describes_the_campaign_and_account_endpoints(schema: dict[str, Any]) -> None:
    paths, components = schema["paths"], schema["components"]["schemas"]
    campaigns = "/api/esms-voice/campaigns/"
    listed = {p["name"] for p in paths[campaigns]["get"]["parameters"]}
    assert listed >= {"state", "purpose", "cursor"}
    [identifier] = paths[f"{campaigns}{{id}}/"]["get"]["parameters"]
    assert identifier["schema"]["type"] == "integer"
    for action, count in (("pause", "held"), ("resume", "released"), ("cancel", "canceled")):
        operation = paths[f"{campaigns}{{id}}/{action}/"]["post"]
        assert "requestBody" not in operation
        assert set(operation["responses"]) >= {"200", "403", "404", "409"}
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert set(components[answer.rsplit("/", 1)[1]]["properties"]) == {"campaign", count}
    detail = components["CampaignDetail"]["properties"]
    assert {"kind", "template_id", "purpose", "state", "created_by", "figures"} <= set(detail)
    assert "by_status" in components["CampaignFigures"]["properties"]
    batch = components["VoiceCallBatchResult"]["properties"]
    assert {"campaign", "campaign_url"} <= set(batch)
    assert {"campaign", "purpose"} <= set(components["VoiceCallBatch"]["properties"])
    assert "campaign" in components["OneCallCreate"]["properties"]
    account = paths["/api/esms-voice/account/"]["get"]
    assert "parameters" not in account  # one object: no cursor, no page size
    ref = account["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/Account")
    assert set(components["Account"]["properties"]) == {
        "paused", "code", "meaning", "since", "advice", "last_balance_check",
    }  # fmt: skip
    assert "409" in paths["/api/esms-voice/account/resume/"]["post"]["responses"]


def basic_auth(username: str, password: str) -> dict[str, str]:
    """Return an HTTP Basic Authorization header."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def live_calls(live_server: Any, transactional_db: Any) -> tuple[str, dict[str, str]]:
    """The live server's URL, a superuser's credentials, and a few calls to look at."""
    User.objects.create_superuser("fuzz", password="fuzz-pw")
    for index in range(3):
        new_call(batch=f"b{index}", metadata={"index": index})
    new_campaign(PHONE, OTHER, name="fuzzed")
    return live_server.url, basic_auth("fuzz", "fuzz-pw")


@pytest.mark.timeout(120)
def test_schemathesis_against_the_live_schema(live_calls: tuple[str, dict[str, str]]) -> None:
    """Every documented operation, with generated input: no 5xx, answers match the schema."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    base_url, headers = live_calls
    api = schemathesis.openapi.from_url(f"{base_url}{SCHEMA}?format=json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.label for op in operations} == OPERATIONS
    statuses: dict[str, set[int]] = {}

    def fuzz(operation: Any, mode: Any) -> None:
        # Valid input: every check. Invalid input: it must be refused, never crash the server.
        used = checks if mode is GenerationMode.POSITIVE else [not_a_server_error]

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=25,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=used)
            statuses.setdefault(f"{mode.value} {operation.label}", set()).add(response.status_code)

        check()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and "/account/" in operation.label:
                continue  # no parameter and no body: no invalid input to make
            fuzz(operation, mode)
    # Random uuids name no call: look at real ones too, through the same checks.
    by_label = {op.label: op for op in operations}
    for call in VoiceCall.objects.filter(status=CallStatus.PENDING)[:2]:
        for label in (
            "GET /api/esms-voice/calls/{uuid}/",
            "POST /api/esms-voice/calls/{uuid}/cancel/",
        ):
            case = by_label[label].Case(path_parameters={"uuid": str(call.uuid)})
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=checks)
            statuses.setdefault(f"known {label}", set()).add(response.status_code)
    assert statuses["known POST /api/esms-voice/calls/{uuid}/cancel/"] == {200}
    assert statuses["known GET /api/esms-voice/calls/{uuid}/"] == {200}
    # A campaign the fuzzing did not touch, through each of its actions; the account paused.
    campaign = new_campaign(PHONE, name="known")
    services.pause_placement("103", "Balance not enough")
    for label in (
        "GET /api/esms-voice/campaigns/{id}/",
        "POST /api/esms-voice/campaigns/{id}/pause/",
        "POST /api/esms-voice/campaigns/{id}/resume/",
        "POST /api/esms-voice/campaigns/{id}/cancel/",
        "POST /api/esms-voice/campaigns/{id}/cancel/",  # canceled already: the 409
        "GET /api/esms-voice/account/",
        "POST /api/esms-voice/account/resume/",
    ):
        case = by_label[label].Case(
            path_parameters={"id": campaign.pk} if "{id}" in label else None
        )
        response = case.call_and_validate(base_url=base_url, headers=headers, checks=checks)
        statuses.setdefault(f"known {label}", set()).add(response.status_code)
    assert statuses["known POST /api/esms-voice/campaigns/{id}/pause/"] == {200}
    assert statuses["known POST /api/esms-voice/campaigns/{id}/resume/"] == {200}
    assert statuses["known POST /api/esms-voice/campaigns/{id}/cancel/"] == {200, 409}
    assert statuses["known POST /api/esms-voice/account/resume/"] == {200}
    # The generated input reached the success path of each operation, not only its errors.
    assert 201 in statuses["positive POST /api/esms-voice/calls/"], statuses
    assert 200 in statuses["positive GET /api/esms-voice/calls/"], statuses
    assert 200 in statuses["positive GET /api/esms-voice/campaigns/"], statuses
    assert 200 in statuses["positive GET /api/esms-voice/account/"], statuses
    assert 400 in statuses["negative POST /api/esms-voice/calls/"], statuses


def test_the_api_works_without_drf_spectacular() -> None:
    """drf-spectacular is the optional "api" extra: without it there is no schema/, only that."""
    code = (
        "import sys; sys.modules['drf_spectacular'] = None\n"
        "import django; django.setup()\n"
        "from django_esms_voice import api_urls\n"
        "print(sorted(p.name for p in api_urls.urlpatterns))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "ESMS_VOICE_TEST_DB": "sqlite",
    }
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[0] == str(
        sorted(
            [
                *("call-cancel", "call-detail", "call-list"),
                *("campaign-cancel", "campaign-detail", "campaign-list"),
                *("campaign-pause", "campaign-resume", "account-list", "account-resume"),
                *("suppression-list", "suppression-detail"),
            ]
        )
    )
