"""/api/audio/trickster: a recording, bent by a trickster voice effect, as a new asset.

Multipart ``file`` (a recording, at most 50 MB and 10 minutes) with a ``preset`` from the
effect library (stock or the caller's own), explicit ``pitch_semitones`` (±24),
``formant_ratio`` and ``tempo_ratio`` (0.5-2.0), or a preset with explicit values on
top: the same choices and ranges as ``aura fx``.

The effect and the recording are checked before anything is stored (422 naming the
field or the problem). Then the recording is stored in the caller's asset vault, the
``trickster`` flow runs in-process as a real Prefect flow run, and its WAV is copied into
the vault as a second asset of the caller. The flow keeps its own result, keyed by the
recording and the effect, so the same request again is answered from storage (and gives
the same asset).
"""

from __future__ import annotations

import uuid
from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status
from pydantic import BaseModel, ConfigDict

from api.deps import AUTH_RESPONSES, CurrentUser, UserSession
from api.routers.assets import (
    UPLOAD_RESPONSES,
    StagedFiles,
    asset_url,
    check_content,
    record_asset,
)
from api.uploads import AUDIO_LIMIT_BYTES, expect, read_upload, safe_display_name
from core.errors import InputError
from core.storage import get_storage
from flows.trickster import effect_params, trickster
from models.domain import ONE_LINE_OF_TEXT
from models.effects import MAX_NAME_LENGTH
from tasks.voice.trickster import MAX_PITCH_SEMITONES, RATIO_RANGE, TricksterParams

router = APIRouter(prefix="/api/audio", tags=["audio"], responses=AUTH_RESPONSES)


class TricksterOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    asset_id: uuid.UUID
    """The bent recording (a 16-bit WAV) in the caller's asset vault."""
    source_asset_id: uuid.UUID
    """The uploaded recording, in the vault too."""
    url: str
    """Where to fetch the WAV (see /api/assets)."""
    duration_s: float
    params: TricksterParams
    """The effect applied: the preset's values with the explicit ones on top."""


@router.post("/trickster", status_code=status.HTTP_201_CREATED, response_model=TricksterOut,
             responses=UPLOAD_RESPONSES)
async def bend_voice(
    user: CurrentUser, session: UserSession,
    file: Annotated[UploadFile, File(description="A recording (WAV, MP3, M4A, OGG, WebM, "
                                                 "FLAC; at most 50 MB and 10 minutes).")],
    preset: Annotated[str | None, Form(min_length=1, max_length=MAX_NAME_LENGTH,
                                       pattern=ONE_LINE_OF_TEXT,
                                       description="A trickster preset (chipmunk, giant, "
                                                   "robot, ...).")] = None,
    pitch_semitones: Annotated[float | None, Form(
        ge=-MAX_PITCH_SEMITONES, le=MAX_PITCH_SEMITONES, allow_inf_nan=False,
        description="Pitch shift in semitones (over the preset's).")] = None,
    formant_ratio: Annotated[float | None, Form(
        ge=RATIO_RANGE[0], le=RATIO_RANGE[1], allow_inf_nan=False,
        description="Formant shift; above 1 a smaller, brighter voice.")] = None,
    tempo_ratio: Annotated[float | None, Form(
        ge=RATIO_RANGE[0], le=RATIO_RANGE[1], allow_inf_nan=False,
        description="Speed; above 1 faster, the pitch unchanged.")] = None,
) -> TricksterOut:
    """Bend the voice in a recording; the result is a new asset of the caller."""
    explicit = {"pitch_semitones": pitch_semitones, "formant_ratio": formant_ratio,
                "tempo_ratio": tempo_ratio}
    if preset is None and all(value is None for value in explicit.values()):
        raise InputError(f"choose an effect: a preset, or at least one of "
                         f"{', '.join(explicit)}")
    await effect_params(preset, user.id, **explicit)  # an unknown preset is refused here
    data = await read_upload(file, limit_bytes=AUDIO_LIMIT_BYTES, what="recording")
    sniffed = expect(data, "audio", what="recording")
    await check_content(data, sniffed)
    storage = get_storage()
    name = safe_display_name(file.filename)
    await session.commit()  # the connection goes back to the pool while the flow runs
    async with StagedFiles(storage) as staged:
        source = await staged.put_asset(user.id, data, sniffed)
        result = await trickster(source.key, preset, user_id=user.id, **explicit)
        bent = await staged.copy_asset(user.id, result.key)
        source_asset = await record_asset(session, user.id, source, name)
        bent_asset = await record_asset(session, user.id, bent, safe_display_name(
            f"{PurePath(name or 'recording').stem} ({preset or 'trickster'}).wav"))
    return TricksterOut(asset_id=bent_asset.id, source_asset_id=source_asset.id,
                        url=asset_url(storage, bent_asset), duration_s=result.duration_s,
                        params=TricksterParams(**result.params))
