"""callbacks end to end (the number to ring, attempts made, when the next is due) and proficiency per skill

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-06 03:30:00

Three columns on ``enquiries`` (already under row-level security by its partner): ``callback_number`` (the number
the caller asked to be rung on; NULL: the caller's number from the call or the customer record),
``callback_attempts`` (attempts recorded so far) and ``retry_at`` (a missed callback waits, out of the live queues,
until then; NULL: not waiting for a retry). See docs/routing.md, "Callbacks". And ``agent_skills.level``: an
agent's proficiency in a skill, 1 to 5 (NULL: not rated), for services that prefer the best-skilled agent.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import plumbing.db.base

revision: str = "0014"
down_revision: str | None = "0011"  # rebased on main, after 0015_offer_expiry
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("enquiries") as batch:
        batch.add_column(sa.Column("callback_number", sa.String(40), nullable=True))
        batch.add_column(sa.Column("callback_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("retry_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_enquiries_retry_at", "enquiries", ["retry_at"])
    with op.batch_alter_table("agent_skills") as batch:
        batch.add_column(sa.Column("level", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agent_skills") as batch:
        batch.drop_column("level")
    op.drop_index("ix_enquiries_retry_at", table_name="enquiries")
    with op.batch_alter_table("enquiries") as batch:
        batch.drop_column("retry_at")
        batch.drop_column("callback_attempts")
        batch.drop_column("callback_number")
