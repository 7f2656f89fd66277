"""Errors as HTTP answers: one JSON shape, ``{"detail": "..."}``, for every failure.

Our own errors are classified once (core/errors.py); this maps the classes to statuses
(an error class may name its own with an ``http_status`` attribute, e.g. 409):

- :class:`~core.errors.AuthError` -> 401 with ``WWW-Authenticate: Bearer``;
- :class:`~core.errors.NotFoundError` -> 404 (also for another user's objects);
- :class:`~core.errors.ScriptError` -> 422, with ``line`` and ``column``;
- :class:`~core.errors.InputError` -> 422;
- :class:`~core.errors.TransientError` -> 503 with ``Retry-After``;
- :class:`~core.errors.PermanentError`, :class:`~core.errors.ConfigError` -> 502 / 503.

Anything else is a bug: a 500 whose body says so without leaking internals.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.errors import (
    AuraError,
    AuthError,
    ConfigError,
    InputError,
    NotFoundError,
    PermanentError,
    ScriptError,
    TransientError,
)

RETRY_AFTER_S = 5
"""What a 503 for a passing provider failure asks the client to wait."""

logger = logging.getLogger(__name__)


def status_for(exc: AuraError) -> int:
    """The HTTP status of one of our errors: a class's own ``http_status`` first."""
    if (own := getattr(type(exc), "http_status", None)) is not None:
        return int(own)
    if isinstance(exc, AuthError):
        return 401
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, TransientError):
        return 503
    if isinstance(exc, PermanentError):
        return 502
    if isinstance(exc, ConfigError):
        return 503
    return 500


async def _aura_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuraError)
    status = status_for(exc)
    body: dict[str, object] = {"detail": str(exc)}
    if isinstance(exc, ScriptError):
        body.update(line=exc.line, column=exc.column)
    headers = None
    if isinstance(exc, TransientError):
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    elif isinstance(exc, AuthError):
        headers = {"WWW-Authenticate": "Bearer"}
    if status >= 500:
        logger.warning("%s: %s", type(exc).__name__, exc)
    return JSONResponse(body, status_code=status, headers=headers)


def register_error_handlers(app: FastAPI) -> None:
    """Answer our errors with their status and a plain ``detail``."""
    app.add_exception_handler(AuraError, _aura_error)
