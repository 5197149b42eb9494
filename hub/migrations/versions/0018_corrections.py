"""corrections are new rows that say what they correct: a published month corrected by a later publication

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-06 06:10:00

``published_periods`` is append-only (0010), so a month found wrong after publishing (events loaded late, a
rebuild) cannot be rewritten: a correction is a new row that names the row it corrects (``corrects``) and says
why (``reason``). Readers take the latest of a month's chain; the original and every earlier correction stay as
they were quoted. The ledger and the recharge statement are frozen inside ``figures``, so they are corrected with
their month. One original per partner and month (a partial unique index replaces the plain one), and a row is
corrected at most once (``corrects`` is unique), so the chain never forks. docs/status.md.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORIGINAL = "uq_published_periods_original"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    bigint = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    with op.batch_alter_table("published_periods") as batch:
        batch.add_column(sa.Column("corrects", bigint, nullable=True))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch.drop_constraint("uq_published_periods_tenant_slug_period", type_="unique")
        batch.create_foreign_key(
            "fk_published_periods_corrects_published_periods", "published_periods", ["corrects"], ["id"]
        )
        batch.create_unique_constraint("uq_published_periods_corrects", ["corrects"])
    op.create_index(
        ORIGINAL,
        "published_periods",
        ["tenant_slug", "period"],
        unique=True,
        postgresql_where=sa.text("corrects IS NULL"),
        sqlite_where=sa.text("corrects IS NULL"),
    )
    if sqlite:
        # SQLite's batch mode copies the table, and its triggers (0010) go with the old one: put them back.
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS published_periods_no_{verb}")
            op.execute(
                f"CREATE TRIGGER published_periods_no_{verb} BEFORE {verb.upper()} ON published_periods "
                "BEGIN SELECT RAISE(ABORT, 'published_periods is append-only'); END"
            )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index(ORIGINAL, table_name="published_periods")
    with op.batch_alter_table("published_periods") as batch:
        batch.drop_constraint("uq_published_periods_corrects", type_="unique")
        batch.drop_constraint("fk_published_periods_corrects_published_periods", type_="foreignkey")
        batch.drop_column("reason")
        batch.drop_column("corrects")
        batch.create_unique_constraint("uq_published_periods_tenant_slug_period", ["tenant_slug", "period"])
    if sqlite:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS published_periods_no_{verb}")
            op.execute(
                f"CREATE TRIGGER published_periods_no_{verb} BEFORE {verb.upper()} ON published_periods "
                "BEGIN SELECT RAISE(ABORT, 'published_periods is append-only'); END"
            )
