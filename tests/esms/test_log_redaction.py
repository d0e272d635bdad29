"""Callback tokens never reach the request logs: django.request, django.server, gunicorn's.

Each test sends a real record through the real logger and reads what a handler on that logger
writes. The app installs the filter itself (AppConfig.ready()); the tests never do. gunicorn
is not a test dependency (it comes with the bench extra): its records are built the way
gunicorn 27 builds them (glogging.Logger.access, workers/base.py handle_error).
"""

from __future__ import annotations

import http.client
import io
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.test import Client

from django_esms_voice.esms.redaction import MASK, REQUEST_LOGGERS, RedactSecretsFilter
from django_esms_voice.signing import callback_token

ROOT = Path(__file__).resolve().parents[2]
CALL = uuid.UUID("066107ee-6ec4-4283-b595-aa74977c65c5")
TOKEN = callback_token(CALL)
PATH = f"/esms-voice/callback/{CALL}/{TOKEN}/"

# Paths that miss the callback view, so Django's resolver answers 404 and logs the path.
NEAR_MISSES = [
    pytest.param(f"/{PATH}", id="double-slash-before"),
    pytest.param(f"{PATH}/", id="double-slash-after"),
    pytest.param(f"{PATH}junk", id="junk-after-token"),
    pytest.param(PATH.replace("/esms-voice/", "/ESMS-VOICE/"), id="upper-case-include"),
    pytest.param(PATH.replace("/callback/", "/CALLBACK/"), id="upper-case-callback"),
]


@pytest.fixture
def written() -> Iterator[dict[str, io.StringIO]]:
    """What a plain handler on each request logger writes, level INFO as the servers set it."""
    streams: dict[str, io.StringIO] = {}
    saved: list[tuple[logging.Logger, logging.Handler, int]] = []
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        stream = streams[name] = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        saved.append((logger, handler, logger.level))
        logger.setLevel(logging.INFO)
    yield streams
    for logger, handler, level in saved:
        logger.removeHandler(handler)
        logger.setLevel(level)


def assert_masked(text: str) -> None:
    """The line was written, with the call still named and its token masked."""
    assert str(CALL) in text.lower(), text
    assert f"/{MASK}/" in text, text
    assert TOKEN not in text, text


def test_the_app_installed_the_filter_on_every_request_logger() -> None:
    assert set(REQUEST_LOGGERS) >= {
        "django.request",
        "django.server",
        "gunicorn.error",
        "gunicorn.access",
    }
    for name in REQUEST_LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactSecretsFilter) for f in filters) == 1, name


@pytest.mark.parametrize("path", NEAR_MISSES)
def test_django_request_not_found_is_masked(written: dict[str, io.StringIO], path: str) -> None:
    # PATH_INFO given as is: Client.get() would read "//esms-voice" as a host name.
    response = Client().request(PATH_INFO=path, REQUEST_METHOD="GET")
    assert response.status_code == 404
    text = written["django.request"].getvalue()
    assert text.startswith("Not Found: "), text
    assert_masked(text)


@pytest.fixture
def runserver() -> Iterator[int]:
    """Django's development server (the classes runserver uses) on a loopback port."""
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler, ipv6=False)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# http.server reduces a leading "//" to "/" (but logs the line as sent), so that request
# reaches the view, which looks the call up: hence the database.
@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", [*NEAR_MISSES, pytest.param(PATH.replace(TOKEN, "forged" + TOKEN[6:]), id="forged")]
)
def test_runserver_request_lines_are_masked(
    written: dict[str, io.StringIO], runserver: int, path: str
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", runserver, timeout=5)
    try:
        connection.request("GET", path + "?ReferenceId=abc&SendStatus=5")
        assert connection.getresponse().status == 404
    finally:
        connection.close()
    text = wait_for(written["django.server"])
    assert text.startswith('"GET /'), text
    assert '?ReferenceId=abc&SendStatus=5 HTTP/1.1" 404' in text, text
    assert_masked(text)
    assert path.split(str(CALL))[1][1:7] not in text  # the forged token is masked too


def wait_for(stream: io.StringIO, seconds: float = 5.0) -> str:
    """Return what was written, once something is: the server logs after it has answered."""
    deadline = time.monotonic() + seconds
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    return stream.getvalue()


GUNICORN_ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


@pytest.mark.parametrize(
    "access_format",
    [
        pytest.param(GUNICORN_ACCESS_FORMAT, id="default-format"),
        pytest.param("%(h)s %(m)s %(U)s?%(q)s %(s)s", id="path-and-query-format"),
    ],
)
@pytest.mark.parametrize("path", [pytest.param(PATH, id="callback"), *NEAR_MISSES])
def test_gunicorn_access_lines_are_masked(
    written: dict[str, io.StringIO], access_format: str, path: str
) -> None:
    # glogging.Logger.access(): self.access_log.info(cfg.access_log_format, safe_atoms)
    atoms = {
        "h": "203.0.113.7",
        "l": "-",
        "u": "-",
        "t": "[01/Mar/2025:09:30:00 +0700]",
        "r": f"GET {path}?ReferenceId=abc HTTP/1.1",
        "s": "200",
        "m": "GET",
        "U": path,
        "q": "ReferenceId=abc",
        "b": "21",
        "f": "-",
        "a": "python-requests/2.32",
    }
    logging.getLogger("gunicorn.access").info(access_format, atoms)
    text = written["gunicorn.access"].getvalue()
    assert text.startswith("203.0.113.7 "), text
    assert "ReferenceId=abc" in text
    assert_masked(text)


@pytest.mark.parametrize("path", [pytest.param(PATH, id="callback"), *NEAR_MISSES])
def test_gunicorn_invalid_request_line_is_masked(
    written: dict[str, io.StringIO], path: str
) -> None:
    # workers/base.py handle_error(): the message is formatted before it is logged, and
    # InvalidRequestLine.__str__ is "Invalid HTTP request line: %r" % the line.
    error = "Invalid HTTP request line: {!r}".format(f"GET {path} junk HTTP/1.1")
    logging.getLogger("gunicorn.error").warning(
        "Invalid request from ip={ip}: {error}".format(ip="203.0.113.7", error=error)
    )
    logging.getLogger("gunicorn.error").error("Error handling request %s %s", "GET", path)
    lines = written["gunicorn.error"].getvalue().splitlines()
    assert lines[0].startswith("Invalid request from ip=203.0.113.7: Invalid HTTP request line:")
    assert lines[1].startswith("Error handling request GET /")
    for line in lines:
        assert_masked(line)


def test_uvicorn_access_lines_are_masked(written: dict[str, io.StringIO]) -> None:
    # uvicorn's httptools/h11 protocols: access_logger.info('%s - "%s %s HTTP/%s" %d', ...)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "203.0.113.7:5000", "GET", f"{PATH}?SendStatus=5", "1.1", 200
    )
    text = written["uvicorn.access"].getvalue()
    assert text.startswith('203.0.113.7:5000 - "GET /esms-voice/callback/'), text
    assert_masked(text)


def documented_logging() -> str:
    """The LOGGING snippet of docs/callbacks.md, as a reader copies it."""
    page = (ROOT / "docs" / "callbacks.md").read_text(encoding="utf-8")
    section = page.split("### Logging", 1)[1]
    [snippet] = [
        block for block in re.findall(r"```python\n(.*?)```", section, re.S) if "LOGGING" in block
    ]
    return snippet


# In a process of its own: a dictConfig in this one would replace pytest's handlers.
PROBE = """
import logging, logging.config, sys
import django
django.setup()
from django.conf import settings
from django_esms_voice.esms.redaction import REQUEST_LOGGERS, RedactSecretsFilter

def installed():
    return [n for n in REQUEST_LOGGERS
            if any(isinstance(f, RedactSecretsFilter) for f in logging.getLogger(n).filters)]

assert installed() == list(REQUEST_LOGGERS), installed()
logging.config.dictConfig(settings.LOGGING)  # a host that configures logging again later
assert installed() == list(REQUEST_LOGGERS), "a later dictConfig dropped the filters"
print("installed", flush=True)
if sys.argv[1] == "handlers-only":  # prove the snippet's handlers mask on their own
    for name in REQUEST_LOGGERS:
        for f in list(logging.getLogger(name).filters):
            logging.getLogger(name).removeFilter(f)
path = sys.argv[2]
logging.getLogger("django.request").warning("Not Found: %s", path)
logging.getLogger("django.request.child").warning("Not Found: %s", path)
logging.getLogger("django.server").warning('"GET %s HTTP/1.1" 404 179', path)
atoms = {"h": "-", "r": "GET " + path, "s": 200}
logging.getLogger("gunicorn.access").info('%(h)s "%(r)s" %(s)s', atoms)
logging.getLogger("gunicorn.error").warning("Invalid request from ip=-: " + repr(path + " x"))
logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "-", "GET", path, "1.1", 200)
"""


@pytest.mark.parametrize("mode", ["with-the-app", "handlers-only"])
def test_the_documented_logging_snippet_masks_every_request_logger(
    tmp_path: Path, mode: str
) -> None:
    (tmp_path / "snippet_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n\n" + documented_logging(), encoding="utf-8"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "snippet_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    done = subprocess.run(  # noqa: S603 - our interpreter and script
        [sys.executable, "-c", textwrap.dedent(PROBE), mode, PATH],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("installed")
    written = done.stdout + done.stderr
    assert written.count(f"/{MASK}/") == 6, written
    assert TOKEN not in written, written


def test_the_filter_path_of_earlier_logging_configs_still_names_the_filter() -> None:
    from django.utils.module_loading import import_string

    old = import_string("django_esms_voice.redaction.RedactSecretsFilter")
    assert old is RedactSecretsFilter
