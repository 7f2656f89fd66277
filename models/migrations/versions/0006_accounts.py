"""Studio accounts (email and password) and their refresh-token sessions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

``accounts``: one row per studio account; its ``id`` is the user's id (the ``sub`` of its
access tokens). ``auth_sessions``: one row per refresh token, kept only as the token's
SHA-256; the tokens descended from one sign-in share a ``family_id`` (models/accounts.py).

On PostgreSQL neither table is for the caller's own connection: ``authenticated`` and
``anon`` get no privilege on them (taken away explicitly too, in case the schema's
default privileges grant some, as Supabase's do), and row-level security is enabled with
no policy at all, so even a grant made by mistake later shows them no row. RLS is
enabled but not forced: the tables' owner, which the API's ``core.db.session_scope()``
connects as, is not subject to it and needs no grant, so it reads and writes them with
or without BYPASSRLS.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("accounts", "auth_sessions")


def _timestamp(name: str, *, nullable: bool = False,
               server_default: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if server_default else None)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("email", name=op.f("uq_accounts_email")),
    )

    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _timestamp("expires_at", server_default=False),
        _timestamp("revoked_at", nullable=True, server_default=False),
        sa.Column("replaced_by", sa.Uuid(), nullable=True),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_auth_sessions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_sessions_token_hash")),
    )
    op.create_index(op.f("ix_auth_sessions_family_id"), "auth_sessions", ["family_id"])
    op.create_index(op.f("ix_auth_sessions_account_id"), "auth_sessions", ["account_id"])

    if op.get_context().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC, authenticated, anon")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")


def downgrade() -> None:
    # The privileges and row-level security go with the tables.
    op.drop_index(op.f("ix_auth_sessions_account_id"), table_name="auth_sessions")
    op.drop_index(op.f("ix_auth_sessions_family_id"), table_name="auth_sessions")
    op.drop_table("auth_sessions")
    op.drop_table("accounts")
