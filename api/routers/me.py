"""GET /api/me: the caller's own profile (made on their first request)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from api.deps import AUTH_RESPONSES, CurrentUser, UserSession
from models.tables import UserProfile

router = APIRouter(prefix="/api", tags=["me"], responses=AUTH_RESPONSES)


class Me(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    email: str | None
    display_name: str | None
    created_at: datetime


@router.get("/me", response_model=Me)
async def me(user: CurrentUser, session: UserSession) -> Me:
    """The caller's profile: id (the token's ``sub``), email, display name, since when."""
    return Me.model_validate(await session.get_one(UserProfile, user.id))
