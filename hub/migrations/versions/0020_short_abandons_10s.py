"""figure tallies count short abandons under 10 s too (definitions 2027.1, in force from January 2027)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 13:00:00

Definitions 2027.1 count a caller who hangs up within 10 s (not 5 s) as a short abandon. The tallies counted
only the 5-second ones, so every month from January 2027 would have been read from the event log, contact by
contact. ``short_abandoned_10s`` counts them under 10 s. A row kept before now is filled where its own counts
decide it (no abandons: 0; every abandon under 5 s, so under 10 s too: all of them); any other row stays NULL,
which the readers take as "not counted" (they read those slots from the event log) until ``hub figures rebuild``
recounts it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("figure_tallies") as batch:
        batch.add_column(sa.Column("short_abandoned_10s", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE figure_tallies SET short_abandoned_10s = CASE WHEN abandoned = 0 THEN 0 "
        "WHEN short_abandoned = abandoned THEN abandoned END"
    )


def downgrade() -> None:
    with op.batch_alter_table("figure_tallies") as batch:
        batch.drop_column("short_abandoned_10s")
