"""Export jobs can be cancelled.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

``export_jobs.status`` gains ``cancelled`` (a job whose flow run was cancelled through
the API or the Prefect UI): the CHECK constraint is replaced. SQLite cannot alter a
constraint, so Alembic's batch mode copies the table; nothing references export_jobs, so
the copy drops nothing else. The downgrade turns cancelled jobs into failed ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = ("queued", "running", "completed", "failed")
_AFTER = (*_BEFORE, "cancelled")
_NAME = "ck_export_jobs_status"


def _one_of(values: Sequence[str]) -> str:
    return "status IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _replace_check(values: Sequence[str]) -> None:
    with op.batch_alter_table("export_jobs") as batch:
        batch.drop_constraint(op.f(_NAME), type_="check")
        batch.create_check_constraint(op.f(_NAME), _one_of(values))


def upgrade() -> None:
    _replace_check(_AFTER)


def downgrade() -> None:
    op.execute(sa.text("UPDATE export_jobs SET status = 'failed', "
                       "error = coalesce(error, 'cancelled') WHERE status = 'cancelled'"))
    _replace_check(_BEFORE)
