"""back-office delivery outbox, cases and their status updates

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 21:45:13.454330
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

import plumbing.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backoffice_deliveries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("enquiry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_slug", sa.String(length=63), nullable=False),
        sa.Column("service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("service_code", sa.String(length=63), nullable=False),
        sa.Column("adapter", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column(
            "payload",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("redriven", sa.Integer(), nullable=False),
        sa.Column("created_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("parked_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["enquiry_id"], ["enquiries.id"], name=op.f("fk_backoffice_deliveries_enquiry_id_enquiries")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_backoffice_deliveries_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backoffice_deliveries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_backoffice_deliveries_idempotency_key")),
    )
    with op.batch_alter_table("backoffice_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_backoffice_deliveries_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_backoffice_deliveries_enquiry", ["enquiry_id", "id"], unique=False)
        batch_op.create_index(
            "ix_backoffice_deliveries_tenant_status", ["tenant_slug", "status"], unique=False
        )

    op.create_table(
        "case_updates",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("enquiry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_slug", sa.String(length=63), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("expected_date", sa.Date(), nullable=True),
        sa.Column("at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enquiry_id"], ["enquiries.id"], name=op.f("fk_case_updates_enquiry_id_enquiries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_updates")),
        sa.UniqueConstraint(
            "tenant_slug", "source", "source_id", name=op.f("uq_case_updates_tenant_slug_source_source_id")
        ),
    )
    with op.batch_alter_table("case_updates", schema=None) as batch_op:
        batch_op.create_index("ix_case_updates_enquiry", ["enquiry_id"], unique=False)

    op.create_table(
        "cases",
        sa.Column("enquiry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_slug", sa.String(length=63), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("status_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expected_date", sa.Date(), nullable=True),
        sa.Column("passed_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("updated_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["enquiry_id"], ["enquiries.id"], name=op.f("fk_cases_enquiry_id_enquiries")),
        sa.PrimaryKeyConstraint("enquiry_id", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_tenant_external_ref", ["tenant_slug", "external_ref"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_tenant_external_ref")

    op.drop_table("cases")
    with op.batch_alter_table("case_updates", schema=None) as batch_op:
        batch_op.drop_index("ix_case_updates_enquiry")

    op.drop_table("case_updates")
    with op.batch_alter_table("backoffice_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_backoffice_deliveries_tenant_status")
        batch_op.drop_index("ix_backoffice_deliveries_enquiry")
        batch_op.drop_index("ix_backoffice_deliveries_due")

    op.drop_table("backoffice_deliveries")
