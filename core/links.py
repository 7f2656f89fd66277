"""Signed links: a path of this API that works without a bearer token until it expires.

Browsers cannot send a bearer header with ``<video src>``, a download link or a link
shared with someone else. On S3 such links are presigned URLs; on local storage the API
signs its own: ``PATH?expires=<Unix s>&signature=<hex>``, an HMAC-SHA256 of the path and
the expiry under a key derived from the JWT secret (so ``AURA_JWT_SECRET`` rotates both).
A link names one path: a signature for one video opens no other.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

from core.errors import InputError

_KEY_LABEL = b"aurastudio:signed-links:v1"
"""Derives the links' key from the JWT secret, so a signature is never a valid JWT MAC."""


class LinkError(InputError):
    """A signed link is expired or does not match its path (403)."""

    http_status = 403


def sign_path(path: str, secret: str, *, expires_s: int, now_s: float | None = None) -> str:
    """``path`` with ``expires`` and ``signature`` query parameters, valid ``expires_s``
    seconds from ``now_s`` (default: now).

    Raises:
        InputError: ``expires_s`` is not positive, or ``path`` is not an absolute path.
    """
    if expires_s <= 0:
        raise InputError(f"a link's lifetime must be a positive number of seconds, not "
                         f"{expires_s}")
    if not path.startswith("/") or "?" in path:
        raise InputError(f"only an absolute path without a query can be signed, not {path!r}")
    expires = int((time.time() if now_s is None else now_s) + expires_s)
    return f"{path}?{urlencode({'expires': expires, 'signature': _mac(path, expires, secret)})}"


def check_signature(path: str, expires: int | None, signature: str | None, secret: str,
                    *, now_s: float | None = None) -> None:
    """Accept a signed link to ``path`` or raise.

    Raises:
        LinkError: a part is missing, the signature does not match, or the link expired.
    """
    if expires is None or not signature:
        raise LinkError("this link is incomplete: it needs both 'expires' and 'signature'")
    if not hmac.compare_digest(_mac(path, expires, secret).encode(),
                               signature.encode("utf-8", "surrogatepass")):
        raise LinkError("this link is not valid (its signature does not match)")
    if (time.time() if now_s is None else now_s) > expires:
        raise LinkError("this link has expired; open the video in the studio for a new one")


def _mac(path: str, expires: int, secret: str) -> str:
    key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()
