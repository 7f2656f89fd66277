"""A Supabase project's signing keys (its JWKS), for tokens signed with ES256 or RS256.

Supabase projects with asymmetric JWT signing keys publish the public keys at
``<AURA_SUPABASE_URL>/auth/v1/.well-known/jwks.json``; a token names its key in the
header's ``kid``. The keys are fetched on first need and kept for ``KEYS_TTL_S``; a token
with an unknown ``kid`` (a key rotated in since) fetches them again, but at most once
every ``REFETCH_MIN_S``, so garbage tokens cannot make us hammer Supabase.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt

from core.errors import AuthError, TransientError

JWKS_PATH = "/auth/v1/.well-known/jwks.json"
KEYS_TTL_S = 600.0
REFETCH_MIN_S = 30.0
FETCH_TIMEOUT_S = 5.0
ALGORITHMS = frozenset({"ES256", "RS256"})
"""What Supabase signs with when a project uses asymmetric keys."""


class SupabaseKeys:
    """The signing keys of one Supabase project, cached; see the module docstring."""

    def __init__(self, project_url: str, *, transport: httpx.AsyncBaseTransport | None = None):
        self.project_url = project_url.rstrip("/")
        self.issuer = f"{self.project_url}/auth/v1"
        """The ``iss`` of the project's tokens."""
        self._transport = transport
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    def cached(self, kid: str) -> jwt.PyJWK | None:
        """The key ``kid`` if it is known and fresh, without fetching."""
        if time.monotonic() - self._fetched_at > KEYS_TTL_S:
            return None
        return self._keys.get(kid)

    async def key(self, kid: str) -> jwt.PyJWK:
        """The public key named ``kid``.

        Raises:
            AuthError: the project does not list that key.
            TransientError: the JWKS could not be fetched.
        """
        if (known := self.cached(kid)) is not None:
            return known
        async with self._lock:  # one fetch for many requests that need it at once
            if (known := self.cached(kid)) is not None:
                return known
            if kid not in self._keys and time.monotonic() - self._fetched_at < REFETCH_MIN_S:
                raise AuthError("the token is signed with a key this Supabase project "
                                "does not list")
            self._keys = await self._fetch()
            self._fetched_at = time.monotonic()
        if kid not in self._keys:
            raise AuthError("the token is signed with a key this Supabase project does "
                            "not list")
        return self._keys[kid]

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        url = self.project_url + JWKS_PATH
        try:
            async with httpx.AsyncClient(transport=self._transport,
                                         timeout=FETCH_TIMEOUT_S) as client:
                response = await client.get(url)
                response.raise_for_status()
                document: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TransientError(f"could not read the signing keys at {url}: {exc}",
                                 provider="supabase") from None
        keys = {}
        for entry in document.get("keys", []):
            if entry.get("kid") and entry.get("alg") in ALGORITHMS:
                try:
                    keys[entry["kid"]] = jwt.PyJWK(entry)
                except jwt.PyJWKError:
                    continue  # a key type this PyJWT cannot use: tokens using it fail
        return keys


_projects: dict[str, SupabaseKeys] = {}


def supabase_keys(project_url: str) -> SupabaseKeys:
    """The process's key cache for the project at ``project_url``."""
    if project_url not in _projects:
        _projects[project_url] = SupabaseKeys(project_url)
    return _projects[project_url]
