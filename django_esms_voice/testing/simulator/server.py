"""The simulator's HTTP side: a keep-alive server that hands each request to the simulator."""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Answers one request: (the handler, "GET" or "POST").
Dispatch = Callable[["Handler", str], None]


class Server(ThreadingHTTPServer):
    """A threading HTTP server that can close its open keep-alive connections."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], dispatch: Dispatch, stopping: Callable[[], bool]
    ) -> None:
        """Bind to address and hand every request to dispatch; stopping() silences errors."""
        self.dispatch = dispatch
        self.stopping = stopping
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup HTTPServer does."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember the connection, then serve it on its own thread."""
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection and close it."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open connection so their threads end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away; report anything else."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError) or self.stopping():
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """Hands every request to the simulator; speaks HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    server_version = "EsmsSimulator/1.0"
    disable_nagle_algorithm = True
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: no per-request logging, and the URL carries the credentials."""

    def do_GET(self) -> None:
        """Answer a GET."""
        self.server.dispatch(self, "GET")

    def do_POST(self) -> None:
        """Answer a POST."""
        self.server.dispatch(self, "POST")

    def read_body(self) -> bytes:
        """Read the request body, so the next request on the connection starts clean."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def send_body(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        """Answer with a body and its Content-Length."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def send_json(self, payload: dict[str, Any], status: int = 200) -> None:
        """Answer with a JSON document."""
        self.send_body(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True
