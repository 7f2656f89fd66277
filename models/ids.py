"""Object ids as people send them: a UUID, or text that should be one."""

from __future__ import annotations

import uuid
from collections.abc import Callable


def parse_id(value: uuid.UUID | str, not_found: Callable[[], Exception]) -> uuid.UUID:
    """``value`` as a UUID; text that is not one raises ``not_found()``: an id that cannot
    exist is answered like any id that does not."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise not_found() from None
