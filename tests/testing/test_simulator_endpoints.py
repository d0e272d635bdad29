"""The simulator's endpoints over real HTTP: MakeCall*, GetSendStatus, GetBalance_json."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from django_esms_voice.testing.simulator import EsmsSimulator, Outcome, Script
from tests.testing.simulator_helpers import (
    KEYS,
    PHONE,
    make_call,
    send_status,
    smsid_of,
)

# MakeCall*


def test_record_call_is_accepted_with_the_docs_quirks(sim: EsmsSimulator) -> None:
    response = make_call(sim, RequestID="req-1")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Content-Length"]) == len(response.content)
    data = response.json()
    assert list(data) == ["CodeResult", "SMSID"]
    assert data["CodeResult"] == "100"
    assert data["SMSID"].endswith(" ")
    assert not data["SMSID"].endswith("  ")
    smsid = data["SMSID"].strip()
    call = sim.calls[smsid]
    assert (call.request_id, call.phone, call.endpoint) == ("req-1", PHONE, "MakeCallRecord_V2")
    assert call.params["RequestID"] == "req-1"
    assert [entry.params["RequestID"] for entry in sim.accepted("req-1")] == ["req-1"]
    assert sim.requests[0].code == "100"
    assert sim.requests[0].failure is None
    assert sim.balance == 1_000_000_000 - 500


def test_template_call_reads_its_params_and_dedupes_on_request_id(sim: EsmsSimulator) -> None:
    params = {"VariableListStr": "Trung||20000", "Voice": "female", "Speed": "0"}
    first = make_call(sim, "MakeCallTemplate_V2", RequestId="tpl-1", extra=params)
    second = make_call(sim, "MakeCallTemplate_V2", RequestId="tpl-1", extra=params)

    call = sim.calls[smsid_of(first)]
    assert call.endpoint == "MakeCallTemplate_V2"
    assert call.params["VariableListStr"] == "Trung||20000"
    assert second.json() == {"CodeResult": "124", "ErrorMessage": "Duplicate RequestId"}
    assert len(sim.calls) == 1
    assert len(sim.accepted("tpl-1")) == 1
    assert sim.balance == 1_000_000_000 - 500


def test_duplicate_request_id_is_refused_with_124(sim: EsmsSimulator) -> None:
    smsid_of(make_call(sim, RequestID="dup"))

    again = make_call(sim, RequestID="dup")

    assert again.json() == {"CodeResult": "124", "ErrorMessage": "Duplicate RequestId"}
    assert len(sim.calls) == 1
    assert [entry.code for entry in sim.requests] == ["100", "124"]
    assert len(sim.accepted("dup")) == 1


def test_record_endpoint_reads_request_id_spelled_RequestID(sim: EsmsSimulator) -> None:
    smsid_of(make_call(sim, RequestId="wrong-spelling"))
    smsid_of(make_call(sim, RequestId="wrong-spelling"))

    assert len(sim.calls) == 2
    assert sim.accepted("wrong-spelling") == []


def test_requests_without_request_id_are_not_deduplicated(sim: EsmsSimulator) -> None:
    smsid_of(make_call(sim))
    smsid_of(make_call(sim))

    assert len(sim.calls) == 2
    assert len(sim.accepted()) == 2


@pytest.mark.parametrize(
    "credentials",
    [
        {"ApiKey": "wrong"},
        {"SecretKey": "wrong"},
        {"ApiKey": None},
        {"SecretKey": None},
    ],
)
@pytest.mark.parametrize("endpoint", ["MakeCallRecord_V2", "MakeCallTemplate_V2"])
def test_wrong_credentials_are_refused_with_101(
    sim: EsmsSimulator, endpoint: str, credentials: dict[str, str | None]
) -> None:
    response = make_call(sim, endpoint, extra=credentials)

    assert response.json() == {"CodeResult": "101", "ErrorMessage": "Authorize Failed"}
    assert sim.calls == {}


def test_unknown_template_is_104_for_scripts_and_106_for_recordings() -> None:
    with EsmsSimulator(known_templates={"42"}) as sim:
        template = make_call(sim, "MakeCallTemplate_V2", TemplateId="1")
        record = make_call(sim, "MakeCallRecord_V2", TemplateId="1")
        known = make_call(sim, "MakeCallRecord_V2", TemplateId="42")

        assert template.json() == {"CodeResult": "104", "ErrorMessage": "Template not found"}
        assert record.json()["CodeResult"] == "106"
        assert record.json()["ErrorMessage"]
        assert known.json()["CodeResult"] == "100"
        assert len(sim.calls) == 1


@pytest.mark.parametrize(
    ("endpoint", "code"), [("MakeCallTemplate_V2", "104"), ("MakeCallRecord_V2", "106")]
)
def test_missing_template_id_is_refused(sim: EsmsSimulator, endpoint: str, code: str) -> None:
    assert make_call(sim, endpoint, TemplateId=None).json()["CodeResult"] == code
    assert sim.calls == {}


@pytest.mark.parametrize("phone", ["0901888484", "84901888484", "0281234567", "02871002454"])
def test_vietnamese_numbers_are_accepted(sim: EsmsSimulator, phone: str) -> None:
    assert make_call(sim, Phone=phone).json()["CodeResult"] == "100"


@pytest.mark.parametrize(
    "phone", ["090188848", "09018884841", "+84901888484", "1901888484", "849018884", "", "abc"]
)
def test_malformed_numbers_are_refused_with_108(sim: EsmsSimulator, phone: str) -> None:
    response = make_call(sim, Phone=phone)

    assert response.json()["CodeResult"] == "108"
    assert response.json()["ErrorMessage"]
    assert sim.calls == {}


def test_low_balance_is_refused_with_103() -> None:
    with EsmsSimulator(balance=1200, price_per_call="500.0000") as sim:
        codes = [make_call(sim).json()["CodeResult"] for _ in range(3)]

        assert codes == ["100", "100", "103"]
        assert len(sim.calls) == 2
        balance = requests.post(sim.balance_url + "GetBalance_json", json=KEYS, timeout=5)
        assert balance.json() == {"Balance": 200, "CodeResponse": "100", "UserID": 9999}


@pytest.mark.parametrize("code", ["103", "999"])
def test_scripted_refusal_answers_any_code(sim: EsmsSimulator, code: str) -> None:
    sim.script(PHONE, Script(reject_code=code))

    data = make_call(sim, RequestID="r").json()

    assert data["CodeResult"] == code
    assert isinstance(data["ErrorMessage"], str)
    assert data["ErrorMessage"]
    assert sim.calls == {}
    assert sim.accepted() == []
    assert sim.requests[-1].code == code


def test_unknown_paths_and_wrong_methods(sim: EsmsSimulator) -> None:
    root = sim.base_url.removesuffix("MainService.svc/json/")
    for url in (sim.base_url + "MakeCall", sim.base_url + "makecallrecord_v2", root + "other"):
        response = requests.get(url, timeout=5)
        assert response.status_code == 404
        assert int(response.headers["Content-Length"]) == len(response.content)
    assert requests.get(sim.base_url + "GetBalance_json", timeout=5).status_code == 405
    assert requests.post(sim.base_url + "MakeCallRecord_V2", timeout=5).status_code == 405
    assert sim.requests == []


def test_one_keep_alive_connection_serves_many_requests(sim: EsmsSimulator) -> None:
    with requests.Session() as session:
        for _ in range(20):
            response = make_call(sim, session=session)
            assert response.headers.get("Connection", "").lower() != "close"
        before = threading.active_count()
        for _ in range(20):
            make_call(sim, session=session)
        assert threading.active_count() <= before + 1
    assert len(sim.calls) == 40


# GetSendStatus


def test_send_status_goes_from_sent_to_finished_with_the_docs_shape() -> None:
    with EsmsSimulator(callback_delay=0.3) as sim:
        smsid = smsid_of(make_call(sim))

        waiting = send_status(sim, smsid)
        assert waiting == {
            "CallDuration": 0,
            "CallStatus": "",
            "CodeResponse": "100",
            "Ivr": "",
            "ReferenceId": smsid.upper(),
            "SendStatus": 7,
            "SentResult": 1,
        }
        time.sleep(0.35)
        final = send_status(sim, f"  {smsid.upper()} ")
        assert list(final) == [
            "CallDuration",
            "CallStatus",
            "CodeResponse",
            "Ivr",
            "ReferenceId",
            "SendStatus",
            "SentResult",
        ]
        assert final == {
            "CallDuration": 13,
            "CallStatus": "ANSWERED",
            "CodeResponse": "100",
            "Ivr": "",
            "ReferenceId": smsid.upper(),
            "SendStatus": 5,
            "SentResult": 1,
        }
        assert send_status(sim, smsid.lower()) == final


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome.answered(ivr="1", duration=20), ("ANSWERED", 1, 20, "1")),
        (Outcome.no_answer(), ("NOANSWERED", 1, 0, "")),
        (Outcome.failed(), ("", 0, 0, "")),
    ],
)
def test_send_status_spells_final_results_as_documented(
    sim: EsmsSimulator, outcome: Outcome, expected: tuple[str, int, int, str]
) -> None:
    sim.default = Script(outcome=outcome)
    smsid = smsid_of(make_call(sim))
    time.sleep(0.1)

    data = send_status(sim, smsid)

    assert data["SendStatus"] == 5
    assert (data["CallStatus"], data["SentResult"], data["CallDuration"], data["Ivr"]) == expected


def test_send_status_answers_105_until_the_call_is_known() -> None:
    with EsmsSimulator(status_known_delay=0.3) as sim:
        smsid = smsid_of(make_call(sim))

        early = send_status(sim, smsid)
        unknown = send_status(sim, "505139D7-54F8-48A9-88FA-9460A78731DD")
        time.sleep(0.35)
        later = send_status(sim, smsid)

        for data in (early, unknown):
            assert data["CodeResponse"] == "105"
            assert data["ErrorMessage"]
            assert "CodeResult" not in data
        assert later["CodeResponse"] == "100"


def test_send_status_with_wrong_credentials_uses_the_error_form(sim: EsmsSimulator) -> None:
    smsid = smsid_of(make_call(sim))

    data = send_status(sim, smsid, SecretKey="wrong")

    assert data == {"CodeResult": "101", "CountRegenerate": 0, "ErrorMessage": "Authorize Failed"}


# GetBalance_json


def test_balance_is_a_json_post(sim: EsmsSimulator) -> None:
    good = requests.post(sim.balance_url + "GetBalance_json", json=KEYS, timeout=5)
    bad = requests.post(
        sim.balance_url + "GetBalance_json", json={**KEYS, "SecretKey": "x"}, timeout=5
    )
    junk = requests.post(sim.balance_url + "GetBalance_json", data=b"not json", timeout=5)

    assert good.json() == {"Balance": 1000000000, "CodeResponse": "100", "UserID": 9999}
    refusal = {"Balance": 0, "CodeResponse": "101", "ErrorMessage": "Authorize Failed"}
    assert bad.json() == refusal
    assert junk.json() == refusal
