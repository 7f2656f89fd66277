"""The one-time sign-in link of local single-user mode.

``aura serve`` on this machine's loopback prints a link to the studio that signs its
reader in without a password, once: ``http://127.0.0.1:8000/#/link/<code>``. Only the
code's SHA-256 is kept, in ``AURA_HOME/sign-in-link`` (mode 0600), with its expiry; the
API's workers share it through that file. Using the code removes the file, so a second
use (or a second worker racing the first) is refused. Each start of ``aura serve``
makes a new code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

from core.errors import AuthError
from core.settings import Settings

LINK_FILE_NAME = "sign-in-link"
LINK_TTL_S = 24 * 3600
"""How long a printed link stays usable."""


def issue_code(settings: Settings, *, ttl_s: int = LINK_TTL_S) -> str:
    """A new one-time code, replacing any earlier one."""
    code = secrets.token_urlsafe(24)
    path = _path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"sha256": _digest(code), "expires_at": int(time.time()) + ttl_s}, out)
    partial.replace(path)
    return code


def redeem_code(settings: Settings, code: str) -> None:
    """Accept ``code`` once, or raise.

    Raises:
        AuthError: no link is open, the code is not its code, or it has expired.
    """
    path = _path(settings)
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        raise AuthError("this sign-in link was used already (or none was made): start "
                        "`aura serve` again for a new one") from None
    if not hmac.compare_digest(str(kept.get("sha256", "")), _digest(code)):
        raise AuthError("this sign-in link is not valid")
    try:
        path.unlink()  # one use: of two racing requests, only one removes the file
    except FileNotFoundError:
        raise AuthError("this sign-in link was used already") from None
    if time.time() > int(kept.get("expires_at", 0)):
        raise AuthError("this sign-in link has expired: start `aura serve` again")


def _path(settings: Settings) -> Path:
    return Path(settings.home) / LINK_FILE_NAME


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
