"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import sqlite3
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Uuid, bindparam, delete, func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from core.db import get_engine, session_scope
from models.domain import JobStatus
from models.schema import (
    alembic_config,
    current_revision,
    downgrade_database,
    upgrade_database,
)
from models.tables import (
    ActorDNA,
    Asset,
    Base,
    Effect,
    ExportJob,
    JsonType,
    Project,
    UserProfile,
)

EXPECTED_COLUMNS: dict[str, set[str]] = {
    "user_profiles": {"id", "email", "display_name", "created_at", "updated_at"},
    "projects": {"id", "user_id", "title", "script", "settings", "created_at", "updated_at"},
    "asset_vault": {
        "id", "user_id", "kind", "storage_key", "content_type", "size_bytes", "sha256",
        "original_name", "created_at",
    },
    "actor_dna": {
        "id", "user_id", "name", "source_asset_id", "landmarks_key", "texture_key",
        "neutral_pose", "rig", "style", "is_stock", "created_at", "updated_at",
    },
    "effect_library": {"id", "user_id", "name", "kind", "params", "created_at"},
    "export_jobs": {
        "id", "user_id", "project_id", "flow_run_id", "status", "progress", "step", "spec",
        "steps", "video_key", "url", "error", "created_at", "updated_at", "started_at",
        "finished_at", "batch", "restarts",
    },
    "accounts": {"id", "email", "password_hash", "created_at", "updated_at"},
    "auth_sessions": {
        "id", "account_id", "family_id", "token_hash", "expires_at", "revoked_at",
        "replaced_by", "created_at",
    },
}


def _describe(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    return {
        "columns": {t: {c["name"] for c in inspector.get_columns(t)} for t in tables},
        "indexes": {t: {ix["name"] for ix in inspector.get_indexes(t)} for t in tables},
        "uniques": {t: {uq["name"] for uq in inspector.get_unique_constraints(t)} for t in tables},
        "checks": {t: {ck["name"] for ck in inspector.get_check_constraints(t)} for t in tables},
        "foreign_keys": {
            t: {(fk["name"], fk["options"].get("ondelete")) for fk in inspector.get_foreign_keys(t)}
            for t in tables
        },
    }


async def describe(url: str) -> dict[str, Any]:
    async with get_engine(url).connect() as connection:
        return await connection.run_sync(_describe)


async def test_migrations_bring_the_database_to_the_newest_revision(database_url: str) -> None:
    assert await current_revision(database_url) == "0006"


async def test_every_table_exists_with_its_columns(database_url: str) -> None:
    schema = await describe(database_url)

    assert schema["columns"] == EXPECTED_COLUMNS


async def test_constraints_and_indexes_have_their_conventional_names(database_url: str) -> None:
    schema = await describe(database_url)

    assert schema["indexes"]["projects"] == {"ix_projects_user_id"}
    assert schema["indexes"]["export_jobs"] == {"ix_export_jobs_user_id", "ix_export_jobs_status"}
    assert "ix_asset_vault_user_id" in schema["indexes"]["asset_vault"]
    assert "uq_effect_library_stock_name" in schema["indexes"]["effect_library"]
    assert "uq_asset_vault_user_id_sha256_kind" in schema["uniques"]["asset_vault"]
    assert "uq_user_profiles_email" in schema["uniques"]["user_profiles"]
    assert schema["checks"]["export_jobs"] == {
        "ck_export_jobs_status",
        "ck_export_jobs_progress_range",
    }
    assert "ck_asset_vault_kind" in schema["checks"]["asset_vault"]
    assert schema["foreign_keys"]["projects"] == {
        ("fk_projects_user_id_user_profiles", "CASCADE")
    }
    assert schema["foreign_keys"]["export_jobs"] == {
        ("fk_export_jobs_project_id_projects", "SET NULL")
    }
    assert schema["foreign_keys"]["actor_dna"] == {
        ("fk_actor_dna_source_asset_id_asset_vault", "SET NULL")
    }


async def test_models_describe_exactly_what_the_migrations_build(database_url: str) -> None:
    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, Base.metadata)

    async with get_engine(database_url).connect() as connection:
        diff = await connection.run_sync(differences)

    assert diff == []


async def test_downgrade_to_base_removes_the_tables_and_upgrade_restores_them(
    database_url: str,
) -> None:
    await downgrade_database(database_url, "base")

    assert await current_revision(database_url) is None
    assert (await describe(database_url))["columns"] == {}

    await upgrade_database(database_url)

    assert await current_revision(database_url) == "0006"
    assert (await describe(database_url))["columns"] == EXPECTED_COLUMNS


def test_alembic_also_runs_standalone_from_sync_code(tmp_path: Path) -> None:
    path = tmp_path / "standalone.db"

    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), "head")

    with closing(sqlite3.connect(path)) as connection:
        (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version == "0006"


def test_offline_mode_writes_the_postgresql_sql() -> None:
    config = alembic_config("postgresql+asyncpg://aura:p%40ss@db.example/aura")
    config.output_buffer = io.StringIO()

    command.upgrade(config, "head", sql=True)

    sql = config.output_buffer.getvalue()
    assert "CREATE TABLE export_jobs" in sql
    assert "JSONB" in sql
    assert "CONSTRAINT ck_export_jobs_progress_range CHECK" in sql


USER_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")

VALID_ROWS: dict[type[Base], dict[str, Any]] = {
    ExportJob: {"id": uuid.uuid4(), "spec": {"script": "Hi."}, "steps": {}},
    Asset: {
        "id": uuid.uuid4(), "user_id": USER_ID, "kind": "photo", "storage_key": "a/b.jpg",
        "content_type": "image/jpeg", "size_bytes": 10, "sha256": "0" * 64,
    },
    Project: {"id": uuid.uuid4(), "user_id": USER_ID, "title": "Demo", "settings": {}},
}


async def _insert(url: str, model: type[Base], **values: Any) -> None:
    async with get_engine(url).begin() as connection:
        await connection.execute(insert(model.__table__).values(**values))


async def _add_user(url: str, user_id: uuid.UUID = USER_ID) -> None:
    async with session_scope(url) as db:
        db.add(UserProfile(id=user_id, email=f"{user_id}@example.com"))


async def test_the_valid_rows_of_the_constraint_tests_are_accepted(database_url: str) -> None:
    await _add_user(database_url)
    for model, row in VALID_ROWS.items():
        await _insert(database_url, model, **row)


@pytest.mark.parametrize(
    ("model", "bad", "why"),
    [
        (ExportJob, {"progress": 1.5}, "progress above 1"),
        (ExportJob, {"progress": -0.1}, "progress below 0"),
        (ExportJob, {"status": "paused"}, "unknown status"),
        (ExportJob, {"spec": None}, "missing spec"),
        (Asset, {"kind": "gif"}, "unknown asset kind"),
        (Asset, {"size_bytes": -1}, "negative size"),
        (Project, {"user_id": uuid.uuid4()}, "owner that does not exist (foreign key)"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_the_database_rejects_bad_rows(
    database_url: str, model: type[Base], bad: dict[str, Any], why: str
) -> None:
    await _add_user(database_url)

    with pytest.raises(IntegrityError):
        await _insert(database_url, model, **{**VALID_ROWS[model], **bad})


async def test_an_asset_is_stored_once_per_user_content_and_kind(database_url: str) -> None:
    await _insert(database_url, Asset, **VALID_ROWS[Asset])
    # The same bytes as another kind is another asset.
    await _insert(
        database_url, Asset, **{**VALID_ROWS[Asset], "id": uuid.uuid4(), "kind": "texture"}
    )

    with pytest.raises(IntegrityError):
        await _insert(database_url, Asset, **{**VALID_ROWS[Asset], "id": uuid.uuid4()})


async def test_effect_names_are_unique_per_user_and_among_stock_presets(database_url: str) -> None:
    async def add_chipmunk(user_id: uuid.UUID | None) -> None:
        await _insert(
            database_url, Effect, id=uuid.uuid4(), user_id=user_id, name="Chipmunk",
            kind="trickster", params={"pitch": 3},
        )

    await add_chipmunk(None)
    await add_chipmunk(USER_ID)

    with pytest.raises(IntegrityError):
        await add_chipmunk(None)
    with pytest.raises(IntegrityError):
        await add_chipmunk(USER_ID)


async def test_deletes_cascade_or_set_null_as_declared(database_url: str) -> None:
    await _add_user(database_url)
    async with session_scope(database_url) as db:
        project = Project(user_id=USER_ID, title="Demo")
        asset = Asset(**VALID_ROWS[Asset])
        db.add_all([project, asset])
        await db.flush()
        job = ExportJob(spec={}, project_id=project.id)
        avatar = ActorDNA(user_id=USER_ID, name="Me", source_asset_id=asset.id)
        db.add_all([job, avatar])

    async with session_scope(database_url) as db:
        await db.execute(delete(Asset))
        await db.execute(delete(UserProfile))

    async with session_scope(database_url) as db:
        assert await db.scalar(select(func.count()).select_from(Project)) == 0
        assert await db.scalar(select(ExportJob.project_id).where(ExportJob.id == job.id)) is None
        assert (
            await db.scalar(select(ActorDNA.source_asset_id).where(ActorDNA.id == avatar.id))
            is None
        )


async def test_server_defaults_fill_rows_written_without_the_models(database_url: str) -> None:
    job_id = uuid.uuid4()
    # Plain SQL: no Python-side defaults of the models take part.
    statement = text(
        "INSERT INTO export_jobs (id, spec, steps) VALUES (:id, :spec, :steps)"
    ).bindparams(
        bindparam("id", type_=Uuid()),
        bindparam("spec", type_=JsonType),
        bindparam("steps", type_=JsonType),
    )
    async with get_engine(database_url).begin() as connection:
        await connection.execute(statement, {"id": job_id, "spec": {}, "steps": {}})

    async with session_scope(database_url) as db:
        job = await db.get(ExportJob, job_id)

    assert job is not None
    assert job.status == JobStatus.queued and job.progress == 0.0
    for stamp in (job.created_at, job.updated_at):
        assert stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=1)
