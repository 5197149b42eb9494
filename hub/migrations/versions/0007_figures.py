"""figures

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-21 21:42:39.252977
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

import plumbing.db.base

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "published_periods",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_slug", sa.String(length=63), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("definitions_version", sa.String(length=16), nullable=False),
        sa.Column("published_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "figures",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_slug"], ["tenants.slug"], name=op.f("fk_published_periods_tenant_slug_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_periods")),
        sa.UniqueConstraint("tenant_slug", "period", name=op.f("uq_published_periods_tenant_slug_period")),
    )
    op.create_table(
        "survey_invites",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("enquiry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_slug", sa.String(length=63), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("sample_rate", sa.Double(), nullable=False),
        sa.Column("invited_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rating", sa.String(length=8), nullable=True),
        sa.Column("responded_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["enquiry_id"], ["enquiries.id"], name=op.f("fk_survey_invites_enquiry_id_enquiries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_invites")),
        sa.UniqueConstraint("enquiry_id", name=op.f("uq_survey_invites_enquiry_id")),
        sa.UniqueConstraint("token", name=op.f("uq_survey_invites_token")),
    )
    with op.batch_alter_table("survey_invites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_survey_invites_tenant_slug"), ["tenant_slug"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("survey_invites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_invites_tenant_slug"))

    op.drop_table("survey_invites")
    op.drop_table("published_periods")
