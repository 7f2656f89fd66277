"""/api/auth over HTTP, on SQLite and PostgreSQL: studio accounts, sign-in, refresh and
sign-out, and the tokens they hand out working on the rest of the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import select, update

from core.db import session_scope
from models.tables import Account, AuthSession
from tests.support.api import SECRET

PASSWORD = "correct horse battery staple"
SIGNED_OUT = {"detail": "this session was signed out; sign in again"}


async def sign_up(http, email="ada@example.com", password=PASSWORD) -> dict:  # noqa: ANN001
    response = await http.post("/api/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    return response.json()


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_signing_up_hands_out_tokens_that_open_the_api(api):
    async with api.client() as http:
        tokens = await sign_up(http, email="  Ada@Example.com")
        me = await http.get("/api/me", headers=bearer(tokens))
        projects = await http.post("/api/projects", json={"title": "Bridge"},
                                   headers=bearer(tokens))

    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token", "user"}
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    assert tokens["user"]["email"] == "ada@example.com"
    assert me.status_code == 200
    assert me.json()["id"] == tokens["user"]["id"] and me.json()["email"] == "ada@example.com"
    assert projects.status_code == 201


async def test_the_access_token_is_a_jwt_for_the_account(api, configure):
    configure(ACCESS_TOKEN_TTL_S="120")
    async with api.client() as http:
        tokens = await sign_up(http)

    claims = jwt.decode(tokens["access_token"], SECRET, algorithms=["HS256"],
                        audience="authenticated")
    assert claims["sub"] == tokens["user"]["id"] and claims["email"] == "ada@example.com"
    assert claims["exp"] - claims["iat"] == 120 and tokens["expires_in"] == 120


async def test_an_email_signs_up_once_whatever_its_case(api):
    async with api.client() as http:
        await sign_up(http, email="ada@example.com")
        again = await http.post("/api/auth/signup",
                                json={"email": "ADA@example.com", "password": "other password"})

    assert again.status_code == 409
    assert again.json() == {"detail": "there is already an account with the email "
                                      "'ada@example.com'; sign in instead"}


@pytest.mark.parametrize(("body", "detail"), [
    ({"email": "ada", "password": PASSWORD}, "that is not an email address: 'ada'"),
    ({"email": "ada@example", "password": PASSWORD},
     "that is not an email address: 'ada@example'"),
    ({"email": "ada@example.com", "password": "short"},
     "the password must be at least 8 characters long"),
    ({"email": "ada@example.com", "password": "x" * 1025},
     "the password must be at most 1024 characters long"),
])
async def test_a_bad_email_or_password_is_refused_saying_why(api, body, detail):
    async with api.client() as http:
        response = await http.post("/api/auth/signup", json=body)
        nobody = await http.post("/api/auth/signin", json=body)

    assert response.status_code == 422
    assert response.json() == {"detail": detail}
    assert nobody.status_code == 401


@pytest.mark.parametrize("body", [
    {"email": "ada@example.com"},
    {"email": "ada@example.com", "password": PASSWORD, "admin": True},
])
async def test_a_malformed_body_is_refused(api, body):
    async with api.client() as http:
        signup = await http.post("/api/auth/signup", json=body)
        signin = await http.post("/api/auth/signin", json=body)

    assert signup.status_code == signin.status_code == 422


async def test_the_password_is_stored_only_as_an_argon2id_hash(api):
    async with api.client() as http:
        await sign_up(http)

    async with session_scope() as session:
        account = await session.scalar(select(Account))
    assert account is not None and account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash and PASSWORD not in account.email


async def test_signing_in_with_the_right_password_hands_out_new_tokens(api):
    async with api.client() as http:
        made = await sign_up(http)
        signed_in = await http.post("/api/auth/signin",
                                    json={"email": " ADA@example.com", "password": PASSWORD})
        me = await http.get("/api/me", headers=bearer(signed_in.json()))

    assert signed_in.status_code == 200
    tokens = signed_in.json()
    assert tokens["user"] == made["user"] and tokens["refresh_token"] != made["refresh_token"]
    assert me.json()["id"] == made["user"]["id"]


@pytest.mark.parametrize(("email", "password"), [
    ("ada@example.com", "wrong password"),
    ("bob@example.com", PASSWORD),
])
async def test_a_wrong_password_and_an_unknown_email_get_the_same_401(api, email, password):
    async with api.client() as http:
        await sign_up(http)
        response = await http.post("/api/auth/signin",
                                   json={"email": email, "password": password})

    assert response.status_code == 401
    assert response.json() == {"detail": "the email or password is wrong"}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_refresh_hands_out_new_tokens_and_spends_the_old_refresh_token(api):
    async with api.client() as http:
        first = await sign_up(http)
        refreshed = await http.post("/api/auth/refresh",
                                    json={"refresh_token": first["refresh_token"]})
        second = refreshed.json()
        me = await http.get("/api/me", headers=bearer(second))
        replayed = await http.post("/api/auth/refresh",
                                   json={"refresh_token": first["refresh_token"]})
        after_theft = await http.post("/api/auth/refresh",
                                      json={"refresh_token": second["refresh_token"]})

    assert refreshed.status_code == 200
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user"] == first["user"] and me.status_code == 200
    assert replayed.status_code == 401 and replayed.json() == SIGNED_OUT
    # The replay showed that two parties hold the session: neither keeps it.
    assert after_theft.status_code == 401 and after_theft.json() == SIGNED_OUT


async def test_a_refresh_token_can_be_used_again_and_again_through_its_successors(api):
    async with api.client() as http:
        tokens = await sign_up(http)
        for _ in range(3):
            response = await http.post("/api/auth/refresh",
                                       json={"refresh_token": tokens["refresh_token"]})
            assert response.status_code == 200, response.text
            tokens = response.json()


async def test_signing_out_ends_the_session(api):
    async with api.client() as http:
        tokens = await sign_up(http)
        other = (await http.post("/api/auth/signin",
                                 json={"email": "ada@example.com", "password": PASSWORD})).json()
        signed_out = await http.post("/api/auth/signout",
                                     json={"refresh_token": tokens["refresh_token"]})
        refused = await http.post("/api/auth/refresh",
                                  json={"refresh_token": tokens["refresh_token"]})
        elsewhere = await http.post("/api/auth/refresh",
                                    json={"refresh_token": other["refresh_token"]})
        unknown = await http.post("/api/auth/signout", json={"refresh_token": "made-up"})

    assert signed_out.status_code == 204 and signed_out.content == b""
    assert refused.status_code == 401 and refused.json() == SIGNED_OUT
    assert elsewhere.status_code == 200  # another sign-in's session goes on
    assert unknown.status_code == 204


async def test_an_expired_refresh_token_is_refused(api, configure):
    configure(REFRESH_TOKEN_TTL_S="60")
    async with api.client() as http:
        tokens = await sign_up(http)
        async with session_scope() as session:
            expires_at = await session.scalar(select(AuthSession.expires_at))
            await session.execute(update(AuthSession).values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        response = await http.post("/api/auth/refresh",
                                   json={"refresh_token": tokens["refresh_token"]})

    assert expires_at is not None
    assert abs(expires_at - (datetime.now(UTC) + timedelta(seconds=60))) < timedelta(seconds=10)
    assert response.status_code == 401
    assert response.json() == {"detail": "the session has expired; sign in again"}


async def test_a_refresh_token_that_was_never_issued_is_refused(api):
    async with api.client() as http:
        response = await http.post("/api/auth/refresh", json={"refresh_token": "made-up"})

    assert response.status_code == 401
    assert response.json() == {"detail": "the refresh token is not valid; sign in again"}


async def test_the_sign_in_link_of_local_mode_opens_the_local_account_once(api):
    from core.settings import get_settings
    from core.signin_link import issue_code

    code = issue_code(get_settings())
    async with api.client() as http:
        first = await http.post("/api/auth/link", json={"code": code})
        again = await http.post("/api/auth/link", json={"code": code})
        me = await http.get("/api/me", headers=bearer(first.json()))
        by_password = await http.post("/api/auth/signin", json={
            "email": "me@aurastudio.localhost", "password": "!"})
        taken = await http.post("/api/auth/signup", json={
            "email": "me@aurastudio.localhost", "password": PASSWORD})
        later = await http.post("/api/auth/link", json={"code": issue_code(get_settings())})

    assert first.status_code == 200, first.text
    assert first.json()["user"]["email"] == "me@aurastudio.localhost"
    assert me.json()["email"] == "me@aurastudio.localhost"
    assert again.status_code == 401 and "used already" in again.json()["detail"]
    assert by_password.status_code == 401  # the local account has no password
    assert taken.status_code == 409
    assert later.json()["user"]["id"] == first.json()["user"]["id"]  # the same account
