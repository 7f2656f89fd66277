"""Settings come from AURA_* variables, with safe local defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings


def test_defaults_run_everything_locally(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AURA_HOME", str(tmp_path))
    settings = Settings(_env_file=None)
    assert (settings.emotion, settings.tts, settings.lipsync, settings.render,
            settings.storage) == ("lexicon", "piper", "phonemes", "local", "local")
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'aura.db'}"
    assert settings.storage_dir == tmp_path / "storage"


def test_providers_and_nested_groups_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("AURA_TTS", "elevenlabs")
    monkeypatch.setenv("AURA_S3__BUCKET", "videos")
    monkeypatch.setenv("AURA_OPENAI__API_KEY", "sk-secret")
    settings = Settings(_env_file=None)
    assert settings.tts == "elevenlabs" and settings.s3.bucket == "videos"
    assert settings.openai.api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(settings)


def test_an_unknown_provider_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("AURA_RENDER", "cloud9")
    with pytest.raises(ValidationError, match="'local' or 'modal'"):
        Settings(_env_file=None)
