"""The client reads the proxy and CA bundle environment once, and still follows a redirect."""

from __future__ import annotations

import pytest
import requests

from django_esms_voice.esms.client import EsmsVoiceClient
from django_esms_voice.esms.payloads import RecordCallRequest

from .canned import mount

ACCEPTED = {"CodeResult": "100", "SMSID": "8eb2af6d-fb4c4814-b9cc-4c0e3ed32edf"}
BASE = "https://voice.example.vn/MainService.svc/json/"


def new_client() -> EsmsVoiceClient:
    return EsmsVoiceClient(api_key="env-api-key", secret_key="env-secret-key", base_url=BASE)


def a_call(client: EsmsVoiceClient) -> None:
    client.make_record_call(
        RecordCallRequest(phone="0901888484", template_id="rec-1", request_id="r-1")
    )


def test_the_proxy_and_ca_bundle_of_the_environment_are_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.office.vn:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/office-ca.pem")
    client = new_client()
    adapter = mount(client).reply(ACCEPTED)

    a_call(client)

    assert adapter.options[0]["proxies"]["https"] == "http://proxy.office.vn:3128"
    assert adapter.options[0]["verify"] == "/etc/ssl/office-ca.pem"


def test_no_proxy_for_a_host_no_proxy_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.office.vn:3128")
    monkeypatch.setenv("NO_PROXY", "voice.example.vn")
    client = new_client()
    adapter = mount(client).reply(ACCEPTED)

    a_call(client)

    assert "https" not in adapter.options[0]["proxies"]


def test_the_environment_is_read_when_the_client_first_calls_not_at_every_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = new_client()
    adapter = mount(client).reply(ACCEPTED)
    a_call(client)
    # A client lives as long as the settings: a proxy set later is taken by the next one.
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.office.vn:3128")
    a_call(client)
    later = new_client()
    mount(later).reply(ACCEPTED)
    a_call(later)

    assert [o["proxies"].get("https") for o in adapter.options] == [None, None]
    assert later.session.adapters["https://"].options[0]["proxies"]["https"]  # type: ignore[attr-defined]


def test_a_redirect_is_followed_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    client = new_client()
    moved = "https://voice2.example.vn/MainService.svc/json/MakeCallRecord_V2?x=1"
    adapter = mount(client).reply(b"", status=302, location=moved).reply(ACCEPTED)

    a_call(client)

    assert [r.url for r in adapter.sent][1] == moved


@pytest.mark.parametrize(
    "phone_field",
    ["0901888484", "Chào anh Bình & chị Chi = 1+1 / 100% ~ ✓", " spaced  out ", "a?b#c"],
)
def test_a_request_leaves_exactly_as_requests_would_prepare_it(phone_field: str) -> None:
    client = new_client()
    adapter = mount(client).reply(ACCEPTED)
    params = {"ApiKey": "env-api-key", "SecretKey": "env-secret-key", "Text": phone_field}

    client._get("MakeCallTemplate_V2", {"Text": phone_field})

    expected = requests.PreparedRequest()
    expected.prepare("GET", BASE + "MakeCallTemplate_V2", headers=client.session.headers)
    expected.prepare_url(BASE + "MakeCallTemplate_V2", params)
    (sent,) = adapter.sent
    assert sent.url == expected.url
    assert dict(sent.headers) == dict(expected.headers)
    assert (sent.method, sent.body) == ("GET", None)


def test_a_session_cookie_is_sent_and_a_none_value_left_out() -> None:
    client = new_client()
    adapter = mount(client).reply(ACCEPTED)
    client.session.cookies.set("lb", "node-2")  # a load balancer's sticky cookie

    client._get("MakeCallRecord_V2", {"Phone": "0901888484", "Unset": None})  # type: ignore[dict-item]

    (sent,) = adapter.sent
    assert sent.headers["Cookie"] == "lb=node-2"
    assert (
        sent.url
        == BASE + "MakeCallRecord_V2?ApiKey=env-api-key&SecretKey=env-secret-key&Phone=0901888484"
    )
