"""/api/projects: a user's scripts with the avatar, voice and video settings they render
with. Create, list (paged), get, update (partial), delete; only ever the caller's own."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AUTH_RESPONSES, CurrentUser, UserSession
from core.errors import InputError, NotFoundError
from models import projects
from models.domain import ONE_LINE_OF_TEXT, TEXT_WITHOUT_NUL, ProjectSettings
from models.owned import MAX_PAGE_SIZE
from models.projects import MAX_TITLE_CHARS
from models.tables import Project
from tasks.avatar.actors import get_actor
from tasks.emotion.markup import MAX_SCRIPT_CHARS, parse_script
from tasks.render import STOCK_AVATARS
from tasks.voice.catalogue import choose_voice

router = APIRouter(prefix="/api/projects", tags=["projects"], responses=AUTH_RESPONSES)


class ProjectIn(BaseModel):
    """A new project."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS, pattern=ONE_LINE_OF_TEXT)
    script: str = Field(default="", max_length=MAX_SCRIPT_CHARS, pattern=TEXT_WITHOUT_NUL)
    settings: ProjectSettings = ProjectSettings()


class ProjectPatch(BaseModel):
    """Changes to a project; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE_CHARS,
                              pattern=ONE_LINE_OF_TEXT)
    script: str | None = Field(default=None, max_length=MAX_SCRIPT_CHARS,
                               pattern=TEXT_WITHOUT_NUL)
    settings: ProjectSettings | None = None


class ProjectOut(BaseModel):
    id: uuid.UUID
    title: str
    script: str
    settings: ProjectSettings
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        return cls(id=project.id, title=project.title, script=project.script,
                   settings=ProjectSettings.model_validate(project.settings),
                   created_at=project.created_at, updated_at=project.updated_at)


class ProjectPage(BaseModel):
    items: list[ProjectOut]
    total: int
    """How many projects the caller has in all."""
    limit: int
    offset: int


async def ready_project(session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID,
                        *, to: str) -> tuple[Project, ProjectSettings]:
    """The caller's project and its settings, once checked ready ``to`` ("render",
    "preview") it: a script with valid markup, an avatar, voice and effect they may use.

    Raises:
        NotFoundError: no such project of the caller's (404).
        InputError: no script, or unusable settings (422); ScriptError: a markup error,
            with its line and column.
    """
    project = await projects.get_project(session, user_id, project_id)
    settings = ProjectSettings.model_validate(project.settings)
    if not project.script.strip():
        raise InputError(f"the project has no script to {to}")
    parse_script(project.script)
    await check_settings(session, user_id, settings)
    return project, settings


async def check_settings(session: AsyncSession, user_id: uuid.UUID,
                         settings: ProjectSettings) -> None:
    """Refuse settings that name an avatar, voice or effect the user cannot use."""
    if settings.avatar not in STOCK_AVATARS:
        if settings.avatar.startswith("stock:"):
            raise InputError(f"avatar {settings.avatar!r} does not exist; stock avatars: "
                             f"{', '.join(STOCK_AVATARS)}")
        try:
            await get_actor(session, settings.avatar, user_id)
        except NotFoundError as exc:
            raise InputError(f"avatar {settings.avatar!r} does not exist: {exc}") from None
    if settings.voice or settings.effect:
        await choose_voice(session, settings.voice, settings.effect, user_id)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProjectOut)
async def create_project(body: ProjectIn, user: CurrentUser,
                         session: UserSession) -> ProjectOut:
    """Create a project owned by the caller."""
    await check_settings(session, user.id, body.settings)
    project = await projects.create_project(session, user.id, title=body.title,
                                            script=body.script, settings=body.settings)
    return ProjectOut.of(project)


@router.get("", response_model=ProjectPage)
async def list_projects(user: CurrentUser, session: UserSession,
                        limit: int = Query(20, ge=1, le=MAX_PAGE_SIZE),
                        offset: int = Query(0, ge=0, le=1_000_000)) -> ProjectPage:
    """The caller's projects, most recently changed first."""
    page, total = await projects.list_projects(session, user.id, limit=limit, offset=offset)
    return ProjectPage(items=[ProjectOut.of(p) for p in page], total=total, limit=limit,
                       offset=offset)


@router.get("/{project_id}", response_model=ProjectOut)
async def get_project(project_id: uuid.UUID, user: CurrentUser,
                      session: UserSession) -> ProjectOut:
    return ProjectOut.of(await projects.get_project(session, user.id, project_id))


@router.patch("/{project_id}", response_model=ProjectOut)
async def update_project(project_id: uuid.UUID, body: ProjectPatch, user: CurrentUser,
                         session: UserSession) -> ProjectOut:
    """Change the title, script and/or settings (settings are replaced as a whole)."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if nulls := sorted(name for name, value in changes.items() if value is None):
        raise InputError(f"{', '.join(nulls)} cannot be null; leave a field out to keep it")
    if body.settings is not None:
        await check_settings(session, user.id, body.settings)
    project = await projects.update_project(session, user.id, project_id, **changes)
    return ProjectOut.of(project)


@router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_project(project_id: uuid.UUID, user: CurrentUser,
                         session: UserSession) -> Response:
    await projects.delete_project(session, user.id, project_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
