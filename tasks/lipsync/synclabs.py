"""The Sync Labs lip-sync client: a video and a voice in, a lip-synced video out.

Sync Labs works on URLs it can fetch. A job is submitted with ``POST /v2/generate``
(header ``x-api-key``) and answered ``{id, status: PENDING}``; ``GET /v2/generate/{id}``
then reports PENDING, PROCESSING and finally COMPLETED (with ``outputUrl``), FAILED or
REJECTED (with ``error``), or CANCELED. :meth:`SyncLabsClient.lipsync` submits, polls and
downloads the result to a file. Finished jobs may also be announced to a webhook, whose
signature :func:`verify_webhook` checks.

Plain httpx, no SDK. Errors are classified once, for Prefect's retry policy
(tasks/policy.py):

- :class:`~core.errors.TransientError`: 429 and 5xx (and 408/409/425), timeouts, lost
  connections, replies that break the contract, a job still running at the deadline.
- :class:`~core.errors.PermanentError`: 400, 401, 403, 404, 422, and jobs that FAILED, were
  REJECTED or CANCELED.

Nothing here retries a request on its own: Prefect owns retries. Only :meth:`wait` keeps
polling through a transient failure, since giving up would throw away a job already paid
for.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from core.errors import (
    ConfigError,
    PermanentError,
    ProviderError,
    TransientError,
    is_transient_status,
)
from core.settings import Settings, required_secret

PROVIDER = "synclabs"

DEFAULT_MODEL = "lipsync-2"
DEFAULT_SYNC_MODE = "cut_off"
"""What to do when video and audio differ in length: ``cut_off`` trims to the shorter."""

POLL_INTERVAL_S = 5.0
"""Time between status requests; a job takes tens of seconds to minutes."""

DEFAULT_DEADLINE_S = 900.0
"""How long :meth:`SyncLabsClient.lipsync` waits for a job before giving up (for now)."""

REQUEST_TIMEOUT_S = 60.0
"""Limit per request (for a download: per read of a chunk, not for the whole file)."""

CONNECT_TIMEOUT_S = 10.0

WEBHOOK_TOLERANCE_S = 300.0
"""Largest age (or clock skew) of a webhook signature's timestamp that is accepted."""

DOWNLOAD_CHUNK_BYTES = 1 << 20

JobStatus = Literal["PENDING", "PROCESSING", "COMPLETED", "FAILED", "REJECTED", "CANCELED"]
_REFUSED: frozenset[str] = frozenset({"FAILED", "REJECTED", "CANCELED"})
_DETAIL_CHARS = 300

logger = logging.getLogger(__name__)


class SyncJob(BaseModel):
    """A Sync Labs generation job as ``GET /v2/generate/{id}`` reports it."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    id: str
    status: JobStatus
    output_url: str | None = Field(default=None, alias="outputUrl")
    """Where the finished video can be downloaded; set once COMPLETED."""
    error: str | None = None
    """Sync Labs' explanation of a FAILED or REJECTED job."""


class SyncLabsClient:
    """Submits lip-sync jobs to Sync Labs, waits for them and downloads the results."""

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.sync.so",
        *,
        http_client: httpx.Client | None = None,
        poll_interval_s: float = POLL_INTERVAL_S,
        timeout_s: float = REQUEST_TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        """Build the client (no request is made here).

        Args:
            api_key: the Sync Labs API key.
            base_url: API root, e.g. ``https://api.sync.so``.
            http_client: an ``httpx.Client`` to send requests through (proxies, tests);
                ``None`` for one of our own, closed by :meth:`close`.
            poll_interval_s: time between status requests in :meth:`wait`, in seconds.
            timeout_s: limit per request, in seconds.
            sleep: waits the given seconds between polls (tests pass a fake).
            clock: monotonic seconds, against which :meth:`wait`'s deadline is kept.

        Raises:
            ConfigError: no API key, or a base URL that is not http(s).
        """
        if not api_key or not api_key.strip():
            raise ConfigError("The Sync Labs lip-sync provider needs an API key: "
                              "set AURA_SYNCLABS__API_KEY")
        if not base_url.startswith(("https://", "http://")):
            raise ConfigError(f"AURA_SYNCLABS__BASE_URL must be an http(s) URL, "
                              f"got {base_url!r}")
        if poll_interval_s <= 0:
            raise ValueError(f"poll_interval_s must be positive, got {poll_interval_s}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.base_url = base_url.rstrip("/")
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self._api_key = api_key.strip()
        self._timeout = httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, *,
                      http_client: httpx.Client | None = None) -> SyncLabsClient:
        """The client configured by ``AURA_SYNCLABS__*``.

        Raises:
            ConfigError: no API key is set.
        """
        api_key = required_secret(settings.synclabs.api_key,
                                  needed_by="AURA_LIPSYNC=synclabs",
                                  setting="AURA_SYNCLABS__API_KEY",
                                  instead="AURA_LIPSYNC=phonemes")
        return cls(api_key, settings.synclabs.base_url, http_client=http_client)

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> SyncLabsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # The API

    def submit(self, video_url: str, audio_url: str, *, model: str = DEFAULT_MODEL,
               sync_mode: str = DEFAULT_SYNC_MODE, webhook_url: str | None = None) -> str:
        """Start a lip-sync job: the face in ``video_url`` speaks ``audio_url``.

        Args:
            video_url: http(s) URL of the video (or still-image video), fetchable by
                Sync Labs.
            audio_url: http(s) URL of the voice.
            model: Sync Labs model, e.g. ``lipsync-2``.
            sync_mode: how to reconcile different lengths (``cut_off``, ``loop``, ...).
            webhook_url: where Sync Labs announces the finished job; ``None`` for none.

        Returns:
            The job id.

        Raises:
            TransientError: worth a retry (rate limit, server error, network, bad reply).
            PermanentError: a retry cannot help (key, request refused).
        """
        for name, url in (("video_url", video_url), ("audio_url", audio_url)):
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"{name} must be an http(s) URL Sync Labs can fetch, "
                                 f"got {url!r}")
        body: dict[str, Any] = {
            "model": model,
            "input": [{"type": "video", "url": video_url},
                      {"type": "audio", "url": audio_url}],
            "options": {"sync_mode": sync_mode, "output_format": "mp4"},
        }
        if webhook_url is not None:
            body["webhookUrl"] = webhook_url
        reply = self._call("POST", "/v2/generate", json=body, doing="submitting a job",
                           not_found="the generate endpoint")
        job_id = reply.get("id") if isinstance(reply, dict) else None
        if not isinstance(job_id, str) or not job_id:
            raise TransientError("the reply to a submitted job has no job id",
                                 provider=PROVIDER)
        logger.info("Submitted Sync Labs job %s (%s)", job_id, model)
        return job_id

    def status(self, job_id: str) -> SyncJob:
        """The job's current state.

        Raises:
            TransientError: worth a retry (rate limit, server error, network, bad reply).
            PermanentError: a retry cannot help (key, unknown job).
        """
        if not job_id:
            raise ValueError("job_id must not be empty")
        reply = self._call("GET", f"/v2/generate/{quote(job_id, safe='')}",
                           doing=f"asking for job {job_id!r}", not_found=f"job {job_id!r}")
        try:
            return SyncJob.model_validate(reply)
        except pydantic.ValidationError as exc:
            raise TransientError(f"the status of job {job_id!r} does not fit the API: "
                                 f"{_describe(exc)}", provider=PROVIDER) from None

    def wait(self, job_id: str, *, deadline_s: float) -> SyncJob:
        """Poll the job every ``poll_interval_s`` until it completes.

        A poll that fails for now (rate limit, server error, network) is tried again at
        the next interval, while the deadline allows.

        Args:
            job_id: a job id from :meth:`submit`.
            deadline_s: longest time to wait, in seconds; the last poll is at the deadline.

        Returns:
            The COMPLETED job.

        Raises:
            PermanentError: the job FAILED, was REJECTED or CANCELED (with Sync Labs'
                reason), or a poll was refused for good.
            TransientError: the job was not finished at the deadline.
        """
        if deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive, got {deadline_s}")
        give_up_at = self._clock() + deadline_s
        last_seen = "no answer yet"
        while True:
            try:
                job = self.status(job_id)
            except TransientError as exc:
                last_seen = f"last poll: {exc}"
            else:
                if job.status == "COMPLETED":
                    return job
                if job.status in _REFUSED:
                    reason = job.error or "no reason given"
                    raise PermanentError(f"lip-sync job {job_id!r} ended {job.status}: "
                                         f"{self._redact(reason)}", provider=PROVIDER)
                last_seen = f"still {job.status}"
            remaining_s = give_up_at - self._clock()
            if remaining_s <= 0:
                raise TransientError(f"lip-sync job {job_id!r} did not finish within "
                                     f"{deadline_s:g} s ({last_seen})", provider=PROVIDER)
            self._sleep(min(self.poll_interval_s, remaining_s))

    def download(self, output_url: str, out_path: str | os.PathLike[str]) -> Path:
        """Stream a finished video to ``out_path``, atomically.

        The bytes go to ``<out_path>.part`` and are renamed to ``out_path`` once complete,
        so ``out_path`` is either absent or whole. The API key is not sent: the output URL
        is storage, not the API.

        Returns:
            ``out_path`` as a :class:`~pathlib.Path`.

        Raises:
            TransientError: worth a retry (server error, network).
            PermanentError: the URL is refused, unknown or expired, or not http(s).
        """
        out_path = Path(out_path)
        part_path = out_path.with_name(out_path.name + ".part")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._http.stream("GET", output_url, timeout=self._timeout,
                                   follow_redirects=True) as response:
                if not response.is_success:
                    raise _download_error(response.status_code) from None
                with part_path.open("wb") as part:
                    for chunk in response.iter_bytes(DOWNLOAD_CHUNK_BYTES):
                        part.write(chunk)
                    part.flush()
                    os.fsync(part.fileno())
            os.replace(part_path, out_path)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise PermanentError("the output URL of the job cannot be downloaded (not an "
                                 "http(s) URL)", provider=PROVIDER) from None
        except httpx.TimeoutException:
            raise TransientError(f"the download of the result stalled for more than "
                                 f"{self.timeout_s:g} s", provider=PROVIDER) from None
        except httpx.TransportError as exc:
            raise TransientError(f"the download of the result was cut off "
                                 f"({type(exc).__name__})", provider=PROVIDER) from None
        finally:
            part_path.unlink(missing_ok=True)
        return out_path

    def lipsync(self, video_url: str, audio_url: str, out_path: str | os.PathLike[str], *,
                model: str = DEFAULT_MODEL, sync_mode: str = DEFAULT_SYNC_MODE,
                webhook_url: str | None = None,
                deadline_s: float = DEFAULT_DEADLINE_S) -> SyncJob:
        """Submit a job, wait for it and download the lip-synced video to ``out_path``.

        Args: as :meth:`submit`, plus ``out_path`` (the mp4 to write) and ``deadline_s``
        (longest wait for the job, in seconds).

        Returns:
            The COMPLETED job (its id, for the logs, and its output URL).

        Raises:
            TransientError, PermanentError: as :meth:`submit`, :meth:`wait` and
                :meth:`download`.
        """
        job_id = self.submit(video_url, audio_url, model=model, sync_mode=sync_mode,
                             webhook_url=webhook_url)
        job = self.wait(job_id, deadline_s=deadline_s)
        if not job.output_url:
            raise TransientError(f"lip-sync job {job_id!r} is COMPLETED but has no output "
                                 "URL", provider=PROVIDER)
        self.download(job.output_url, out_path)
        return job

    # Plumbing

    def _call(self, method: str, path: str, *, doing: str, not_found: str,
              json: dict[str, Any] | None = None) -> Any:
        """One API request; its JSON reply, or the AuraStudio error for its failure."""
        # ``from None`` throughout: httpx's exceptions carry the request, whose headers
        # hold the key, and tracebacks in logs show chained causes.
        try:
            response = self._http.request(method, f"{self.base_url}{path}", json=json,
                                          headers={"x-api-key": self._api_key,
                                                   "accept": "application/json"},
                                          timeout=self._timeout)
        except httpx.TimeoutException:
            raise TransientError(f"no answer within {self.timeout_s:g} s while {doing}",
                                 provider=PROVIDER) from None
        except httpx.TransportError as exc:
            raise TransientError(f"could not reach Sync Labs while {doing} "
                                 f"({type(exc).__name__})", provider=PROVIDER) from None
        if not response.is_success:
            raise self._status_error(response, not_found) from None
        try:
            return response.json()
        except ValueError:
            raise TransientError(f"the reply while {doing} is not JSON "
                                 f"({response.status_code})", provider=PROVIDER,
                                 status_code=response.status_code) from None

    def _status_error(self, response: httpx.Response, not_found: str) -> ProviderError:
        """The AuraStudio error for an HTTP error status from the API."""
        status = response.status_code
        detail = self._redact(_server_message(response))
        if status == 401:
            return PermanentError("Sync Labs rejected the API key (401); check "
                                  "AURA_SYNCLABS__API_KEY", provider=PROVIDER,
                                  status_code=status)
        if status == 403:
            return PermanentError(f"Sync Labs refused access (403): {detail}",
                                  provider=PROVIDER, status_code=status)
        if status == 404:
            return PermanentError(f"Sync Labs does not know {not_found} (404); check "
                                  "AURA_SYNCLABS__BASE_URL", provider=PROVIDER,
                                  status_code=status)
        if status == 429:
            return TransientError("rate limited by Sync Labs (429)", provider=PROVIDER,
                                  status_code=status)
        if is_transient_status(status):
            return TransientError(f"Sync Labs could not answer for now ({status}): {detail}",
                                  provider=PROVIDER, status_code=status)
        return PermanentError(f"Sync Labs rejected the request ({status}): {detail}",
                              provider=PROVIDER, status_code=status)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[api key]")


def verify_webhook(body: bytes, signature_header: str, secret: str, *,
                   tolerance_s: float = WEBHOOK_TOLERANCE_S, now: float | None = None) -> bool:
    """Whether a webhook request really comes from Sync Labs, and recently.

    The ``Sync-Signature`` header reads ``t=<unix seconds>,v1=<hex>``, where the hex is the
    HMAC-SHA256, keyed by the webhook secret, of ``<t>.<raw body>``. Several ``v1`` entries
    (during a secret rotation) are accepted if any one matches.

    Args:
        body: the request body exactly as received (before any JSON parsing).
        signature_header: the value of the ``Sync-Signature`` header.
        secret: the webhook secret from the Sync Labs dashboard.
        tolerance_s: largest difference between ``t`` and ``now``, in seconds; older
            signatures are refused, so a captured request cannot be replayed later.
        now: the current unix time in seconds; ``None`` for the system clock.

    Returns:
        ``True`` only for a well-formed header with a fresh timestamp and a matching
        signature.

    Raises:
        ConfigError: the secret is empty (anyone could sign with an empty key).
    """
    if not secret:
        raise ConfigError("the Sync Labs webhook secret is empty; copy it from the Sync "
                          "Labs dashboard")
    timestamp: str | None = None
    signatures: list[str] = []
    for item in signature_header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not (timestamp.isascii() and timestamp.isdigit()) or not signatures:
        return False
    current_s = time.time() if now is None else now
    if abs(current_s - int(timestamp)) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                        hashlib.sha256).hexdigest().encode()
    # Every candidate is compared, in constant time, so timing tells nothing.
    matches = [hmac.compare_digest(expected, candidate.strip().lower().encode())
               for candidate in signatures]
    return any(matches)


def _download_error(status: int) -> ProviderError:
    if is_transient_status(status):
        return TransientError(f"the download of the result failed for now ({status})",
                              provider=PROVIDER, status_code=status)
    return PermanentError(f"the download of the result was refused ({status}); the output "
                          "URL may have expired", provider=PROVIDER, status_code=status)


def _server_message(response: httpx.Response) -> str:
    """The API's own explanation of an error status, or the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = (body.get("message") or body.get("error")) if isinstance(body, dict) else None
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    if not isinstance(message, str) or not message:
        message = response.reason_phrase or f"HTTP {response.status_code}"
    return message if len(message) <= _DETAIL_CHARS else message[:_DETAIL_CHARS - 3] + "..."


def _describe(exc: pydantic.ValidationError) -> str:
    """A short account of what is wrong in a reply, e.g. ``status: Input should be ...``."""
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'reply'}: {e['msg']}"
             for e in exc.errors(include_url=False)[:3]]
    return "; ".join(parts)
