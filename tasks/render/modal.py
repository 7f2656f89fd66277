"""Render on Modal's GPUs (``AURA_RENDER=modal``): the job format and the client.

The worker sends everything the render needs *by value* in one :class:`RenderJob` to the
function deployed from deployments/modal_app.py, and writes the MP4 it returns. Nothing
travels through storage, so the Modal function reads no bucket and holds no secrets.

The job crosses the wire as ``RenderJob.model_dump()``: plain dicts, lists, strings,
numbers and bytes, so the deployed function never unpickles one of our classes and a
client and a deployment of different versions meet on :data:`JOB_FORMAT` alone. The same
model also round-trips through JSON (bytes as base64) for logs and fixtures.

Errors (classified in :func:`_translate`):

- no Modal token: :class:`~core.errors.ConfigError` naming ``MODAL_TOKEN_ID`` and
  ``MODAL_TOKEN_SECRET``, before any network call;
- lost connections, timeouts reaching Modal, Modal's internal failures and rate limits:
  :class:`~core.errors.TransientError` (``provider="modal"``), retried by Prefect;
- app or function not deployed, credentials refused, the render running past the
  function's time limit, any other Modal refusal: :class:`~core.errors.PermanentError`;
- an error raised by the render itself (a bad job, an encoder failure) arrives as the
  exception the container raised, unchanged.

Modal's own retries are left off (deployments/modal_app.py sets none): Prefect owns them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from core.errors import AuraError, ConfigError, PermanentError, TransientError
from core.settings import ModalSettings, RenderSettings, Settings, get_settings
from models.domain import RenderSpec, Word
from tasks.avatar.actors import STOCK_LOOKS, ActorFace, encode_landmarks, encode_png
from tasks.lipsync import save_weights
from tasks.lipsync.visemes import VISEMES
from tasks.render.encode import EncodeResult
from tasks.render.rig import EmotionSpan

JOB_FORMAT = 2
"""Version of :class:`RenderJob`; a deployment refuses other versions (redeploy it)."""

DEPLOY_HINT = "deploy it with `modal deploy deployments/modal_app.py`"
TOKEN_HINT = ("set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET (`modal token new` creates a "
              "token and writes it to ~/.modal.toml)")


class RenderJobFace(BaseModel):
    """A photo avatar as the render needs it: the image and its landmarks, as stored."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_bytes="base64",
                              val_json_bytes="base64")

    avatar_id: uuid.UUID
    image_png: bytes
    """The texture, RGB PNG (``tasks.avatar.actors.encode_png``)."""
    landmarks_npz: bytes
    """The 478 landmarks, shape (478, 3) float32 (``encode_landmarks``)."""
    texture_key: str
    landmarks_key: str


class RenderJob(BaseModel):
    """Everything one render needs, by value.

    ``weights_npz`` holds float32 viseme weights of shape (n_frames, 15) (``save_weights``);
    ``spans`` are (start_s, end_s, emotion, intensity); ``audio`` is the voice file's bytes
    as stored (any format soundfile reads, normally WAV); ``face`` is a photo avatar, or
    None for the drawn stock avatar ``look``; ``words`` are the timed words captioned when
    ``spec.captions`` is set; ``video`` is the encoder settings of the worker that asked
    (``AURA_VIDEO__*``), which the render uses instead of its own.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_bytes="base64",
                              val_json_bytes="base64")

    format: Literal[2] = JOB_FORMAT
    weights_npz: bytes
    spans: list[tuple[float, float, str, float]]
    spec: RenderSpec
    audio: bytes
    face: RenderJobFace | None = None
    look: str = "aura"
    words: list[Word] = []
    background_png: bytes | None = None
    """The picture of an ``image:KEY`` background (``spec.background``), RGB PNG."""
    video: RenderSettings

    @field_validator("look")
    @classmethod
    def _known_look(cls, look: str) -> str:
        if look not in STOCK_LOOKS:
            raise ValueError(f"look {look!r} is not a stock avatar; choose one of "
                             f"{', '.join(STOCK_LOOKS)}")
        return look

    def actor_face(self) -> ActorFace | None:
        """The photo avatar decoded for ``render_local``, or None for a stock look."""
        if self.face is None:
            return None
        from tasks.avatar.actors import decode_landmarks, decode_png

        return ActorFace(avatar_id=self.face.avatar_id,
                         image_rgb=decode_png(self.face.image_png),
                         landmarks=decode_landmarks(self.face.landmarks_npz),
                         texture_key=self.face.texture_key,
                         landmarks_key=self.face.landmarks_key)

    def background_rgb(self) -> np.ndarray | None:
        """The background picture decoded for ``render_local``, or None."""
        if self.background_png is None:
            return None
        from tasks.avatar.actors import decode_png

        return decode_png(self.background_png)


def read_job(job: RenderJob | Mapping[str, Any]) -> RenderJob:
    """``job`` as a :class:`RenderJob`, from itself or its ``model_dump()``.

    Raises:
        ConfigError: the job has another :data:`JOB_FORMAT` (client and deployment differ).
        ValueError: the job is malformed; the message lists what is wrong.
    """
    if isinstance(job, RenderJob):
        return job
    if not isinstance(job, Mapping):
        raise ValueError(f"a render job is a mapping, got {type(job).__name__}")
    if job.get("format") != JOB_FORMAT:
        raise ConfigError(f"this render deployment reads job format {JOB_FORMAT}, the "
                          f"client sent {job.get('format')!r}; update both sides and "
                          f"{DEPLOY_HINT}")
    try:
        return RenderJob.model_validate(job)
    except ValidationError as e:
        # Re-raised as a plain ValueError: it must survive the trip back from Modal.
        raise ValueError(f"not a valid render job: {e}") from None


def build_job(weights: np.ndarray, spans: Sequence[EmotionSpan], spec: RenderSpec,
              audio_path: Path, face: ActorFace | None = None, look: str = "aura",
              words: Sequence[Word] | None = None,
              background_rgb: np.ndarray | None = None,
              video: RenderSettings | None = None) -> RenderJob:
    """The job for one render; the arguments are those of ``tasks.render.render_local``.

    Args:
        weights: viseme weights, float32 of shape (n_frames, 15).
        spans: (start_s, end_s, emotion, intensity) of every spoken segment.
        spec: size, fps and avatar of the video.
        audio_path: the voice track; its bytes are sent as they are.
        face: a photo avatar, or None for the stock avatar ``look``.
        look: which drawn stock avatar.
        words: the voice's timed words, captioned when ``spec.captions`` is set.
        background_rgb: the picture of an ``image:KEY`` background, or None.
        video: encoder settings; default: this process's ``AURA_VIDEO__*``.

    Raises:
        ValueError: ``weights`` does not have shape (n_frames >= 1, 15).
    """
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 2 or weights.shape[0] < 1 or weights.shape[1] != len(VISEMES):
        raise ValueError(f"weights must have shape (n_frames >= 1, {len(VISEMES)}), "
                         f"got {weights.shape}")
    job_face = None
    if face is not None:
        job_face = RenderJobFace(avatar_id=face.avatar_id, image_png=encode_png(face.image_rgb),
                                 landmarks_npz=encode_landmarks(face.landmarks),
                                 texture_key=face.texture_key, landmarks_key=face.landmarks_key)
    return RenderJob(weights_npz=save_weights(weights),
                     spans=[(float(s), float(e), str(emotion), float(i))
                            for s, e, emotion, i in spans],
                     spec=spec, audio=Path(audio_path).read_bytes(), face=job_face, look=look,
                     words=list(words or ()),
                     background_png=(None if background_rgb is None
                                     else encode_png(background_rgb)),
                     video=video if video is not None else get_settings().video)


def check_modal_credentials() -> None:
    """Raise a plain :class:`ConfigError` unless a Modal token is configured.

    Modal reads ``MODAL_TOKEN_ID`` / ``MODAL_TOKEN_SECRET`` from the environment, else the
    active profile of ``~/.modal.toml`` (``MODAL_CONFIG_PATH``); both count here.
    """
    from modal.config import config

    if not (config.get("token_id") and config.get("token_secret")):
        raise ConfigError(f"AURA_RENDER=modal needs a Modal token: {TOKEN_HINT}")


def render_on_modal(weights: np.ndarray, spans: Sequence[EmotionSpan], spec: RenderSpec,
                    audio_path: Path, out_path: Path,
                    on_progress: Callable[[int, int], None] | None = None,
                    face: ActorFace | None = None, look: str = "aura",
                    words: Sequence[Word] | None = None,
                    background_rgb: np.ndarray | None = None,
                    settings: Settings | None = None) -> EncodeResult:
    """Render on the deployed Modal function; same arguments as ``render_local``.

    Args:
        weights, spans, spec, audio_path, face, look, words, background_rgb: as for
            :func:`build_job`.
        out_path: where the MP4 goes; written atomically, only once it has been checked.
        on_progress: called once, with (n_frames, n_frames), when the video is written
            (the remote render reports no progress of its own).
        settings: app and function names and encoder settings; default ``get_settings()``.

    Returns:
        An :class:`EncodeResult` read back from the MP4 with PyAV.

    Raises:
        ConfigError: no Modal token is configured.
        TransientError, PermanentError: Modal failed (see the module docstring).
    """
    settings = settings or get_settings()
    check_modal_credentials()
    job = build_job(weights, spans, spec, audio_path, face, look, words, background_rgb,
                    settings.video)
    video = _call(settings.modal, job.model_dump())
    n_frames = len(weights)
    result = _write_checked(video, Path(out_path), spec, n_frames)
    if on_progress is not None:
        on_progress(n_frames, n_frames)
    return result


def _call(names: ModalSettings, job: dict[str, Any]) -> bytes:
    import modal

    try:
        function = modal.Function.from_name(names.app_name, names.function_name)
        return function.remote(job)
    except Exception as exc:
        error = _translate(exc, names)
        if error is None:
            raise
        raise error from exc


def _translate(exc: Exception, names: ModalSettings) -> AuraError | None:
    """The one place where Modal failures are classified; None: let ``exc`` through."""
    from modal import exception as mx

    target = f"Modal function {names.function_name!r} of app {names.app_name!r}"
    if isinstance(exc, mx.NotFoundError):
        return PermanentError(f"there is no {target} ({exc}); {DEPLOY_HINT}", provider="modal")
    if isinstance(exc, mx.AuthError):
        return PermanentError(f"Modal refused the credentials ({exc}); {TOKEN_HINT}",
                              provider="modal")
    if isinstance(exc, mx.PermissionDeniedError):
        return PermanentError(f"this Modal token may not call the {target} ({exc})",
                              provider="modal")
    if isinstance(exc, mx.FunctionTimeoutError):
        # The render itself ran out of time: a retry would run out of time again.
        return PermanentError(f"the render ran past the {target}'s time limit ({exc}); "
                              "raise RENDER_TIMEOUT_S in deployments/modal_app.py and "
                              "redeploy, or render a shorter script", provider="modal")
    transient = (mx.ConnectionError, mx.TimeoutError, mx.InternalError, mx.ServiceError,
                 mx.ResourceExhaustedError, mx.InternalFailure, ConnectionError, TimeoutError)
    if isinstance(exc, transient):
        return TransientError(f"calling the {target} failed ({type(exc).__name__}: {exc}); "
                              "this is usually temporary", provider="modal")
    if isinstance(exc, mx.Error):
        return PermanentError(f"calling the {target} failed ({type(exc).__name__}: {exc})",
                              provider="modal")
    return None


def _write_checked(video: bytes, out_path: Path, spec: RenderSpec,
                   n_frames: int) -> EncodeResult:
    """Write ``video`` beside ``out_path``, check it is the video asked for, move it in."""
    if not isinstance(video, bytes | bytearray) or not video:
        raise PermanentError(f"the render returned {type(video).__name__} instead of an "
                             f"MP4; {DEPLOY_HINT} again", provider="modal")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        with open(tmp_path, "wb") as f:
            f.write(video)
            f.flush()
            os.fsync(f.fileno())
        result = probe_video(tmp_path)
        asked = (*spec.size_px, n_frames)
        got = (result.width, result.height, result.n_frames)
        if got != asked:
            raise PermanentError(
                f"the render returned a {got[0]}x{got[1]} video of {got[2]} frames, "
                f"{asked[0]}x{asked[1]} and {asked[2]} frames were asked for; the "
                f"deployment is likely out of date: {DEPLOY_HINT}", provider="modal")
        os.replace(tmp_path, out_path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return result


def probe_video(path: Path) -> EncodeResult:
    """Frame count, duration (s), size (px) and bytes of an MP4's video stream, by PyAV.

    Raises:
        PermanentError: the file is not a video PyAV can read.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise PermanentError("the render returned a file with no video stream",
                                     provider="modal")
            stream = container.streams.video[0]
            n_frames = stream.frames
            fps = stream.average_rate
            width, height = stream.codec_context.width, stream.codec_context.height
    except av.FFmpegError as e:
        raise PermanentError(f"the render returned an unreadable video ({e})",
                             provider="modal") from e
    return EncodeResult(n_frames=n_frames, duration_s=float(n_frames / fps) if fps else 0.0,
                        width=width, height=height, size_bytes=Path(path).stat().st_size)
