"""corrections are new rows that say what they correct (a published month corrected by a later publication), and
agreements keep their history (each version with the moment it took effect)

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-06 06:10:00

``published_periods`` is append-only (0010), so a month found wrong after publishing (events loaded late, a
rebuild) cannot be rewritten: a correction is a new row that names the row it corrects (``corrects``) and says
why (``reason``). Readers take the latest of a month's chain; the original and every earlier correction stay as
they were quoted. The ledger and the recharge statement are frozen inside ``figures``, so they are corrected with
their month. One original per partner and month (a partial unique index replaces the plain one), and a row is
corrected at most once (``corrects`` is unique), so the chain never forks.

``agreement_versions`` keeps every agreement as written, from when (``valid_from``; an ended agreement is a version
with no definition), so a month's ledger charges each contact at the rate in force when it was routed, whatever the
agreement says later. Append-only like the other history (0010), under row-level security like ``agreements``
(either side sees it). The agreements stored today become their first versions. docs/status.md.
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plumbing.db.base

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORIGINAL = "uq_published_periods_original"
APP_ROLE = os.environ.get("HUB_APP_ROLE", "hub_app")
SIDES = "(hub_sees(lender_slug) OR hub_sees(borrower_slug))"


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
    _agreement_versions(sqlite, bigint)


def _agreement_versions(sqlite: bool, bigint: sa.types.TypeEngine[int]) -> None:
    op.create_table(
        "agreement_versions",
        sa.Column("id", bigint, autoincrement=True, nullable=False),
        sa.Column("agreement_id", sa.String(length=63), nullable=False),
        sa.Column("lender_slug", sa.String(length=63), nullable=False),
        sa.Column("borrower_slug", sa.String(length=63), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("valid_from", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_versions")),
    )
    op.create_index(
        "ix_agreement_versions_agreement_id_valid_from", "agreement_versions", ["agreement_id", "valid_from"]
    )
    if not sqlite:
        # the owner reads every stored agreement for the backfill, whatever the session's scope
        op.execute("ALTER TABLE agreements NO FORCE ROW LEVEL SECURITY")
    op.execute(
        "INSERT INTO agreement_versions (agreement_id, lender_slug, borrower_slug, definition, valid_from) "
        "SELECT id, lender_slug, borrower_slug, definition, updated_at FROM agreements ORDER BY id"
    )
    if sqlite:
        for verb in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER agreement_versions_no_{verb} BEFORE {verb.upper()} ON agreement_versions "
                "BEGIN SELECT RAISE(ABORT, 'agreement_versions is append-only'); END"
            )
        return
    op.execute("ALTER TABLE agreements FORCE ROW LEVEL SECURITY")
    op.execute(f"GRANT SELECT, INSERT ON agreement_versions TO {APP_ROLE}")
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON agreement_versions FROM {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE agreement_versions_id_seq TO {APP_ROLE}")
    op.execute("ALTER TABLE agreement_versions ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE agreement_versions FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY partner_isolation ON agreement_versions USING ({SIDES}) WITH CHECK ({SIDES})")
    op.execute(
        "CREATE TRIGGER agreement_versions_no_change BEFORE UPDATE OR DELETE ON agreement_versions "
        "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
    )
    op.execute(
        "CREATE TRIGGER agreement_versions_no_truncate BEFORE TRUNCATE ON agreement_versions "
        "FOR EACH STATEMENT EXECUTE FUNCTION history_append_only()"
    )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_agreement_versions_agreement_id_valid_from", table_name="agreement_versions")
    op.drop_table("agreement_versions")  # its triggers go with it
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
