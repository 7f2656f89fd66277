"""The Sync Labs lip-sync client, against a stand-in for its API at the HTTP level.

respx answers the requests that a plain ``httpx.Client`` sends, to the API and to the
storage that serves finished videos; nothing of ours is mocked. Time is a fake clock whose
``sleep`` records the pause and moves the clock on, so polling never really waits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import httpx
import pytest
import respx

from core.errors import ConfigError, PermanentError, TransientError, is_transient
from core.settings import Settings, SyncLabsSettings
from tasks.lipsync.synclabs import SyncJob, SyncLabsClient, verify_webhook
from tests.support.loopback import assert_refused_for_good
from tests.support.synclabs import api_error, job_reply

API = "https://api.sync.test"
KEY = "sk-sync-test-0123456789abcdef"
JOB = "6a0c1f2e-job"
VIDEO = "https://storage.aura.test/avatars/face.mp4?sig=abc"
AUDIO = "https://storage.aura.test/voices/line.wav?sig=def"
OUTPUT = "https://cdn.sync.test/outputs/6a0c1f2e.mp4?token=xyz"
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64


class FakeTime:
    """A monotonic clock that only moves when ``sleep`` is called."""

    def __init__(self) -> None:
        self.now_s = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_s += seconds

    def monotonic(self) -> float:
        return self.now_s


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(clock) -> SyncLabsClient:
    return SyncLabsClient(KEY, API, http_client=httpx.Client(), poll_interval_s=5.0,
                          sleep=clock.sleep, clock=clock.monotonic)


@pytest.fixture
def stand_in() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def generate(stand_in):
    return stand_in.post(f"{API}/v2/generate")


@pytest.fixture
def job_status(stand_in):
    return stand_in.get(f"{API}/v2/generate/{JOB}")


@pytest.fixture
def output(stand_in):
    return stand_in.get(OUTPUT)


def job(status: str, **fields: object) -> httpx.Response:
    return job_reply(JOB, status, **fields)


# Submitting


def test_submit_posts_the_documented_body_with_the_key_header_and_returns_the_job_id(
        generate, client):
    generate.return_value = httpx.Response(201, json={"id": JOB, "status": "PENDING"})

    job_id = client.submit(VIDEO, AUDIO)

    assert job_id == JOB
    request = generate.calls.last.request
    assert request.headers["x-api-key"] == KEY
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "model": "lipsync-2",
        "input": [{"type": "video", "url": VIDEO}, {"type": "audio", "url": AUDIO}],
        "options": {"sync_mode": "cut_off", "output_format": "mp4"},
    }


def test_submit_passes_model_sync_mode_and_webhook(generate, client):
    generate.return_value = httpx.Response(201, json={"id": JOB, "status": "PENDING"})

    client.submit(VIDEO, AUDIO, model="lipsync-2-pro", sync_mode="loop",
                  webhook_url="https://aura.test/hooks/sync")

    body = json.loads(generate.calls.last.request.content)
    assert body["model"] == "lipsync-2-pro"
    assert body["options"]["sync_mode"] == "loop"
    assert body["webhookUrl"] == "https://aura.test/hooks/sync"


def test_a_local_path_instead_of_a_url_is_refused_before_any_request(generate, client):
    with pytest.raises(ValueError, match="/tmp/face.mp4"):
        client.submit("/tmp/face.mp4", AUDIO)

    assert generate.call_count == 0


def test_a_submission_reply_without_a_job_id_is_transient(generate, client):
    generate.return_value = httpx.Response(201, json={"status": "PENDING"})

    with pytest.raises(TransientError, match="no job id"):
        client.submit(VIDEO, AUDIO)


# Waiting and downloading


def test_lipsync_polls_until_completed_then_downloads_the_output_atomically(
        generate, job_status, output, client, clock, tmp_path):
    generate.return_value = httpx.Response(201, json={"id": JOB, "status": "PENDING"})
    job_status.side_effect = [job("PENDING"), job("PROCESSING"),
                              job("COMPLETED", outputUrl=OUTPUT)]
    output.return_value = httpx.Response(200, content=VIDEO_BYTES,
                                         headers={"content-type": "video/mp4"})
    out_path = tmp_path / "renders" / "lipsynced.mp4"

    finished = client.lipsync(VIDEO, AUDIO, out_path, deadline_s=600)

    assert finished == SyncJob(id=JOB, status="COMPLETED", output_url=OUTPUT)
    assert job_status.call_count == 3
    assert all(c.request.headers["x-api-key"] == KEY for c in job_status.calls)
    assert clock.sleeps == [5.0, 5.0]
    assert out_path.read_bytes() == VIDEO_BYTES
    assert sorted(p.name for p in out_path.parent.iterdir()) == ["lipsynced.mp4"]


def test_the_api_key_is_not_sent_to_the_storage_that_serves_the_output(
        output, client, tmp_path):
    output.return_value = httpx.Response(200, content=VIDEO_BYTES)

    client.download(OUTPUT, tmp_path / "out.mp4")

    assert "x-api-key" not in output.calls.last.request.headers


@pytest.mark.parametrize("status", ["FAILED", "REJECTED", "CANCELED"])
def test_a_job_that_ends_without_a_video_is_permanent_with_the_jobs_error_text(
        job_status, client, clock, status):
    job_status.side_effect = [job("PROCESSING"),
                              job(status, error="No face was detected in the input video")]

    with pytest.raises(PermanentError) as caught:
        client.wait(JOB, deadline_s=600)

    assert "No face was detected in the input video" in str(caught.value)
    assert status in str(caught.value)
    assert not is_transient(caught.value)
    assert clock.sleeps == [5.0]


def test_a_job_still_running_at_the_deadline_is_transient_and_no_sleep_passes_it(
        job_status, client, clock):
    job_status.return_value = job("PROCESSING")

    with pytest.raises(TransientError) as caught:
        client.wait(JOB, deadline_s=12)

    assert "did not finish within 12 s (still PROCESSING)" in str(caught.value)

    assert is_transient(caught.value)
    assert clock.sleeps == [5.0, 5.0, 2.0]
    assert job_status.call_count == 4  # the last poll is at the deadline itself


def test_a_poll_that_fails_for_now_is_tried_again_at_the_next_interval(
        job_status, client, clock):
    job_status.side_effect = [job("PROCESSING"), api_error(503, "Service Unavailable"),
                              httpx.ConnectError("connection reset"),
                              job("COMPLETED", outputUrl=OUTPUT)]

    finished = client.wait(JOB, deadline_s=600)

    assert finished.status == "COMPLETED"
    assert clock.sleeps == [5.0, 5.0, 5.0]


def test_a_poll_refused_for_good_ends_the_wait_at_once(job_status, client, clock):
    job_status.return_value = api_error(401, "Invalid API key")

    with pytest.raises(PermanentError, match="401"):
        client.wait(JOB, deadline_s=600)

    assert job_status.call_count == 1
    assert clock.sleeps == []


def test_a_completed_job_without_an_output_url_is_transient(
        generate, job_status, client, tmp_path):
    generate.return_value = httpx.Response(201, json={"id": JOB, "status": "PENDING"})
    job_status.return_value = job("COMPLETED")

    with pytest.raises(TransientError, match="no output URL"):
        client.lipsync(VIDEO, AUDIO, tmp_path / "out.mp4")


def test_an_unknown_status_in_the_reply_is_transient_and_named(job_status, client):
    job_status.return_value = job("EXPLODED")

    with pytest.raises(TransientError, match="status"):
        client.status(JOB)


class _CutOff(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield VIDEO_BYTES[:1000]
        raise httpx.ReadError("connection reset by peer")


def test_a_download_cut_off_midway_leaves_neither_file_nor_part_and_is_transient(
        output, client, tmp_path):
    output.return_value = httpx.Response(200, stream=_CutOff())
    out_path = tmp_path / "out.mp4"

    with pytest.raises(TransientError) as caught:
        client.download(OUTPUT, out_path)

    assert is_transient(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_an_expired_output_url_is_permanent_and_leaves_an_older_file_alone(
        output, client, tmp_path):
    output.return_value = httpx.Response(403, text="<Error>Request has expired</Error>")
    out_path = tmp_path / "out.mp4"
    out_path.write_bytes(b"older render")

    with pytest.raises(PermanentError, match="403"):
        client.download(OUTPUT, out_path)

    assert out_path.read_bytes() == b"older render"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


# HTTP failures


@pytest.mark.parametrize("status_code", [429, 500, 502, 503])
def test_rate_limits_and_server_errors_on_submit_are_transient_and_sent_once(
        generate, client, status_code):
    generate.return_value = api_error(status_code, "Too many requests, slow down")

    with pytest.raises(TransientError) as caught:
        client.submit(VIDEO, AUDIO)

    assert caught.value.status_code == status_code
    assert caught.value.provider == "synclabs"
    assert is_transient(caught.value)
    assert generate.call_count == 1  # Prefect owns retries


def test_a_server_error_on_status_is_transient(job_status, client):
    job_status.return_value = api_error(500, "Internal server error")

    with pytest.raises(TransientError) as caught:
        client.status(JOB)

    assert caught.value.status_code == 500
    assert is_transient(caught.value)


@pytest.mark.parametrize("error", [httpx.ReadTimeout("timed out"),
                                   httpx.ConnectError("connection refused")],
                         ids=["timeout", "connection"])
def test_timeouts_and_lost_connections_are_transient(generate, client, error):
    generate.side_effect = error

    with pytest.raises(TransientError) as caught:
        client.submit(VIDEO, AUDIO)

    assert is_transient(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(("response", "says"), [
    (api_error(401, f"Invalid API key {KEY}"),
     "Sync Labs rejected the API key (401); check AURA_SYNCLABS__API_KEY"),
    (api_error(400, f"input.0.url must be a URL (key {KEY})"),
     "Sync Labs rejected the request (400): input.0.url must be a URL (key [api key])"),
    (api_error(403, "Your plan does not include lipsync-2"),
     "Sync Labs refused access (403): Your plan does not include lipsync-2"),
    (api_error(404, "Cannot POST /v2/generate"),
     "Sync Labs does not know the generate endpoint (404)"),
    (api_error(422, ["options.sync_mode must be one of cut_off, loop, bounce"]),
     "Sync Labs rejected the request (422): options.sync_mode must be one of"),
], ids=["401", "400", "403", "404", "422"])
def test_refused_submissions_are_permanent_in_plain_words_without_the_key(
        generate, client, response, says):
    generate.return_value = response

    with pytest.raises(PermanentError) as caught:
        client.submit(VIDEO, AUDIO)

    assert_refused_for_good(caught.value, status_code=response.status_code, secret=KEY,
                            says=says)
    assert generate.call_count == 1


def test_an_unknown_job_is_named(job_status, client):
    job_status.return_value = api_error(404, "Generation not found")

    with pytest.raises(PermanentError, match=f"does not know job '{JOB}' \\(404\\)"):
        client.status(JOB)


# Configuration


@pytest.mark.parametrize("key", [None, "", "   "])
def test_no_api_key_is_a_config_error_naming_the_variable(key):
    settings = Settings(synclabs=SyncLabsSettings(api_key=key, base_url=API))

    with pytest.raises(ConfigError, match="AURA_SYNCLABS__API_KEY"):
        SyncLabsClient.from_settings(settings)


def test_the_client_from_settings_talks_to_the_configured_base_url(generate):
    settings = Settings(synclabs=SyncLabsSettings(api_key=KEY, base_url=f"{API}/"))
    generate.return_value = httpx.Response(201, json={"id": JOB, "status": "PENDING"})

    with SyncLabsClient.from_settings(settings, http_client=httpx.Client()) as client:
        assert client.submit(VIDEO, AUDIO) == JOB

    assert generate.calls.last.request.headers["x-api-key"] == KEY


# Webhooks

SECRET = "whsec_test_0123456789"
BODY = b'{"job":{"id":"6a0c1f2e-job","status":"COMPLETED"}}'
NOW_S = 1_760_000_000


def signed(body: bytes, t: int, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def test_a_fresh_correctly_signed_webhook_is_accepted():
    assert verify_webhook(BODY, signed(BODY, NOW_S - 10), SECRET, now=NOW_S)


def test_a_webhook_signed_during_a_secret_rotation_is_accepted_if_any_signature_matches():
    header = signed(BODY, NOW_S, "whsec_old") + "," + signed(BODY, NOW_S).split(",")[1]

    assert verify_webhook(BODY, header, SECRET, now=NOW_S)


@pytest.mark.parametrize(("body", "header"), [
    (BODY.replace(b"COMPLETED", b"FAILED"), signed(BODY, NOW_S)),
    (BODY, signed(BODY, NOW_S, "whsec_someone_else")),
    (BODY, signed(BODY, NOW_S).replace(f"t={NOW_S}", f"t={NOW_S - 1}")),
], ids=["tampered-body", "wrong-secret", "tampered-timestamp"])
def test_a_tampered_webhook_is_refused(body, header):
    assert not verify_webhook(body, header, SECRET, now=NOW_S)


@pytest.mark.parametrize("age_s", [301, -301, 86_400])
def test_a_stale_or_future_webhook_is_refused_even_when_correctly_signed(age_s):
    assert not verify_webhook(BODY, signed(BODY, NOW_S - age_s), SECRET, now=NOW_S)


@pytest.mark.parametrize("header", ["", "v1=abc", f"t={NOW_S}", "t=soon,v1=abc",
                                    "garbage", f"t={NOW_S},v1=zz\u00e9"])
def test_a_malformed_signature_header_is_refused(header):
    assert not verify_webhook(BODY, header, SECRET, now=NOW_S)


def test_an_empty_webhook_secret_is_a_config_error():
    with pytest.raises(ConfigError, match="secret"):
        verify_webhook(BODY, signed(BODY, NOW_S, ""), "", now=NOW_S)
