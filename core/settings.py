"""AuraStudio settings.

Values come, in order of precedence, from the environment (``AURA_*``; nested groups use a
double underscore, e.g. ``AURA_S3__BUCKET``), then from a ``.env`` file in the working
directory, then from the defaults below. The defaults run everything on one machine with
no network and no keys: local emotion lexicon, Piper TTS, phoneme lip sync, the CPU
renderer, a storage folder and a SQLite database inside ``AURA_HOME``.

Read settings through :func:`get_settings` (cached); tests that change the environment
call ``get_settings.cache_clear()``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EmotionProvider = Literal["lexicon", "openai"]
TtsProvider = Literal["piper", "elevenlabs"]
LipsyncProvider = Literal["phonemes", "acoustic", "synclabs"]
RenderProvider = Literal["local", "modal"]
StorageProvider = Literal["local", "s3"]


class OpenAISettings(BaseModel):
    api_key: SecretStr | None = None
    base_url: str | None = None
    model: str = "gpt-4o"


class ElevenLabsSettings(BaseModel):
    api_key: SecretStr | None = None
    base_url: str | None = None
    voice_id: str = "21m00Tcm4TlvDq8ikWAM"
    model_id: str = "eleven_multilingual_v2"


class SyncLabsSettings(BaseModel):
    api_key: SecretStr | None = None
    base_url: str = "https://api.sync.so"


class ModalSettings(BaseModel):
    app_name: str = "aurastudio-render"
    function_name: str = "render"


class S3Settings(BaseModel):
    bucket: str = "aurastudio"
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    url_expiry_s: int = Field(default=3600, gt=0)


class RenderSettings(BaseModel):
    fps: int = Field(default=30, ge=1, le=120)
    preset: str = "veryfast"
    crf: int = Field(default=20, ge=0, le=51)
    audio_sample_rate_hz: int = 48_000
    audio_bitrate_bps: int = 128_000


class RetrySettings(BaseModel):
    """Prefect retry policy for every pipeline task (transient errors only)."""

    retries: int = Field(default=4, ge=0)
    backoff_factor_s: float = Field(default=2.0, ge=0)
    jitter_factor: float = Field(default=0.5, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AURA_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    home: Path = Path.home() / ".aurastudio"
    """Data folder: the SQLite database and the local storage live here."""

    emotion: EmotionProvider = "lexicon"
    tts: TtsProvider = "piper"
    voice: str | None = None
    """Default voice from the catalogue (tasks/voice/catalogue.py); none: AURA_TTS's own."""
    lipsync: LipsyncProvider = "phonemes"
    render: RenderProvider = "local"
    storage: StorageProvider = "local"

    database_url: str = ""
    """SQLAlchemy async URL; empty means a SQLite file ``aura.db`` in ``home``."""
    redis_url: str | None = None
    """``redis://host:port/db``; when set, API processes share rate-limit budgets there."""
    jwt_secret: SecretStr | None = None
    """HS256 secret of the API's bearer tokens (Supabase's JWT secret), at least 32 bytes;
    none: a random one kept in ``home/jwt-secret`` (see :func:`core.auth.jwt_secret`)."""
    supabase_url: str | None = None
    """A Supabase project (``https://<ref>.supabase.co``): bearer tokens it signs with its
    asymmetric keys (ES256/RS256) are verified against its JWKS (core/jwks.py), beside
    the HS256 ones of ``jwt_secret``."""
    supabase_anon_key: SecretStr | None = None
    """The project's anon (publishable) key: with it, the studio's sign-up and sign-in
    (``/api/auth``) go through Supabase Auth instead of local accounts
    (core/supabase_auth.py)."""
    rate_limit_per_minute: int = Field(default=100, ge=1)
    """Requests one caller may make in any 60 seconds (api/ratelimit.py)."""
    access_token_ttl_s: int = Field(default=900, gt=0)
    """Seconds an access token made by ``/api/auth`` (a studio sign-in) is valid for."""
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, gt=0)
    """Seconds a refresh token of ``/api/auth`` is valid for; each refresh makes a new one
    that is valid this long again (models/accounts.py)."""

    storage_dir: Path | None = None
    """Folder of the local storage; empty means ``home/storage``."""

    gpu_slots: int = Field(default=2, ge=1)
    """Renders at once across all workers: the Prefect global concurrency limit ``gpu``
    (made by ``aura serve`` and ``make deploy``; deployments/setup.py)."""
    batch_concurrency: int = Field(default=1, ge=1)
    """Renders one batch export runs at once; below ``gpu_slots``, so on-demand renders
    always find a free slot."""
    max_restarts: int = Field(default=2, ge=0)
    """Times a job is started again after its flow run crashed (flows/runs.py)."""
    lost_run_after_s: float = Field(default=600.0, ge=90.0)
    """A running flow run with no heartbeat for this long is crashed (deployments/
    setup.py); keep it well above PREFECT_FLOWS_HEARTBEAT_FREQUENCY (180 s)."""

    openai: OpenAISettings = OpenAISettings()
    elevenlabs: ElevenLabsSettings = ElevenLabsSettings()
    synclabs: SyncLabsSettings = SyncLabsSettings()
    modal: ModalSettings = ModalSettings()
    s3: S3Settings = S3Settings()
    video: RenderSettings = RenderSettings()
    retry: RetrySettings = RetrySettings()

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        self.home = self.home.expanduser()
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.home / 'aura.db'}"
        if self.storage_dir is None:
            self.storage_dir = self.home / "storage"
        return self


def required_secret(secret: SecretStr | None, *, needed_by: str, setting: str,
                    instead: str) -> str:
    """The secret's text, or a ConfigError that names the setting to fill in.

    Example: ``required_secret(s.openai.api_key, needed_by="AURA_EMOTION=openai",
    setting="AURA_OPENAI__API_KEY", instead="AURA_EMOTION=lexicon")``.
    """
    from core.errors import ConfigError

    value = secret.get_secret_value().strip() if secret is not None else ""
    if not value:
        raise ConfigError(f"{needed_by} needs an API key: set {setting} (or use {instead})")
    return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
