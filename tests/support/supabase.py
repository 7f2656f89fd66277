"""A Supabase project with asymmetric signing keys, stood in for on a loopback socket:
its keys, its JWKS endpoint (``/auth/v1/.well-known/jwks.json``), tokens it signs, and
the Auth routes the studio signs in through (signup, token, logout), answering as
Supabase Auth does, errors included.

Fixture (a pytest plugin, registered in tests/conftest.py): ``supabase_project``.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from core.auth import AUDIENCE
from core.jwks import JWKS_PATH
from tests.support.loopback import serve

USER = uuid.UUID("7f1e0c8a-5b2d-4c3e-9a61-0e2f4b5c6d7e")
ANON_KEY = "sb_publishable_test-anon-key"


class Project:
    """A Supabase project stand-in: its keys, its JWKS endpoint, its tokens."""

    def __init__(self) -> None:
        self.keys: dict[str, object] = {"ec-1": ec.generate_private_key(ec.SECP256R1())}
        self.server = None
        self.users: dict[str, tuple[uuid.UUID, str]] = {}
        """email -> (user id, password)."""
        self.refresh_tokens: dict[str, str] = {}
        """Live refresh tokens -> the email of their user."""
        self.confirm_email = False
        """Whether a sign-up waits for the email to be confirmed (no session yet)."""

    def answer(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return self.jwks(request)
        if request.headers.get("apikey") != ANON_KEY:
            return httpx.Response(401, json={"message": "Invalid API key"})
        body = json.loads(request.content or b"{}")
        route = (request.url.path, request.url.params.get("grant_type"))
        if route == ("/auth/v1/signup", None):
            return self._sign_up(body["email"].lower(), body["password"])
        if route == ("/auth/v1/token", "password"):
            known = self.users.get(body["email"].lower())
            if known is None or known[1] != body["password"]:
                return _error(400, "invalid_credentials", "Invalid login credentials")
            return self._session(body["email"].lower())
        if route == ("/auth/v1/token", "refresh_token"):
            email = self.refresh_tokens.pop(body["refresh_token"], None)
            if email is None:
                return _error(400, "refresh_token_not_found",
                              "Invalid Refresh Token: Refresh Token Not Found")
            return self._session(email)
        if route == ("/auth/v1/logout", None):
            claims = jwt.decode(request.headers["authorization"].split()[1],
                                options={"verify_signature": False})
            self.refresh_tokens = {token: email for token, email in self.refresh_tokens.items()
                                   if self.users[email][0] != uuid.UUID(claims["sub"])}
            return httpx.Response(204)
        return httpx.Response(404, json={"message": "no route"})

    def _sign_up(self, email: str, password: str) -> httpx.Response:
        if email in self.users:
            return _error(422, "user_already_exists", "User already registered")
        if len(password) < 6:
            return _error(422, "weak_password", "Password should be at least 6 characters.")
        self.users[email] = (uuid.uuid4(), password)
        if self.confirm_email:
            return httpx.Response(200, json={"id": str(self.users[email][0]), "email": email})
        return self._session(email)

    def _session(self, email: str) -> httpx.Response:
        user_id = self.users[email][0]
        refresh_token = secrets.token_urlsafe(16)
        self.refresh_tokens[refresh_token] = email
        return httpx.Response(200, json={
            "access_token": self.token(sub=user_id, email=email), "token_type": "bearer",
            "expires_in": 300, "expires_at": int(time.time()) + 300,
            "refresh_token": refresh_token, "user": {"id": str(user_id), "email": email}})

    def jwks(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == JWKS_PATH
        entries = []
        for kid, key in self.keys.items():
            algorithm = jwt.algorithms.ECAlgorithm if kid.startswith("ec") \
                else jwt.algorithms.RSAAlgorithm
            entry = json.loads(algorithm.to_jwk(key.public_key()))
            entries.append({**entry, "kid": kid, "alg": "ES256" if kid.startswith("ec")
                            else "RS256", "use": "sig"})
        return httpx.Response(200, json={"keys": entries})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def token(self, kid: str = "ec-1", *, issuer: str | None = None, sub: uuid.UUID = USER,
              **claims: object) -> str:
        now = int(time.time())
        payload = {"sub": str(sub), "aud": AUDIENCE, "role": "authenticated", "iat": now,
                   "exp": now + 300, "iss": issuer or f"{self.url}/auth/v1", **claims}
        return jwt.encode(payload, self.keys[kid], algorithm="ES256" if kid.startswith("ec")
                          else "RS256", headers={"kid": kid})


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"code": status, "error_code": code, "msg": message})


@pytest.fixture
def supabase_project(monkeypatch):
    import core.jwks

    monkeypatch.setattr(core.jwks, "_projects", {})  # no keys cached across tests
    stand_in = Project()
    with serve(stand_in.answer) as server:
        stand_in.server = server
        yield stand_in
