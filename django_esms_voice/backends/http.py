"""The real backend: calls leave through the pooled EsmsVoiceClient built from ESMS_VOICE."""

from __future__ import annotations

from ..esms.client import EsmsVoiceClient, get_client
from ..esms.payloads import Balance, CallRequest, CallResult, CallSubmission
from .base import BaseBackend


class HttpBackend(BaseBackend):
    """Sends every request to eSMS over HTTP."""

    def __init__(self, client: EsmsVoiceClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> EsmsVoiceClient:
        """Return the given client, else the shared one (rebuilt when ESMS_VOICE changes)."""
        return self._client if self._client is not None else get_client()

    def send_call(self, request: CallRequest) -> CallSubmission:
        """Send the request to the endpoint its kind belongs to."""
        return self.client.make_call(request)

    def get_send_status(self, smsid: str) -> CallResult:
        """Ask GetSendStatus."""
        return self.client.get_send_status(smsid)

    def get_balance(self) -> Balance:
        """Ask GetBalance_json."""
        return self.client.get_balance()
