"""Database tables (SQLAlchemy 2 declarative), the same schema on SQLite and PostgreSQL.

The schema itself is created and changed only by the Alembic migrations in
``models/migrations``; these classes must describe exactly what the migrations build
(``tests/models/test_schema.py`` compares the two).

Portable choices: ids are :class:`~sqlalchemy.Uuid` (``uuid`` on PostgreSQL, ``CHAR(32)``
on SQLite), JSON is ``JSONB`` on PostgreSQL and ``JSON`` text on SQLite, and times are
timezone-aware: :class:`UtcDateTime` stores UTC and always returns aware datetimes, also on
SQLite, which has no time zones. Enumerations are strings guarded by CHECK constraints
rather than PostgreSQL enum types, so adding a value is a one-line migration on both.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from models.domain import JobStatus

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint and index names, so migrations can name what they drop or alter."""

ASSET_KINDS: tuple[str, ...] = ("photo", "audio", "video", "texture", "other")
JOB_STATUSES: tuple[str, ...] = tuple(status.value for status in JobStatus)

JsonType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
"""JSON on SQLite, JSONB (indexable, compact) on PostgreSQL.

``none_as_null``: Python ``None`` is SQL NULL (refused by NOT NULL), not the JSON ``null``.
"""


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that always returns aware UTC datetimes.

    PostgreSQL keeps the time zone itself. SQLite has no time zones: values are stored as
    UTC text and read back as UTC (``CURRENT_TIMESTAMP`` is UTC too). Naive datetimes are
    refused, because nobody can tell which zone they meant.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"datetime {value.isoformat()} has no time zone; give an aware datetime "
                "(for example datetime.now(UTC))"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def one_of(column: str, values: Iterable[str]) -> str:
    """SQL for a CHECK constraint: ``column`` holds one of ``values``."""
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({listed})"


class Base(DeclarativeBase):
    """Declarative base of every table; its ``metadata`` is what Alembic compares."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        uuid.UUID: Uuid(),
        datetime: UtcDateTime(),
        dict[str, Any]: JsonType,
    }


def _created_at() -> Mapped[datetime]:
    return mapped_column(default=utc_now, server_default=func.now())


def _updated_at() -> Mapped[datetime]:
    # Set in Python on update, so the new value is known without another query
    # (an expired attribute cannot be lazily loaded in async code).
    return mapped_column(default=utc_now, onupdate=utc_now, server_default=func.now())


class UserProfile(Base):
    """A person using AuraStudio; ``id`` is the id of the authenticated user.

    Made on the person's first request. ``email`` comes from their token, which may have
    none; when present it is unique.
    """

    __tablename__ = "user_profiles"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class Project(Base):
    """A script and its settings, owned by one user."""

    __tablename__ = "projects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_profiles.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    script: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class Asset(Base):
    """A file a user uploaded (photo, recording, …), stored under ``storage_key``.

    The same content uploaded twice as the same kind is one asset (unique on
    ``user_id, sha256, kind``).
    """

    __tablename__ = "asset_vault"
    __table_args__ = (
        CheckConstraint(one_of("kind", ASSET_KINDS), name="kind"),
        CheckConstraint("size_bytes >= 0", name="size_bytes"),
        UniqueConstraint("user_id", "sha256", "kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16))
    storage_key: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _created_at()


class ActorDNA(Base):
    """An avatar: face landmarks, texture, neutral pose, rig and style defaults.

    Stock avatars have no ``user_id`` and ``is_stock`` set. Large data (landmarks, texture)
    lives in storage under the ``*_key`` columns.
    """

    __tablename__ = "actor_dna"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    source_asset_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("asset_vault.id", ondelete="SET NULL")
    )
    landmarks_key: Mapped[str | None] = mapped_column(String(1024))
    texture_key: Mapped[str | None] = mapped_column(String(1024))
    neutral_pose: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rig: Mapped[dict[str, Any]] = mapped_column(default=dict)
    style: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_stock: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class Effect(Base):
    """A named effect preset (for example a trickster voice); stock presets have no user.

    Names are unique per user, and unique among stock presets (a partial index, because
    a UNIQUE constraint treats every NULL ``user_id`` as different).
    """

    __tablename__ = "effect_library"
    __table_args__ = (
        UniqueConstraint("user_id", "name"),
        Index(
            "uq_effect_library_stock_name",
            "name",
            unique=True,
            sqlite_where=text("user_id IS NULL"),
            postgresql_where=text("user_id IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID | None] = mapped_column()
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created_at()


class ExportJob(Base):
    """One render of a script to a video, and how far it has got.

    Written only through :mod:`models.jobs`. ``spec`` is the render request; ``steps``
    maps each step name to what it reported (``{"synthesize_voice": {"seconds": 1.2,
    "reused": true}}``); ``progress`` runs from 0 to 1.
    """

    __tablename__ = "export_jobs"
    __table_args__ = (
        CheckConstraint(one_of("status", JOB_STATUSES), name="status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL")
    )
    flow_run_id: Mapped[uuid.UUID | None] = mapped_column()
    status: Mapped[JobStatus] = mapped_column(
        Enum(
            JobStatus,
            native_enum=False,
            create_constraint=False,  # the named CHECK above, as the migration makes it
            length=16,
            values_callable=lambda statuses: [status.value for status in statuses],
        ),
        index=True,
        default=JobStatus.queued,
        server_default=JobStatus.queued.value,
    )
    progress: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    step: Mapped[str | None] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column()
    steps: Mapped[dict[str, Any]] = mapped_column(default=dict)
    video_key: Mapped[str | None] = mapped_column(String(1024))
    url: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    batch: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Waits, queued, for the scheduled batch export instead of starting at once."""
    restarts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    """How many times the job was started again after its flow run crashed."""
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return (
            f"ExportJob(id={self.id}, status={self.status}, progress={self.progress}, "
            f"step={self.step!r})"
        )


class Account(Base):
    """A studio account: an email and a password, for signing in without Supabase.

    ``id`` is the user's id everywhere (the ``sub`` of the account's access tokens, the
    id of its ``user_profiles`` row). ``email`` is stored lower-cased and stripped;
    ``password_hash`` is an argon2id hash in its encoded form (``$argon2id$v=19$...``).
    Read and written only through the owner's connection (migration 0006).
    """

    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class AuthSession(Base):
    """One refresh token of an account, kept only as the SHA-256 (hex) of the token.

    Each refresh revokes the token it was given and makes its successor (``replaced_by``)
    in the same ``family_id``: every token descended from one sign-in shares it, so
    signing out, or a revoked token presented again, revokes them all at once.
    """

    __tablename__ = "auth_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    replaced_by: Mapped[uuid.UUID | None] = mapped_column()
    """The session that this one's refresh made; none while it is unused."""
    created_at: Mapped[datetime] = _created_at()
