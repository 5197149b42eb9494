"""offers carry their expiry, indexed while offered, so the lost-offer check reads only offers long expired

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 03:25:00

``recover_lost_offers`` used to walk every enquiry on offer (one per agent holding an offer) and ask the live
state about each: its cost grew with the offers held. With ``offered_until`` and a partial index over the rows on
offer, it reads only those whose expiry passed longer ago than the grace period: normally none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import plumbing.db.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "enquiries", sa.Column("offered_until", plumbing.db.base.UTCDateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_enquiries_offered_until",
        "enquiries",
        ["offered_until"],
        postgresql_where=sa.text("state = 'offered'"),
        sqlite_where=sa.text("state = 'offered'"),
    )


def downgrade() -> None:
    op.drop_index("ix_enquiries_offered_until", table_name="enquiries")
    op.drop_column("enquiries", "offered_until")
