"""accounts, sessions, customers and the audit log (the agents' console)

Revision ID: 0005
Revises: 0007
Create Date: 2026-11-22 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

import plumbing.db.base

revision: str = "0005"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = (
    sa.JSON()
    .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    .with_variant(sqlite.JSON(), "sqlite")
)
_WHEN = plumbing.db.base.UTCDateTime(timezone=True)

# The application never changes an audit row; the database makes sure of it.
_PG_APPEND_ONLY = [
    """
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_log is append-only';
    END
    $$
    """,
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]
_SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("tenant_slug", sa.String(length=63), nullable=True),
        sa.Column("agent_id", sa.String(length=63), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("disabled_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_users_agent_id_agents")),
        sa.ForeignKeyConstraint(["tenant_slug"], ["tenants.slug"], name=op.f("fk_users_tenant_slug_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("agent_id", name=op.f("uq_users_agent_id")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=63), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("remote", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index("ix_login_attempts_username_at", "login_attempts", ["username", "at"], unique=False)
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("last_seen_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("ended_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)

    op.create_table(
        "customers",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("uprn", sa.String(length=20), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_slug"], ["tenants.slug"], name=op.f("fk_customers_tenant_slug_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_index("ix_customers_tenant_uprn", "customers", ["tenant_slug", "uprn"], unique=False)
    op.create_index("ix_customers_tenant_phone", "customers", ["tenant_slug", "phone"], unique=False)
    op.create_index("ix_customers_tenant_email", "customers", ["tenant_slug", "email"], unique=False)

    op.add_column("enquiries", sa.Column("customer_id", _ID, nullable=True))
    # SQLite cannot add a foreign key to an existing table without copying it (and the event rows that
    # reference it); the bare column is enough for the embedded hub.
    if op.get_bind().dialect.name != "sqlite":
        op.create_foreign_key(
            op.f("fk_enquiries_customer_id_customers"), "enquiries", "customers", ["customer_id"], ["id"]
        )
    op.create_index(op.f("ix_enquiries_customer_id"), "enquiries", ["customer_id"], unique=False)
    op.create_index("ix_enquiry_events_handler_at", "enquiry_events", ["handler_slug", "at"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("user_id", _ID, nullable=True),
        sa.Column("username", sa.String(length=63), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("actor_tenant", sa.String(length=63), nullable=True),
        sa.Column("agent_id", sa.String(length=63), nullable=True),
        sa.Column("enquiry_id", _ID, nullable=True),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("owner_tenant", sa.String(length=63), nullable=True),
        sa.Column("fields", _JSON, nullable=False),
        sa.Column("detail", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_enquiry_id", "audit_log", ["enquiry_id"], unique=False)
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)
    statements = _SQLITE_APPEND_ONLY if op.get_bind().dialect.name == "sqlite" else _PG_APPEND_ONLY
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    op.drop_table("audit_log")  # dropping the table takes its PostgreSQL triggers with it
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index("ix_enquiry_events_handler_at", table_name="enquiry_events")
    op.drop_index(op.f("ix_enquiries_customer_id"), table_name="enquiries")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("enquiries") as batch_op:
            batch_op.drop_column("customer_id")
    else:
        op.drop_constraint(op.f("fk_enquiries_customer_id_customers"), "enquiries", type_="foreignkey")
        op.drop_column("enquiries", "customer_id")
    op.drop_table("customers")
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_login_attempts_username_at", table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_table("users")
