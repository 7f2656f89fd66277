"""Liveness and readiness: is the API up, and can it reach its database and storage?"""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel
from sqlalchemy import text

from core.db import session_scope
from core.settings import get_settings
from core.storage import get_storage

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    storage: str


@router.get("/health", response_model=Health)
async def health(response: Response) -> Health:
    """``ok`` when the database answers and the storage can be reached; 503 otherwise."""
    settings = get_settings()
    database = storage = "ok"
    try:
        async with session_scope() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        database = f"unreachable: {type(exc).__name__}"
    try:
        get_storage(settings).exists("health/probe")
    except Exception as exc:
        storage = f"unreachable: {type(exc).__name__}"
    healthy = database == storage == "ok"
    if not healthy:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if healthy else "degraded", database=database, storage=storage)
