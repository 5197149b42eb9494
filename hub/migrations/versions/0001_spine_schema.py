"""spine schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 21:29:47.419600
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

import plumbing.db.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "api_tokens",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("tenant_slug", sa.String(length=63), nullable=True),
        sa.Column("agent_id", sa.String(length=63), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "intake_rejections",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("routing_key", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("claimed_tenant", sa.String(length=63), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_rejections")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_intake_rejections_dedupe_key")),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("exchange", sa.String(length=255), nullable=False),
        sa.Column("routing_key", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column(
            "headers",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_table(
        "tenants",
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_tenants")),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("tenant_slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_since", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("missed_offers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_slug"], ["tenants.slug"], name=op.f("fk_agents_tenant_slug_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agents_tenant_slug"), ["tenant_slug"], unique=False)

    op.create_table(
        "services",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_slug", sa.String(length=63), nullable=False),
        sa.Column("code", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lgsl_code", sa.Integer(), nullable=True),
        sa.Column(
            "skills",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("sl_threshold_seconds", sa.Integer(), nullable=False),
        sa.Column("sl_target", sa.Double(), nullable=False),
        sa.Column(
            "required_fields",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "definition",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_slug"],
            ["tenants.slug"],
            name=op.f("fk_services_tenant_slug_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("tenant_slug", "code", name=op.f("uq_services_tenant_slug_code")),
    )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_services_tenant_slug"), ["tenant_slug"], unique=False)

    op.create_table(
        "agent_skills",
        sa.Column("agent_id", sa.String(length=63), nullable=False),
        sa.Column("skill", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_skills_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("agent_id", "skill", name=op.f("pk_agent_skills")),
    )
    op.create_table(
        "enquiries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("tenant_slug", sa.String(length=63), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("service_code", sa.String(length=63), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("received_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("queued_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.String(length=63), nullable=True),
        sa.Column("handler_slug", sa.String(length=63), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column(
            "customer",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "attributes",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "call",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=True,
        ),
        sa.Column("correlation_id", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_enquiries_agent_id_agents")),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_enquiries_service_id_services")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_slug"], ["tenants.slug"], name=op.f("fk_enquiries_tenant_slug_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enquiries")),
        sa.UniqueConstraint("reference", name=op.f("uq_enquiries_reference")),
        sa.UniqueConstraint("tenant_slug", "message_id", name=op.f("uq_enquiries_tenant_slug_message_id")),
    )
    with op.batch_alter_table("enquiries", schema=None) as batch_op:
        batch_op.create_index("ix_enquiries_state", ["state"], unique=False)

    op.create_table(
        "enquiry_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("enquiry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_slug", sa.String(length=63), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.String(length=63), nullable=True),
        sa.Column("handler_slug", sa.String(length=63), nullable=True),
        sa.Column(
            "data",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["enquiry_id"], ["enquiries.id"], name=op.f("fk_enquiry_events_enquiry_id_enquiries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enquiry_events")),
    )
    with op.batch_alter_table("enquiry_events", schema=None) as batch_op:
        batch_op.create_index("ix_enquiry_events_enquiry", ["enquiry_id"], unique=False)
        batch_op.create_index("ix_enquiry_events_tenant_at", ["tenant_slug", "at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("enquiry_events", schema=None) as batch_op:
        batch_op.drop_index("ix_enquiry_events_tenant_at")
        batch_op.drop_index("ix_enquiry_events_enquiry")

    op.drop_table("enquiry_events")
    with op.batch_alter_table("enquiries", schema=None) as batch_op:
        batch_op.drop_index("ix_enquiries_state")

    op.drop_table("enquiries")
    op.drop_table("agent_skills")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_tenant_slug"))

    op.drop_table("services")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agents_tenant_slug"))

    op.drop_table("agents")
    op.drop_table("tenants")
    op.drop_table("outbox")
    op.drop_table("intake_rejections")
    op.drop_table("api_tokens")
