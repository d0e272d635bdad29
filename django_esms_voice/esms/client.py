"""EsmsVoiceClient: one method per eSMS voice endpoint, typed results, table-driven errors.

HTTP only: the ESMS_VOICE call defaults are the backends' business (backends.BaseBackend).
"""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter

from .. import __version__
from ..conf import DEFAULTS, per_settings, require_credentials, voice_settings
from ..exceptions import (
    EsmsConnectionError,
    EsmsHTTPError,
    EsmsInvalidResponse,
    EsmsTimeout,
    EsmsTransportError,
    error_for_code,
)
from .payloads import (
    Balance,
    CallRequest,
    CallResult,
    CallSubmission,
    MalformedResult,
    RecordCallRequest,
    TemplateCallRequest,
    normalize_smsid,
    parse_status_answer,
)
from .protocol import ACCEPTED, CODE_FIELDS, DUPLICATE_REQUEST, Answer, Endpoint, Param
from .redaction import redact, register_secret

logger = logging.getLogger(__name__)

_BODY_PREVIEW = 120
_MESSAGE_PREVIEW = 200
# Redact a little more than is shown, so that a credential cut by the truncation is still
# recognised whole and masked, instead of leaking its beginning.
_REDACTION_SLACK = 256


def _preview(text: str, limit: int) -> str:
    """Return the start of a text with the credentials masked (mask first, then cut)."""
    return redact(text[: limit + _REDACTION_SLACK])[:limit]


def _redacted(value: Any) -> Any:
    """Return a JSON value with the credentials masked in every string it holds."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        credentials = (Param.API_KEY, Param.SECRET_KEY)
        return {k: _redacted(v) for k, v in value.items() if k not in credentials}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def _result_code(data: dict[str, Any]) -> str | None:
    """Return the result code whichever key and type it came in."""
    # Call endpoints answer "CodeResult", status and balance answer "CodeResponse";
    # either may be a string or a number.
    # An empty or blank code is no code: it must not become a refusal with code "".
    for key in CODE_FIELDS:
        value = data.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


class EsmsVoiceClient:
    """Talks to the eSMS voice API over a pooled keep-alive session per thread."""

    def __init__(
        self,
        *,
        api_key: str,
        secret_key: str,
        base_url: str = DEFAULTS["BASE_URL"],
        balance_url: str = DEFAULTS["BALANCE_URL"],
        timeout: tuple[float, float] = DEFAULTS["TIMEOUT"],
    ) -> None:
        if not api_key or not secret_key:
            raise ValueError("EsmsVoiceClient needs both api_key and secret_key.")
        register_secret(api_key)
        register_secret(secret_key)
        self._credentials: dict[str, str] = {Param.API_KEY: api_key, Param.SECRET_KEY: secret_key}
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.balance_url = balance_url if balance_url.endswith("/") else balance_url + "/"
        self.timeout = timeout
        self._local = threading.local()
        self._environments: dict[str, dict[str, Any]] = {}
        self._prepared_urls: dict[str, str] = {}

    @classmethod
    def from_settings(cls) -> EsmsVoiceClient:
        """Build a client from ESMS_VOICE's credentials, URLs and timeout."""
        conf = voice_settings()
        api_key, secret_key = require_credentials()
        return cls(
            api_key=api_key,
            secret_key=secret_key,
            base_url=conf.base_url,
            balance_url=conf.balance_url,
            timeout=conf.timeout,
        )

    def __repr__(self) -> str:
        return f"<EsmsVoiceClient base_url={self.base_url!r}>"

    @property
    def session(self) -> requests.Session:
        """Return this thread's keep-alive session (requests sessions are not thread-safe)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=4, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = f"django-esms-voice/{__version__}"
            self._local.session = session
        return session

    def close(self) -> None:
        """Close this thread's session and its connections."""
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None

    def make_call(self, request: CallRequest) -> CallSubmission:
        """Place a call at the endpoint its kind belongs to."""
        return self._make_call(request.endpoint, request)

    def make_record_call(self, request: RecordCallRequest) -> CallSubmission:
        """Place a call that plays a recording (MakeCallRecord_V2)."""
        return self._make_call(Endpoint.MAKE_CALL_RECORD, request)

    def make_template_call(self, request: TemplateCallRequest) -> CallSubmission:
        """Place a call that reads a text-to-speech script (MakeCallTemplate_V2)."""
        return self._make_call(Endpoint.MAKE_CALL_TEMPLATE, request)

    def get_send_status(self, reference_id: str) -> CallResult:
        """Ask for the current state of a call by its SMSID (GetSendStatus)."""
        smsid = normalize_smsid(reference_id)
        if not smsid:
            raise ValueError("get_send_status needs the SMSID eSMS returned for the call.")
        endpoint = Endpoint.GET_SEND_STATUS
        data = self._get(endpoint, {Param.REFERENCE_ID: smsid})
        self._raise_for_code(endpoint, data, success=(ACCEPTED,))
        try:
            return parse_status_answer(data, smsid)
        except MalformedResult as exc:
            raise EsmsInvalidResponse(str(exc), endpoint=endpoint) from None

    def get_balance(self) -> Balance:
        """Return the account balance (GetBalance_json, a JSON POST on another host)."""
        endpoint = Endpoint.GET_BALANCE
        data = self._request(
            endpoint, "POST", self.balance_url + endpoint, json_body=self._credentials
        )
        self._raise_for_code(endpoint, data, success=(ACCEPTED,))
        try:
            balance = Decimal(str(data.get(Answer.BALANCE, "")).strip())
        except InvalidOperation:
            raise EsmsInvalidResponse(
                "the Balance field is not a number", endpoint=endpoint
            ) from None
        user_id = data.get(Answer.USER_ID)
        return Balance(balance=balance, user_id=None if user_id is None else str(user_id))

    def _make_call(self, endpoint: str, request: CallRequest) -> CallSubmission:
        """Send a call request; 100 and 124 mean eSMS has the call, any other code raises."""
        data = self._get(endpoint, request.to_params())
        code = self._raise_for_code(endpoint, data, success=(ACCEPTED, DUPLICATE_REQUEST))
        smsid = normalize_smsid(data.get(Answer.SMSID)) or None
        if code == ACCEPTED and smsid is None:
            raise EsmsInvalidResponse("code 100 came without an SMSID", endpoint=endpoint)
        return CallSubmission(
            code=code,
            smsid=smsid,
            request_id=request.request_id,
            already_received=code == DUPLICATE_REQUEST,
        )

    def _raise_for_code(self, endpoint: str, data: dict[str, Any], success: tuple[str, ...]) -> str:
        """Return the result code when it means success, else raise the error its kind names."""
        code = _result_code(data)
        if code is None:
            raise EsmsInvalidResponse(
                "the answer has no CodeResult/CodeResponse", endpoint=endpoint
            )
        if code in success:
            return code
        raise error_for_code(
            code,
            endpoint=endpoint,
            provider_message=_preview(str(data.get(Answer.ERROR_MESSAGE) or ""), _MESSAGE_PREVIEW),
            # The raw answer is kept for the record; an echoed credential must not be.
            data=_redacted(data),
        )

    def _get(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        """GET a voice endpoint with the credentials in the query string, as eSMS requires."""
        return self._request(
            endpoint, "GET", self.base_url + endpoint, params={**self._credentials, **params}
        )

    def _request(
        self,
        endpoint: str,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send one request and return its JSON object; transport failures become our errors."""
        started = time.monotonic()
        failure: EsmsTransportError | None = None
        session = self.session
        prepared = self._prepare(method, url, params, json_body)
        try:
            # Session.send, not Session.request: request() merges cookies, netrc and the
            # proxy environment into every request again, a third of the client's CPU per
            # call. The environment is read once per client (_environment) instead.
            response = session.send(
                prepared, timeout=self.timeout, **self._environment(url), allow_redirects=True
            )
        except requests.Timeout:
            failure = EsmsTimeout(f"no answer within {self.timeout[1]:g} s", endpoint=endpoint)
        except requests.ConnectionError as exc:
            reason = type(exc).__name__
            failure = EsmsConnectionError(f"connection failed ({reason})", endpoint=endpoint)
        except requests.RequestException as exc:
            failure = EsmsTransportError(
                f"request failed ({type(exc).__name__})", endpoint=endpoint
            )
        if failure is not None:
            # DEBUG only, like every answer: the service that knows the call and its attempt
            # logs the failure at WARNING (services.placing), once.
            logger.debug("%s", failure)
            # Raised outside the except block so that no chained exception carries the URL.
            raise failure
        elapsed_ms = (time.monotonic() - started) * 1000
        try:
            return self._json_object(endpoint, response)
        finally:
            logger.debug("eSMS %s: HTTP %s in %.0f ms", endpoint, response.status_code, elapsed_ms)

    def _prepare(
        self,
        method: str,
        url: str,
        params: dict[str, str] | None,
        json_body: dict[str, str] | None,
    ) -> requests.PreparedRequest:
        """Build the request as PreparedRequest.prepare() does, a GET's URL parsed only once."""
        prepared = requests.PreparedRequest()
        if json_body is not None or not params:
            prepared.prepare(
                method,
                url,
                headers=self.session.headers,
                json=json_body,
                cookies=self.session.cookies,
            )
            return prepared
        # prepare() parses, IDNA-encodes and requotes the whole URL at every call: 0.11 ms,
        # a fifth of the client's CPU per call. Here the endpoint's URL is prepared once and
        # the query encoded as prepare() encodes it (urlencode); tests/esms compare the two.
        base = self._prepared_urls.get(url)
        if base is None:
            prepared.prepare_url(url, None)
            base = self._prepared_urls[url] = str(prepared.url)
        prepared.method = method
        # A None value is left out, as prepare() does.
        query = urlencode([(name, value) for name, value in params.items() if value is not None])
        prepared.url = f"{base}?{query}"
        prepared.prepare_headers(self.session.headers)
        prepared.prepare_cookies(self.session.cookies)  # a load balancer's sticky cookie
        return prepared

    def _environment(self, url: str) -> dict[str, Any]:
        """Return the proxies and CA bundle the environment sets for a URL, read once."""
        found = self._environments.get(url)
        if found is None:
            # What Session.request would merge in at every request (trust_env).
            merged = self.session.merge_environment_settings(url, {}, None, None, None)
            found = {key: merged[key] for key in ("proxies", "verify", "cert")}
            self._environments[url] = found
        return found

    @staticmethod
    def _json_object(endpoint: str, response: requests.Response) -> dict[str, Any]:
        """Return the answer's JSON object, or raise the transport error that describes it."""
        if response.status_code >= 400:
            preview = _preview(response.text, _BODY_PREVIEW)
            raise EsmsHTTPError(
                f"HTTP {response.status_code}: {preview!r}",
                endpoint=endpoint,
                status_code=response.status_code,
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            preview = _preview(response.text, _BODY_PREVIEW)
            raise EsmsInvalidResponse(
                f"the answer is not a JSON object: {preview!r}", endpoint=endpoint
            )
        return data


@per_settings
def get_client() -> EsmsVoiceClient:
    """Return the client configured by ESMS_VOICE, shared so that its sessions are reused."""
    return EsmsVoiceClient.from_settings()
