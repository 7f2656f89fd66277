"""The Modal render function, run in-process with ``render.local`` on tiny jobs, and its image."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tomllib
from pathlib import Path

import av
import cbor2
import numpy as np
import pytest
import soundfile as sf

from core.errors import ConfigError
from core.settings import RenderSettings, get_settings
from deployments.modal_app import (
    PYPROJECT,
    RENDER_PACKAGES,
    canonical_name,
    render,
    render_requirements,
    requirement_closure,
)
from models.domain import RenderSpec, Word
from tasks.avatar.actors import ActorFace
from tasks.lipsync.visemes import VISEMES
from tasks.render import render_local
from tasks.render.modal import JOB_FORMAT, RenderJob, build_job, read_job
from tests.support.avatars import astronaut_face
from tests.support.media import probe_mp4

ROOT = Path(__file__).resolve().parents[2]
N_FRAMES = 15
SPEC = RenderSpec(aspect="1:1", resolution="720p", fps=30, avatar="stock:aura")
WORDS = [Word(text="Hello", start_s=0.0, end_s=0.25), Word(text="there.", start_s=0.25,
                                                          end_s=0.5)]


def silent_weights(n_frames: int = N_FRAMES) -> np.ndarray:
    weights = np.zeros((n_frames, len(VISEMES)), np.float32)
    weights[:, VISEMES.index("sil")] = 1.0
    return weights


@pytest.fixture
def silence(tmp_path: Path) -> Path:
    path = tmp_path / "voice.wav"
    sf.write(path, np.zeros(11_025, np.float32), 22_050)  # 0.5 s
    return path


@pytest.fixture(scope="module")
def astronaut() -> ActorFace:
    return astronaut_face()


def saved(video: bytes, path: Path) -> Path:
    path.write_bytes(video)
    return path


def first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24").astype(np.int16)


def test_a_stock_job_comes_back_as_an_mp4_of_the_asked_size_and_length(silence, tmp_path):
    job = build_job(silent_weights(), [], SPEC, silence, look="aura")
    video = render.local(job.model_dump())
    assert isinstance(video, bytes)
    facts = probe_mp4(saved(video, tmp_path / "out.mp4"))
    assert (facts.width, facts.height) == (720, 720)
    assert facts.n_video_frames == N_FRAMES
    assert (facts.video_codec, facts.audio_codec) == ("h264", "aac")
    assert facts.audio_duration_s == pytest.approx(0.5, abs=0.03)


def test_a_job_round_trips_through_json_and_still_renders(silence, tmp_path):
    job = build_job(silent_weights(), [(0.0, 0.5, "joy", 0.8)], SPEC, silence, look="ben")
    text = job.model_dump_json()
    document = json.loads(text)
    assert isinstance(document["audio"], str)  # bytes travel as base64
    again = RenderJob.model_validate_json(text)
    assert again == job
    facts = probe_mp4(saved(render.local(again.model_dump()), tmp_path / "out.mp4"))
    assert (facts.width, facts.height, facts.n_video_frames) == (720, 720, N_FRAMES)


@pytest.mark.parametrize("codec", [pickle, cbor2], ids=["pickle", "cbor"])
def test_the_job_crosses_either_of_modals_payload_formats(codec, silence, astronaut):
    job = build_job(silent_weights(), [(0.0, 0.5, "joy", 0.8)], SPEC, silence,
                    face=astronaut, words=WORDS)
    assert read_job(codec.loads(codec.dumps(job.model_dump()))) == job


def test_a_photo_avatar_job_animates_the_photo(silence, astronaut, tmp_path):
    spec = SPEC.model_copy(update={"avatar": str(astronaut.avatar_id)})
    job = build_job(silent_weights(), [], spec, silence, face=astronaut)
    remote = saved(render.local(job.model_dump()), tmp_path / "remote.mp4")
    facts = probe_mp4(remote)
    assert (facts.width, facts.height, facts.n_video_frames) == (720, 720, N_FRAMES)
    here = tmp_path / "here.mp4"
    render_local(silent_weights(), [], spec, silence, here, face=astronaut)
    stock = tmp_path / "stock.mp4"
    render_local(silent_weights(), [], SPEC, silence, stock, look="aura")
    assert np.abs(first_frame(remote) - first_frame(here)).mean() < 1.0
    assert np.abs(first_frame(remote) - first_frame(stock)).mean() > 10.0


def test_captions_are_burned_in_when_the_spec_asks_for_them(silence, tmp_path):
    plain = build_job(silent_weights(), [], SPEC, silence, words=WORDS)
    captioned = build_job(silent_weights(), [], SPEC.model_copy(update={"captions": True}),
                          silence, words=WORDS)
    without = first_frame(saved(render.local(plain.model_dump()), tmp_path / "plain.mp4"))
    with_ = first_frame(saved(render.local(captioned.model_dump()), tmp_path / "cc.mp4"))
    lower, upper = np.abs(with_ - without)[540:], np.abs(with_ - without)[:360]
    assert lower.mean() > 2.0 and upper.mean() < 0.5


def test_a_background_picture_travels_with_the_job(silence, tmp_path):
    picture = np.zeros((360, 360, 3), np.uint8)
    picture[:] = (30, 40, 200)
    spec = SPEC.model_copy(update={"background": "image:uploads/blue.png"})
    job = build_job(silent_weights(), [], spec, silence, background_rgb=picture)
    assert read_job(pickle.loads(pickle.dumps(job.model_dump()))) == job
    frame = first_frame(saved(render.local(job.model_dump()), tmp_path / "out.mp4"))
    assert np.abs(frame[:40, :40] - (30, 40, 200)).max() <= 12


def test_the_callers_encoder_settings_apply_and_the_containers_come_back(silence, tmp_path):
    default = get_settings().video
    video = RenderSettings(audio_sample_rate_hz=44_100, crf=30)
    job = build_job(silent_weights(), [], SPEC, silence, video=video)
    facts = probe_mp4(saved(render.local(job.model_dump()), tmp_path / "out.mp4"))
    assert facts.audio_sample_rate_hz == 44_100
    assert get_settings().video == default
    assert not [name for name in os.environ if name.startswith("AURA_VIDEO__")]


def test_a_job_of_another_format_is_refused_with_the_redeploy_command(silence):
    job = build_job(silent_weights(), [], SPEC, silence).model_dump()
    with pytest.raises(ConfigError, match="modal deploy deployments/modal_app.py"):
        render.local({**job, "format": JOB_FORMAT + 1})


@pytest.mark.parametrize(("change", "named"), [
    ({"look": "zed"}, "look 'zed'"),
    ({"audio": None}, "audio"),
    ({"surprise": 1}, "surprise"),
])
def test_a_malformed_job_is_a_plain_value_error_naming_the_field(silence, change, named):
    job = build_job(silent_weights(), [], SPEC, silence).model_dump()
    with pytest.raises(ValueError, match=named):
        render.local({**job, **change})


def test_the_image_installs_the_pyproject_pins_of_what_the_render_needs():
    pinned = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    requirements = render_requirements()
    for text in ("numpy==", "opencv-contrib-python==", "av==", "soundfile==", "pydantic==",
                 "prefect==", "sqlalchemy[asyncio]==", "fastapi=="):
        found = [r for r in requirements if r.startswith(text)]
        assert len(found) == 1 and found[0] in pinned, (text, requirements)
    assert f"scipy=={__import__('scipy').__version__}" in requirements
    names = {canonical_name(r.split("==")[0].split("[")[0]) for r in requirements}
    assert not names & {"mediapipe", "piper-tts", "onnx", "openai", "elevenlabs"}
    assert set(map(canonical_name, RENDER_PACKAGES)) <= names


def test_the_image_holds_every_distribution_a_render_loads(silence, astronaut, tmp_path):
    # A fresh interpreter renders a captioned stock job and a photo job, so that imports
    # made lazily while rendering count too. Modal installs its own client in the image.
    jobs = [build_job(silent_weights(), [], SPEC.model_copy(update={"captions": True}),
                      silence, words=WORDS).model_dump(),
            build_job(silent_weights(), [(0.0, 0.5, "joy", 1.0)], SPEC, silence,
                      face=astronaut).model_dump()]
    (tmp_path / "jobs.pickle").write_bytes(pickle.dumps(jobs))
    probe = (
        "import importlib.metadata as md, json, pickle, sys\n"
        "before = set(sys.modules)  # what site's .pth files loaded\n"
        "from deployments.modal_app import render_job\n"
        "for job in pickle.loads(open(sys.argv[1], 'rb').read()):\n"
        "    render_job(job)\n"
        "top = {name.split('.')[0] for name in set(sys.modules) - before}\n"
        "owners = md.packages_distributions()\n"
        "print(json.dumps(sorted({d for m in top for d in owners.get(m, [])})))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "jobs.pickle")],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    loaded = {canonical_name(name) for name in json.loads(out.splitlines()[-1])}
    assert {"matplotlib", "scipy", "opencv-contrib-python"} <= loaded  # both paths ran
    modal_pin = next(r for r in tomllib.loads(PYPROJECT.read_text())["project"]
                     ["dependencies"] if r.startswith("modal=="))
    provided = requirement_closure([*render_requirements(), modal_pin]) | {"aurastudio"}
    missing = loaded - provided
    assert not missing, f"the Modal image lacks {sorted(missing)}: add them to RENDER_PACKAGES"
