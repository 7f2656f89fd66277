"""Bearer tokens: minted like Supabase's, and every untrustworthy one refused with a reason."""

from __future__ import annotations

import base64
import json
import stat
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest

from core.auth import (
    LEEWAY_S,
    MIN_SECRET_BYTES,
    Claims,
    decode_token,
    jwt_secret,
    mint_token,
    user_id_for,
)
from core.errors import AuthError, ConfigError, InputError

SECRET = "s" * MIN_SECRET_BYTES
USER = uuid.UUID("6f1c1f4e-3b7a-4d53-9a39-0c2b8e0f7d11")


def signed(claims: dict[str, object], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def valid_claims(**changes: object) -> dict[str, object]:
    now_s = int(time.time())
    claims: dict[str, object] = {"sub": str(USER), "aud": "authenticated", "iat": now_s,
                                 "exp": now_s + 600, "role": "authenticated"}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def unsigned(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_a_minted_token_decodes_to_its_claims() -> None:
    token = mint_token(USER, SECRET, ttl_s=120, email="ada@example.com")

    claims = decode_token(token, SECRET)

    assert isinstance(claims, Claims)
    assert claims.sub == USER and claims.aud == "authenticated"
    assert claims.role == "authenticated" and claims.email == "ada@example.com"
    assert claims.iat is not None and claims.exp == claims.iat + 120


def test_claims_beyond_the_known_ones_are_kept() -> None:
    claims = decode_token(signed(valid_claims(session_id="abc")), SECRET)

    assert claims.model_dump(mode="json")["session_id"] == "abc"


def test_a_token_needs_a_positive_lifetime() -> None:
    with pytest.raises(InputError, match="positive number of seconds, not 0"):
        mint_token(USER, SECRET, ttl_s=0)


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda: unsigned(valid_claims()), "tokens signed with 'none' are refused"),
        (lambda: signed(valid_claims(), "x" * MIN_SECRET_BYTES),
         "the token's signature does not match"),
        (lambda: signed(valid_claims(aud="someone-else")),
         "the token is not for this audience (expected 'authenticated')"),
        (lambda: signed(valid_claims(exp=int(time.time()) - 3600)), "the token has expired"),
        (lambda: signed(valid_claims(exp=None)), "the token has no expiry"),
        (lambda: signed(valid_claims(sub=None)), "the token has no subject (user id)"),
        (lambda: signed(valid_claims(aud=None)), "the token has no audience"),
        (lambda: signed(valid_claims(sub="not-a-uuid")), "the token's claims are malformed: sub"),
        (lambda: jwt.encode(valid_claims(), SECRET * 2, algorithm="HS512"),
         "tokens signed with 'HS512' are refused; only HS256 is accepted"),
        (lambda: "garbled", "the token is not a valid JWT"),
        (lambda: "a.b.c", "the token is not a valid JWT"),
    ],
    ids=["alg none", "wrong secret", "wrong audience", "expired", "no exp", "no sub",
         "no aud", "sub not a uuid", "another algorithm", "garbled", "three bad parts"],
)
def test_an_untrustworthy_token_is_refused_with_a_plain_reason(
    make_token: Callable[[], str], reason: str
) -> None:
    with pytest.raises(AuthError) as refusal:
        decode_token(make_token(), SECRET)

    assert str(refusal.value) == reason


def test_user_ids_of_names_are_stable_and_a_uuid_is_taken_as_it_is() -> None:
    assert user_id_for("ada") == user_id_for("ada") == user_id_for(" ada ")
    assert user_id_for("ada") != user_id_for("Ada")
    assert user_id_for("ada").version == 5
    assert user_id_for(str(USER)) == USER


def test_a_user_name_cannot_be_empty() -> None:
    with pytest.raises(InputError, match="cannot be empty"):
        user_id_for("  ")


def test_the_configured_secret_is_used_and_must_be_long_enough(configure) -> None:
    configured = "c" * MIN_SECRET_BYTES
    assert jwt_secret(configure(JWT_SECRET=configured)) == configured

    with pytest.raises(ConfigError, match="AURA_JWT_SECRET is 5 bytes long; it must be at "
                                          "least 32"):
        jwt_secret(configure(JWT_SECRET="short"))


def test_without_a_configured_secret_a_local_one_is_made_once_and_kept(
    configure, monkeypatch
) -> None:
    monkeypatch.delenv("AURA_JWT_SECRET", raising=False)
    settings = configure()
    path = settings.home / "jwt-secret"
    assert not path.exists()

    secret = jwt_secret(settings)

    assert len(secret.encode()) >= MIN_SECRET_BYTES
    assert path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert jwt_secret(settings) == secret
    assert [entry.name for entry in path.parent.iterdir()] == ["jwt-secret"]


def test_callers_racing_to_make_the_local_secret_agree_on_one(configure, monkeypatch) -> None:
    monkeypatch.delenv("AURA_JWT_SECRET", raising=False)
    settings = configure()

    with ThreadPoolExecutor(max_workers=8) as pool:
        made = set(pool.map(lambda _: jwt_secret(settings), range(16)))

    assert made == {(settings.home / "jwt-secret").read_text().strip()}


def test_a_damaged_local_secret_is_reported(configure, monkeypatch) -> None:
    monkeypatch.delenv("AURA_JWT_SECRET", raising=False)
    settings = configure()
    settings.home.mkdir(parents=True)
    (settings.home / "jwt-secret").write_text("short\n")

    with pytest.raises(ConfigError, match="delete the file to have a new one made"):
        jwt_secret(settings)


def test_a_token_verified_before_is_still_refused_once_it_expires(monkeypatch) -> None:
    user = uuid.uuid4()
    token = mint_token(user, SECRET, ttl_s=60)
    assert decode_token(token, SECRET).sub == user
    assert decode_token(token, SECRET).sub == user  # from the cache of verified tokens
    later_s = time.time() + 60 + LEEWAY_S + 1
    monkeypatch.setattr("core.auth.time.time", lambda: later_s)
    with pytest.raises(AuthError, match="^the token has expired$"):
        decode_token(token, SECRET)


def test_a_verified_token_is_not_trusted_under_another_secret() -> None:
    token = mint_token(uuid.uuid4(), SECRET)
    decode_token(token, SECRET)
    with pytest.raises(AuthError, match="signature"):
        decode_token(token, "o" * MIN_SECRET_BYTES)
