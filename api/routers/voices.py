"""/api/voices: the voice catalogue and the trickster presets the caller may use.

``GET /api/voices`` lists what ``aura voices`` lists: the catalogue's voices (stock and
the caller's own) and the trickster presets (stock and the caller's own; an own row
replaces a stock namesake, as in models/effects.py). Another user's own voices and
presets are never listed. The stock rows are written at startup (api.app
``prepare_database``), so this route only reads.

``GET /api/voices/recordings/{asset_id}`` names one of the caller's own recordings (an
``audio`` asset from ``POST /api/assets``) as a project voice: ``recording:KEY``, the
value ``settings.voice`` takes (tasks/voice/catalogue.py ``choose_voice``).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from api.deps import AUTH_RESPONSES, CurrentUser, UserSession
from api.routers.assets import NOT_FOUND_RESPONSES
from core.errors import InputError
from models.assets import get_asset
from models.effects import list_effects
from tasks.voice.catalogue import RECORDING_PREFIX, default_voice
from tasks.voice.trickster import TricksterParams

router = APIRouter(prefix="/api/voices", tags=["voices"], responses=AUTH_RESPONSES)


class VoiceOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    name: str
    """What ``settings.voice`` names it by."""
    label: str
    """For people: the name and what the voice is."""
    provider: str
    """The text-to-speech engine: ``piper`` or ``elevenlabs``."""
    effect: str | None
    """The trickster preset the voice is bent by, if any."""
    default: bool
    """The voice a project without ``settings.voice`` speaks with."""


class EffectOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    name: str
    """What ``settings.effect`` (and the trickster route's ``preset``) names it by."""
    pitch_semitones: float
    formant_ratio: float
    tempo_ratio: float
    stock: bool
    """False for the caller's own presets."""


class VoiceCatalogue(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    voices: list[VoiceOut]
    """By name."""
    effects: list[EffectOut]
    """By name."""


class RecordingVoice(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    asset_id: uuid.UUID
    voice: str
    """``recording:KEY``: the value for a project's ``settings.voice``."""


def _label(name: str, params: dict[str, Any]) -> str:
    description = str(params.get("description") or "").strip()
    return f"{name}: {description}" if description else name


def _effect(name: str, params: dict[str, Any], *, stock: bool) -> EffectOut:
    defaults = TricksterParams()
    return EffectOut(
        name=name, stock=stock,
        pitch_semitones=float(params.get("pitch_semitones", defaults.pitch_semitones)),
        formant_ratio=float(params.get("formant_ratio", defaults.formant_ratio)),
        tempo_ratio=float(params.get("tempo_ratio", defaults.tempo_ratio)))


@router.get("", response_model=VoiceCatalogue)
async def list_voices(user: CurrentUser, session: UserSession) -> VoiceCatalogue:
    """The voices and trickster presets the caller may choose (stock and their own)."""
    default = default_voice().name
    voices = [VoiceOut(name=row.name, label=_label(row.name, row.params),
                       provider=str(row.params.get("tts", "piper")),
                       effect=row.params.get("effect") or None,
                       default=row.name == default)
              for row in await list_effects(session, "voice", user.id)]
    effects = [_effect(row.name, row.params, stock=row.user_id is None)
               for row in await list_effects(session, "trickster", user.id)]
    return VoiceCatalogue(voices=voices, effects=effects)


@router.get("/recordings/{asset_id}", response_model=RecordingVoice,
            responses=NOT_FOUND_RESPONSES)
async def recording_voice(asset_id: uuid.UUID, user: CurrentUser,
                          session: UserSession) -> RecordingVoice:
    """One of the caller's recordings as a project voice (422 for a non-audio asset)."""
    asset = await get_asset(session, user.id, asset_id)
    if asset.kind != "audio":
        raise InputError(f"asset {asset_id} is a {asset.kind}, not a recording")
    return RecordingVoice(asset_id=asset.id, voice=f"{RECORDING_PREFIX}{asset.storage_key}")
