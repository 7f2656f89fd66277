"""Reuse of finished step artifacts.

Every artifact lives under a content-addressed key (a hash of what produced it). A step
writes its media first and its small JSON description last, so the description is the
mark that the artifact is complete: if it is there, the step can be skipped.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from core.storage import Storage
from models.domain import Artifact

A = TypeVar("A", bound=Artifact)


def load_finished(storage: Storage, key: str, model: type[A],
                  logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
                  ) -> A | None:
    """The artifact described at ``key + '.json'``, marked reused, or None if not finished."""
    description = f"{key}.json"
    if not storage.exists(description):
        return None
    artifact = model.model_validate_json(storage.get_bytes(description))
    if logger is not None:
        logger.info("Reusing %s artifact %s from an earlier run", model.__name__, key)
    return artifact.model_copy(update={"reused": True})


def save_finished(storage: Storage, key: str, artifact: A) -> A:
    """Write the artifact's description (after its media), marking it finished."""
    storage.put_bytes(f"{key}.json", artifact.model_dump_json(exclude={"reused"}).encode(),
                      content_type="application/json")
    return artifact
