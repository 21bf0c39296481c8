"""A real HTTP server on 127.0.0.1 for reader tests: routes answer canned or computed replies.

The stdlib ``ThreadingHTTPServer`` runs in a thread, so the code under test talks real HTTP
(sockets, redirects, conditional GET, slow and oversized bodies) without patching httpx.
Use the ``http_server`` fixture: ``http_server.route("/feed", Reply(body=b"..."))`` or a function
of the ``Request``; ``http_server.url("/feed")`` is its address; ``http_server.requests`` lists
what was asked.
"""

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering (a slow server).
    delay: float = 0.0
    #: Send Content-Length; without it the body ends when the connection closes.
    length: bool = True
    #: The body is written in pieces of this size, with this many seconds between them.
    chunk: int = 16 * 1024
    pause: float = 0.0


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


Handler = Reply | Callable[[Request], Reply]


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="test-http", daemon=True)
        self.stopping = threading.Event()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                request = Request(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                                  {k.lower(): v for k, v in self.headers.items()})
                server.requests.append(request)
                handler = server.routes.get(parts.path)
                reply = Reply(404, b"not found") if handler is None else handler if isinstance(handler, Reply) else handler(request)
                try:
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout or a size cap under test)

            def _send(self, reply: Reply) -> None:
                if reply.delay and server.stopping.wait(reply.delay):
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.length:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                for start in range(0, len(reply.body), reply.chunk):
                    if start and reply.pause and server.stopping.wait(reply.pause):
                        return
                    self.wfile.write(reply.body[start:start + reply.chunk])
                    self.wfile.flush()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        return _Handler


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    server = LocalServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def http_date(seconds_from_now: float) -> str:
    """An HTTP date (for Last-Modified, Retry-After)."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + seconds_from_now))
