"""Row-level security (PostgreSQL) and profiles without an email (both databases).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

``user_profiles.email`` becomes nullable, still unique when present: a JWT may carry no
email. On SQLite the NOT NULL is removed by editing the table's definition in
``sqlite_master``, the procedure SQLite documents for removing NOT NULL constraints
(https://sqlite.org/lang_altertable.html#otheralter). Alembic's batch mode would copy the
table and drop the old one, and with foreign keys on (``core.db`` turns them on, and they
cannot be turned off inside the transaction the migrations run in) that drop cascades to
every project of every user.

On PostgreSQL, Supabase's model:

- roles ``authenticated`` and ``anon`` (NOLOGIN; roles belong to the whole cluster, so they
  are made only when missing and left in place by the downgrade), and the migrating role
  is made a member of ``authenticated`` so that the API, connected as that role, can
  ``SET LOCAL ROLE authenticated`` for each request;
- schema ``auth`` with ``auth.uid()`` (the ``sub`` of the transaction's
  ``request.jwt.claims``, as a uuid; NULL without claims) and ``auth.jwt()`` (the claims);
- ``authenticated`` may read and write the six tables, ``anon`` none of them;
- every user-owned table has ROW LEVEL SECURITY enabled and forced (the owner is subject
  to it too), and one policy per command for ``authenticated``: a row is visible and
  writable when its owner is ``auth.uid()``; stock avatars (``actor_dna.is_stock``) and
  stock effects (``effect_library.user_id IS NULL``) are visible to every caller who has a
  ``sub`` and writable by nobody through the API; without claims, nothing is visible.

Who bypasses the policies: superusers and roles with BYPASSRLS. The Prefect flow workers,
the CLI and the syncing of stock rows run without claims, as the role they connect with;
in the tests that is a superuser. In production they must connect as a role with
BYPASSRLS (a service role, like Supabase's ``service_role``): connected as the tables'
owner without it they would see no rows at all, because FORCE applies to the owner too.
Later migrations that move data need such a role for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("user_profiles", "projects", "asset_vault", "actor_dna", "effect_library",
          "export_jobs")

_UID = "(SELECT auth.uid())"  # the sub-select makes PostgreSQL evaluate it once per query
_OWN = f"user_id = {_UID}"
_OWN_NOT_STOCK = f"{_OWN} AND NOT is_stock"
_ANYONE = f"{_UID} IS NOT NULL"  # a caller without claims sees nothing, stock included
POLICIES: dict[str, dict[str, tuple[str | None, str | None]]] = {
    # table -> command -> (USING, WITH CHECK)
    "user_profiles": {
        "select": (f"id = {_UID}", None),
        "insert": (None, f"id = {_UID}"),
        "update": (f"id = {_UID}", f"id = {_UID}"),
        "delete": (f"id = {_UID}", None),
    },
    **{table: {
        "select": (_OWN, None),
        "insert": (None, _OWN),
        "update": (_OWN, _OWN),
        "delete": (_OWN, None),
    } for table in ("projects", "asset_vault", "export_jobs")},
    "actor_dna": {
        "select": (f"{_OWN} OR (is_stock AND {_ANYONE})", None),
        "insert": (None, _OWN_NOT_STOCK),
        "update": (_OWN_NOT_STOCK, _OWN_NOT_STOCK),
        "delete": (_OWN_NOT_STOCK, None),
    },
    "effect_library": {  # stock rows have no owner, and NULL equals no uid
        "select": (f"{_OWN} OR (user_id IS NULL AND {_ANYONE})", None),
        "insert": (None, _OWN),
        "update": (_OWN, _OWN),
        "delete": (_OWN, None),
    },
}

_SETUP = (  # one statement each: asyncpg prepares every statement it runs
    """
    DO $$
    BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
            CREATE ROLE authenticated NOLOGIN;
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
            CREATE ROLE anon NOLOGIN;
        END IF;
    EXCEPTION
        -- Another database of the cluster made them at the same moment.
        WHEN duplicate_object OR unique_violation THEN NULL;
    END
    $$
    """,
    "GRANT authenticated TO CURRENT_USER",
    "CREATE SCHEMA IF NOT EXISTS auth",
    """
    CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
        SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
        SELECT nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb
                      ->> 'sub', '')::uuid
    $$
    """,
    "GRANT USAGE ON SCHEMA auth TO authenticated, anon",
    "GRANT USAGE ON SCHEMA public TO authenticated",
)

_TEARDOWN = (
    "REVOKE USAGE ON SCHEMA public FROM authenticated",
    "DROP FUNCTION auth.uid()",
    "DROP FUNCTION auth.jwt()",
    "DROP SCHEMA auth",
)

_EMAIL_NOT_NULL = "email VARCHAR(320) NOT NULL,"
_EMAIL_NULL = "email VARCHAR(320),"


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        _sqlite_replace_in_profiles_table(_EMAIL_NOT_NULL, _EMAIL_NULL)
    else:
        op.alter_column("user_profiles", "email", existing_type=sa.String(length=320),
                        nullable=True)
    if dialect != "postgresql":
        return
    for statement in _SETUP:
        op.execute(statement)
    for table in TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO authenticated")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        for command, (using, check) in POLICIES[table].items():
            op.execute(
                f"CREATE POLICY {table}_{command} ON {table} FOR {command.upper()} "
                "TO authenticated"
                + (f" USING ({using})" if using else "")
                + (f" WITH CHECK ({check})" if check else "")
            )


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        for table in TABLES:
            for command in POLICIES[table]:
                op.execute(f"DROP POLICY {table}_{command} ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
            op.execute(f"REVOKE ALL ON {table} FROM authenticated")
        for statement in _TEARDOWN:
            op.execute(statement)
    # 0001 requires an email: profiles without one get a placeholder that cannot be mailed.
    op.execute("UPDATE user_profiles SET email = CAST(id AS VARCHAR(36)) || '@unknown.invalid' "
               "WHERE email IS NULL")
    if dialect == "sqlite":
        _sqlite_replace_in_profiles_table(_EMAIL_NULL, _EMAIL_NOT_NULL)
    else:
        op.alter_column("user_profiles", "email", existing_type=sa.String(length=320),
                        nullable=False)


def _sqlite_replace_in_profiles_table(old: str, new: str) -> None:
    """Edit the CREATE TABLE text of ``user_profiles`` in place, in this transaction.

    Only for changes that leave the stored rows valid as they are (dropping a NOT NULL, or
    adding one once no NULL is left). Raising the schema version makes every connection,
    this one included, read the edited definition before its next statement.
    """
    connection = op.get_bind()
    definition = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'user_profiles'"
    ).scalar_one()
    if definition.count(old) != 1:
        raise RuntimeError(f"user_profiles is not as migration 0001 made it: expected "
                           f"'{old}' once in its definition:\n{definition}")
    version = connection.exec_driver_sql("PRAGMA schema_version").scalar_one()
    connection.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        connection.execute(
            sa.text("UPDATE sqlite_master SET sql = :definition "
                    "WHERE type = 'table' AND name = 'user_profiles'"),
            {"definition": definition.replace(old, new)},
        )
        connection.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    finally:
        connection.exec_driver_sql("PRAGMA writable_schema = OFF")
