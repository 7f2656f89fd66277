"""Changes to export jobs and projects are announced with NOTIFY (PostgreSQL).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

Every INSERT, UPDATE and DELETE of a row of ``export_jobs`` or ``projects`` sends, from an
AFTER row trigger, ``pg_notify('aura_changes', payload)`` with ids only::

    {"table": "export_jobs", "op": "update", "id": "…", "user_id": "…", "project_id": "…"}
    {"table": "projects", "op": "delete", "id": "…", "user_id": "…"}

The API's realtime hub (api/realtime.py) LISTENs on one connection and reads the rows it
needs. Ids only, because a payload must stay under PostgreSQL's 8,000 bytes (these are
under 200) and because any role connected to the database may LISTEN on any channel: an
error message or a presigned URL must not be broadcast. The triggers catch every writer
(API requests, flow workers in other processes, the command line), and the notification
is delivered only when the writing transaction commits, and not at all when it rolls back.

SQLite has no NOTIFY; there the hub reads the tables instead, so this revision does
nothing on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "aura_changes"

# table -> (trigger function, the payload's fields besides table and op)
_TRIGGERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "export_jobs": ("aura_notify_export_job_change", ("id", "user_id", "project_id")),
    "projects": ("aura_notify_project_change", ("id", "user_id")),
}


def _function_sql(function: str, fields: Sequence[str]) -> str:
    pairs = ", ".join(f"'{field}', changed.{field}" for field in fields)
    # NEW is NULL in a DELETE trigger: the deleted row is OLD. AFTER triggers ignore the
    # value returned.
    return f"""
    CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        changed record;
    BEGIN
        IF TG_OP = 'DELETE' THEN
            changed := OLD;
        ELSE
            changed := NEW;
        END IF;
        PERFORM pg_notify('{CHANNEL}', json_build_object(
            'table', TG_TABLE_NAME, 'op', lower(TG_OP), {pairs})::text);
        RETURN NULL;
    END
    $$
    """


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table, (function, fields) in _TRIGGERS.items():
        op.execute(_function_sql(function, fields))
        op.execute(f"CREATE TRIGGER {function} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {function}()")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table, (function, _fields) in _TRIGGERS.items():
        op.execute(f"DROP TRIGGER {function} ON {table}")
        op.execute(f"DROP FUNCTION {function}()")
