"""Tokens of a Supabase project with asymmetric signing keys (ES256, RS256), verified
against its JWKS, which a loopback stand-in of the project publishes."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import core.jwks
from core.auth import AUDIENCE, MIN_SECRET_BYTES, mint_token, peek_bearer, verify_bearer
from core.errors import AuthError, TransientError
from core.jwks import SupabaseKeys
from core.settings import Settings
from tests.support.supabase import USER, Project

SECRET = "h" * MIN_SECRET_BYTES


@pytest.fixture
def project(supabase_project: Project) -> Project:
    return supabase_project


def settings_for(project: Project) -> Settings:
    return Settings(supabase_url=project.url, jwt_secret=SECRET)


async def test_a_token_signed_with_a_listed_key_is_accepted(project):
    claims = await verify_bearer(project.token(email="ada@example.com"), settings_for(project))

    assert claims.sub == USER and claims.email == "ada@example.com"


async def test_the_keys_are_fetched_once_and_then_kept(project):
    settings = settings_for(project)
    for _ in range(3):
        await verify_bearer(project.token(), settings)

    assert len(project.server.requests) == 1


async def test_a_key_rotated_in_is_found_by_fetching_again(project, monkeypatch):
    settings = settings_for(project)
    await verify_bearer(project.token(), settings)
    project.keys["rsa-2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    monkeypatch.setattr(core.jwks, "REFETCH_MIN_S", 0.0)

    claims = await verify_bearer(project.token("rsa-2"), settings)

    assert claims.sub == USER and len(project.server.requests) == 2


async def test_an_unlisted_key_is_refused_without_hammering_the_project(project):
    settings = settings_for(project)
    await verify_bearer(project.token(), settings)
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode({"sub": str(USER), "aud": AUDIENCE, "exp": int(time.time()) + 60},
                        stranger, algorithm="ES256", headers={"kid": "ec-9"})

    for _ in range(3):
        with pytest.raises(AuthError, match="does not list"):
            await verify_bearer(forged, settings)
    assert len(project.server.requests) == 1  # refetched at most once every 30 s


async def test_a_token_of_another_issuer_or_key_is_refused(project):
    settings = settings_for(project)
    other_issuer = project.token(issuer="https://evil.supabase.co/auth/v1")
    header, payload, _ = project.token().split(".")
    _, _, other_signature = project.token(email="x@example.com").split(".")

    with pytest.raises(AuthError, match="not issued by the configured Supabase project"):
        await verify_bearer(other_issuer, settings)
    with pytest.raises(AuthError, match="signature does not match"):
        await verify_bearer(f"{header}.{payload}.{other_signature}", settings)


async def test_our_own_hs256_tokens_are_still_accepted_beside_supabase_ones(project):
    claims = await verify_bearer(mint_token(USER, SECRET), settings_for(project))

    assert claims.sub == USER


async def test_without_a_project_asymmetric_tokens_are_refused(project):
    with pytest.raises(AuthError, match="only HS256 is accepted"):
        await verify_bearer(project.token(), Settings(jwt_secret=SECRET))


async def test_an_unreachable_project_is_a_transient_error():
    keys = SupabaseKeys("http://127.0.0.1:9")
    with pytest.raises(TransientError, match="could not read the signing keys"):
        await keys.key("ec-1")


async def test_peeking_uses_only_keys_already_fetched(project):
    settings = settings_for(project)
    token = project.token()

    assert peek_bearer(token, settings) is None and project.server.requests == []
    await verify_bearer(token, settings)
    assert peek_bearer(token, settings).sub == USER
