"""The asset_vault repository: the files a user uploaded (photos, recordings, videos) and
the files made for them (processed audio), each stored under ``storage_key``.

Every function takes the owner's id and only ever touches that owner's rows: on SQLite
this filter is the only guard; on PostgreSQL row-level security (migration 0002) checks
the same again inside the database. Another user's asset is "not found", exactly like
one that never existed.

The same content stored again as the same kind is the same asset (the table is unique
on ``user_id, sha256, kind``): :func:`add_asset` returns the row that is already there.

Functions work inside the caller's session and flush; committing is the caller's
business, and so is storage: :func:`delete_asset` says which file to remove once the
deletion is committed.
"""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFoundError
from models.owned import get_owned, page_owned
from models.tables import Asset

AssetKind = Literal["photo", "audio", "video", "texture", "other"]
"""models.tables.ASSET_KINDS as a type (the table's CHECK constraint allows these)."""


class AssetNotFoundError(NotFoundError):
    """No asset with this id belongs to the user."""

    def __init__(self, asset_id: object) -> None:
        self.asset_id = asset_id
        super().__init__(f"there is no asset with id {str(asset_id)!r}")


async def add_asset(session: AsyncSession, user_id: uuid.UUID, *, kind: AssetKind,
                    storage_key: str, content_type: str, size_bytes: int, sha256: str,
                    original_name: str | None = None) -> Asset:
    """The user's asset of this content and kind: a new row, or the one already there.

    An existing row is returned as it is (its name and key stay those of the first
    upload). Two requests adding the same content at once both get the one row.
    """
    owned = (Asset.user_id == user_id, Asset.sha256 == sha256, Asset.kind == kind)
    existing = await session.scalar(select(Asset).where(*owned))
    if existing is not None:
        return existing
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(Asset).on_conflict_do_nothing()
        .values(id=uuid.uuid4(), user_id=user_id, kind=kind, storage_key=storage_key,
                content_type=content_type, size_bytes=size_bytes, sha256=sha256,
                original_name=original_name))
    return (await session.scalars(select(Asset).where(*owned))).one()


async def get_asset(session: AsyncSession, user_id: uuid.UUID,
                    asset_id: uuid.UUID | str) -> Asset:
    """The user's asset ``asset_id``.

    Raises:
        AssetNotFoundError: no such asset for this user (or not a valid id).
    """
    return await get_owned(session, Asset, user_id, asset_id,
                           lambda: AssetNotFoundError(asset_id))


async def list_assets(session: AsyncSession, user_id: uuid.UUID, *,
                      kind: AssetKind | None = None, limit: int = 20,
                      offset: int = 0) -> tuple[list[Asset], int]:
    """One page of the user's assets (of ``kind``, if given), newest first, and how many
    there are in all."""
    return await page_owned(session, Asset, user_id, newest_first=Asset.created_at,
                            limit=limit, offset=offset,
                            where=() if kind is None else (Asset.kind == kind,))


async def delete_asset(session: AsyncSession, user_id: uuid.UUID,
                       asset_id: uuid.UUID | str) -> str | None:
    """Delete the user's asset; returns its storage key when no row references it any
    more (the caller removes the file once the deletion is committed), else None.

    Avatars made from the asset keep their own copy of the face (their
    ``source_asset_id`` becomes NULL). Keys of uploads name their owner
    (api.uploads.asset_key), so the rows this session sees (the caller's own, under
    row-level security) are all that can share one.
    """
    asset = await get_asset(session, user_id, asset_id)
    key = asset.storage_key
    await session.delete(asset)
    await session.flush()
    still_used = await session.scalar(
        select(func.count()).select_from(Asset).where(Asset.storage_key == key))
    return None if still_used else key
