"""Errors that users and providers can cause, classified once.

- :class:`InputError` and its children: bad input from a person (script, photo, options).
  Plain-language message; never retried.
- :class:`TransientError`: worth a retry (429, 5xx, timeouts, lost connections).
- :class:`PermanentError`: a provider refused for good (400, 401, 403, 422); never retried.
- :class:`AuthError`: a caller's token cannot be trusted (the API answers 401).

:func:`is_transient` is the single place that decides whether any exception is retried.
"""

from __future__ import annotations

import errno


class AuraError(Exception):
    """Base of every error AuraStudio raises on purpose."""


class InputError(AuraError):
    """Something a person gave us is wrong; the message says what, in plain words."""


class NotFoundError(InputError):
    """What was asked for does not exist, or belongs to someone else: both get the same
    answer, so an id tells nobody whether another user's object exists."""


class ScriptError(InputError):
    """A script cannot be read; carries the 1-based line and column of the problem."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        self.line = line
        self.column = column
        where = f"line {line}" + (f", column {column}" if column else "") if line else ""
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message


class AuthError(AuraError):
    """A bearer token is missing, malformed, expired or not signed with our secret."""


class ConfigError(AuraError):
    """The configuration names something that cannot be used."""


class ProviderError(AuraError):
    """A provider (TTS, storage, cloud API) failed."""

    def __init__(self, message: str, *, provider: str, status_code: int | None = None):
        self.provider = provider
        self.status_code = status_code
        self.reason = message
        """The message without the provider's name in front."""
        super().__init__(f"{provider}: {message}")


class TransientError(ProviderError):
    """A failure worth retrying: rate limits, server errors, timeouts, lost connections."""


class PermanentError(ProviderError):
    """A failure that a retry cannot fix: refused credentials, invalid requests."""


TRANSIENT_STATUS_CODES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_TRANSIENT_ERRNOS = frozenset(
    {errno.ECONNRESET, errno.ECONNREFUSED, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EPIPE}
)


def is_transient_status(status_code: int) -> bool:
    """Whether an HTTP status code is worth a retry (429 and 5xx, plus 408/409/425)."""
    return status_code in TRANSIENT_STATUS_CODES or 500 <= status_code < 600


def is_transient(exc: BaseException) -> bool:
    """Whether a retry of the work that raised ``exc`` may succeed."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, AuraError):
        return False
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and is_transient(cause)
