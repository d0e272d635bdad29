"""The rules of the credential masking: which loggers, which secrets, in which order, any record.

The ApiKey and SecretKey travel in the query string of every request: each logger that prints
a URL is a way for them to leak, and each rule below is one a change could quietly break.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from urllib.parse import quote, quote_plus

import pytest

from django_esms_voice.esms import redaction
from django_esms_voice.esms.client import EsmsVoiceClient
from django_esms_voice.esms.redaction import MASK, redact, register_secret

from .echo import API_KEY, SECRET_KEY, leaked

# Written out, not read from the module: a logger dropped from its list must fail here.
REDACTED_LOGGERS = [
    "urllib3.connectionpool",  # the request line, credentials in its query string
    "urllib3.util.retry",
    "requests",
    "django.request",
    "django.server",
    "gunicorn.error",
    "gunicorn.access",
    "uvicorn.access",
]


@pytest.fixture
def secrets() -> Iterator[None]:
    """Let a test register secrets of its own without masking them in later tests."""
    saved = set(redaction._known_secrets)
    yield
    with redaction._lock:
        redaction._known_secrets.clear()
        redaction._known_secrets.update(saved)


@pytest.fixture
def credentials() -> None:
    """The sentinel credentials, registered the way the app does: by building a client."""
    EsmsVoiceClient(api_key=API_KEY, secret_key=SECRET_KEY).close()


LogTo = Callable[[str], tuple[logging.Logger, io.StringIO]]


@pytest.fixture
def log_to() -> Iterator[LogTo]:
    """Return a function that gives a logger, at DEBUG, and what its own handler writes."""
    undo: list[tuple[logging.Logger, logging.Handler, int]] = []

    def open_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
        logger = logging.getLogger(name)
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        undo.append((logger, handler, logger.level))
        logger.setLevel(logging.DEBUG)
        return logger, stream

    yield open_logger
    for logger, handler, level in undo:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.parametrize("name", REDACTED_LOGGERS)
def test_every_logger_that_prints_urls_masks_the_credentials(
    credentials: None, log_to: LogTo, name: str
) -> None:
    logger, stream = log_to(name)
    # As urllib3 writes its request line, and a message naming the values without their names.
    logger.debug(
        'voiceapi.esms.vn:443 "GET /MakeCallRecord_V2?ApiKey=%s&SecretKey=%s HTTP/1.1" 200',
        API_KEY,
        SECRET_KEY,
    )
    logger.warning("refused: key %s, secret %s", API_KEY, SECRET_KEY)
    lines = stream.getvalue().splitlines()
    assert lines == [
        'voiceapi.esms.vn:443 "GET /MakeCallRecord_V2?ApiKey=***&SecretKey=*** HTTP/1.1" 200',
        "refused: key ***, secret ***",
    ]


@pytest.mark.parametrize("value", ["Qz7", "Q", "Qz"])
def test_values_shorter_than_4_characters_are_not_registered(secrets: None, value: str) -> None:
    # Masking every "Qz7" of every log line would garble them, and hides nothing worth hiding.
    register_secret(value)
    assert redact(f"value {value} here") == f"value {value} here"


def test_a_4_character_secret_is_masked_in_each_of_its_encodings(secrets: None) -> None:
    register_secret("Q/z ")
    assert redact("raw Q/z  end") == f"raw {MASK} end"
    assert redact(f"once {quote('Q/z ', safe='')} end") == f"once {MASK} end"  # Q%2Fz%20
    assert redact(f"form {quote_plus('Q/z ')} end") == f"form {MASK} end"  # Q%2Fz+


@pytest.mark.parametrize("value", [None, ""])
def test_no_secret_registers_nothing(secrets: None, value: str | None) -> None:
    # The client refuses empty credentials itself; register_secret just ignores them.
    before = set(redaction._known_secrets)
    assert register_secret(value) is None
    assert redaction._known_secrets == before
    assert redact("nothing to mask here") == "nothing to mask here"


@pytest.mark.parametrize(
    ("short", "long"),
    [
        pytest.param("PFX-SENTINEL", "PFX-SENTINEL-TAIL-987", id="prefix"),
        pytest.param("MID-SENTINEL", "A-MID-SENTINEL-Z", id="inside"),
    ],
)
def test_the_longer_of_overlapping_secrets_is_masked_whole(
    secrets: None, short: str, long: str
) -> None:
    # The shorter first would leave "***-TAIL-987": a piece of the longer secret.
    register_secret(short)
    register_secret(long)
    assert redact(f"key {long} end") == f"key {MASK} end"
    assert redact(f"key {short} end") == f"key {MASK} end"


def test_a_record_whose_arguments_do_not_fit_comes_out_masked(
    credentials: None, log_to: LogTo, capsys: pytest.CaptureFixture[str]
) -> None:
    logger, stream = log_to("requests")
    logger.warning("%s %s", API_KEY)  # one argument for two placeholders
    logger.warning("key %d", SECRET_KEY)  # an argument of the wrong type
    lines = stream.getvalue().splitlines()
    assert lines == ["%s %s ('***',)", "key %d ('***',)"]
    # logging's "--- Logging error ---" report prints the arguments raw: there is none.
    err = capsys.readouterr().err
    assert "Logging error" not in err
    assert not leaked(err), err


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(ValueError(f"refused {API_KEY}"), "refused ***", id="exception"),
        pytest.param({"key": API_KEY, "n": 1}, "{'key': '***', 'n': 1}", id="dict"),
        pytest.param(["secret", SECRET_KEY], "['secret', '***']", id="list"),
    ],
)
def test_a_message_that_is_not_a_string_comes_out_masked(
    credentials: None, log_to: LogTo, message: object, expected: str
) -> None:
    logger, stream = log_to("urllib3.connectionpool")
    logger.warning(message)
    assert stream.getvalue().splitlines() == [expected]
