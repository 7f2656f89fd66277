"""A stand-in for a cloud API on a real loopback socket, and the checks every provider's
refusal must pass.

``serve(reply)`` answers each POST (and GET) with ``reply(httpx.Request) -> httpx.Response`` and
keeps the requests it saw in ``server.requests``; ``server.reply`` may be swapped during a
test. Requests reach it through the SDK's own transport, as in production.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from core.errors import ProviderError, is_transient

Reply = Callable[[httpx.Request], httpx.Response]
_PASSED_HEADERS = ("content-type", "x-request-id")


class _StandIn(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = httpx.Request(self.command, f"http://stand-in{self.path}", content=body,
                                headers=dict(self.headers))
        self.server.requests.append(request)  # type: ignore[attr-defined]
        response = self.server.reply(request)  # type: ignore[attr-defined]
        self.send_response(response.status_code)
        for name in _PASSED_HEADERS:
            if name in response.headers:
                self.send_header(name, response.headers[name])
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)

    do_GET = do_POST  # noqa: N815 (a GET is answered the same way, without a body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(reply: Reply) -> Iterator[http.server.ThreadingHTTPServer]:
    """A threaded HTTP server on 127.0.0.1 (``server.server_port``) answering with ``reply``."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    server.requests = []  # type: ignore[attr-defined]
    server.reply = reply  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def assert_refused_for_good(error: ProviderError, *, status_code: int, secret: str,
                            says: str) -> None:
    """A permanent refusal: says what went wrong, hides the key and the SDK's exception
    (whose text may quote it), carries the status and is not worth a retry."""
    assert says in str(error)
    assert secret not in str(error)
    assert error.__cause__ is None and error.__suppress_context__
    assert error.status_code == status_code
    assert not is_transient(error)
