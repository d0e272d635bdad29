"""The ESMS_VOICE settings: system checks, validation errors that name the setting, the cache."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_esms_voice import conf
from django_esms_voice.caps import Cap
from django_esms_voice.checks import check_settings
from django_esms_voice.conf import require_credentials, voice_settings
from django_esms_voice.exceptions import EsmsSettingsError

API_KEY = "api-3f9c2b7e51"
SECRET_KEY = "secret-8d41a06c7f"
VALID: dict[str, Any] = {
    "API_KEY": API_KEY,
    "SECRET_KEY": SECRET_KEY,
    "CALLBACK_BASE_URL": "https://shop.example.vn",
}
DEFAULT_BASE_URL = "https://voiceapi.esms.vn/MainService.svc/json/"
DEFAULT_BALANCE_URL = "https://rest.esms.vn/MainService.svc/json/"


@pytest.fixture(autouse=True)
def _no_credentials_in_environment(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Keep the developer's own eSMS environment out of these tests, and the cache clean."""
    monkeypatch.delenv("ESMS_VOICE_API_KEY", raising=False)
    monkeypatch.delenv("ESMS_VOICE_SECRET_KEY", raising=False)
    conf.reset()
    yield
    conf.reset()


def esms_messages(value: object) -> list[checks.CheckMessage]:
    """Run every registered system check with ESMS_VOICE set to value; keep this app's messages."""
    with override_settings(ESMS_VOICE=value):
        return [m for m in checks.run_checks() if str(m.id).startswith("esms_voice.")]


def ids(value: object) -> list[str]:
    """Return the check ids reported for an ESMS_VOICE value, in order."""
    return [str(m.id) for m in esms_messages(value)]


def only(value: object, check_id: str) -> checks.CheckMessage:
    """Return the one message the value gives, asserting it is the expected id."""
    messages = esms_messages(value)
    assert [m.id for m in messages] == [check_id], [m.id for m in messages]
    return messages[0]


# -- a correct configuration -----------------------------------------------------------------------


def test_a_correct_configuration_gives_no_message() -> None:
    assert esms_messages(VALID) == []
    with override_settings(ESMS_VOICE=VALID):
        assert check_settings() == []


def test_the_check_is_registered_with_django() -> None:
    assert check_settings in checks.registry.registry.get_checks()


def test_every_key_at_a_valid_value_gives_no_message() -> None:
    full = {
        **VALID,
        "BASE_URL": "http://127.0.0.1:8765/MainService.svc/json/",
        "BALANCE_URL": "http://127.0.0.1:8765/MainService.svc/json/",
        "TIMEOUT": (3, 20),
        "DEFAULT_MAX_REPEAT": 2,
        "DEFAULT_MAX_RETRY": 0,
        "DEFAULT_WAIT_RETRY": 60,
        "DEFAULT_TIME_WAIT_TO_IVR": 10,
        "DEFAULT_VOICE": "hatieumai",
        "DEFAULT_SPEED": -3,
        "MAX_ATTEMPTS": 1,
        "RETRY_BACKOFF": 0,
        "RETRY_BACKOFF_MAX": 60,
        "RATE_LIMIT": 0.5,
        "SWEEP_INTERVAL": 1,
        "PENDING_GRACE": 0,
        "SUBMIT_LEASE": 30,
        "POLL_AFTER": 0,
        "RESULT_TIMEOUT": 3600,
        "CALLBACK_ALLOWED_NETWORKS": ["203.0.113.0/24", "2001:db8::/32"],
        "CALLBACK_PROXY_COUNT": 1,
        "IDEMPOTENCY_KEY_TTL": 7200,
        "DEFAULT_PURPOSE": "advertising",
        "RESUME_BALANCE": 50000,
        "BALANCE_PROBE_INTERVAL": 60,
        "BALANCE_CACHE_SECONDS": 0,
        "BACKEND": "django_esms_voice.backends.LocmemBackend",
        "CALLING_WINDOWS": {
            "advertising": {
                "start": "08:30",
                "end": "17:00",
                "weekdays": [1, 2, 3, 4, 5, 6],
                "closed_dates": ["2027-02-05", dt.date(2027, 2, 6)],
            },
            "customer_care": {"start": "07:00", "end": "24:00"},
            "transactional": None,
        },
        "CALLING_TIME_ZONE": "Asia/Bangkok",
        "EVENT_RAW_RETENTION": 30 * 86400,
        "CALL_ANONYMISE_AFTER": 365.5 * 86400,
        "SUPPRESSION_PURPOSES": ["advertising", "customer_care"],
        "SECRET_VARIABLE_PURPOSES": ["transactional", "customer_care"],
        "FREQUENCY_CAPS": {"advertising": {"calls": 2, "hours": 12}, "customer_care": None},
        "URGENT_QUEUE": "esms_voice.urgent",
        "URGENT_PURPOSES": ["transactional", "customer_care"],
    }
    assert set(full) == set(conf.DEFAULTS)
    shared_cache = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}
    with override_settings(CACHES=shared_cache):  # RATE_LIMIT needs one (W004)
        assert esms_messages(full) == []
    with override_settings(ESMS_VOICE=full):
        loaded = voice_settings()
    assert loaded.timeout == (3.0, 20.0)
    assert loaded.default_voice == "hatieumai"
    assert loaded.default_speed == -3
    assert loaded.rate_limit == 0.5
    assert loaded.max_attempts == 1
    assert [str(n) for n in loaded.callback_allowed_networks or ()] == [
        "203.0.113.0/24",
        "2001:db8::/32",
    ]
    assert loaded.callback_proxy_count == 1
    assert loaded.idempotency_key_ttl == 7200.0
    assert loaded.backend == "django_esms_voice.backends.LocmemBackend"
    advertising = loaded.calling_windows["advertising"]
    assert (advertising.start, advertising.end) == (dt.time(8, 30), dt.time(17))
    assert advertising.weekdays == {1, 2, 3, 4, 5, 6}
    assert advertising.closed_dates == {dt.date(2027, 2, 5), dt.date(2027, 2, 6)}
    assert advertising.time_zone == "Asia/Bangkok"
    assert loaded.calling_windows["customer_care"].end == dt.time.max
    assert "transactional" not in loaded.calling_windows
    assert (loaded.event_raw_retention, loaded.call_anonymise_after) == (2592000.0, 31579200.0)
    assert loaded.suppression_purposes == {"advertising", "customer_care"}
    assert loaded.secret_variable_purposes == {"transactional", "customer_care"}
    assert loaded.frequency_caps == {"advertising": Cap(2, dt.timedelta(hours=12))}
    assert loaded.urgent_queue == "esms_voice.urgent"
    assert loaded.urgent_purposes == {"transactional", "customer_care"}


def test_the_advertising_cap_is_one_call_per_number_per_24_hours_by_default() -> None:
    with override_settings(ESMS_VOICE=VALID):
        assert voice_settings().frequency_caps == {"advertising": Cap(1, dt.timedelta(hours=24))}


@pytest.mark.parametrize(
    ("caps", "key"),
    [
        ({"advertising": {"calls": -1}}, "['advertising']"),
        ({"advertising": {"calls": 0}}, "['advertising']"),
        ({"advertising": {"calls": 1.5}}, "['advertising']"),
        ({"advertising": {"calls": 1, "hours": 0}}, "['advertising']"),
        ({"advertising": {"calls": 1, "per": "day"}}, "['advertising']"),
        ({"advertising": 1}, "['advertising']"),
        ({"marketing": {"calls": 1}}, "['marketing']"),
        ([1, 24], ""),
    ],
)
def test_a_frequency_cap_that_cannot_be_read_is_an_error_naming_its_key(
    caps: object, key: str
) -> None:
    found = esms_messages({**VALID, "FREQUENCY_CAPS": caps})
    assert [m.id for m in found] == ["esms_voice.E009"]
    assert found[0].msg.startswith(f"ESMS_VOICE['FREQUENCY_CAPS']{key} ")


@pytest.mark.parametrize("value", ["", " esms_voice.urgent", 7, ["esms_voice.urgent"]])
def test_an_urgent_queue_must_be_a_queue_name(value: object) -> None:
    found = esms_messages({**VALID, "URGENT_QUEUE": value})
    assert [m.id for m in found] == ["esms_voice.E004"]
    assert found[0].msg.startswith("ESMS_VOICE['URGENT_QUEUE'] must be a Celery queue name")


@pytest.mark.parametrize(
    "key", ["SUPPRESSION_PURPOSES", "SECRET_VARIABLE_PURPOSES", "URGENT_PURPOSES"]
)
@pytest.mark.parametrize("value", ["advertising", ["advertising", "marketing"], None])
def test_a_list_of_purposes_must_list_purposes(key: str, value: object) -> None:
    found = esms_messages({**VALID, key: value})
    assert [m.id for m in found] == ["esms_voice.E004"]
    assert found[0].msg.startswith(f"ESMS_VOICE['{key}'] must list purposes")


@pytest.mark.parametrize(
    ("windows", "key", "says"),
    [
        ({"advertising": {"start": "8h", "end": "17:00"}}, "['advertising']['start']", "'HH:MM'"),
        ({"advertising": {"start": "17:00", "end": "08:00"}}, "['advertising']", "opens at 17:00"),
        ({"advertising": {"start": "08:00", "end": "17:00", "weekdays": [0]}},
         "['advertising']['weekdays']", "1 (Monday) to 7"),
        ({"advertising": {"start": "08:00", "end": "17:00", "weekdays": []}},
         "['advertising']['weekdays']", "at least one"),
        ({"advertising": {"start": "08:00", "end": "17:00", "closed_dates": ["30/4"]}},
         "['advertising']['closed_dates']", "not a date"),
        ({"advertising": {"start": "08:00", "end": "17:00", "hours": 9}},
         "['advertising']['hours']", "not a window key"),
        ({"marketing": {"start": "08:00", "end": "17:00"}}, "['marketing']", "not a purpose"),
        ({"advertising": "08:00-17:00"}, "['advertising']", "must be a dict or None"),
        ("08:00-17:00", "", "dict of purpose to window"),
    ],
)  # fmt: skip
def test_a_calling_window_that_cannot_be_read_is_an_error_naming_its_key(
    windows: object, key: str, says: str
) -> None:
    found = esms_messages({**VALID, "CALLING_WINDOWS": windows})
    assert [m.id for m in found] == ["esms_voice.E008"]
    assert found[0].msg.startswith(f"ESMS_VOICE['CALLING_WINDOWS']{key} ")
    assert says in found[0].msg
    unreadable = override_settings(ESMS_VOICE={**VALID, "CALLING_WINDOWS": windows})
    with unreadable, pytest.raises(EsmsSettingsError, match="CALLING_WINDOWS"):
        voice_settings()  # nothing is placed under a window that cannot be read


def test_an_unknown_calling_time_zone_is_an_error() -> None:
    found = esms_messages({**VALID, "CALLING_TIME_ZONE": "Asia/Hanoi"})
    assert [(m.id, m.msg) for m in found] == [
        ("esms_voice.E008", "ESMS_VOICE['CALLING_TIME_ZONE'] is not a time zone: 'Asia/Hanoi'.")
    ]


def test_the_advertising_window_is_08_to_17_vietnam_time_by_default() -> None:
    with override_settings(ESMS_VOICE=VALID):
        windows = voice_settings().calling_windows
    assert list(windows) == ["advertising"]
    assert windows["advertising"].hours() == "08:00\u201317:00"
    assert windows["advertising"].time_zone == "Asia/Ho_Chi_Minh"


def test_defaults_fill_what_the_setting_leaves_out() -> None:
    with override_settings(ESMS_VOICE=VALID):
        loaded = voice_settings()
    assert loaded.base_url == DEFAULT_BASE_URL
    assert loaded.balance_url == DEFAULT_BALANCE_URL
    assert loaded.timeout == (5.0, 30.0)
    assert loaded.max_attempts == 6
    assert loaded.rate_limit is None
    assert loaded.default_voice is None
    assert loaded.default_speed is None
    assert loaded.callback_allowed_networks is None
    assert loaded.callback_proxy_count == 0
    assert loaded.idempotency_key_ttl == 86400.0
    assert loaded.backend == "django_esms_voice.backends.HttpBackend"


# -- E001 / E002: credentials, with the environment as fallback ------------------------------------


def deploy_ids(value: object) -> list[str]:
    """Return the check ids `check --deploy` reports for an ESMS_VOICE value, in order."""
    with override_settings(ESMS_VOICE=value):
        found = checks.run_checks(include_deployment_checks=True)
    return [str(m.id) for m in found if str(m.id).startswith("esms_voice.")]


def test_missing_api_key_is_w006_naming_the_setting_and_the_environment_variable() -> None:
    message = only({**VALID, "API_KEY": None}, "esms_voice.W006")
    assert message.level == checks.WARNING  # migrate and the admin must work without it
    assert "No call can be sent until it is set." in message.msg
    assert "ESMS_VOICE['API_KEY']" in message.msg
    assert "ESMS_VOICE_API_KEY" in message.msg
    assert "ESMS_VOICE_API_KEY" in message.hint


def test_missing_secret_key_is_w007_naming_the_setting_and_the_environment_variable() -> None:
    settings_without = {k: v for k, v in VALID.items() if k != "SECRET_KEY"}
    message = only(settings_without, "esms_voice.W007")
    assert message.level == checks.WARNING
    assert "ESMS_VOICE['SECRET_KEY']" in message.msg
    assert "ESMS_VOICE_SECRET_KEY" in message.msg


def test_no_setting_at_all_reports_both_credentials(settings: Any) -> None:
    del settings.ESMS_VOICE
    conf.reset()
    found = [str(m.id) for m in checks.run_checks() if str(m.id).startswith("esms_voice.")]
    assert found == ["esms_voice.W006", "esms_voice.W007", "esms_voice.W001"]


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_credential_counts_as_missing(blank: str) -> None:
    assert ids({**VALID, "API_KEY": blank}) == ["esms_voice.W006"]
    assert ids({**VALID, "SECRET_KEY": blank}) == ["esms_voice.W007"]


def test_a_credential_that_is_not_text_is_refused_without_echoing_it() -> None:
    message = only({**VALID, "API_KEY": 73915502}, "esms_voice.W006")
    assert "must be text" in message.msg
    assert "73915502" not in message.msg + message.hint


def test_the_environment_satisfies_missing_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESMS_VOICE_API_KEY", " env-api-key\n")
    monkeypatch.setenv("ESMS_VOICE_SECRET_KEY", "env-secret-key")
    value = {"CALLBACK_BASE_URL": VALID["CALLBACK_BASE_URL"]}
    assert ids(value) == []
    with override_settings(ESMS_VOICE=value):
        assert require_credentials() == ("env-api-key", "env-secret-key")


def test_the_setting_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESMS_VOICE_API_KEY", "env-api-key")
    monkeypatch.setenv("ESMS_VOICE_SECRET_KEY", "env-secret-key")
    with override_settings(ESMS_VOICE=VALID):
        assert require_credentials() == (API_KEY, SECRET_KEY)


def test_a_blank_environment_variable_does_not_satisfy_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESMS_VOICE_API_KEY", "  ")
    assert ids({**VALID, "API_KEY": None}) == ["esms_voice.W006"]


def test_a_check_run_sees_the_environment_as_it_is_now(monkeypatch: pytest.MonkeyPatch) -> None:
    value = {**VALID, "API_KEY": None}
    with override_settings(ESMS_VOICE=value):
        assert [m.id for m in check_settings()] == ["esms_voice.W006"]
        monkeypatch.setenv("ESMS_VOICE_API_KEY", "exported-later")
        assert check_settings() == []


# -- require_credentials() / voice_settings() ------------------------------------------------------


def test_require_credentials_returns_both_keys() -> None:
    with override_settings(ESMS_VOICE=VALID):
        assert require_credentials() == (API_KEY, SECRET_KEY)


@pytest.mark.parametrize(
    ("missing", "other"),
    [("API_KEY", "SECRET_KEY"), ("SECRET_KEY", "API_KEY")],
)
def test_require_credentials_names_the_missing_credential(missing: str, other: str) -> None:
    with (
        override_settings(ESMS_VOICE={**VALID, missing: None}),
        pytest.raises(EsmsSettingsError) as caught,
    ):
        require_credentials()
    text = str(caught.value)
    assert f"ESMS_VOICE['{missing}']" in text
    assert f"ESMS_VOICE_{missing}" in text
    assert f"ESMS_VOICE['{other}']" not in text
    assert isinstance(caught.value, ImproperlyConfigured)


def test_require_credentials_refuses_a_blank_key_by_name() -> None:
    with (
        override_settings(ESMS_VOICE={**VALID, "SECRET_KEY": "  "}),
        pytest.raises(EsmsSettingsError, match=r"ESMS_VOICE\['SECRET_KEY'\]"),
    ):
        require_credentials()


def test_voice_settings_does_not_need_the_credentials() -> None:
    """Missing keys must not stop migrations or the admin; only sending needs them."""
    with override_settings(ESMS_VOICE={"CALLBACK_BASE_URL": "https://shop.example.vn"}):
        loaded = voice_settings()
    assert loaded.api_key is None
    assert loaded.secret_key is None


def test_voice_settings_raises_an_improperly_configured_naming_the_setting() -> None:
    with (
        override_settings(ESMS_VOICE={**VALID, "MAX_ATTEMPTS": 0}),
        pytest.raises(EsmsSettingsError) as caught,
    ):
        voice_settings()
    assert isinstance(caught.value, ImproperlyConfigured)
    assert "ESMS_VOICE['MAX_ATTEMPTS']" in str(caught.value)
    assert "got 0" in str(caught.value)


def test_voice_settings_is_not_stopped_by_warnings() -> None:
    value = {**VALID, "CALLBACK_BASE_URL": "http://shop.example.vn", "CALBACK": 1}
    assert ids(value) == ["esms_voice.W003", "esms_voice.W002"]
    with override_settings(ESMS_VOICE=value):
        assert voice_settings().callback_base_url == "http://shop.example.vn"


def test_the_settings_cache_resets_when_a_test_overrides_the_setting() -> None:
    with override_settings(ESMS_VOICE={**VALID, "MAX_ATTEMPTS": 3}):
        assert voice_settings().max_attempts == 3
    with override_settings(ESMS_VOICE={**VALID, "MAX_ATTEMPTS": 9}):
        assert voice_settings().max_attempts == 9
        with override_settings(ESMS_VOICE={**VALID, "API_KEY": "inner-key"}):
            assert require_credentials()[0] == "inner-key"
        assert require_credentials()[0] == API_KEY
    assert voice_settings().max_attempts == 6  # tests/settings.py leaves the default


def test_credentials_stay_out_of_repr_and_messages() -> None:
    value = {
        "api_key": API_KEY,  # a wrong-case key: reported, but never with its value
        "SECRET_KEY": SECRET_KEY,
        "TIMEOUT": "abc",
        "BASE_URL": "ftp://voiceapi.esms.vn/",
    }
    with override_settings(ESMS_VOICE=value):
        texts = [f"{m.msg} {m.hint}" for m in check_settings()]
        loaded_repr = repr(conf.loaded_settings())
        with pytest.raises(EsmsSettingsError) as caught:
            voice_settings()
    assert texts
    for text in [*texts, loaded_repr, str(caught.value)]:
        assert API_KEY not in text
        assert SECRET_KEY not in text


# -- E003: not a dict ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [["API_KEY", "x"], "api-key", ("a", "b"), 42])
def test_a_setting_that_is_not_a_dict_is_e003(value: object) -> None:
    messages = esms_messages(value)
    assert messages[0].id == "esms_voice.E003"
    assert messages[0].level == checks.ERROR
    assert type(value).__name__ in messages[0].msg
    with override_settings(ESMS_VOICE=value), pytest.raises(EsmsSettingsError, match="dict"):
        voice_settings()


def test_a_setting_that_is_not_a_dict_never_echoes_its_content() -> None:
    message = esms_messages(f"{API_KEY}:{SECRET_KEY}")[0]
    assert API_KEY not in message.msg + message.hint


# -- E004: wrong types and out-of-range values -----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TIMEOUT", "abc"),
        ("TIMEOUT", (0, 5)),
        ("TIMEOUT", (5, -1)),
        ("TIMEOUT", (5,)),
        ("TIMEOUT", (5, 30, 60)),
        ("TIMEOUT", -1),
        ("TIMEOUT", (True, 30)),
        ("TIMEOUT", float("inf")),
        ("TIMEOUT", (5, float("nan"))),
        ("MAX_ATTEMPTS", 0),
        ("MAX_ATTEMPTS", True),
        ("MAX_ATTEMPTS", 2.5),
        ("MAX_ATTEMPTS", "3"),
        ("MAX_ATTEMPTS", None),
        ("DEFAULT_VOICE", "robot"),
        ("DEFAULT_VOICE", "Male"),
        ("DEFAULT_VOICE", True),
        ("DEFAULT_SPEED", 5),
        ("DEFAULT_SPEED", -4),
        ("DEFAULT_SPEED", "1"),
        ("DEFAULT_SPEED", 1.0),
        ("DEFAULT_SPEED", True),
        ("RATE_LIMIT", -1),
        ("RATE_LIMIT", 0),
        ("RATE_LIMIT", float("nan")),
        ("RATE_LIMIT", "10/s"),
        ("DEFAULT_MAX_RETRY", True),
        ("DEFAULT_MAX_REPEAT", -1),
        ("DEFAULT_WAIT_RETRY", 1.5),
        ("DEFAULT_TIME_WAIT_TO_IVR", "10"),
        ("RETRY_BACKOFF", -0.5),
        ("RETRY_BACKOFF_MAX", "600"),
        ("RETRY_BACKOFF_MAX", float("inf")),
        ("SWEEP_INTERVAL", 0),
        ("PENDING_GRACE", float("nan")),
        ("SUBMIT_LEASE", 0.5),
        ("POLL_AFTER", None),
        ("CALLBACK_ALLOWED_NETWORKS", "203.0.113.0/24"),
        ("CALLBACK_ALLOWED_NETWORKS", ["203.0.113.0/24", "not-a-network"]),
        ("CALLBACK_ALLOWED_NETWORKS", 42),
        ("CALLBACK_PROXY_COUNT", -1),
        ("CALLBACK_PROXY_COUNT", True),
        ("CALLBACK_PROXY_COUNT", None),
        ("IDEMPOTENCY_KEY_TTL", 3599),  # shorter than an admin confirmation lives
        ("IDEMPOTENCY_KEY_TTL", None),
        ("DEFAULT_PURPOSE", "marketing"),
        ("DEFAULT_PURPOSE", None),
        ("RESUME_BALANCE", -1),
        ("RESUME_BALANCE", "10000"),
        ("BALANCE_PROBE_INTERVAL", 5),  # a probe every few seconds would hammer eSMS
        ("BALANCE_CACHE_SECONDS", -1),
    ],
)
def test_a_wrong_value_is_e004_naming_the_key(key: str, value: object) -> None:
    message = only({**VALID, key: value}, "esms_voice.E004")
    assert message.level == checks.ERROR
    assert f"ESMS_VOICE['{key}']" in message.msg
    assert f"ESMS_VOICE['{key}']" in message.hint
    with (
        override_settings(ESMS_VOICE={**VALID, key: value}),
        pytest.raises(EsmsSettingsError, match=rf"ESMS_VOICE\['{key}'\]"),
    ):
        voice_settings()


def test_every_wrong_value_is_reported_not_only_the_first() -> None:
    value = {**VALID, "TIMEOUT": "abc", "MAX_ATTEMPTS": 0, "DEFAULT_VOICE": "robot"}
    messages = esms_messages(value)
    assert [m.id for m in messages] == ["esms_voice.E004"] * 3
    named = " ".join(m.msg for m in messages)
    for key in ("TIMEOUT", "MAX_ATTEMPTS", "DEFAULT_VOICE"):
        assert f"ESMS_VOICE['{key}']" in named


def test_the_voice_and_speed_messages_list_the_documented_choices() -> None:
    voice = only({**VALID, "DEFAULT_VOICE": "robot"}, "esms_voice.E004")
    for name in ("male", "female", "hatieumai", "ngoclam"):
        assert name in voice.msg
    speed = only({**VALID, "DEFAULT_SPEED": 5}, "esms_voice.E004")
    assert "-3" in speed.msg
    assert "got 5" in speed.msg


@pytest.mark.parametrize(
    ("value", "expected"),
    [(10, (10.0, 10.0)), (2.5, (2.5, 2.5)), ((3, 20), (3.0, 20.0)), ([1, 60], (1.0, 60.0))],
)
def test_timeout_is_connect_and_read_seconds(value: object, expected: tuple[float, float]) -> None:
    with override_settings(ESMS_VOICE={**VALID, "TIMEOUT": value}):
        assert check_settings() == []
        assert voice_settings().timeout == expected


@pytest.mark.parametrize("speed", [-3, 0, 3])
def test_documented_speeds_are_accepted(speed: int) -> None:
    assert ids({**VALID, "DEFAULT_SPEED": speed}) == []


@pytest.mark.parametrize("voice", ["male", "female", "hatieumai", "ngoclam"])
def test_documented_voices_are_accepted(voice: str) -> None:
    assert ids({**VALID, "DEFAULT_VOICE": voice}) == []


# -- E005 / W001 / W002: the callback base URL -----------------------------------------------------


@pytest.mark.parametrize(
    "value", ["shop.example.vn", "ftp://shop.example.vn", "https://", "//shop.example.vn", 8000]
)
def test_a_malformed_callback_base_url_is_e005(value: object) -> None:
    message = only({**VALID, "CALLBACK_BASE_URL": value}, "esms_voice.E005")
    assert message.level == checks.ERROR
    assert "ESMS_VOICE['CALLBACK_BASE_URL']" in message.msg
    with (
        override_settings(ESMS_VOICE={**VALID, "CALLBACK_BASE_URL": value}),
        pytest.raises(EsmsSettingsError, match="CALLBACK_BASE_URL"),
    ):
        voice_settings()


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_callback_base_url_is_warning_w001(value: object) -> None:
    message = only({**VALID, "CALLBACK_BASE_URL": value}, "esms_voice.W001")
    assert message.level == checks.WARNING
    assert "ESMS_VOICE['CALLBACK_BASE_URL']" in message.msg
    assert "https" in message.hint
    with override_settings(ESMS_VOICE={**VALID, "CALLBACK_BASE_URL": value}):
        assert voice_settings().callback_base_url is None


def test_a_callback_base_url_left_out_is_w001_too() -> None:
    value = {"API_KEY": API_KEY, "SECRET_KEY": SECRET_KEY}
    assert ids(value) == ["esms_voice.W001"]


@pytest.mark.parametrize(
    "value",
    [
        "http://shop.example.vn",
        "http://shop.example.vn:8000/voice",
        "http://203.0.113.7",
        "http://10.0.0.5:8000",
        "http://127.example.com",  # a public name that merely starts like a loopback address
        "http://localhost.example.com",
    ],
)
def test_plain_http_on_a_public_host_is_warning_w002(value: str) -> None:
    message = only({**VALID, "CALLBACK_BASE_URL": value}, "esms_voice.W002")
    assert message.level == checks.WARNING
    assert "ESMS_VOICE['CALLBACK_BASE_URL']" in message.msg
    assert "https" in message.hint


@pytest.mark.parametrize(
    "value",
    [
        "http://127.0.0.1:8000",
        "http://127.0.0.2",
        "http://localhost:8000",
        "http://LOCALHOST",
        "http://[::1]:8000",
        "https://shop.example.vn",
        "https://shop.example.vn/",
    ],
)
def test_loopback_http_and_https_give_no_warning(value: str) -> None:
    assert ids({**VALID, "CALLBACK_BASE_URL": value}) == []


def test_the_callback_base_url_loses_its_trailing_slash() -> None:
    with override_settings(ESMS_VOICE={**VALID, "CALLBACK_BASE_URL": "https://shop.example.vn/"}):
        assert voice_settings().callback_base_url == "https://shop.example.vn"


# -- E006: the eSMS base URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "default"), [("BASE_URL", DEFAULT_BASE_URL), ("BALANCE_URL", DEFAULT_BALANCE_URL)]
)
@pytest.mark.parametrize(
    "value", ["voiceapi.esms.vn/MainService.svc/json/", "ftp://esms.vn/json/", "", None, 443]
)
def test_a_base_url_that_is_not_absolute_http_is_e006(
    key: str, default: str, value: object
) -> None:
    message = only({**VALID, key: value}, "esms_voice.E006")
    assert message.level == checks.ERROR
    assert f"ESMS_VOICE['{key}']" in message.msg
    assert repr(default) in message.hint
    with (
        override_settings(ESMS_VOICE={**VALID, key: value}),
        pytest.raises(EsmsSettingsError, match=rf"ESMS_VOICE\['{key}'\]"),
    ):
        voice_settings()


@pytest.mark.parametrize("key", ["BASE_URL", "BALANCE_URL"])
def test_a_base_url_without_trailing_slash_is_e006_with_the_fixed_value(key: str) -> None:
    value = "http://127.0.0.1:8765/MainService.svc/json"
    message = only({**VALID, key: value}, "esms_voice.E006")
    assert "must end with '/'" in message.msg
    assert message.hint == f"Set ESMS_VOICE['{key}'] to '{value}/'."


@pytest.mark.parametrize("key", ["BASE_URL", "BALANCE_URL"])
def test_a_plain_http_base_url_is_accepted_for_the_simulator(key: str) -> None:
    assert ids({**VALID, key: "http://127.0.0.1:8765/MainService.svc/json/"}) == []


# -- W003: unknown keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("CALLBACK_BASE_ULR", "CALLBACK_BASE_URL"),
        ("api_key", "API_KEY"),
        ("MAX_ATTEMPT", "MAX_ATTEMPTS"),
        ("TIME_OUT", "TIMEOUT"),
    ],
)
def test_an_unknown_key_is_w003_suggesting_the_close_one(typo: str, meant: str) -> None:
    messages = [m for m in esms_messages({**VALID, typo: "x"}) if m.id == "esms_voice.W003"]
    assert len(messages) == 1
    assert messages[0].level == checks.WARNING
    assert f"ESMS_VOICE['{typo}']" in messages[0].msg
    assert messages[0].hint == f"Did you mean '{meant}'?"


def test_a_lower_case_api_key_is_ignored_so_the_real_one_is_missing() -> None:
    value = {"api_key": API_KEY, "SECRET_KEY": SECRET_KEY, "CALLBACK_BASE_URL": "https://a.vn"}
    assert ids(value) == ["esms_voice.W003", "esms_voice.W006"]


def test_an_unknown_key_far_from_every_known_one_lists_the_known_keys() -> None:
    message = only({**VALID, "ZZZ": 1}, "esms_voice.W003")
    assert message.hint.startswith("Known keys: API_KEY, SECRET_KEY, BASE_URL")
    assert "POLL_AFTER" in message.hint


def test_a_non_text_unknown_key_does_not_crash_the_check() -> None:
    assert ids({**VALID, 1: "x"}) == ["esms_voice.W003"]


# -- manage.py check -------------------------------------------------------------------------------


def test_missing_credentials_are_errors_in_check_deploy_only() -> None:
    no_keys = {"CALLBACK_BASE_URL": "https://shop.example.vn"}
    assert deploy_ids(no_keys) == [
        "esms_voice.W006",
        "esms_voice.W007",
        "esms_voice.E001",
        "esms_voice.E002",
    ]
    assert deploy_ids(VALID) == []
    err = StringIO()
    with override_settings(ESMS_VOICE=no_keys):
        call_command("check", stdout=StringIO(), stderr=err)  # warns, does not fail
        with pytest.raises(SystemCheckError) as caught:
            call_command("check", deploy=True, stdout=StringIO(), stderr=StringIO())
    assert "esms_voice.W006" in err.getvalue()
    text = str(caught.value)
    assert "esms_voice.E001" in text
    assert "esms_voice.E002" in text
    assert "ESMS_VOICE_API_KEY" in text


def test_manage_py_check_passes_on_a_correct_configuration() -> None:
    out, err = StringIO(), StringIO()
    with override_settings(ESMS_VOICE=VALID):
        call_command("check", stdout=out, stderr=err)
    assert "no issues" in out.getvalue()
    assert "esms_voice" not in err.getvalue()


def test_manage_py_check_shows_warnings_without_failing() -> None:
    out, err = StringIO(), StringIO()
    with override_settings(ESMS_VOICE={"API_KEY": API_KEY, "SECRET_KEY": SECRET_KEY}):
        call_command("check", stdout=out, stderr=err)
        with pytest.raises(SystemCheckError, match=r"esms_voice\.W001"):
            call_command("check", fail_level="WARNING", stdout=StringIO(), stderr=StringIO())
    assert "esms_voice.W001" in err.getvalue()


# -- the documentation keeps up -------------------------------------------------------------------


def test_every_setting_and_check_id_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "settings.md").read_text("utf-8")
    documented_keys = set(re.findall(r"^\| `([A-Z_]+)` \|", docs, flags=re.MULTILINE))
    assert documented_keys == set(conf.DEFAULTS)
    package = Path(conf.__file__).parents[1]
    sources = [
        package / "conf" / "reading.py",
        package / "checks.py",
        package / "admin" / "checks.py",
    ]
    code = "".join(path.read_text("utf-8") for path in sources)
    used_ids = set(re.findall(r"esms_voice\.[EW]\d{3}", code))
    documented_ids = set(re.findall(r"^\| `(esms_voice\.[EW]\d{3})` \|", docs, flags=re.MULTILINE))
    assert documented_ids == used_ids


@pytest.mark.parametrize(
    ("routes", "warned"),
    [
        ({}, False),
        ({"django_esms_voice.*": {"queue": "voice"}}, False),
        (
            {
                "django_esms_voice.place_call": {"queue": "voice"},
                "django_esms_voice.enqueue_calls": {"queue": "voice"},
            },
            True,
        ),
    ],
)
def test_a_batch_routed_elsewhere_than_a_single_call_is_a_warning(
    routes: dict[str, Any], warned: bool
) -> None:
    from celery import Celery, current_app

    from django_esms_voice.checks import check_task_routes

    previous = current_app._get_current_object()
    host = Celery("host")
    host.conf.task_routes = routes
    host.set_current()
    try:
        messages = check_task_routes()
    finally:
        previous.set_current()

    assert [m.id for m in messages] == (["esms_voice.W008"] if warned else [])
    if warned:
        assert "'voice'" in messages[0].msg
        assert "'celery'" in messages[0].msg
        assert "django_esms_voice.place_calls" in messages[0].hint
