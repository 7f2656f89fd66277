"""Fixtures for running AuraStudio itself: an isolated home, settings, Prefect."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings, get_settings

EVAL_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "eval"


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """A throwaway Prefect API (its own SQLite database) for flow runs in tests."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def aura_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data folder, local storage and SQLite database for one test."""
    home = tmp_path / "aura-home"
    monkeypatch.setenv("AURA_HOME", str(home))
    for name in ("AURA_DATABASE_URL", "AURA_STORAGE_DIR", "AURA_STORAGE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch, aura_home: Path):
    """Set AURA_* variables for one test: ``configure(DATABASE_URL=..., STORAGE="s3")``."""

    def apply(**values: str) -> Settings:
        for name, value in values.items():
            monkeypatch.setenv(f"AURA_{name}", value)
        get_settings.cache_clear()
        return get_settings()

    return apply


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    if not EVAL_DIR.is_dir():
        pytest.skip(f"the shared evaluation data is not at {EVAL_DIR}")
    return EVAL_DIR
