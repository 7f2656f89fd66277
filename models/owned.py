"""Rows that belong to one user: fetched by id and listed a page at a time, always
filtered by their owner (on SQLite the only guard; on PostgreSQL row-level security
checks the same again). Used by the projects, assets and export-job repositories."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

Row = TypeVar("Row")

MAX_PAGE_SIZE = 100


def parse_id(value: uuid.UUID | str, not_found: Callable[[], Exception]) -> uuid.UUID:
    """``value`` as a UUID; text that is not one raises ``not_found()``: an id that cannot
    exist is answered like any id that does not."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise not_found() from None


async def get_owned(session: AsyncSession, table: type[Row], user_id: uuid.UUID,
                    object_id: uuid.UUID | str, not_found: Callable[[], Exception]) -> Row:
    """The row ``object_id`` of ``table`` if ``user_id`` owns it; else ``not_found()``."""
    key = parse_id(object_id, not_found)
    row = await session.scalar(select(table).where(
        table.id == key, table.user_id == user_id))  # type: ignore[attr-defined]
    if row is None:
        raise not_found()
    return row


async def page_owned(session: AsyncSession, table: type[Row], user_id: uuid.UUID, *,
                     newest_first: Any, limit: int, offset: int,
                     where: tuple[ColumnElement[bool], ...] = ()) -> tuple[list[Row], int]:
    """One page of the user's rows of ``table`` (``where`` narrows them), ordered by the
    column ``newest_first`` descending, and how many there are in all."""
    conditions = (table.user_id == user_id, *where)  # type: ignore[attr-defined]
    total = await session.scalar(select(func.count()).select_from(table).where(*conditions))
    page = await session.scalars(
        select(table).where(*conditions)
        .order_by(newest_first.desc(), table.id)  # type: ignore[attr-defined]
        .limit(max(1, min(limit, MAX_PAGE_SIZE))).offset(max(0, offset)))
    return list(page.all()), int(total or 0)
