"""S3 stand-ins for tests: moto's server on loopback, and a proxy that fails on demand.

Fixtures:
- ``moto_server`` (session): endpoint URL of a moto S3 server on 127.0.0.1.
- ``s3_client`` (session): a raw boto3 client on that server, to look behind the storage.
- ``s3_storage``: an :class:`~core.storage.S3Storage` on a fresh, empty bucket.
- ``flaky_s3``: a :class:`FlakyS3Proxy` in front of the moto server. Everything passes
  through unchanged until told otherwise::

      storage = flaky_s3.storage()                  # fresh bucket, reached via the proxy
      flaky_s3.fail_next(count=1, status=503, method="PUT")
      with pytest.raises(TransientError):
          storage.put_bytes("a.bin", b"x")
      assert flaky_s3.count(method="PUT") == 1

The credentials are dummies passed to the client directly, so nothing depends on the
developer's ``~/.aws``.
"""

from __future__ import annotations

import http.client
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import boto3
import pytest
from moto.server import ThreadedMotoServer

from core.storage import S3Storage

TEST_ACCESS_KEY_ID = "testing-access-key"
TEST_SECRET_ACCESS_KEY = "testing-secret-key"
TEST_REGION = "us-east-1"

DEFAULT_ERROR_CODES = {
    400: "InvalidRequest",
    403: "AccessDenied",
    404: "NoSuchKey",
    409: "OperationAborted",
    429: "SlowDown",
    500: "InternalError",
    502: "BadGateway",
    503: "SlowDown",
    504: "GatewayTimeout",
}
"""S3 error code the proxy puts in its XML body for each injected status."""

# Headers that describe one hop of a connection, not the message: never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)
_MAX_LINE_BYTES = 65_536


def unique_bucket_name() -> str:
    """A fresh bucket name (valid S3 syntax, unique per call)."""
    return f"aura-test-{uuid.uuid4().hex[:16]}"


def make_s3_storage(endpoint_url: str, bucket: str | None = None, **options: Any) -> S3Storage:
    """An S3Storage with test credentials on ``endpoint_url``; creates its bucket."""
    storage = S3Storage(
        bucket or unique_bucket_name(),
        endpoint_url=endpoint_url,
        region=TEST_REGION,
        access_key_id=TEST_ACCESS_KEY_ID,
        secret_access_key=TEST_SECRET_ACCESS_KEY,
        **options,
    )
    storage.create_bucket()
    return storage


@dataclass(frozen=True)
class SeenRequest:
    """One request that reached the proxy and the status it was answered with."""

    method: str
    path: str
    """Path and query string, as sent (``/bucket/key?partNumber=2&uploadId=…``)."""
    status: int
    injected: bool
    """Whether the proxy answered itself (an injected failure) instead of moto."""


@dataclass
class _Failure:
    remaining: int
    status: int
    code: str
    method: str | None
    path_contains: str | None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
        )


class FlakyS3Proxy:
    """A loopback HTTP proxy that forwards to S3 unchanged, or fails when told to.

    Requests and responses are forwarded byte for byte (headers included, so SigV4
    signatures stay valid), except hop-by-hop headers: chunked request bodies are
    de-chunked and sent with a Content-Length, and every connection is closed after one
    exchange. ``Expect: 100-continue`` is answered by the proxy itself.
    """

    def __init__(self, upstream_url: str):
        upstream = urlsplit(upstream_url)
        assert upstream.hostname and upstream.port, upstream_url
        self.upstream_host = upstream.hostname
        self.upstream_port = upstream.port
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._seen: list[SeenRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            # A short poll interval makes stop() quick (shutdown waits for one poll).
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="flaky-s3-proxy",
            daemon=True,
        )

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[SeenRequest]:
        """The requests seen so far, oldest first (a copy)."""
        with self._lock:
            return list(self._seen)

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        """How many requests matched ``method`` and contained ``path_contains``."""
        return sum(
            1
            for seen in self.requests
            if (method is None or seen.method == method)
            and (path_contains is None or path_contains in seen.path)
        )

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        code: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` and an S3 error.

        Args:
            count: how many matching requests fail; later ones pass through again.
            status: HTTP status of the injected answer.
            method: only requests with this method match (``None``: any).
            path_contains: only requests whose path and query contain this text match,
                e.g. a key, ``"partNumber=2"`` or ``"uploads"``.
            code: S3 error code in the XML body (default from :data:`DEFAULT_ERROR_CODES`).
        """
        failure = _Failure(
            remaining=count,
            status=status,
            code=code or DEFAULT_ERROR_CODES.get(status, "InternalError"),
            method=method.upper() if method else None,
            path_contains=path_contains,
        )
        with self._lock:
            self._failures.append(failure)

    def reset(self) -> None:
        """Forget pending failures and seen requests."""
        with self._lock:
            self._failures.clear()
            self._seen.clear()

    def storage(self, bucket: str | None = None, **options: Any) -> S3Storage:
        """An S3Storage that talks through this proxy, on a fresh bucket."""
        return make_s3_storage(self.endpoint_url, bucket, **options)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.matches(method, path):
                    failure.remaining -= 1
                    return failure
        return None

    def _record(self, seen: SeenRequest) -> None:
        with self._lock:
            self._seen.append(seen)


class _ProxyHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 so that BaseHTTPRequestHandler answers "Expect: 100-continue" at once;
    # botocore otherwise waits a second before sending each body.
    protocol_version = "HTTP/1.1"
    _injected = False

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``FlakyS3Proxy.requests`` instead."""

    @property
    def _proxy(self) -> FlakyS3Proxy:
        return self.server.proxy  # type: ignore[attr-defined]

    def _handle(self) -> None:
        self.close_connection = True
        body = self._read_body()
        failure = self._proxy._take_failure(self.command, self.path)
        self._injected = failure is not None
        if failure is not None:
            self._answer_failure(failure)
        else:
            self._forward(body)

    def _read_body(self) -> bytes | None:
        """The request body (de-chunked), or None when the request has none."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        return self.rfile.read(int(length))

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size_line = self.rfile.readline(_MAX_LINE_BYTES)
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            chunks.append(self.rfile.read(size))
            self.rfile.readline(_MAX_LINE_BYTES)  # the CRLF after each chunk
        # Trailer fields (none from botocore: its checksums travel in the aws-chunked
        # content or in headers), then the empty line that ends the message.
        while self.rfile.readline(_MAX_LINE_BYTES) not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(chunks)

    def _forward(self, body: bytes | None) -> None:
        connection = http.client.HTTPConnection(
            self._proxy.upstream_host, self._proxy.upstream_port, timeout=60
        )
        try:
            # The Host header is part of the SigV4 signature: forward the client's own.
            connection.putrequest(
                self.command, self.path, skip_host=True, skip_accept_encoding=True
            )
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            data = response.read()
        except OSError as exc:
            message = f"proxy could not reach S3 at upstream: {exc}".encode()
            self._send(502, [("Content-Type", "text/plain")], message)
            return
        finally:
            connection.close()
        headers = [
            (name, value)
            for name, value in response.getheaders()
            if name.lower() not in _HOP_BY_HOP
        ]
        if self.command == "HEAD":
            # A HEAD answer's Content-Length is the object's size, not this body's.
            length = response.getheader("Content-Length")
            headers += [("Content-Length", length)] if length is not None else []
            self._send(response.status, headers, b"", reason=response.reason, length=False)
        else:
            self._send(response.status, headers, data, reason=response.reason)

    def _answer_failure(self, failure: _Failure) -> None:
        request_id = uuid.uuid4().hex[:16].upper()
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(failure.code)}</Code>"
            f"<Message>Injected by the test proxy: HTTP {failure.status}.</Message>"
            f"<Resource>{escape(self.path)}</Resource>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
        if self.command == "HEAD":  # S3 answers HEAD errors without a body
            self._send(failure.status, headers, b"")
        else:
            self._send(failure.status, headers, body)

    def _send(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        reason: str | None = None,
        length: bool = True,
    ) -> None:
        """Record the exchange, then answer (so a caller that got the answer sees it)."""
        self._proxy._record(SeenRequest(self.command, self.path, status, self._injected))
        self.send_response_only(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        if length and status not in (204, 304) and not 100 <= status < 200:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Endpoint URL (``http://127.0.0.1:PORT``) of a moto S3 server for the session."""
    # moto's werkzeug server logs every request at INFO; keep test output readable.
    werkzeug_logger = logging.getLogger("werkzeug")
    level = werkzeug_logger.level
    werkzeug_logger.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        werkzeug_logger.setLevel(level)


@pytest.fixture(scope="session")
def s3_client(moto_server: str) -> Any:
    """A raw boto3 S3 client on the moto server, to inspect buckets behind the storage."""
    return boto3.session.Session(
        aws_access_key_id=TEST_ACCESS_KEY_ID,
        aws_secret_access_key=TEST_SECRET_ACCESS_KEY,
        region_name=TEST_REGION,
    ).client("s3", endpoint_url=moto_server)


@pytest.fixture
def s3_storage(moto_server: str) -> S3Storage:
    """An S3Storage on a fresh, empty bucket of the moto server."""
    return make_s3_storage(moto_server)


@pytest.fixture
def flaky_s3(moto_server: str) -> Iterator[FlakyS3Proxy]:
    """A :class:`FlakyS3Proxy` in front of the moto server (``.storage()`` for a client)."""
    proxy = FlakyS3Proxy(moto_server)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
