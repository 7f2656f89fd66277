"""The render on Modal: the app, its image and the ``render`` function.

    modal deploy deployments/modal_app.py

deploys function ``AURA_MODAL__FUNCTION_NAME`` (default ``render``) in app
``AURA_MODAL__APP_NAME`` (default ``aurastudio-render``); workers with ``AURA_RENDER=modal``
call it through tasks/render/modal.py. Tests run its body in-process with
``render.local(job)``.

The function is plain Python around :func:`render_job`: a job in
(``tasks.render.modal.RenderJob.model_dump()``: bytes and plain values), MP4 bytes out.
It reads no storage, holds no secrets and needs no network: the job carries everything.

The image installs what the render path imports (:data:`RENDER_PACKAGES`) at the versions
pinned in pyproject.toml, which is read when this file is loaded on the deploying machine
(inside the container the image is already built and the file is not there).
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import modal

from core.settings import RenderSettings, get_settings
from tasks.lipsync import load_weights
from tasks.render import render_local
from tasks.render.modal import RenderJob, read_job

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

RENDER_PACKAGES = (
    "numpy", "scipy", "opencv-contrib-python", "av", "soundfile", "pillow", "matplotlib",
    "librosa", "pydantic", "pydantic-settings", "prefect", "sqlalchemy", "boto3",
)
"""Distributions the render path imports itself. pillow and matplotlib (its DejaVu font)
draw captions; prefect, sqlalchemy, boto3 and librosa are there only because
tasks/render/__init__.py imports the Prefect task and its neighbours with ``render_local``."""

SYSTEM_PACKAGES = ("libgl1", "libglib2.0-0")
"""Shared libraries the opencv-contrib-python wheel links against (not in debian-slim)."""

RENDER_GPU = "H100"
RENDER_CPUS = 8.0
"""Drawing and x264 run on the CPU: the default fraction of a core would starve them."""
RENDER_TIMEOUT_S = 30 * 60
"""Longest render, in seconds; a render that runs past it fails for good (not retried)."""


def canonical_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def requirement_closure(requirements: Iterable[str]) -> set[str]:
    """Canonical names of ``requirements`` and of everything they require, transitively.

    Read from the metadata of the distributions installed here; requirements whose markers
    do not hold on this Python (or need an extra nobody asked for) are left out.
    """
    from packaging.requirements import Requirement

    seen: set[tuple[str, str]] = set()
    pending: list[tuple[Requirement, tuple[str, ...]]] = [
        (Requirement(text), ()) for text in requirements]
    while pending:
        requirement, extras = pending.pop()
        marker = requirement.marker
        if marker is not None and not any(
                marker.evaluate({"extra": extra}) for extra in (*extras, "")):
            continue
        name = canonical_name(requirement.name)
        wanted = tuple(sorted(requirement.extras))
        keys = {(name, extra) for extra in ("", *wanted)}
        if keys <= seen:
            continue
        seen |= keys
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        pending.extend((Requirement(text), wanted) for text in requires)
    return {name for name, _ in seen}


def render_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """pip requirements of the image: the render packages and their dependencies, pinned.

    Every pyproject dependency that :data:`RENDER_PACKAGES` need (directly or through
    another package, e.g. prefect's fastapi) is installed at its pyproject pin, extras
    included; a render package that pyproject does not list itself (scipy, pillow,
    matplotlib, which other pins bring) is pinned to the version installed here, the one
    the tests ran against.
    """
    from packaging.requirements import Requirement

    pinned = tomllib.loads(pyproject.read_text("utf-8"))["project"]["dependencies"]
    by_name = {canonical_name(Requirement(text).name): text for text in pinned}
    render = [by_name.get(canonical_name(name), name) for name in RENDER_PACKAGES]
    needed = requirement_closure(render)
    requirements = [text for name, text in by_name.items() if name in needed]
    requirements += [f"{name}=={importlib.metadata.version(name)}" for name in RENDER_PACKAGES
                     if canonical_name(name) not in by_name]
    return requirements


settings = get_settings()
app = modal.App(settings.modal.app_name)
image = (
    modal.Image.debian_slim(python_version="3.11")
    .apt_install(*SYSTEM_PACKAGES)
    .pip_install(*(render_requirements() if modal.is_local() else ()))
    .add_local_python_source("core", "models", "tasks")
)


def render_job(job: RenderJob | Mapping[str, Any]) -> bytes:
    """Render one job in a temporary folder with ``tasks.render.render_local``.

    Args:
        job: a :class:`RenderJob` or its ``model_dump()`` (what the Modal function gets).

    Returns:
        The MP4 (H.264 + AAC, tasks/render/encode.py), as bytes.

    Raises:
        ConfigError: the job has another format than this deployment (redeploy).
        ValueError: the job is malformed, or the render refused it (message says why).
    """
    request = read_job(job)
    with (tempfile.TemporaryDirectory(prefix="aura-modal-render-") as tmp,
          _video_settings(request.video)):
        audio_path = Path(tmp) / "voice"
        audio_path.write_bytes(request.audio)
        out_path = Path(tmp) / "video.mp4"
        render_local(load_weights(request.weights_npz), list(request.spans), request.spec,
                     audio_path, out_path, None, request.actor_face(), request.look,
                     list(request.words), request.background_rgb())
        return out_path.read_bytes()


@contextmanager
def _video_settings(video: RenderSettings) -> Iterator[None]:
    """Make ``get_settings().video`` equal ``video`` (the caller's) inside the block.

    ``render_local`` reads the encoder settings from ``get_settings()``; the worker's
    ``AURA_VIDEO__*`` are part of the video's cache key, so they, not the container's,
    must apply. Process-wide, hence fine in a container that takes one input at a time
    (the Modal default, kept below) and restored on exit for in-process calls.
    """
    if get_settings().video == video:
        yield
        return
    values = {f"AURA_VIDEO__{name.upper()}": str(value)
              for name, value in video.model_dump().items()}
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


@app.function(image=image, gpu=RENDER_GPU, cpu=RENDER_CPUS, timeout=RENDER_TIMEOUT_S,
              name=settings.modal.function_name)
def render(job: dict) -> bytes:
    """Render ``job`` (``RenderJob.model_dump()``) and return the MP4's bytes."""
    return render_job(job)
