"""Fixtures of the provider-layer tests: the loopback echo server and DEBUG log capture."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from django_esms_voice.esms.client import EsmsVoiceClient

from .echo import EchoServer, capture_debug_logs, sentinel_client


@pytest.fixture
def server() -> Iterator[EchoServer]:
    srv = EchoServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield srv
    finally:
        srv.stopping.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def client(server: EchoServer) -> Iterator[EsmsVoiceClient]:
    """A client whose credentials are sentinels, pointed at the echo server."""
    sentinel = sentinel_client(server)
    yield sentinel
    sentinel.close()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every record at DEBUG, urllib3's request lines included."""
    return capture_debug_logs(caplog)
