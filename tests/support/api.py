"""The API in tests: the real app on the test's database, called over HTTP in-process.

Fixtures (a pytest plugin, registered in tests/conftest.py):

- ``api``: the app's settings point at the test's migrated database (``database_url``:
  SQLite and PostgreSQL) with a known JWT secret, and the stock rows are written as the
  owner, as ``aura serve`` does at startup. Returns a :class:`Api`.

    async with api.client() as http:
        response = await http.get("/api/projects", headers=api.bearer(ADA))
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from core.auth import MIN_SECRET_BYTES, mint_token

SECRET = "s" * MIN_SECRET_BYTES
ADA = uuid.UUID("0b7e3c52-94a1-4f36-8d5e-2a61c9f0e0a1")
BOB = uuid.UUID("0b7e3c52-94a1-4f36-8d5e-2a61c9f0e0b2")


class Api:
    def __init__(self, database_url: str):
        self.database_url = database_url

    def app(self) -> FastAPI:
        from api.app import create_app

        return create_app()

    @asynccontextmanager
    async def client(self, app: FastAPI | None = None) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app or self.app())
        async with httpx.AsyncClient(transport=transport, base_url="http://aura") as client:
            yield client

    @staticmethod
    def bearer(user_id: uuid.UUID) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(user_id, SECRET)}"}


async def make_project(http: httpx.AsyncClient, script: str, user: uuid.UUID = ADA,
                       **settings: object) -> str:
    """A project of ``user``'s with ``script`` and ``settings``, made over HTTP; its id."""
    response = await http.post("/api/projects", json={"title": "Bridge", "script": script,
                                                      "settings": settings},
                               headers=Api.bearer(user))
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
async def api(configure, database_url: str) -> Api:
    from api.app import prepare_database

    configure(DATABASE_URL=database_url, JWT_SECRET=SECRET)
    await prepare_database()
    return Api(database_url)
