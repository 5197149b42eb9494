"""overflow agreements, and who holds an enquiry under which agreement

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

import plumbing.db.base

revision: str = "0003"
down_revision: str | None = "0002"  # the lead re-chains this after 0002 (issue 3) is merged
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("lender_slug", sa.String(length=63), nullable=False),
        sa.Column("borrower_slug", sa.String(length=63), nullable=False),
        sa.Column(
            "definition",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.Column("updated_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lender_slug"],
            ["tenants.slug"],
            name=op.f("fk_agreements_lender_slug_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["borrower_slug"],
            ["tenants.slug"],
            name=op.f("fk_agreements_borrower_slug_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
    )
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreements_lender_slug"), ["lender_slug"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreements_borrower_slug"), ["borrower_slug"], unique=False)
    with op.batch_alter_table("enquiries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agreement_id", sa.String(length=63), nullable=True))
        batch_op.add_column(sa.Column("follow_up", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("enquiries", schema=None) as batch_op:
        batch_op.drop_column("follow_up")
        batch_op.drop_column("agreement_id")
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreements_borrower_slug"))
        batch_op.drop_index(batch_op.f("ix_agreements_lender_slug"))
    op.drop_table("agreements")
