"""Reading the ESMS_VOICE settings dict: its defaults, environment fallbacks and validation."""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any
from urllib.parse import urlsplit

from django.utils.module_loading import import_string

from ..esms.protocol import SPEEDS, VOICES

SETTING_NAME = "ESMS_VOICE"
API_KEY_ENV = "ESMS_VOICE_API_KEY"
SECRET_KEY_ENV = "ESMS_VOICE_SECRET_KEY"  # noqa: S105 - a variable name, not a secret
#: How long an admin confirmation stays valid; its single-use key must be kept at least as long.
CONFIRMATION_MAX_AGE = 60 * 60

DEFAULTS: dict[str, Any] = {
    "API_KEY": None,
    "SECRET_KEY": None,
    "BASE_URL": "https://voiceapi.esms.vn/MainService.svc/json/",
    "BALANCE_URL": "https://rest.esms.vn/MainService.svc/json/",
    "CALLBACK_BASE_URL": None,
    "TIMEOUT": (5.0, 30.0),
    "DEFAULT_MAX_REPEAT": None,
    "DEFAULT_MAX_RETRY": None,
    "DEFAULT_WAIT_RETRY": None,
    "DEFAULT_TIME_WAIT_TO_IVR": None,
    "DEFAULT_VOICE": None,
    "DEFAULT_SPEED": None,
    "MAX_ATTEMPTS": 6,
    "RETRY_BACKOFF": 5.0,
    "RETRY_BACKOFF_MAX": 600.0,
    "RATE_LIMIT": None,
    "SWEEP_INTERVAL": 60.0,
    "PENDING_GRACE": 120.0,
    "SUBMIT_LEASE": 300.0,
    "POLL_AFTER": 900.0,
    "RESULT_TIMEOUT": 86400.0,
    "CALLBACK_ALLOWED_NETWORKS": None,
    "CALLBACK_PROXY_COUNT": 0,
    "IDEMPOTENCY_KEY_TTL": 86400.0,
    "BACKEND": "django_esms_voice.backends.HttpBackend",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the settings, as a system check reports it."""

    id: str
    message: str
    hint: str
    error: bool = True


@dataclass(frozen=True, kw_only=True)
class VoiceSettings:
    """The validated ESMS_VOICE settings; credentials stay out of repr."""

    api_key: str | None = field(repr=False)
    secret_key: str | None = field(repr=False)
    base_url: str
    balance_url: str
    callback_base_url: str | None
    timeout: tuple[float, float]
    default_max_repeat: int | None
    default_max_retry: int | None
    default_wait_retry: int | None
    default_time_wait_to_ivr: int | None
    default_voice: str | None
    default_speed: int | None
    max_attempts: int
    retry_backoff: float
    retry_backoff_max: float
    rate_limit: float | None
    sweep_interval: float
    pending_grace: float
    submit_lease: float
    poll_after: float
    result_timeout: float
    callback_allowed_networks: tuple[IPv4Network | IPv6Network, ...] | None
    callback_proxy_count: int
    idempotency_key_ttl: float = DEFAULTS["IDEMPOTENCY_KEY_TTL"]
    backend: str = DEFAULTS["BACKEND"]


def _name(key: str) -> str:
    """Spell a key the way a user writes it in settings.py."""
    return f"{SETTING_NAME}['{key}']"


def _check_url(key: str, value: object, problems: list[Problem], check_id: str) -> None:
    """Record a problem when a base URL is not an absolute http(s) URL ending with a slash."""
    if (
        not isinstance(value, str)
        or urlsplit(value).scheme not in ("http", "https")
        or not (urlsplit(value).hostname)
    ):
        problems.append(
            Problem(
                check_id,
                f"{_name(key)} must be an absolute http(s) URL, got {value!r}.",
                f"Set {_name(key)} to the eSMS base URL, for example {DEFAULTS[key]!r}.",
            )
        )
    elif not value.endswith("/"):
        problems.append(
            Problem(
                check_id,
                f"{_name(key)} must end with '/': endpoint names are appended to it.",
                f"Set {_name(key)} to {value + '/'!r}.",
            )
        )


def _is_loopback(hostname: str) -> bool:
    """Say whether a host name points at this machine, where plain http is acceptable."""
    if hostname == "localhost":
        return True
    try:
        # An address, not a prefix test: "127.example.com" is a public name.
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _check_callback_base_url(value: object, problems: list[Problem]) -> None:
    """Warn when callbacks cannot reach the app, or would travel unencrypted."""
    key = "CALLBACK_BASE_URL"
    if not value:
        problems.append(
            Problem(
                "esms_voice.W001",
                f"{_name(key)} is not set: calls are placed without a CallbackUrl and their "
                "results arrive only through status polls.",
                f"Set {_name(key)} to the public https address of this site, "
                "e.g. 'https://shop.example.vn'.",
                error=False,
            )
        )
        return
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(
            Problem(
                "esms_voice.E005",
                f"{_name(key)} must be an absolute http(s) URL, got {value!r}.",
                f"Set {_name(key)} to the public https address of this site.",
            )
        )
    elif parts.scheme != "https" and not _is_loopback(parts.hostname):
        problems.append(
            Problem(
                "esms_voice.W002",
                f"{_name(key)} uses plain http: the callback URL is the credential of each "
                "call and would travel unencrypted.",
                f"Use an https address in {_name(key)} (http is accepted only on loopback).",
                error=False,
            )
        )


def _number(
    raw: dict[str, Any], key: str, problems: list[Problem], *, integer: bool, minimum: float = 0
) -> Any:
    """Return a numeric setting, or record a problem naming it when it has the wrong type."""
    value = raw[key]
    if value is None and (key.startswith("DEFAULT_") or key == "RATE_LIMIT"):
        return None
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    number_type = not isinstance(value, bool) and isinstance(value, kinds)
    if not number_type or not math.isfinite(value) or value < minimum:
        kind = "a whole number" if integer else "a number"
        problems.append(
            Problem(
                "esms_voice.E004",
                f"{_name(key)} must be {kind} of at least {minimum}, got {value!r}.",
                f"Fix {_name(key)} or remove it to use the default ({DEFAULTS[key]!r}).",
            )
        )
        return DEFAULTS[key]
    return value


def _timeout(raw: dict[str, Any], problems: list[Problem]) -> tuple[float, float]:
    """Return TIMEOUT as (connect, read) seconds; one number means both."""
    value = raw["TIMEOUT"]
    pair = (value, value) if isinstance(value, int | float) else value
    if (
        not isinstance(pair, tuple | list)
        or len(pair) != 2
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0
            for v in pair
        )
    ):
        problems.append(
            Problem(
                "esms_voice.E004",
                f"{_name('TIMEOUT')} must be a positive number of seconds or a (connect, read) "
                f"pair, got {value!r}.",
                f"Set {_name('TIMEOUT')} to e.g. (5, 30).",
            )
        )
        return DEFAULTS["TIMEOUT"]  # type: ignore[no-any-return]
    return float(pair[0]), float(pair[1])


def _choice(
    raw: dict[str, Any], key: str, allowed: tuple[Any, ...] | range, problems: list[Problem]
) -> Any:
    """Return a setting limited to documented values, or record a problem naming them."""
    value = raw[key]
    kind = int if isinstance(allowed, range) else str  # 1.0 == 1, but eSMS would get "1.0"
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, kind) or value not in allowed
    ):
        problems.append(
            Problem(
                "esms_voice.E004",
                f"{_name(key)} must be one of {list(allowed)}, got {value!r}.",
                f"Fix {_name(key)} or remove it to let eSMS use its own default.",
            )
        )
        return None
    return value


def _credential(
    raw: dict[str, Any], key: str, env: str, check_id: str, problems: list[Problem]
) -> str | None:
    """Return a credential from the setting, else from the environment, else record a problem."""
    value = raw.get(key) or os.environ.get(env) or None
    if value is not None and not isinstance(value, str):
        problems.append(
            Problem(check_id, f"{_name(key)} must be text.", f"Set {_name(key)} to a string.")
        )
        return None
    value = value.strip() if value else None  # blank is as good as missing
    if not value:
        problems.append(
            Problem(
                check_id,
                f"{_name(key)} is not set and the environment variable {env} is empty.",
                f"Add '{key}' to the {SETTING_NAME} setting, or set the environment "
                f"variable {env}.",
            )
        )
        return None
    return value


def _networks(raw: dict[str, Any], problems: list[Problem]) -> tuple[Any, ...] | None:
    """Return CALLBACK_ALLOWED_NETWORKS as ip_network objects (None: any source allowed)."""
    value = raw["CALLBACK_ALLOWED_NETWORKS"]
    if value is None:
        return None
    key = _name("CALLBACK_ALLOWED_NETWORKS")
    try:
        if isinstance(value, str):
            raise TypeError
        return tuple(ip_network(str(item), strict=False) for item in value)
    except (TypeError, ValueError):
        problems.append(
            Problem(
                "esms_voice.E004",
                f"{key} must be a list of networks like ['203.0.113.0/24'], got {value!r}.",
                f"Fix {key}, or set it to None to accept callbacks from any address.",
            )
        )
        return ()


def _backend(raw: dict[str, Any], problems: list[Problem]) -> str:
    """Return BACKEND, a dotted path to a class that can be imported (E007 otherwise)."""
    value = raw["BACKEND"]
    key = _name("BACKEND")
    hint = (
        f"Set {key} to 'django_esms_voice.backends.HttpBackend' (the default), "
        "'django_esms_voice.backends.LocmemBackend' (tests), or the dotted path of your class."
    )
    if not isinstance(value, str) or "." not in value.strip():
        problems.append(
            Problem("esms_voice.E007", f"{key} must be a dotted path, got {value!r}.", hint)
        )
        return DEFAULTS["BACKEND"]  # type: ignore[no-any-return]
    value = value.strip()
    try:
        backend = import_string(value)
    except ImportError as exc:
        problems.append(
            Problem("esms_voice.E007", f"{key} cannot be imported: {value!r} ({exc}).", hint)
        )
        return DEFAULTS["BACKEND"]  # type: ignore[no-any-return]
    if not callable(backend):
        problems.append(
            Problem("esms_voice.E007", f"{key} must name a class, got {value!r}.", hint)
        )
        return DEFAULTS["BACKEND"]  # type: ignore[no-any-return]
    return value


def read_settings(user: object) -> tuple[VoiceSettings, list[Problem]]:
    """Validate a raw ESMS_VOICE value; return the settings and every problem found."""
    problems: list[Problem] = []
    if user is None:
        user = {}
    if not isinstance(user, dict):
        problems.append(
            Problem(
                "esms_voice.E003",
                f"The {SETTING_NAME} setting must be a dict, got {type(user).__name__}.",
                f"Define {SETTING_NAME} = {{'API_KEY': ..., 'SECRET_KEY': ...}} in settings.py.",
            )
        )
        user = {}
    for key in user:
        if key not in DEFAULTS:
            close = difflib.get_close_matches(str(key).upper(), DEFAULTS, n=1)
            hint = f"Did you mean '{close[0]}'?" if close else f"Known keys: {', '.join(DEFAULTS)}."
            problems.append(
                Problem("esms_voice.W003", f"Unknown key {_name(key)} is ignored.", hint, False)
            )
    raw = {**DEFAULTS, **user}
    api_key = _credential(raw, "API_KEY", API_KEY_ENV, "esms_voice.E001", problems)
    secret_key = _credential(raw, "SECRET_KEY", SECRET_KEY_ENV, "esms_voice.E002", problems)
    _check_url("BASE_URL", raw["BASE_URL"], problems, "esms_voice.E006")
    _check_url("BALANCE_URL", raw["BALANCE_URL"], problems, "esms_voice.E006")
    _check_callback_base_url(raw["CALLBACK_BASE_URL"], problems)
    callback = raw["CALLBACK_BASE_URL"] or None
    voice_settings = VoiceSettings(
        api_key=api_key,
        secret_key=secret_key,
        base_url=raw["BASE_URL"],
        balance_url=raw["BALANCE_URL"],
        callback_base_url=callback.rstrip("/") if isinstance(callback, str) else None,
        timeout=_timeout(raw, problems),
        default_max_repeat=_number(raw, "DEFAULT_MAX_REPEAT", problems, integer=True),
        default_max_retry=_number(raw, "DEFAULT_MAX_RETRY", problems, integer=True),
        default_wait_retry=_number(raw, "DEFAULT_WAIT_RETRY", problems, integer=True),
        default_time_wait_to_ivr=_number(raw, "DEFAULT_TIME_WAIT_TO_IVR", problems, integer=True),
        default_voice=_choice(raw, "DEFAULT_VOICE", tuple(VOICES), problems),
        default_speed=_choice(raw, "DEFAULT_SPEED", SPEEDS, problems),
        max_attempts=_number(raw, "MAX_ATTEMPTS", problems, integer=True, minimum=1),
        retry_backoff=float(_number(raw, "RETRY_BACKOFF", problems, integer=False)),
        retry_backoff_max=float(_number(raw, "RETRY_BACKOFF_MAX", problems, integer=False)),
        rate_limit=_number(raw, "RATE_LIMIT", problems, integer=False, minimum=0.001),
        sweep_interval=float(_number(raw, "SWEEP_INTERVAL", problems, integer=False, minimum=1)),
        pending_grace=float(_number(raw, "PENDING_GRACE", problems, integer=False)),
        submit_lease=float(_number(raw, "SUBMIT_LEASE", problems, integer=False, minimum=1)),
        poll_after=float(_number(raw, "POLL_AFTER", problems, integer=False)),
        result_timeout=float(_number(raw, "RESULT_TIMEOUT", problems, integer=False, minimum=60)),
        callback_allowed_networks=_networks(raw, problems),
        callback_proxy_count=_number(raw, "CALLBACK_PROXY_COUNT", problems, integer=True),
        idempotency_key_ttl=float(
            _number(
                raw,
                "IDEMPOTENCY_KEY_TTL",
                problems,
                integer=False,
                minimum=CONFIRMATION_MAX_AGE,
            )
        ),
        backend=_backend(raw, problems),
    )
    return voice_settings, problems
