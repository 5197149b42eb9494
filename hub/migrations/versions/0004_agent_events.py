"""agent events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 21:39:27.425872
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import plumbing.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("agent_id", sa.String(length=63), nullable=False),
        sa.Column("tenant_slug", sa.String(length=63), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous", sa.String(length=16), nullable=False),
        sa.Column("at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_events_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_events")),
    )
    with op.batch_alter_table("agent_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_events_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index("ix_agent_events_tenant_at", ["tenant_slug", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agent_events", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_events_tenant_at")
        batch_op.drop_index(batch_op.f("ix_agent_events_agent_id"))

    op.drop_table("agent_events")
