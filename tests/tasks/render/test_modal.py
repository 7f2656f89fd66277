"""The Modal render client: credentials, the job it builds, what it writes, how errors map.

Modal itself is replaced by a stand-in whose ``remote`` runs the deployed function's body
(``render_job``) in-process, so what the client sends is what the function reads.
"""

from __future__ import annotations

from pathlib import Path

import av
import modal
import modal.config
import numpy as np
import pytest
import soundfile as sf
from modal import exception as mx

from core.errors import ConfigError, PermanentError, TransientError, is_transient
from core.settings import ModalSettings, RenderSettings, Settings, get_settings
from deployments.modal_app import render_job
from models.domain import RenderSpec, Word
from tasks.avatar.actors import ActorFace
from tasks.lipsync.visemes import VISEMES
from tasks.render import render_local
from tasks.render.encode import EncodeResult
from tasks.render.modal import build_job, render_on_modal
from tests.support.avatars import astronaut_face

N_FRAMES = 15
SPEC = RenderSpec(aspect="1:1", resolution="720p", fps=30)
DEPLOY = "modal deploy deployments/modal_app.py"


def mouth_weights(n_frames: int = N_FRAMES) -> np.ndarray:
    """Silence, then an open 'aa' for the second half."""
    weights = np.zeros((n_frames, len(VISEMES)), np.float32)
    weights[: n_frames // 2, VISEMES.index("sil")] = 1.0
    weights[n_frames // 2:, VISEMES.index("aa")] = 1.0
    return weights


@pytest.fixture
def voice(tmp_path: Path) -> Path:
    path = tmp_path / "voice.wav"
    t = np.arange(11_025) / 22_050
    sf.write(path, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22_050)
    return path


@pytest.fixture(scope="module")
def astronaut() -> ActorFace:
    return astronaut_face()


@pytest.fixture
def no_modal_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    # Modal reads ~/.modal.toml once, at import: a developer's own token must not count.
    monkeypatch.setattr(modal.config, "_user_config", {})


@pytest.fixture
def modal_token(monkeypatch: pytest.MonkeyPatch, no_modal_profile: None) -> None:
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")


@pytest.fixture
def settings() -> Settings:
    return get_settings().model_copy(update={
        "modal": ModalSettings(app_name="test-render-app", function_name="test-render")})


class StandIn:
    """``modal.Function.from_name`` and the function it looks up, run in-process."""

    def __init__(self, answer=None, error: Exception | None = None):
        self.answer, self.error = answer, error
        self.looked_up: list[tuple[str, str]] = []
        self.jobs: list[dict] = []

    def from_name(self, app_name: str, name: str) -> StandIn:
        self.looked_up.append((app_name, name))
        return self

    def remote(self, job: dict) -> bytes:
        self.jobs.append(job)
        if self.error is not None:
            raise self.error
        return render_job(job) if self.answer is None else self.answer(job)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> StandIn:
    stand_in = StandIn()
    monkeypatch.setattr(modal.Function, "from_name", stand_in.from_name)
    return stand_in


def frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
                        ).astype(np.int16)


def test_without_a_modal_token_it_names_the_variables_and_calls_nothing(
        monkeypatch, no_modal_profile, stand_in, voice, tmp_path, settings):
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    with pytest.raises(ConfigError) as caught:
        render_on_modal(mouth_weights(), [], SPEC, voice, tmp_path / "out.mp4",
                        settings=settings)
    assert "MODAL_TOKEN_ID" in str(caught.value) and "MODAL_TOKEN_SECRET" in str(caught.value)
    assert stand_in.looked_up == [] and not (tmp_path / "out.mp4").exists()


def test_a_token_in_the_modal_profile_counts(monkeypatch, stand_in, voice, tmp_path, settings):
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    profile = modal.config._profile
    monkeypatch.setattr(modal.config, "_user_config",
                        {profile: {"token_id": "ak-file", "token_secret": "as-file"}})
    render_on_modal(mouth_weights(), [], SPEC, voice, tmp_path / "out.mp4", settings=settings)
    assert len(stand_in.jobs) == 1


@pytest.mark.parametrize("kind", ["stock", "photo"])
def test_the_job_the_client_builds_renders_as_the_local_renderer_would(
        kind, voice, astronaut, tmp_path):
    spans = [(0.0, 0.25, "joy", 0.9), (0.25, 0.5, "surprise", 0.6)]
    face = astronaut if kind == "photo" else None
    spec = SPEC.model_copy(update={"captions": True})
    words = [Word(text="Hi", start_s=0.0, end_s=0.2), Word(text="you!", start_s=0.2, end_s=0.5)]
    job = build_job(mouth_weights(), spans, spec, voice, face=face, look="cleo", words=words)
    assert job.video == get_settings().video
    remote = tmp_path / "remote.mp4"
    remote.write_bytes(render_job(job.model_dump()))
    here = tmp_path / "here.mp4"
    render_local(mouth_weights(), spans, spec, voice, here, face=face, look="cleo", words=words)
    there, local = frames(remote), frames(here)
    assert there.shape == local.shape == (N_FRAMES, 720, 720, 3)
    assert np.abs(there - local).mean() < 0.5
    assert np.abs(there[-1] - there[0]).mean() > 0.5  # the mouth moved: weights arrived


def test_it_writes_the_video_and_reads_back_its_facts(modal_token, stand_in, voice, tmp_path,
                                                      settings):
    out = tmp_path / "videos" / "out.mp4"
    progress: list[tuple[int, int]] = []
    result = render_on_modal(mouth_weights(), [], SPEC, voice, out,
                             lambda done, total: progress.append((done, total)),
                             settings=settings)
    assert stand_in.looked_up == [("test-render-app", "test-render")]
    assert result == EncodeResult(n_frames=N_FRAMES, duration_s=0.5, width=720, height=720,
                                  size_bytes=out.stat().st_size)
    assert progress == [(N_FRAMES, N_FRAMES)]
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.mp4"]


def test_it_sends_the_workers_encoder_settings(modal_token, stand_in, voice, tmp_path,
                                               settings):
    settings = settings.model_copy(update={"video": RenderSettings(crf=33, preset="fast")})
    render_on_modal(mouth_weights(), [], SPEC, voice, tmp_path / "out.mp4", settings=settings)
    assert stand_in.jobs[0]["video"]["crf"] == 33
    assert stand_in.jobs[0]["video"]["preset"] == "fast"


@pytest.mark.parametrize(("error", "kind", "says"), [
    (mx.ConnectionError("connection reset"), TransientError, "usually temporary"),
    (mx.InternalFailure("worker lost"), TransientError, "usually temporary"),
    (mx.ResourceExhaustedError("rate limited"), TransientError, "usually temporary"),
    (mx.OutputExpiredError("expired"), TransientError, "usually temporary"),
    (TimeoutError("read timed out"), TransientError, "usually temporary"),
    (mx.NotFoundError("App 'test-render-app' not found"), PermanentError, DEPLOY),
    (mx.AuthError("Token invalid"), PermanentError, "MODAL_TOKEN_ID"),
    (mx.PermissionDeniedError("no"), PermanentError, "may not call"),
    (mx.FunctionTimeoutError("1800 s"), PermanentError, "time limit"),
    (mx.VersionError("client too old"), PermanentError, "VersionError"),
])
def test_modal_failures_become_transient_or_permanent_errors(
        modal_token, stand_in, voice, tmp_path, settings, error, kind, says):
    stand_in.error = error
    out = tmp_path / "out.mp4"
    with pytest.raises(kind, match=says) as caught:
        render_on_modal(mouth_weights(), [], SPEC, voice, out, settings=settings)
    assert caught.value.provider == "modal"
    assert is_transient(caught.value) == (kind is TransientError)
    assert not out.exists()


def test_an_error_from_the_render_itself_arrives_unchanged(modal_token, stand_in, voice,
                                                           tmp_path, settings):
    stand_in.error = ValueError("frame 3: expected a (height, width, 3) uint8 RGB24 array")
    with pytest.raises(ValueError, match="frame 3"):
        render_on_modal(mouth_weights(), [], SPEC, voice, tmp_path / "out.mp4",
                        settings=settings)


def test_a_video_other_than_the_one_asked_for_is_refused_and_not_written(
        modal_token, stand_in, voice, tmp_path, settings):
    stand_in.answer = lambda job: render_job({**job, "spec": {**job["spec"], "aspect": "9:16"}})
    out = tmp_path / "out.mp4"
    with pytest.raises(PermanentError, match="out of date") as caught:
        render_on_modal(mouth_weights(), [], SPEC, voice, out, settings=settings)
    assert "720x1280" in str(caught.value) and DEPLOY in str(caught.value)
    assert list(tmp_path.glob("*.mp4*")) == [] and not list(tmp_path.glob(".out.mp4.*"))


def test_bytes_that_are_no_video_are_refused(modal_token, stand_in, voice, tmp_path, settings):
    stand_in.answer = lambda job: b"<html>502 Bad Gateway</html>"
    out = tmp_path / "out.mp4"
    with pytest.raises(PermanentError, match="unreadable video"):
        render_on_modal(mouth_weights(), [], SPEC, voice, out, settings=settings)
    assert not out.exists() and not list(tmp_path.glob(".out.mp4.*"))


def test_weights_of_the_wrong_shape_are_refused_before_sending(voice):
    with pytest.raises(ValueError, match=r"\(30, 4\)"):
        build_job(np.zeros((30, 4), np.float32), [], SPEC, voice)
