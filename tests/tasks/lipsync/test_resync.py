"""sync_lips, the Sync Labs pass after the render, against moto's S3 and a Sync Labs
stand-in on a loopback socket that downloads the presigned inputs it is given.

The task runs inside a small flow under the pipeline's retry policy (no delays in tests),
so retries are Prefect's own; nothing of ours is mocked.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from prefect import flow

from core.errors import ConfigError, PermanentError, TransientError
from core.settings import get_settings
from core.storage import S3Storage, get_storage
from models.domain import VideoArtifact, VoiceTrack
from tasks.lipsync import sync_lips
from tasks.lipsync.resync import INPUT_URL_EXPIRY_S, read_video
from tasks.render.encode import encode_mp4
from tests.support.media import probe_mp4
from tests.support.s3 import TEST_ACCESS_KEY_ID, TEST_REGION, TEST_SECRET_ACCESS_KEY
from tests.support.synclabs import SyncLabsStandIn, cut_short, made_by

pytestmark = pytest.mark.usefixtures("prefect_api")

FPS = 25
SIZE_PX = 96
DURATION_S = 1.0
SAMPLE_RATE_HZ = 22_050


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    """A rendered video (1 s, 96x96 at 25 fps, with sound) and its voice as WAV."""
    t = np.arange(int(DURATION_S * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    wav = tmp_path / "voice.wav"
    sf.write(wav, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SAMPLE_RATE_HZ)
    n_frames = round(DURATION_S * FPS)
    frames = (np.full((SIZE_PX, SIZE_PX, 3), 10 * i, np.uint8) for i in range(n_frames))
    mp4 = tmp_path / "render.mp4"
    encode_mp4(frames, n_frames=n_frames, fps=FPS, audio_path=wav, out_path=mp4,
               preset="ultrafast", crf=30, audio_sample_rate_hz=48_000,
               audio_bitrate_bps=64_000)
    return mp4, wav


def on_s3(configure, s3_storage: S3Storage, moto_server: str,
          sync_labs: SyncLabsStandIn) -> None:
    configure(STORAGE="s3", S3__BUCKET=s3_storage.bucket, S3__ENDPOINT_URL=moto_server,
              S3__REGION=TEST_REGION, S3__ACCESS_KEY_ID=TEST_ACCESS_KEY_ID,
              S3__SECRET_ACCESS_KEY=TEST_SECRET_ACCESS_KEY, LIPSYNC="synclabs",
              SYNCLABS__API_KEY=sync_labs.api_key, SYNCLABS__BASE_URL=sync_labs.url)


def stored(inputs: tuple[Path, Path]) -> tuple[VideoArtifact, VoiceTrack]:
    """The inputs put in the configured storage, as the render and voice steps leave them."""
    mp4, wav = inputs
    storage = get_storage()
    storage.put_file("render/ab/test-render.mp4", mp4, "video/mp4")
    storage.put_file("voice/cd/test-voice.wav", wav, "audio/wav")
    video = VideoArtifact(key="render/ab/test-render.mp4", width=SIZE_PX, height=SIZE_PX,
                          fps=FPS, n_frames=round(DURATION_S * FPS), duration_s=DURATION_S)
    voice = VoiceTrack(audio_key="voice/cd/test-voice.wav", sample_rate_hz=SAMPLE_RATE_HZ,
                       duration_s=DURATION_S, voice="test")
    return video, voice


@flow(name="sync-lips-once")
async def resync(video: VideoArtifact, voice: VoiceTrack) -> VideoArtifact:
    return await sync_lips(video, voice)


@pytest.fixture
def ready(configure, s3_storage, moto_server, sync_labs, inputs):
    on_s3(configure, s3_storage, moto_server, sync_labs)
    return stored(inputs)


async def test_sync_labs_downloads_the_presigned_inputs_and_its_video_is_stored(
        ready, sync_labs, tmp_path, moto_server, caplog):
    caplog.set_level(logging.INFO)
    video, voice = ready
    storage = get_storage()

    synced = await resync(video, voice)

    [job] = sync_labs.jobs.values()
    assert job.video == storage.get_bytes(video.key)
    assert job.audio == storage.get_bytes(voice.audio_key)
    urls = [item["url"] for item in job.body["input"]]
    assert all(url.startswith(moto_server) and f"X-Amz-Expires={INPUT_URL_EXPIRY_S}" in url
               for url in urls)
    assert job.body["model"] == "lipsync-2"
    assert synced.key.startswith("synclabs/") and synced.key.endswith(".mp4")
    assert synced.reused is False
    out = storage.download(synced.key, tmp_path / "synced.mp4")
    assert made_by(out) == job.id
    facts = probe_mp4(out)
    assert (facts.video_codec, facts.audio_codec) == ("h264", "aac")
    assert (synced.width, synced.height, synced.fps) == (SIZE_PX, SIZE_PX, FPS)
    assert synced.n_frames == facts.n_video_frames == video.n_frames
    assert synced.duration_s == pytest.approx(facts.video_duration_s)
    assert f"Submitted Sync Labs job {job.id}" in caplog.text
    assert f"Sync Labs job {job.id} finished" in caplog.text
    assert not storage.exists(synced.key.removesuffix(".mp4") + ".job.json")


async def test_a_second_run_reuses_the_result_and_asks_sync_labs_nothing(ready, sync_labs):
    first = await resync(*ready)
    requests_before = len(sync_labs.requests)

    second = await resync(*ready)

    assert second.reused is True
    assert second.model_copy(update={"reused": False}) == first
    assert len(sync_labs.requests) == requests_before
    assert len(sync_labs.jobs) == 1


async def test_local_storage_is_a_config_error_that_names_the_setting(
        configure, sync_labs, inputs):
    configure(LIPSYNC="synclabs", SYNCLABS__API_KEY=sync_labs.api_key,
              SYNCLABS__BASE_URL=sync_labs.url)
    assert get_settings().storage == "local"

    with pytest.raises(ConfigError, match="AURA_STORAGE=s3") as caught:
        await resync(*stored(inputs))

    assert "Sync Labs can download" in str(caught.value)
    assert sync_labs.requests == []


async def test_no_api_key_is_a_config_error_before_any_request(
        configure, s3_storage, moto_server, sync_labs, inputs, monkeypatch):
    on_s3(configure, s3_storage, moto_server, sync_labs)
    monkeypatch.delenv("AURA_SYNCLABS__API_KEY")
    get_settings.cache_clear()

    with pytest.raises(ConfigError, match="AURA_SYNCLABS__API_KEY"):
        await resync(*stored(inputs))

    assert sync_labs.requests == []


@pytest.mark.parametrize("status", ["FAILED", "REJECTED"])
async def test_a_job_that_sync_labs_refuses_is_permanent_and_a_later_run_starts_afresh(
        ready, sync_labs, status):
    sync_labs.end_next_job_as(status, "No face was detected in the input video")

    with pytest.raises(PermanentError, match="No face was detected") as caught:
        await resync(*ready)

    assert status in str(caught.value)
    assert sync_labs.count("POST", "/v2/generate") == 1  # not retried
    synced = await resync(*ready)
    assert sync_labs.count("POST", "/v2/generate") == 2
    assert synced.reused is False


async def test_a_503_on_submit_is_retried_by_prefect(ready, sync_labs):
    sync_labs.fail_next_submits(503)

    synced = await resync(*ready)

    assert [status for method, _, status in sync_labs.requests if method == "POST"] == [503, 201]
    assert len(sync_labs.jobs) == 1 and synced.n_frames == round(DURATION_S * FPS)


async def test_a_download_cut_short_is_retried_and_resumes_the_job_already_paid_for(
        ready, sync_labs, caplog, tmp_path):
    caplog.set_level(logging.INFO)
    sync_labs.spoil_next_downloads(cut_short)

    synced = await resync(*ready)

    [job] = sync_labs.jobs.values()
    assert sync_labs.count("POST", "/v2/generate") == 1
    assert job.downloads == 2
    assert f"Resuming Sync Labs job {job.id}" in caplog.text
    assert made_by(get_storage().download(synced.key, tmp_path / "synced.mp4")) == job.id


async def test_a_result_that_is_no_video_is_permanent(ready, sync_labs):
    sync_labs.spoil_next_downloads(lambda data: b"<html><body>Not Found</body></html>")

    with pytest.raises(PermanentError, match="not an MP4 video"):
        await resync(*ready)

    [job] = sync_labs.jobs.values()
    assert job.downloads == 1


def test_read_video_tells_a_truncated_download_from_a_broken_video(inputs, tmp_path):
    mp4 = inputs[0]
    data = mp4.read_bytes()
    whole = read_video(mp4, "job-1", "synclabs/x.mp4")
    assert (whole.width, whole.height, whole.n_frames) == (SIZE_PX, SIZE_PX, 25)

    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) - 100])
    with pytest.raises(TransientError, match="cut short"):
        read_video(cut, "job-1", "synclabs/x.mp4")

    silent_wav = tmp_path / "not-a-video.mp4"
    silent_wav.write_bytes(inputs[1].read_bytes())
    with pytest.raises(PermanentError, match="not an MP4"):
        read_video(silent_wav, "job-1", "synclabs/x.mp4")
