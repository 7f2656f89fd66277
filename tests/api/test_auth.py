"""The API over HTTP: who may call it, and the per-request session that acts as the caller.

Besides ``GET /api/me``, the tests mount a small probe router on the real app, so that
writes, failures and row-level security can be watched through ``UserSession`` itself.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import httpx
import jwt
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from sqlalchemy import func, select, text

from api.app import create_app
from api.deps import CurrentUser, UserSession
from core.auth import MIN_SECRET_BYTES, mint_token
from core.db import session_scope
from models.schema import upgrade_database
from models.tables import Project, UserProfile
from tests.support.databases import postgres_database

SECRET = "k" * MIN_SECRET_BYTES
ADA = uuid.UUID("0b7e3c52-94a1-4f36-8d5e-2a61c9f0e001")
BOB = uuid.UUID("0b7e3c52-94a1-4f36-8d5e-2a61c9f0e002")

probe = APIRouter(prefix="/probe")


@probe.post("/projects", status_code=201)
async def add_project(user: CurrentUser, session: UserSession) -> dict[str, str]:
    project = Project(user_id=user.id, title="Probe")
    session.add(project)
    await session.flush()
    return {"id": str(project.id)}


@probe.get("/projects/{project_id}")
async def read_project(project_id: uuid.UUID, user: CurrentUser,
                       session: UserSession) -> dict[str, str]:
    title = await session.scalar(
        select(Project.title).where(Project.id == project_id, Project.user_id == user.id))
    if title is None:
        raise HTTPException(404, "no such project")
    return {"title": title}


@probe.post("/projects/then-fail")
async def add_project_then_fail(user: CurrentUser, session: UserSession) -> None:
    session.add(Project(user_id=user.id, title="Never"))
    await session.flush()
    raise HTTPException(409, "changed my mind")


@probe.get("/everything")
async def everything(session: UserSession) -> dict[str, object]:
    """Every project and profile with no owner filter, and who the database thinks we are."""
    role, uid = (await session.execute(text("SELECT current_user, auth.uid()"))).one()
    return {
        "role": role, "uid": str(uid),
        "projects": sorted(str(owner) for owner in await session.scalars(
            select(Project.user_id))),
        "profiles": sorted(str(id_) for id_ in await session.scalars(select(UserProfile.id))),
    }


@probe.get("/everything-after-a-commit")
async def everything_after_a_commit(session: UserSession) -> dict[str, object]:
    """The same in a second transaction: the first is committed, giving the connection
    back, as a handler does before a slow call."""
    await session.execute(text("SELECT 1"))
    await session.commit()
    return await everything(session)


def make_app() -> FastAPI:
    app = create_app()
    app.include_router(probe)
    return app


def bearer(user_id: uuid.UUID, email: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(user_id, SECRET, email=email)}"}


async def call(method: str, path: str, *, headers: dict[str, str] | None = None,
               app: Callable[..., Awaitable[None]] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app or make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://aura") as client:
        return await client.request(method, path, headers=headers)


async def count(url: str, statement) -> int:
    """Counted on a connection of its own, as the owner: only committed rows show."""
    async with session_scope(url) as session:
        return await session.scalar(statement)


def at_response_start(app: FastAPI, look: Callable[[], Awaitable[int]],
                      seen: list[int]) -> Callable[..., Awaitable[None]]:
    """``app``, which records ``await look()`` the moment its response starts going out."""

    async def observed(scope, receive, send) -> None:
        async def send_after_looking(message) -> None:
            if message["type"] == "http.response.start":
                seen.append(await look())
            await send(message)

        await app(scope, receive, send_after_looking)

    return observed


@pytest.fixture
def api(configure, database_url: str) -> str:
    """The API's settings point at the test's migrated database; returns its URL."""
    configure(DATABASE_URL=database_url, JWT_SECRET=SECRET)
    return database_url


@pytest.mark.parametrize(
    ("make_headers", "detail"),
    [
        (lambda: {}, "no bearer token: send the header 'Authorization: Bearer <token>'"),
        (lambda: {"Authorization": "Basic YWRhOnNlY3JldA=="},
         "no bearer token: send the header 'Authorization: Bearer <token>'"),
        (lambda: {"Authorization": "Bearer garbled"}, "the token is not a valid JWT"),
        (lambda: {"Authorization": "Bearer " + jwt.encode(
            {"sub": str(ADA), "aud": "authenticated", "exp": int(time.time()) + 60},
            "x" * MIN_SECRET_BYTES, algorithm="HS256")},
         "the token's signature does not match"),
        (lambda: {"Authorization": "Bearer " + jwt.encode(
            {"sub": str(ADA), "aud": "anon", "exp": int(time.time()) + 60},
            SECRET, algorithm="HS256")},
         "the token is not for this audience (expected 'authenticated')"),
        (lambda: {"Authorization": "Bearer " + jwt.encode(
            {"sub": str(ADA), "aud": "authenticated", "exp": int(time.time()) - 3600},
            SECRET, algorithm="HS256")},
         "the token has expired"),
        (lambda: {"Authorization": "Bearer " + jwt.encode(
            {"sub": str(ADA), "aud": "authenticated", "exp": int(time.time()) + 60},
            None, algorithm="none")},
         "tokens signed with 'none' are refused"),
    ],
    ids=["no header", "basic scheme", "garbled", "wrong secret", "wrong audience", "expired",
         "alg none"],
)
async def test_a_call_without_a_trustworthy_token_is_401_with_the_reason(
    configure, make_headers: Callable[[], dict[str, str]], detail: str
) -> None:
    configure(JWT_SECRET=SECRET)

    response = await call("GET", "/api/me", headers=make_headers())

    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_the_first_call_makes_the_profile_and_later_calls_find_it(api: str) -> None:
    first = await call("GET", "/api/me", headers=bearer(ADA, "ada@example.com"))
    again = await call("GET", "/api/me", headers=bearer(ADA, "ada@example.com"))

    assert first.status_code == again.status_code == 200
    assert set(first.json()) == {"id", "email", "display_name", "created_at"}
    assert first.json()["id"] == str(ADA) and first.json()["email"] == "ada@example.com"
    assert first.json()["display_name"] is None
    assert datetime.fromisoformat(first.json()["created_at"]).tzinfo is not None
    assert again.json() == first.json()
    assert await count(api, select(func.count()).select_from(UserProfile)) == 1


async def test_profiles_may_have_no_email_and_an_email_is_never_taken_twice(api: str) -> None:
    carl, dora = uuid.uuid4(), uuid.uuid4()

    no_email = [await call("GET", "/api/me", headers=bearer(user)) for user in (carl, dora)]
    ada = await call("GET", "/api/me", headers=bearer(ADA, "shared@example.com"))
    # Bob's token carries Ada's email (Ada's old account, say): Bob still gets a profile.
    bob = await call("GET", "/api/me", headers=bearer(BOB, "shared@example.com"))

    assert [response.json()["email"] for response in no_email] == [None, None]
    assert ada.json()["email"] == "shared@example.com"
    assert bob.status_code == 200 and bob.json()["email"] is None
    assert await count(api, select(func.count()).select_from(UserProfile)) == 4


async def test_the_first_calls_profile_is_committed_before_its_response_starts(
    api: str,
) -> None:
    seen: list[int] = []

    async def profiles() -> int:
        return await count(api, select(func.count()).where(UserProfile.id == ADA))

    response = await call("GET", "/api/me", headers=bearer(ADA),
                          app=at_response_start(make_app(), profiles, seen))

    assert response.status_code == 200
    assert seen == [1]


async def test_a_write_is_committed_before_its_response_starts_and_read_back_at_once(
    api: str,
) -> None:
    seen: list[int] = []

    async def projects() -> int:
        return await count(api, select(func.count()).select_from(Project))

    created = await call("POST", "/probe/projects", headers=bearer(ADA),
                         app=at_response_start(make_app(), projects, seen))
    read = await call("GET", f"/probe/projects/{created.json()['id']}", headers=bearer(ADA))

    assert created.status_code == 201 and seen == [1]
    assert read.status_code == 200 and read.json() == {"title": "Probe"}


async def test_a_handler_that_fails_leaves_nothing_behind(api: str) -> None:
    response = await call("POST", "/probe/projects/then-fail", headers=bearer(ADA))

    assert response.status_code == 409 and response.json() == {"detail": "changed my mind"}
    assert await count(api, select(func.count()).select_from(Project)) == 0


@pytest.fixture
async def postgres_api(configure) -> AsyncIterator[str]:
    """The API on a fresh, migrated PostgreSQL database (row-level security is on)."""
    async with postgres_database() as url:
        await upgrade_database(url)
        configure(DATABASE_URL=url, JWT_SECRET=SECRET)
        yield url


async def test_on_postgresql_a_session_sees_only_the_callers_rows(postgres_api: str) -> None:
    for user in (ADA, BOB):
        assert (await call("POST", "/probe/projects", headers=bearer(user))).status_code == 201

    ada = (await call("GET", "/probe/everything", headers=bearer(ADA))).json()
    bob = (await call("GET", "/probe/everything", headers=bearer(BOB))).json()

    assert ada == {"role": "authenticated", "uid": str(ADA), "projects": [str(ADA)],
                   "profiles": [str(ADA)]}
    assert bob == {"role": "authenticated", "uid": str(BOB), "projects": [str(BOB)],
                   "profiles": [str(BOB)]}
    assert await count(postgres_api, select(func.count()).select_from(Project)) == 2


async def test_after_a_commit_the_session_still_acts_as_the_caller(postgres_api: str) -> None:
    for user in (ADA, BOB):
        assert (await call("POST", "/probe/projects", headers=bearer(user))).status_code == 201

    ada = (await call("GET", "/probe/everything-after-a-commit", headers=bearer(ADA))).json()

    assert ada == {"role": "authenticated", "uid": str(ADA), "projects": [str(ADA)],
                   "profiles": [str(ADA)]}
