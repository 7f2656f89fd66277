"""The effect_library repository: stock presets from code, people's own on top."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InputError
from models.effects import (
    UnknownEffectError,
    get_effect,
    list_effects,
    save_effect,
    sync_stock_library,
)
from tasks.voice.catalogue import STOCK_VOICES, stock_library
from tasks.voice.trickster import PRESETS

STOCK = {"trickster": {"low": {"pitch_semitones": -3.0}, "high": {"pitch_semitones": 3.0}},
         "voice": {"plain": {"tts": "piper", "effect": None}}}


async def test_stock_rows_are_written_once_and_updated_when_the_code_changes(
        session: AsyncSession):
    assert await sync_stock_library(session, STOCK) == 3
    assert await sync_stock_library(session, STOCK) == 0
    changed = {**STOCK, "trickster": {**STOCK["trickster"], "low": {"pitch_semitones": -5}}}
    assert await sync_stock_library(session, changed) == 1
    assert (await get_effect(session, "trickster", "low")).params == {"pitch_semitones": -5}


async def test_the_shipped_catalogue_lists_every_preset_and_voice(session: AsyncSession):
    await sync_stock_library(session, stock_library())
    presets = {row.name: row.params for row in await list_effects(session, "trickster")}
    voices = {row.name for row in await list_effects(session, "voice")}
    assert set(presets) == set(PRESETS) and voices == set(STOCK_VOICES)
    assert presets["chipmunk"]["pitch_semitones"] > 0 and presets["giant"]["pitch_semitones"] < 0


async def test_a_persons_own_preset_replaces_the_stock_one_for_that_person_only(
        session: AsyncSession):
    await sync_stock_library(session, STOCK)
    me, someone = uuid.uuid4(), uuid.uuid4()
    await save_effect(session, "trickster", "low", {"pitch_semitones": -12.0}, me)

    assert (await get_effect(session, "trickster", "low", me)).params == {
        "pitch_semitones": -12.0}
    assert (await get_effect(session, "trickster", "low", someone)).params == {
        "pitch_semitones": -3.0}
    assert [row.name for row in await list_effects(session, "trickster", me)] == ["high", "low"]


async def test_an_unknown_name_lists_the_choices(session: AsyncSession):
    await sync_stock_library(session, STOCK)
    with pytest.raises(UnknownEffectError,
                       match="there is no effect preset called 'mid'; choose one of high, low"):
        await get_effect(session, "trickster", "mid")
    with pytest.raises(UnknownEffectError, match="there is no voice called 'x'.*plain"):
        await get_effect(session, "voice", "x")


async def test_names_are_shared_by_voices_and_presets_of_one_person(session: AsyncSession):
    me = uuid.uuid4()
    await save_effect(session, "voice", "mine", {"tts": "piper", "effect": None}, me)
    with pytest.raises(InputError, match="you already have a voice called 'mine'"):
        await save_effect(session, "trickster", "mine", {"pitch_semitones": 1.0}, me)
    with pytest.raises(InputError, match="1 to 64 characters"):
        await save_effect(session, "trickster", " ", {}, me)
