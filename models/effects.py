"""The effect_library repository: trickster presets and voices, stock and people's own.

Two kinds of rows live in ``effect_library``:

- ``kind="trickster"``: ``params`` are :class:`tasks.voice.trickster.TricksterParams`;
- ``kind="voice"``: ``params`` are ``{"tts": "piper"|"elevenlabs", "effect": NAME|None,
  "description": TEXT}``, a voice from the catalogue (tasks/voice/catalogue.py).

Stock rows have no owner (``user_id`` NULL) and are written by :func:`sync_stock_library`
from the code's presets, so that the code stays the one source of truth for them. A
person's own row with the same name as a stock row wins for that person.

Every function works inside the caller's session; committing is the caller's business.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InputError
from models.tables import Effect

EffectKind = Literal["trickster", "voice"]
MAX_NAME_LENGTH = 64


class UnknownEffectError(InputError):
    """No trickster preset or voice has the asked-for name."""


async def sync_stock_library(session: AsyncSession,
                             stock: Mapping[EffectKind, Mapping[str, dict[str, Any]]],
                             ) -> int:
    """Insert or update the stock rows from ``stock[kind][name] = params``.

    Returns the number of rows written (0 when everything was already up to date).
    """
    existing = {(row.kind, row.name): row for row in (await session.scalars(
        select(Effect).where(Effect.user_id.is_(None)))).all()}
    written = 0
    for kind, presets in stock.items():
        for name, params in presets.items():
            row = existing.get((kind, name))
            if row is None:
                session.add(Effect(user_id=None, name=name, kind=kind, params=dict(params)))
            elif row.params == params:
                continue
            else:
                row.params = dict(params)
            written += 1
    await session.flush()
    return written


async def list_effects(session: AsyncSession, kind: EffectKind,
                       user_id: uuid.UUID | None = None) -> list[Effect]:
    """Stock rows of ``kind`` and the user's own, own rows replacing stock namesakes."""
    owners = Effect.user_id.is_(None) if user_id is None else or_(
        Effect.user_id.is_(None), Effect.user_id == user_id)
    rows = (await session.scalars(
        select(Effect).where(Effect.kind == kind, owners).order_by(Effect.name))).all()
    chosen: dict[str, Effect] = {}
    for row in rows:
        if row.name not in chosen or row.user_id is not None:
            chosen[row.name] = row
    return [chosen[name] for name in sorted(chosen)]


async def get_effect(session: AsyncSession, kind: EffectKind, name: str,
                     user_id: uuid.UUID | None = None) -> Effect:
    """The row called ``name`` (the user's own first, then stock).

    Raises:
        UnknownEffectError: naming the choices.
    """
    for row in await list_effects(session, kind, user_id):
        if row.name == name:
            return row
    names = [row.name for row in await list_effects(session, kind, user_id)]
    what = "voice" if kind == "voice" else "effect preset"
    raise UnknownEffectError(f"there is no {what} called {name!r}; choose one of "
                             f"{', '.join(names) or '(none)'}")


async def save_effect(session: AsyncSession, kind: EffectKind, name: str,
                      params: dict[str, Any], user_id: uuid.UUID) -> Effect:
    """Create or replace the user's own row called ``name`` (names are unique per user
    across kinds, as the table's constraint says)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InputError(f"a name must have 1 to {MAX_NAME_LENGTH} characters, got {name!r}")
    row = await session.scalar(select(Effect).where(
        Effect.name == name, Effect.user_id == user_id))
    if row is not None and row.kind != kind:
        raise InputError(f"you already have a {row.kind} called {name!r}; names are shared "
                         "by voices and effect presets")
    if row is None:
        row = Effect(user_id=user_id, name=name, kind=kind, params=params)
        session.add(row)
    else:
        row.params = params
    await session.flush()
    return row
