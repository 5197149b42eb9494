"""figure tallies striped: each contact counts in one of eight rows of its slot × service × channel × handler ×
agreement (its enquiry id modulo eight), so concurrent accepts and completions of a partner rarely share a row

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 09:20:00

Every accept, completion and intake batch of a partner's 15-minute slot added to the same ``figure_tallies`` row
and held its lock until it committed, so at 50 calls a second they queued on it, one commit at a time (traced in
docs/benchmarks.md, "Issue 23/19: the tally row's queue"). ``stripe`` joins the unique key; the readers already sum
the rows of a group and take the largest longest wait, so the figures are the same. Rows already kept become
stripe -1 (``routing.tallies.UNSTRIPED``: contacts of every stripe), which the readers sum like any other and
``recount_longest`` recounts over the whole group; a recount (``hub figures rebuild``) spreads them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = ["tenant_slug", "slot", "service_code", "channel", "handler_slug", "agreement_id"]
UNIQUE = "uq_figure_tallies_tenant_slug"


def upgrade() -> None:
    with op.batch_alter_table("figure_tallies") as batch:
        batch.add_column(sa.Column("stripe", sa.SmallInteger(), nullable=False, server_default="0"))
        batch.drop_constraint(UNIQUE, type_="unique")
        batch.create_unique_constraint(UNIQUE, [*OLD_KEY, "stripe"])
    op.execute("UPDATE figure_tallies SET stripe = -1")  # counted before the stripes: every stripe's contacts


SUMS = (
    "offered",
    "answered",
    "answered_within",
    "abandoned",
    "short_abandoned",
    "answered_wait",
    "handled",
    "handle_seconds",
    "resolved",
    "callbacks",
    "transfers",
    "avoidable",
)


def downgrade() -> None:
    # Each row's stripes folded into its lowest before the narrower key returns (correlated subqueries: SQLite too).
    same = " AND ".join(f"o.{c} = figure_tallies.{c}" for c in OLD_KEY)
    lowest = f"(SELECT min(o.stripe) FROM figure_tallies o WHERE {same})"
    folded = [f"{c} = (SELECT sum(o.{c}) FROM figure_tallies o WHERE {same})" for c in SUMS]
    folded.append(f"longest_wait = (SELECT max(o.longest_wait) FROM figure_tallies o WHERE {same})")
    op.execute(f"UPDATE figure_tallies SET {', '.join(folded)} WHERE stripe = {lowest}")
    op.execute(f"DELETE FROM figure_tallies WHERE stripe > {lowest}")
    with op.batch_alter_table("figure_tallies") as batch:
        batch.drop_constraint(UNIQUE, type_="unique")
        batch.create_unique_constraint(UNIQUE, OLD_KEY)
        batch.drop_column("stripe")
