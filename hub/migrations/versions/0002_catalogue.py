"""catalogue versions, partner settings, enquiry location and catalogue version

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

import plumbing.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return (
        sa.JSON()
        .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
        .with_variant(sqlite.JSON(), "sqlite")
    )


def upgrade() -> None:
    op.create_table(
        "catalogue_versions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_slug", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("created_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_slug"],
            ["tenants.slug"],
            name=op.f("fk_catalogue_versions_tenant_slug_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_versions")),
        sa.UniqueConstraint("tenant_slug", "version", name=op.f("uq_catalogue_versions_tenant_slug_version")),
    )
    with op.batch_alter_table("catalogue_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalogue_versions_tenant_slug"), ["tenant_slug"], unique=False)

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings", _json(), server_default=sa.text("'{}'"), nullable=False))
        batch_op.add_column(sa.Column("catalogue_version", sa.Integer(), nullable=True))

    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False))

    with op.batch_alter_table("enquiries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("catalogue_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("location", _json(), nullable=True))
        batch_op.add_column(sa.Column("media_url", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("enquiries", schema=None) as batch_op:
        batch_op.drop_column("media_url")
        batch_op.drop_column("location")
        batch_op.drop_column("catalogue_version")

    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("active")

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("catalogue_version")
        batch_op.drop_column("settings")

    with op.batch_alter_table("catalogue_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalogue_versions_tenant_slug"))

    op.drop_table("catalogue_versions")
