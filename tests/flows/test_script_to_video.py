"""The main flow, run for real: Prefect, Piper, the renderer, storage and the database."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import soundfile as sf
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from core.db import session_scope
from core.errors import ConfigError, InputError, PermanentError, ScriptError
from core.settings import get_settings
from core.storage import get_storage
from flows.script_to_video import STEPS, create_export_job, job_steps, script_to_video
from models import jobs
from models.domain import RenderSpec
from models.schema import upgrade_database
from tests.support.audio import piper_speech
from tests.support.media import probe_mp4
from tests.support.openai import answering, api_error
from tests.support.s3 import (
    TEST_ACCESS_KEY_ID,
    TEST_REGION,
    TEST_SECRET_ACCESS_KEY,
    FlakyS3Proxy,
)
from tests.support.synclabs import SyncLabsStandIn, made_by

pytestmark = pytest.mark.usefixtures("prefect_api")

SCRIPT = "[joy] Hi there! This is a test.\n[pause 0.3]\nThe mouth should move."


async def ready(configure, **values: str) -> None:
    """Apply AURA_* settings for the test and migrate its database."""
    configure(**values)
    await upgrade_database()


async def task_runs_of(flow_run_id, name: str):
    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return [run for run in runs if run.name.startswith(name)]


async def test_a_script_becomes_a_playable_mp4_and_a_completed_job(configure, database_url,
                                                                  tmp_path: Path):
    await ready(configure, DATABASE_URL=database_url)
    spec = RenderSpec(aspect="9:16", resolution="720p")

    result = await script_to_video(SCRIPT, spec)

    video = tmp_path / "video.mp4"
    get_storage().download(result.video.key, video)
    facts = probe_mp4(video)
    assert (facts.video_codec, facts.audio_codec) == ("h264", "aac")
    assert (facts.width, facts.height) == spec.size_px == (720, 1280)
    assert facts.pixel_format == "yuv420p"
    assert facts.audio_sample_rate_hz == 48_000 and facts.audio_channels == 2
    assert abs(facts.video_duration_s - facts.audio_duration_s) < 0.1
    assert facts.moov_before_mdat
    assert facts.video_duration_s == pytest.approx(result.duration_s, abs=0.05)
    assert result.duration_s > 2.0  # three short sentences and a pause

    async with session_scope() as session:
        job = await jobs.get_job(session, result.job_id)
    assert job.status == "completed" and job.progress == 1.0
    assert job.video_key == result.video.key and job.url == result.video.url
    assert job.flow_run_id is not None and job.started_at and job.finished_at
    assert set(STEPS) - {"notify"} <= set(job.steps)
    assert all(info["reused"] is False for info in job.steps.values())


async def test_the_same_script_twice_reuses_the_voice(configure, caplog):
    await ready(configure)
    spec = RenderSpec(aspect="1:1")
    first = await script_to_video(SCRIPT, spec)
    audio = get_storage()
    caplog.set_level(logging.INFO)

    second = await script_to_video(SCRIPT, spec)

    assert first.steps["synthesize_voice"].reused is False
    assert second.steps["synthesize_voice"].reused is True
    assert second.steps["render_video"].reused is True
    assert "Reusing VoiceTrack artifact voice/" in caplog.text
    assert second.job_id != first.job_id
    assert audio.exists(second.video.key)
    async with session_scope() as session:
        job = await jobs.get_job(session, second.job_id)
    assert job.steps["synthesize_voice"]["reused"] is True


async def test_a_changed_script_makes_a_new_voice(configure):
    await ready(configure)
    first = await script_to_video(SCRIPT, RenderSpec(aspect="1:1"))
    second = await script_to_video(SCRIPT + " Really.", RenderSpec(aspect="1:1"))
    assert second.steps["synthesize_voice"].reused is False
    assert second.duration_s > first.duration_s


async def _use_s3(configure, proxy: FlakyS3Proxy) -> str:
    bucket = proxy.storage().bucket
    await ready(configure, STORAGE="s3", S3__BUCKET=bucket, S3__ENDPOINT_URL=proxy.endpoint_url,
              S3__REGION=TEST_REGION, S3__ACCESS_KEY_ID=TEST_ACCESS_KEY_ID,
              S3__SECRET_ACCESS_KEY=TEST_SECRET_ACCESS_KEY)
    return bucket


async def test_a_transient_storage_error_is_retried_by_prefect(configure, flaky_s3):
    await _use_s3(configure, flaky_s3)
    job_id = await create_export_job(RenderSpec(aspect="1:1"))
    # The first attempt to publish the video meets a 503 from S3.
    flaky_s3.fail_next(1, 503, method="PUT", path_contains="published/")

    result = await script_to_video(SCRIPT, RenderSpec(aspect="1:1"), job_id=job_id)

    async with session_scope() as session:
        job = await jobs.get_job(session, job_id)
    uploads = await task_runs_of(job.flow_run_id, "upload_video")
    assert [run.run_count for run in uploads] == [2]
    assert uploads[0].state.is_completed()
    assert flaky_s3.count("PUT", f"published/{job_id}") == 2
    assert job.status == "completed"
    assert result.video.url.startswith(flaky_s3.endpoint_url)


async def test_a_permanent_storage_error_fails_at_once_and_keeps_earlier_work(configure,
                                                                              flaky_s3):
    await _use_s3(configure, flaky_s3)
    job_id = await create_export_job(RenderSpec(aspect="1:1"))
    flaky_s3.fail_next(5, 403, method="PUT", path_contains="published/")

    with pytest.raises(PermanentError):
        await script_to_video(SCRIPT, RenderSpec(aspect="1:1"), job_id=job_id)

    async with session_scope() as session:
        job = await jobs.get_job(session, job_id)
    uploads = await task_runs_of(job.flow_run_id, "upload_video")
    assert [run.run_count for run in uploads] == [1]
    assert job.status == "failed"
    assert job.error.startswith("s3: refused to copy to 'published/") and "403" in job.error
    assert job.steps["render_video"]["reused"] is False
    assert job.progress == pytest.approx(0.9)  # every step before the upload counted
    storage = get_storage()
    video = (await task_runs_of(job.flow_run_id, "render_video"))[0]
    assert video.state.is_completed()
    # The rendered video is still in storage; once S3 lets us in, a new run reuses it.
    flaky_s3.reset()
    retried = await script_to_video(SCRIPT, RenderSpec(aspect="1:1"))
    assert retried.steps["render_video"].reused is True
    assert storage.exists(retried.video.key)


async def test_a_bad_script_fails_the_job_with_a_plain_message(configure):
    await ready(configure)
    job_id = await create_export_job(RenderSpec())
    with pytest.raises(ScriptError, match="unknown tag"):
        await script_to_video("[happy] Hello!", job_id=job_id)
    async with session_scope() as session:
        job = await jobs.get_job(session, job_id)
    assert job.status == "failed"
    assert job.error.startswith("line 1, column 1: unknown tag [happy]")


async def test_gpt4o_tags_the_script_and_a_rate_limit_is_retried_by_prefect(configure,
                                                                           openai_loopback):
    await ready(configure, EMOTION="openai", OPENAI__API_KEY="sk-test-flow",
                OPENAI__BASE_URL=f"http://127.0.0.1:{openai_loopback.server_port}/v1")
    answer = answering(lambda text: ("surprise", 0.7))
    replies = iter([api_error(429, "Rate limit reached", "requests", "rate_limit_exceeded")])
    openai_loopback.reply = lambda request: next(replies, None) or answer(request)
    job_id = await create_export_job(RenderSpec())

    result = await script_to_video("Hello there. [pause 0.2] Look at this!", job_id=job_id)

    async with session_scope() as session:
        job = await jobs.get_job(session, job_id)
    tagging = await task_runs_of(job.flow_run_id, "tag_emotions")
    assert [run.run_count for run in tagging] == [2]
    assert len(openai_loopback.requests) == 2
    assert job.status == "completed" and result.duration_s > 1.0


async def test_a_persons_recording_is_the_voice_and_the_mouth_follows_it(configure, tmp_path,
                                                                        caplog):
    caplog.set_level(logging.INFO)
    await ready(configure)
    speech, rate = piper_speech()
    sf.write(tmp_path / "me.wav", speech, rate)
    get_storage().put_file("uploads/test/me.wav", tmp_path / "me.wav", "audio/wav")

    result = await script_to_video("[joy] Hello! I recorded this myself.", RenderSpec(),
                                   voice="recording:uploads/test/me.wav", effect="bright")

    video = tmp_path / "video.mp4"
    get_storage().download(result.video.key, video)
    facts = probe_mp4(video)
    assert facts.audio_duration_s == pytest.approx(speech.size / rate, abs=0.4)
    assert "mouth shapes (acoustic)" in caplog.text


async def test_a_catalogue_voice_renders_and_an_unknown_one_fails_the_job(configure):
    await ready(configure)
    result = await script_to_video("Hi there.", RenderSpec(), voice="joe-deep")
    assert result.duration_s > 0.5
    job_id = await create_export_job(RenderSpec())
    with pytest.raises(InputError, match="there is no voice called 'nobody'"):
        await script_to_video("Hi there.", RenderSpec(), job_id=job_id, voice="nobody")
    async with session_scope() as session:
        job = await jobs.get_job(session, job_id)
    assert job.status == "failed" and "no voice called 'nobody'" in job.error


# Sync Labs (AURA_LIPSYNC=synclabs): a pass after the render, on S3 storage


async def _use_sync_labs(configure, s3_storage, moto_server: str,
                         sync_labs: SyncLabsStandIn) -> None:
    await ready(configure, STORAGE="s3", S3__BUCKET=s3_storage.bucket,
                S3__ENDPOINT_URL=moto_server, S3__REGION=TEST_REGION,
                S3__ACCESS_KEY_ID=TEST_ACCESS_KEY_ID,
                S3__SECRET_ACCESS_KEY=TEST_SECRET_ACCESS_KEY, LIPSYNC="synclabs",
                SYNCLABS__API_KEY=sync_labs.api_key, SYNCLABS__BASE_URL=sync_labs.url)


def _stored_under(s3_client, bucket: str, prefix: str, suffix: str) -> bytes:
    """The bytes of the one object under ``prefix`` whose key ends with ``suffix``."""
    listing = s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    [key] = [o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith(suffix)]
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


async def test_sync_labs_lip_syncs_the_rendered_video_and_the_job_publishes_its_result(
        configure, s3_storage, s3_client, moto_server, sync_labs, tmp_path):
    await _use_sync_labs(configure, s3_storage, moto_server, sync_labs)
    job_id = await create_export_job(RenderSpec(aspect="1:1"))

    result = await script_to_video(SCRIPT, RenderSpec(aspect="1:1"), job_id=job_id)

    [made] = sync_labs.jobs.values()
    # The stand-in fetched the rendered video and the voice through their presigned URLs.
    assert made.video == _stored_under(s3_client, s3_storage.bucket, "render/", ".mp4")
    assert made.audio == _stored_under(s3_client, s3_storage.bucket, "voice/", ".wav")
    video = get_storage().download(result.video.key, tmp_path / "video.mp4")
    assert made_by(video) == made.id
    facts = probe_mp4(video)
    assert (facts.video_codec, facts.audio_codec) == ("h264", "aac")
    assert (facts.width, facts.height) == (result.width, result.height) == (720, 720)
    assert facts.video_duration_s == pytest.approx(result.duration_s, abs=0.05)
    assert result.steps["sync_lips"].reused is False
    async with session_scope() as session:
        job = await jobs.get_job(session, job_id)
    assert job.status == "completed" and job.progress == 1.0
    assert set(job_steps(get_settings())) - {"notify"} == set(job.steps)
    synced = await task_runs_of(job.flow_run_id, "sync_lips")
    assert [run.run_count for run in synced] == [1]


async def test_a_second_sync_labs_run_reuses_the_lip_synced_video(
        configure, s3_storage, moto_server, sync_labs):
    await _use_sync_labs(configure, s3_storage, moto_server, sync_labs)
    first = await script_to_video(SCRIPT, RenderSpec(aspect="1:1"))
    requests_before = len(sync_labs.requests)

    second = await script_to_video(SCRIPT, RenderSpec(aspect="1:1"))

    assert second.steps["sync_lips"].reused is True
    assert len(sync_labs.requests) == requests_before and len(sync_labs.jobs) == 1
    assert get_storage().get_bytes(second.video.key) == get_storage().get_bytes(
        first.video.key)


async def test_sync_labs_on_local_storage_fails_the_job_before_any_work(configure,
                                                                        sync_labs):
    await ready(configure, LIPSYNC="synclabs", SYNCLABS__API_KEY=sync_labs.api_key,
                SYNCLABS__BASE_URL=sync_labs.url)
    job_id = await create_export_job(RenderSpec(aspect="1:1"))

    with pytest.raises(ConfigError, match="set AURA_STORAGE=s3"):
        await script_to_video(SCRIPT, RenderSpec(aspect="1:1"), job_id=job_id)

    async with session_scope() as session:
        job = await jobs.get_job(session, job_id)
    assert job.status == "failed"
    assert job.error.startswith("AURA_LIPSYNC=synclabs needs storage that Sync Labs can")
    assert "AURA_STORAGE=s3" in job.error
    assert job.steps == {} and job.progress == 0.0
    assert sync_labs.requests == []


async def test_a_job_sync_labs_rejects_fails_at_once_with_its_reason(
        configure, s3_storage, moto_server, sync_labs):
    await _use_sync_labs(configure, s3_storage, moto_server, sync_labs)
    sync_labs.end_next_job_as("REJECTED", "The video must show one face")
    job_id = await create_export_job(RenderSpec(aspect="1:1"))

    with pytest.raises(PermanentError, match="The video must show one face"):
        await script_to_video(SCRIPT, RenderSpec(aspect="1:1"), job_id=job_id)

    async with session_scope() as session:
        job = await jobs.get_job(session, job_id)
    synced = await task_runs_of(job.flow_run_id, "sync_lips")
    assert [run.run_count for run in synced] == [1]
    assert job.status == "failed" and "REJECTED: The video must show one face" in job.error
    # Every step before Sync Labs counted, out of a total that includes it.
    assert job.progress == pytest.approx(0.9 / 1.3, abs=1e-3)


async def test_a_503_from_sync_labs_is_retried_by_prefect(configure, s3_storage,
                                                          moto_server, sync_labs):
    await _use_sync_labs(configure, s3_storage, moto_server, sync_labs)
    sync_labs.fail_next_submits(503)
    job_id = await create_export_job(RenderSpec(aspect="1:1"))

    result = await script_to_video(SCRIPT, RenderSpec(aspect="1:1"), job_id=job_id)

    async with session_scope() as session:
        job = await jobs.get_job(session, job_id)
    synced = await task_runs_of(job.flow_run_id, "sync_lips")
    assert [run.run_count for run in synced] == [2]
    assert sync_labs.count("POST", "/v2/generate") == 2 and len(sync_labs.jobs) == 1
    assert job.status == "completed" and result.steps["sync_lips"].reused is False
