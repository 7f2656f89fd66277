"""Bearer tokens of the API: Supabase-compatible JWTs, signed with HS256 and one secret.

A token's claims are Supabase's: ``sub`` (the user's UUID), ``aud`` (``"authenticated"``),
``exp`` and ``iat`` (Unix seconds), ``role`` and, optionally, ``email``. Only HS256 is
accepted: a token that names another algorithm, ``none`` above all, is refused before its
signature is looked at.

The secret is ``AURA_JWT_SECRET`` (in production, the Supabase project's JWT secret).
Without it, a random secret is made once and kept in ``AURA_HOME/jwt-secret`` (mode 0600),
so that ``aura token`` and an API on the same machine and home agree.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import jwt
from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import AuthError, ConfigError, InputError
from core.settings import Settings

ALGORITHM = "HS256"
AUDIENCE = "authenticated"
MIN_SECRET_BYTES = 32
"""RFC 7518 section 3.2: an HS256 key must be at least as long as the hash (256 bits)."""
LEEWAY_S = 30
"""Clock difference tolerated between the token's issuer and this machine."""
SECRET_FILE_NAME = "jwt-secret"
USER_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "aurastudio:users")
"""Namespace of :func:`user_id_for`; fixed, so a name keeps its id everywhere, always."""

_EXPIRED = "the token has expired"
_REFUSALS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    # Most specific first: InvalidSignatureError is a DecodeError, for one.
    (jwt.ExpiredSignatureError, _EXPIRED),
    (jwt.InvalidSignatureError, "the token's signature does not match"),
    (jwt.InvalidAudienceError, f"the token is not for this audience (expected '{AUDIENCE}')"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidIssuerError, "the token was not issued by the configured Supabase project"),
    (jwt.InvalidTokenError, "the token is not a valid JWT"),
)
_MISSING_CLAIMS = {
    "exp": "the token has no expiry",
    "sub": "the token has no subject (user id)",
    "aud": "the token has no audience",
}


class Claims(BaseModel):
    """The claims of a verified token; claims beyond these are kept as extra fields."""

    model_config = ConfigDict(extra="allow", frozen=True)

    sub: uuid.UUID
    aud: str | list[str]
    exp: int
    iat: int | None = None
    role: str = "authenticated"
    email: str | None = None


VERIFIED_CACHE_SIZE = 4096
"""Tokens whose signature and claims were verified, kept so that a client's every
request does not pay for HMAC and claim checks again (expiry is checked on every use)."""
_verified: OrderedDict[tuple[str, str], Claims] = OrderedDict()
_verified_lock = threading.Lock()


def decode_token(token: str, secret: str) -> Claims:
    """Verify a bearer token and return its claims (see :func:`verify_token`); a token
    verified before is only checked for expiry."""
    with _verified_lock:
        claims = _verified.get((secret, token))
        if claims is not None:
            _verified.move_to_end((secret, token))
    if claims is not None:
        if claims.exp + LEEWAY_S < time.time():
            raise AuthError(_EXPIRED)
        return claims
    claims = verify_token(token, secret)
    with _verified_lock:
        _verified[(secret, token)] = claims
        if len(_verified) > VERIFIED_CACHE_SIZE:
            _verified.popitem(last=False)
    return claims


def verify_token(token: str, secret: str) -> Claims:
    """Verify a bearer token and return its claims.

    Args:
        token: the compact JWT (``header.payload.signature``).
        secret: the HS256 secret it must be signed with.

    Raises:
        AuthError: the token is garbled, not HS256, signed with another secret, for
            another audience, expired, or lacks ``exp``, ``sub`` or ``aud``; the message
            says which, in plain words.
    """
    algorithm = _header(token).get("alg")
    if str(algorithm).lower() == "none":
        raise AuthError("tokens signed with 'none' are refused")
    if algorithm != ALGORITHM:
        raise AuthError(
            f"tokens signed with '{algorithm}' are refused; only {ALGORITHM} is accepted")
    return _verified_claims(token, secret, ALGORITHM)


async def verify_bearer(token: str, settings: Settings) -> Claims:
    """The claims of a caller's bearer token, by how it is signed: HS256 with
    :func:`jwt_secret`; ES256 or RS256, when ``AURA_SUPABASE_URL`` names a Supabase
    project, with that project's published key (core/jwks.py).

    Raises:
        AuthError: as :func:`verify_token`; for an asymmetric token also a key the
            project does not list, or another issuer than the project.
        TransientError: the project's keys could not be fetched.
    """
    from core.jwks import ALGORITHMS, supabase_keys

    header = _header(token)
    if header.get("alg") in ALGORITHMS and settings.supabase_url:
        keys = supabase_keys(settings.supabase_url)
        key = await keys.key(str(header.get("kid", "")))
        return _verified_claims(token, key.key, str(header["alg"]), issuer=keys.issuer)
    return decode_token(token, jwt_secret(settings))


def peek_bearer(token: str, settings: Settings) -> Claims | None:
    """The claims of a valid token without any waiting (no key fetch): None when it is
    invalid or its key is not cached yet. For counting requests, not for trusting them."""
    from core.jwks import ALGORITHMS, supabase_keys

    try:
        header = _header(token)
        if header.get("alg") in ALGORITHMS and settings.supabase_url:
            keys = supabase_keys(settings.supabase_url)
            key = keys.cached(str(header.get("kid", "")))
            return None if key is None else _verified_claims(
                token, key.key, str(header["alg"]), issuer=keys.issuer)
        return decode_token(token, jwt_secret(settings))
    except AuthError:
        return None


def _header(token: str) -> dict[str, object]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise AuthError("the token is not a valid JWT") from None


def _verified_claims(token: str, key: object, algorithm: str, *,
                     issuer: str | None = None) -> Claims:
    try:
        payload = jwt.decode(token, key, algorithms=[algorithm], audience=AUDIENCE,
                             issuer=issuer, leeway=LEEWAY_S,
                             options={"require": ["exp", "sub", "aud"]})
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(_MISSING_CLAIMS.get(exc.claim, f"the token has no '{exc.claim}'")
                        ) from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(next(message for kind, message in _REFUSALS if isinstance(exc, kind))
                        ) from None
    try:
        return Claims.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(sorted({str(error["loc"][0]) for error in exc.errors()}))
        raise AuthError(f"the token's claims are malformed: {fields}") from None


def mint_token(user_id: uuid.UUID, secret: str, *, ttl_s: int = 3600,
               email: str | None = None) -> str:
    """A token for ``user_id``, shaped like Supabase's, valid for ``ttl_s`` seconds.

    Raises:
        InputError: ``ttl_s`` is not positive.
    """
    if ttl_s <= 0:
        raise InputError(f"a token's lifetime must be a positive number of seconds, not {ttl_s}")
    now_s = int(time.time())
    claims: dict[str, object] = {"sub": str(user_id), "aud": AUDIENCE, "role": "authenticated",
                                 "iat": now_s, "exp": now_s + ttl_s}
    if email is not None:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def user_id_for(name: str) -> uuid.UUID:
    """The user id of a local user name: a UUID as it is, any other name its uuid5.

    Raises:
        InputError: the name is empty.
    """
    name = name.strip()
    if not name:
        raise InputError("a user name cannot be empty")
    try:
        return uuid.UUID(name)
    except ValueError:
        return uuid.uuid5(USER_NAMESPACE, name)


def jwt_secret(settings: Settings) -> str:
    """The HS256 secret: ``AURA_JWT_SECRET``, or the local one in ``home/jwt-secret``.

    The local secret is made on first use (48 random bytes, URL-safe text) and written
    atomically with mode 0600; processes that race to make it all end up with the one
    that reached the file first.

    Raises:
        ConfigError: the secret is shorter than :data:`MIN_SECRET_BYTES`.
    """
    configured = settings.jwt_secret.get_secret_value().strip() if settings.jwt_secret else ""
    if configured:
        if len(configured.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"AURA_JWT_SECRET is {len(configured.encode())} bytes long; it must be at "
                f"least {MIN_SECRET_BYTES} (for example the output of 'openssl rand -base64 48')"
            )
        return configured
    path = settings.home / SECRET_FILE_NAME
    if (known := _local_secrets.get(path)) is not None:
        return known
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = _create_secret_file(path)
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"the JWT secret in {path} is shorter than {MIN_SECRET_BYTES} bytes; "
                          "delete the file to have a new one made")
    _local_secrets[path] = secret
    return secret


_local_secrets: dict[Path, str] = {}
"""Local secrets already read, by file: every request checks a token, and the file is
read once per process (a new secret takes effect when the API restarts)."""


def _create_secret_file(path: Path) -> str:
    """Write a new secret to ``path`` unless another process got there first; returns the
    secret the file holds afterwards."""
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(secret + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            # A hard link appears whole or not at all, and never replaces another's secret.
            os.link(partial, path)
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
    finally:
        os.unlink(partial)
    return secret
