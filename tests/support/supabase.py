"""A Supabase project with asymmetric signing keys, stood in for on a loopback socket:
its keys, its JWKS endpoint (``/auth/v1/.well-known/jwks.json``) and tokens it signs.

Fixture (a pytest plugin, registered in tests/conftest.py): ``supabase_project``.
"""

from __future__ import annotations

import json
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


class Project:
    """A Supabase project stand-in: its keys, its JWKS endpoint, its tokens."""

    def __init__(self) -> None:
        self.keys: dict[str, object] = {"ec-1": ec.generate_private_key(ec.SECP256R1())}
        self.server = None

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


@pytest.fixture
def supabase_project(monkeypatch):
    import core.jwks

    monkeypatch.setattr(core.jwks, "_projects", {})  # no keys cached across tests
    stand_in = Project()
    with serve(stand_in.jwks) as server:
        stand_in.server = server
        yield stand_in
