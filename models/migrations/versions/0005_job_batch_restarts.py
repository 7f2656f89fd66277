"""Export jobs can wait for the scheduled batch export, and count their restarts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

``export_jobs.batch``: the job waits, queued, for the next run of the ``batch-export``
deployment instead of starting at once. ``export_jobs.restarts``: how many times the job
was started again after its flow run crashed (a worker killed mid-render). Both are
plain added columns with constant defaults, which SQLite adds in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("export_jobs", sa.Column("batch", sa.Boolean(), nullable=False,
                                           server_default=sa.false()))
    op.add_column("export_jobs", sa.Column("restarts", sa.Integer(), nullable=False,
                                           server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("export_jobs") as batch:
        batch.drop_column("restarts")
        batch.drop_column("batch")
