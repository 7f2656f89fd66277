"""One place decides what is worth a retry."""

from __future__ import annotations

import errno

import pytest

from core.errors import (
    InputError,
    PermanentError,
    ScriptError,
    TransientError,
    is_transient,
    is_transient_status,
)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_rate_limits_and_server_errors_are_transient(status):
    assert is_transient_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_refusals_are_permanent(status):
    assert not is_transient_status(status)


def test_exceptions_are_classified_with_their_causes():
    assert is_transient(TransientError("busy", provider="x", status_code=503))
    assert not is_transient(PermanentError("no", provider="x", status_code=403))
    assert not is_transient(InputError("bad photo"))
    assert is_transient(TimeoutError()) and is_transient(ConnectionResetError())
    assert is_transient(OSError(errno.ECONNREFUSED, "refused"))
    assert not is_transient(ValueError("bug"))
    try:
        try:
            raise ConnectionResetError()
        except ConnectionResetError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as wrapped:
        assert is_transient(wrapped)


def test_script_errors_carry_line_and_column():
    error = ScriptError("unknown tag [x]", line=3, column=7)
    assert str(error) == "line 3, column 7: unknown tag [x]"
    assert (error.line, error.column, error.reason) == (3, 7, "unknown tag [x]")
