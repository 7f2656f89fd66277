"""GET /health reports whether the API can reach its database and storage."""

from __future__ import annotations

import httpx

from api.app import create_app
from models.schema import upgrade_database


async def get_health() -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://aura") as client:
        return await client.get("/health")


async def test_health_is_ok_when_database_and_storage_answer(configure, database_url):
    configure(DATABASE_URL=database_url)
    await upgrade_database()
    response = await get_health()
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "storage": "ok"}


async def test_health_is_503_when_the_database_is_unreachable(configure):
    configure(DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    response = await get_health()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["database"].startswith("unreachable")
    assert body["storage"] == "ok"
