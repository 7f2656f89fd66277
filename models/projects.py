"""The projects repository: a user's scripts and the settings they render with.

Every function takes the owner's id and only ever touches that owner's rows: on SQLite
this filter is the only guard; on PostgreSQL row-level security (migration 0002) checks
the same again inside the database. Another user's project is "not found", exactly like
one that never existed.

Functions work inside the caller's session and flush; committing is the caller's business.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFoundError
from models.domain import ProjectSettings
from models.owned import get_owned, page_owned
from models.tables import Project

MAX_TITLE_CHARS = 200


class ProjectNotFoundError(NotFoundError):
    """No project with this id belongs to the user."""

    def __init__(self, project_id: object) -> None:
        self.project_id = project_id
        super().__init__(f"there is no project with id {str(project_id)!r}")


async def create_project(session: AsyncSession, user_id: uuid.UUID, *, title: str,
                         script: str = "", settings: ProjectSettings | None = None) -> Project:
    """A new project of ``user_id``."""
    project = Project(user_id=user_id, title=title, script=script,
                      settings=(settings or ProjectSettings()).model_dump(mode="json"))
    session.add(project)
    await session.flush()
    return project


async def get_project(session: AsyncSession, user_id: uuid.UUID,
                      project_id: uuid.UUID | str) -> Project:
    """The user's project ``project_id``.

    Raises:
        ProjectNotFoundError: no such project for this user (or not a valid id).
    """
    return await get_owned(session, Project, user_id, project_id,
                           lambda: ProjectNotFoundError(project_id))


async def list_projects(session: AsyncSession, user_id: uuid.UUID, *, limit: int = 20,
                        offset: int = 0) -> tuple[list[Project], int]:
    """One page of the user's projects, newest change first, and how many there are."""
    return await page_owned(session, Project, user_id, newest_first=Project.updated_at,
                            limit=limit, offset=offset)


async def update_project(session: AsyncSession, user_id: uuid.UUID,
                         project_id: uuid.UUID | str, **changes: Any) -> Project:
    """Change ``title``, ``script`` and/or ``settings`` (a :class:`ProjectSettings`) of the
    user's project; fields not given stay as they are."""
    unknown = set(changes) - {"title", "script", "settings"}
    if unknown:
        raise TypeError(f"projects have no field(s) {', '.join(sorted(unknown))}")
    project = await get_project(session, user_id, project_id)
    if "settings" in changes:
        changes["settings"] = changes["settings"].model_dump(mode="json")
    for name, value in changes.items():
        setattr(project, name, value)
    await session.flush()
    return project


async def delete_project(session: AsyncSession, user_id: uuid.UUID,
                         project_id: uuid.UUID | str) -> None:
    """Delete the user's project (its export jobs stay, detached from it)."""
    project = await get_project(session, user_id, project_id)
    await session.delete(project)
    await session.flush()
