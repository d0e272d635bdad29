"""Reading the ESMS_VOICE settings dict: its defaults, environment fallbacks and validation."""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.module_loading import import_string

from ..caps import Cap
from ..esms.protocol import SPEEDS, VOICES
from ..purposes import PURPOSES
from ..windows import EVERY_DAY, Window

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
    "DEFAULT_PURPOSE": "customer_care",
    "RESUME_BALANCE": 10000,
    "BALANCE_PROBE_INTERVAL": 300.0,
    "BALANCE_CACHE_SECONDS": 30.0,
    "BACKEND": "django_esms_voice.backends.HttpBackend",
    # Decree 91/2020/ND-CP: advertising calls only 08:00-17:00, Vietnam time. Per purpose;
    # a purpose left out (or None) may be called at any time.
    "CALLING_WINDOWS": {"advertising": {"start": "08:00", "end": "17:00"}},
    "CALLING_TIME_ZONE": "Asia/Ho_Chi_Minh",
    # Decree 91/2020/ND-CP: advertising never to a suppressed number; add purposes to check more.
    "SUPPRESSION_PURPOSES": ["advertising"],
    # Decree 91/2020/ND-CP: one advertising call per number per 24 h unless agreed.
    "FREQUENCY_CAPS": {"advertising": {"calls": 1, "hours": 24}},
    # An OTP read out is a password: its script values are wiped once eSMS has the call.
    "SECRET_VARIABLE_PURPOSES": ["transactional"],
    # An OTP must not wait behind a campaign's calls: with a queue name, calls of the urgent
    # purposes are published there, for a worker of their own (None: the default queue).
    "URGENT_QUEUE": None,
    "URGENT_PURPOSES": ["transactional"],
    # Decree 13/2023/ND-CP: personal data no longer than needed. Seconds; None keeps forever.
    "EVENT_RAW_RETENTION": None,
    "CALL_ANONYMISE_AFTER": None,
}
#: Keys that may be None: eSMS's own default, no limit, or (retention) keep forever.
NULLABLE_NUMBERS = frozenset({"RATE_LIMIT", "EVENT_RAW_RETENTION", "CALL_ANONYMISE_AFTER"})


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
    default_purpose: str = DEFAULTS["DEFAULT_PURPOSE"]
    resume_balance: Decimal = Decimal(DEFAULTS["RESUME_BALANCE"])
    balance_probe_interval: float = DEFAULTS["BALANCE_PROBE_INTERVAL"]
    balance_cache_seconds: float = DEFAULTS["BALANCE_CACHE_SECONDS"]
    backend: str = DEFAULTS["BACKEND"]
    calling_windows: Mapping[str, Window] = field(default_factory=dict)
    event_raw_retention: float | None = None
    call_anonymise_after: float | None = None
    suppression_purposes: frozenset[str] = frozenset({"advertising"})
    secret_variable_purposes: frozenset[str] = frozenset({"transactional"})
    frequency_caps: Mapping[str, Cap] = field(default_factory=dict)
    urgent_queue: str | None = None
    urgent_purposes: frozenset[str] = frozenset({"transactional"})


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
    if value is None and (key.startswith("DEFAULT_") or key in NULLABLE_NUMBERS):
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


def _purpose(raw: dict[str, Any], problems: list[Problem]) -> str:
    """Return DEFAULT_PURPOSE, one of the purposes a call may have (E004 otherwise)."""
    value = raw["DEFAULT_PURPOSE"]
    if value not in PURPOSES:
        problems.append(
            Problem(
                "esms_voice.E004",
                f"{_name('DEFAULT_PURPOSE')} must be one of {list(PURPOSES)}, got {value!r}.",
                f"Fix {_name('DEFAULT_PURPOSE')} or remove it to use "
                f"{DEFAULTS['DEFAULT_PURPOSE']!r}.",
            )
        )
        return DEFAULTS["DEFAULT_PURPOSE"]  # type: ignore[no-any-return]
    return str(value)


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


def _window_problem(path: str, message: str, hint: str) -> Problem:
    """A problem of CALLING_WINDOWS (E008), naming the exact key."""
    return Problem("esms_voice.E008", f"{_name('CALLING_WINDOWS')}{path} {message}", hint)


def _clock(value: object) -> dt.time | None:
    """Read "08:00" (or a datetime.time) as a time of day; "24:00" is the end of the day."""
    if isinstance(value, dt.time):
        return value
    if value == "24:00":
        return dt.time.max
    try:
        return dt.datetime.strptime(str(value), "%H:%M").time() if isinstance(value, str) else None
    except ValueError:
        return None


def _window(purpose: str, spec: object, zone: str, problems: list[Problem]) -> Window | None:
    """Build one purpose's window, or record what is wrong with it (and leave it unrestricted)."""
    path = f"[{purpose!r}]"
    if not isinstance(spec, Mapping):
        problems.append(
            _window_problem(path, f"must be a dict or None, got {spec!r}.", 'e.g. {"start": '
                            '"08:00", "end": "17:00"}, or None for any time.')
        )  # fmt: skip
        return None
    before = len(problems)
    unknown = sorted(set(spec) - {"start", "end", "weekdays", "closed_dates"})
    if unknown:
        problems.append(
            _window_problem(f"{path}[{unknown[0]!r}]", "is not a window key.",
                            "Use start, end, weekdays and closed_dates.")
        )  # fmt: skip
    times = {}
    for key in ("start", "end"):
        times[key] = _clock(spec.get(key))
        if times[key] is None:
            problems.append(
                _window_problem(f"{path}[{key!r}]", f"must be a time as 'HH:MM', got "
                                f"{spec.get(key)!r}.", "e.g. '08:00' (Vietnam time).")
            )  # fmt: skip
    start, end = times["start"], times["end"]
    if start is not None and end is not None and start >= end:
        problems.append(
            _window_problem(path, f"opens at {start:%H:%M}, not before it closes at "
                            f"{end:%H:%M}.", "A window lies within one day: start < end.")
        )  # fmt: skip
    weekdays = spec.get("weekdays", sorted(EVERY_DAY))
    if (
        not isinstance(weekdays, list | tuple | set | frozenset)
        or not weekdays
        or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7
                   for d in weekdays)
    ):  # fmt: skip
        problems.append(
            _window_problem(f"{path}['weekdays']", f"must list ISO weekdays 1 (Monday) to 7 "
                            f"(Sunday), at least one, got {weekdays!r}.", "e.g. [1, 2, 3, 4, 5].")
        )  # fmt: skip
        weekdays = sorted(EVERY_DAY)
    closed: set[dt.date] = set()
    for value in spec.get("closed_dates", ()) or ():
        try:
            day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        except ValueError:
            problems.append(
                _window_problem(f"{path}['closed_dates']", f"holds {value!r}, not a date.",
                                "List dates as 'YYYY-MM-DD', e.g. '2027-02-06' (Tết).")
            )  # fmt: skip
            continue
        closed.add(day)
    if len(problems) > before or start is None or end is None:
        return None
    return Window(start, end, frozenset(weekdays), frozenset(closed), zone)


def _windows(raw: dict[str, Any], problems: list[Problem]) -> dict[str, Window]:
    """Return CALLING_WINDOWS by purpose: the presets, each replaced by the host's entry."""
    zone = raw["CALLING_TIME_ZONE"]
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Problem("esms_voice.E008", f"{_name('CALLING_TIME_ZONE')} is not a time zone: "
                    f"{zone!r}.", "Use an IANA name such as 'Asia/Ho_Chi_Minh'.")
        )  # fmt: skip
        zone = DEFAULTS["CALLING_TIME_ZONE"]
    user = raw["CALLING_WINDOWS"]
    if not isinstance(user, Mapping):
        problems.append(
            _window_problem("", f"must be a dict of purpose to window, got {user!r}.",
                            f"Purposes: {', '.join(PURPOSES)}.")
        )  # fmt: skip
        user = {}
    specs = {**DEFAULTS["CALLING_WINDOWS"], **user}
    windows = {}
    for purpose, spec in specs.items():
        if purpose not in PURPOSES:
            problems.append(
                _window_problem(f"[{purpose!r}]", "is not a purpose.",
                                f"Purposes: {', '.join(PURPOSES)}.")
            )  # fmt: skip
            continue
        if spec is None:
            continue
        window = _window(purpose, spec, str(zone), problems)
        if window is not None:
            windows[purpose] = window
    return windows


def _caps(raw: dict[str, Any], problems: list[Problem]) -> dict[str, Cap]:
    """Return FREQUENCY_CAPS by purpose: the presets, each replaced by the host's entry (E009)."""
    user = raw["FREQUENCY_CAPS"]
    if not isinstance(user, Mapping):
        user = {None: user}  # reported below, under the setting itself
    caps = {}
    for purpose, spec in {**DEFAULTS["FREQUENCY_CAPS"], **user}.items():
        key = _name("FREQUENCY_CAPS") + (f"[{purpose!r}]" if purpose is not None else "")
        if purpose is not None and purpose not in PURPOSES:
            problems.append(
                Problem("esms_voice.E009", f"{key} is not a purpose.",
                        f"Purposes: {', '.join(PURPOSES)}.")
            )  # fmt: skip
            continue
        if spec is None:
            continue
        calls = spec.get("calls") if isinstance(spec, Mapping) else None
        hours = spec.get("hours", 24) if isinstance(spec, Mapping) else None
        whole = isinstance(calls, int) and not isinstance(calls, bool) and calls >= 1
        period = isinstance(hours, int | float) and not isinstance(hours, bool) and hours > 0
        if purpose is None or not whole or not period or set(spec) - {"calls", "hours"}:
            problems.append(
                Problem("esms_voice.E009", f"{key} must be a dict of a whole number of calls of "
                        f"at least 1 and hours above 0, or None, got {spec!r}.",
                        'e.g. {"calls": 1, "hours": 24}, or None for no cap.')
            )  # fmt: skip
            continue
        caps[purpose] = Cap(int(calls), dt.timedelta(hours=float(hours)))  # type: ignore[arg-type]
    return caps


def _purpose_list(raw: dict[str, Any], key: str, problems: list[Problem]) -> frozenset[str]:
    """Return a setting that lists purposes (SUPPRESSION_PURPOSES, ...); E004 otherwise."""
    value = raw[key]
    if not isinstance(value, list | tuple | set | frozenset) or not set(value) <= set(PURPOSES):
        problems.append(
            Problem(
                "esms_voice.E004",
                f"{_name(key)} must list purposes among {list(PURPOSES)}, got {value!r}.",
                f"Fix {_name(key)}, e.g. {list(PURPOSES)} for every call, or [] for none.",
            )
        )
        return frozenset(DEFAULTS[key])
    return frozenset(value)


def _queue_name(raw: dict[str, Any], key: str, problems: list[Problem]) -> str | None:
    """Return a Celery queue name, or None for the default queue (E004 otherwise)."""
    value = raw[key]
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        problems.append(
            Problem(
                "esms_voice.E004",
                f"{_name(key)} must be a Celery queue name or None, got {value!r}.",
                f'Fix {_name(key)}, e.g. "esms_voice.urgent", or None to use the default queue.',
            )
        )
        return None
    return value


def _retention(raw: dict[str, Any], key: str, problems: list[Problem]) -> float | None:
    """Return a retention period in seconds, or None to keep forever.

    At least a day: a frequency cap counts a number's calls of the last 24 hours.
    """
    value = _number(raw, key, problems, integer=False, minimum=86400)
    return None if value is None else float(value)


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
        default_purpose=_purpose(raw, problems),
        resume_balance=Decimal(str(_number(raw, "RESUME_BALANCE", problems, integer=False))),
        balance_probe_interval=float(
            _number(raw, "BALANCE_PROBE_INTERVAL", problems, integer=False, minimum=10)
        ),
        balance_cache_seconds=float(_number(raw, "BALANCE_CACHE_SECONDS", problems, integer=False)),
        backend=_backend(raw, problems),
        calling_windows=_windows(raw, problems),
        event_raw_retention=_retention(raw, "EVENT_RAW_RETENTION", problems),
        call_anonymise_after=_retention(raw, "CALL_ANONYMISE_AFTER", problems),
        suppression_purposes=_purpose_list(raw, "SUPPRESSION_PURPOSES", problems),
        secret_variable_purposes=_purpose_list(raw, "SECRET_VARIABLE_PURPOSES", problems),
        frequency_caps=_caps(raw, problems),
        urgent_queue=_queue_name(raw, "URGENT_QUEUE", problems),
        urgent_purposes=_purpose_list(raw, "URGENT_PURPOSES", problems),
    )
    return voice_settings, problems
