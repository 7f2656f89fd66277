"""A stand-in for the Sync Labs lip-sync API: its replies, and a service on a loopback socket.

:func:`job_reply` and :func:`api_error` are the API's own reply shapes (for respx routes
and for the stand-in). :class:`SyncLabsStandIn` serves the API the client uses
(tasks/lipsync/synclabs.py) on 127.0.0.1::

    with SyncLabsStandIn.serving() as sync_labs:    # key SyncLabsStandIn.API_KEY
        ... AURA_SYNCLABS__BASE_URL=sync_labs.url ...

``POST /v2/generate`` (with the ``x-api-key`` header) starts a job; like the real service
the stand-in **downloads** the video and audio URLs it is given (a presigned URL that does
not work fails the job, as it would at Sync Labs) and keeps what it fetched. The job is
COMPLETED by the first ``GET /v2/generate/{id}``, so polling never waits, and its output
URL serves a real MP4: the fetched video's streams copied unchanged into a new file whose
``comment`` tag names the job (:func:`made_by` reads it back), so a test can tell a
result that came from here.

Tests steer it: :meth:`~SyncLabsStandIn.fail_next_submits` answers submissions with error
statuses, :meth:`~SyncLabsStandIn.end_next_job_as` makes a job end FAILED or REJECTED, and
:meth:`~SyncLabsStandIn.spoil_next_downloads` changes the bytes of the next downloads.
"""

from __future__ import annotations

import http.server
import io
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import pytest

STAND_IN_MARK = "lip-synced by the Sync Labs stand-in, job "
"""Start of the ``comment`` tag of every video the stand-in makes; the job id follows."""


def job_reply(job_id: str, status: str, **fields: object) -> httpx.Response:
    """A job as ``GET /v2/generate/{id}`` reports it (camelCase fields, e.g. ``outputUrl``)."""
    return httpx.Response(200, json={"id": job_id, "status": status, "model": "lipsync-2",
                                     "outputUrl": None, "error": None, **fields})


def api_error(status_code: int, message: str | list[str]) -> httpx.Response:
    """An error reply of the API: ``{"statusCode": ..., "message": ...}``."""
    return httpx.Response(status_code, json={"statusCode": status_code, "message": message})


def made_by(path: Path) -> str | None:
    """The id of the stand-in job that made the MP4 at ``path``; None if it did not."""
    with av.open(str(path)) as container:
        comment = container.metadata.get("comment", "")
    return comment.removeprefix(STAND_IN_MARK) if comment.startswith(STAND_IN_MARK) else None


def cut_short(data: bytes) -> bytes:
    """The first half of a download, as a store that lost the rest would serve it."""
    return data[: len(data) // 2]


@dataclass
class StandInJob:
    """One job the stand-in accepted, with the inputs it downloaded for it."""

    id: str
    body: dict
    """The submitted JSON body."""
    video: bytes = b""
    audio: bytes = b""
    status: str = "PENDING"
    error: str | None = None
    output: bytes | None = None
    downloads: int = 0
    """How many times its output was served."""


class SyncLabsStandIn:
    """Sync Labs on a loopback socket: jobs, their inputs and outputs, and steering."""

    API_KEY = "sk-sync-stand-in-0123456789abcdef"

    def __init__(self, api_key: str = API_KEY):
        self.api_key = api_key
        self.jobs: dict[str, StandInJob] = {}
        """Accepted jobs by id, in the order they were submitted."""
        self.requests: list[tuple[str, str, int]] = []
        """Every request as (method, path, status it was answered with)."""
        self.url = ""
        """The API root, ``http://127.0.0.1:PORT``, once serving."""
        self._lock = threading.Lock()
        self._submit_failures: list[int] = []
        self._endings: list[tuple[str, str]] = []
        self._spoilers: list[Callable[[bytes], bytes]] = []

    @classmethod
    @contextmanager
    def serving(cls, api_key: str = API_KEY) -> Iterator[SyncLabsStandIn]:
        """A stand-in answering on a threaded server at ``stand_in.url`` for the block."""
        stand_in = cls(api_key)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.stand_in = stand_in  # type: ignore[attr-defined]
        stand_in.url = f"http://127.0.0.1:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        try:
            yield stand_in
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)

    # Steering

    def fail_next_submits(self, *statuses: int) -> None:
        """Answer the next submissions with these HTTP statuses, one each, in order."""
        with self._lock:
            self._submit_failures.extend(statuses)

    def end_next_job_as(self, status: str, error: str) -> None:
        """Make the next job submitted end with ``status`` and Sync Labs' ``error``."""
        with self._lock:
            self._endings.append((status, error))

    def spoil_next_downloads(self, *spoilers: Callable[[bytes], bytes]) -> None:
        """Serve the next outputs changed by these functions, one each, in order."""
        with self._lock:
            self._spoilers.extend(spoilers)

    def count(self, method: str, path_prefix: str) -> int:
        """How many requests had ``method`` and a path starting with ``path_prefix``."""
        with self._lock:
            return sum(1 for m, path, _ in self.requests
                       if m == method and path.startswith(path_prefix))

    # The API

    def answer(self, method: str, path: str, api_key: str | None, body: bytes) -> httpx.Response:
        """The stand-in's reply to one request."""
        if method == "GET" and path.startswith("/outputs/"):
            return self._output(path.removeprefix("/outputs/").removesuffix(".mp4"))
        if api_key != self.api_key:
            return api_error(401, "Invalid API key")
        if method == "POST" and path == "/v2/generate":
            return self._submit(json.loads(body))
        if method == "GET" and path.startswith("/v2/generate/"):
            return self._status(path.removeprefix("/v2/generate/"))
        return api_error(404, f"Cannot {method} {path}")

    def _submit(self, body: dict) -> httpx.Response:
        with self._lock:
            failure = self._submit_failures.pop(0) if self._submit_failures else None
            ending = self._endings.pop(0) if self._endings and failure is None else None
        if failure is not None:
            return api_error(failure, "Service temporarily unavailable")
        urls = {item["type"]: item["url"] for item in body["input"]}
        job = StandInJob(id=f"job-{uuid.uuid4().hex[:12]}", body=body)
        try:
            job.video = _fetch(urls["video"])
            job.audio = _fetch(urls["audio"])
        except (httpx.HTTPError, KeyError) as exc:
            job.status, job.error = "FAILED", f"could not download an input: {exc}"
        else:
            if ending is not None:
                job.status, job.error = ending
            else:
                job.output = tagged_copy(job.video, STAND_IN_MARK + job.id)
        with self._lock:
            self.jobs[job.id] = job
        return httpx.Response(201, json={"id": job.id, "status": "PENDING"})

    def _status(self, job_id: str) -> httpx.Response:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is not None and job.status == "PENDING":
                job.status = "COMPLETED"
        if job is None:
            return api_error(404, "Generation not found")
        output_url = f"{self.url}/outputs/{job.id}.mp4" if job.status == "COMPLETED" else None
        return job_reply(job.id, job.status, outputUrl=output_url, error=job.error)

    def _output(self, job_id: str) -> httpx.Response:
        job = self.jobs.get(job_id)
        if job is None or job.output is None:
            return httpx.Response(404, text="<Error><Code>NoSuchKey</Code></Error>")
        with self._lock:
            spoil = self._spoilers.pop(0) if self._spoilers else None
            job.downloads += 1
        data = spoil(job.output) if spoil else job.output
        return httpx.Response(200, content=data, headers={"content-type": "video/mp4"})


def _fetch(url: str) -> bytes:
    response = httpx.get(url, timeout=30)
    response.raise_for_status()
    return response.content


def tagged_copy(mp4: bytes, comment: str) -> bytes:
    """The MP4's streams copied unchanged into a new MP4 whose ``comment`` tag is set."""
    out = io.BytesIO()
    with av.open(io.BytesIO(mp4)) as source, av.open(out, "w", format="mp4") as target:
        target.metadata["comment"] = comment
        streams = {s.index: target.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is None:  # the empty packet that ends each stream
                continue
            packet.stream = streams[packet.stream.index]
            target.mux(packet)
    return out.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._handle()

    do_POST = do_GET  # noqa: N815

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        stand_in: SyncLabsStandIn = self.server.stand_in  # type: ignore[attr-defined]
        response = stand_in.answer(self.command, self.path, self.headers.get("x-api-key"),
                                   body)
        with stand_in._lock:
            stand_in.requests.append((self.command, self.path, response.status_code))
        self.send_response(response.status_code)
        self.send_header("Content-Type", response.headers.get("content-type", "text/plain"))
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sync_labs() -> Iterator[SyncLabsStandIn]:
    """A Sync Labs stand-in serving on loopback for one test."""
    with SyncLabsStandIn.serving() as stand_in:
        yield stand_in
