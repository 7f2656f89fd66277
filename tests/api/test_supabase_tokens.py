"""With ``AURA_SUPABASE_URL`` set, the API takes the project's own tokens (ES256, checked
against its JWKS) as it takes its HS256 ones: same user, same rows, same refusals. With
``AURA_SUPABASE_ANON_KEY`` too, the studio's sign-in goes through Supabase Auth."""

from __future__ import annotations

from sqlalchemy import select

from core.db import session_scope
from models.tables import Account
from tests.support.api import ADA, Api
from tests.support.supabase import ANON_KEY, USER


async def test_a_supabase_users_token_opens_the_api_as_that_user(api, configure,
                                                                 supabase_project):
    configure(SUPABASE_URL=supabase_project.url)
    token = {"Authorization": f"Bearer {supabase_project.token(email='sb@example.com')}"}
    async with api.client() as http:
        me = await http.get("/api/me", headers=token)
        made = await http.post("/api/projects", json={"title": "From Supabase"}, headers=token)
        theirs = await http.get("/api/projects", headers=token)
        others = await http.get("/api/projects", headers=Api.bearer(ADA))

    assert me.status_code == 200, me.text
    assert me.json()["id"] == str(USER) and me.json()["email"] == "sb@example.com"
    assert made.status_code == 201
    assert [p["title"] for p in theirs.json()["items"]] == ["From Supabase"]
    assert others.json()["total"] == 0  # HS256 tokens still work, for their own user


async def test_a_token_of_another_project_is_401_with_the_reason(api, configure,
                                                                 supabase_project):
    configure(SUPABASE_URL=supabase_project.url)
    foreign = supabase_project.token(issuer="https://other.supabase.co/auth/v1")
    async with api.client() as http:
        refused = await http.get("/api/me", headers={"Authorization": f"Bearer {foreign}"})

    assert refused.status_code == 401
    assert refused.json() == {"detail": "the token was not issued by the configured "
                                        "Supabase project"}


async def test_when_the_project_cannot_be_reached_the_answer_is_503(api, configure,
                                                                  supabase_project):
    token = supabase_project.token()
    configure(SUPABASE_URL="http://127.0.0.1:9")
    async with api.client() as http:
        answer = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 503 and "Retry-After" in answer.headers
    assert "could not read the signing keys" in answer.json()["detail"]


def through_supabase(configure, project) -> None:  # noqa: ANN001
    configure(SUPABASE_URL=project.url, SUPABASE_ANON_KEY=ANON_KEY)


async def test_the_studio_signs_up_and_in_through_supabase_auth(api, configure,
                                                                supabase_project):
    through_supabase(configure, supabase_project)
    credentials = {"email": "Ada@Example.com", "password": "correct horse"}
    async with api.client() as http:
        made = await http.post("/api/auth/signup", json=credentials)
        again = await http.post("/api/auth/signin", json=credentials)
        me = await http.get("/api/me", headers={
            "Authorization": f"Bearer {again.json()['access_token']}"})
        wrong = await http.post("/api/auth/signin", json={**credentials, "password": "nope!"})
        taken = await http.post("/api/auth/signup", json=credentials)
        weak = await http.post("/api/auth/signup", json={"email": "b@example.com",
                                                          "password": "abc"})

    assert made.status_code == 201, made.text
    user_id = str(supabase_project.users["ada@example.com"][0])
    assert made.json()["user"] == {"id": user_id, "email": "ada@example.com"}
    assert again.status_code == 200 and again.json()["token_type"] == "bearer"
    assert me.status_code == 200 and me.json()["id"] == user_id  # checked with the JWKS
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "the email or password is wrong"}
    assert taken.status_code == 409
    assert weak.status_code == 422
    assert weak.json()["detail"] == "Supabase refused: Password should be at least 6 " \
                                    "characters."
    async with session_scope() as session:  # no local account was made
        assert (await session.scalars(select(Account))).all() == []


async def test_refresh_and_sign_out_go_through_supabase(api, configure, supabase_project):
    through_supabase(configure, supabase_project)
    async with api.client() as http:
        tokens = (await http.post("/api/auth/signup", json={
            "email": "ada@example.com", "password": "correct horse"})).json()
        renewed = await http.post("/api/auth/refresh",
                                  json={"refresh_token": tokens["refresh_token"]})
        spent = await http.post("/api/auth/refresh",
                                json={"refresh_token": tokens["refresh_token"]})
        latest = renewed.json()
        out = await http.post("/api/auth/signout", json={"refresh_token": latest["refresh_token"]},
                              headers={"Authorization": f"Bearer {latest['access_token']}"})
        after = await http.post("/api/auth/refresh",
                                json={"refresh_token": latest["refresh_token"]})

    assert renewed.status_code == 200 and latest["refresh_token"] != tokens["refresh_token"]
    assert spent.status_code == 401
    assert spent.json() == {"detail": "this session was signed out; sign in again"}
    assert out.status_code == 204
    assert after.status_code == 401  # Supabase ended the session


async def test_a_project_that_wants_emails_confirmed_says_so(api, configure,
                                                             supabase_project):
    through_supabase(configure, supabase_project)
    supabase_project.confirm_email = True
    async with api.client() as http:
        answer = await http.post("/api/auth/signup", json={
            "email": "ada@example.com", "password": "correct horse"})

    assert answer.status_code == 403
    assert answer.json()["detail"].startswith("check ada@example.com: Supabase sent a link")
