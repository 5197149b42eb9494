"""data-sharing agreements: partners that sign one see each other's contacts with the same customer

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 06:30:00

``data_sharing_agreements`` holds each signed agreement as written (``definition``) and its parties (copied out, a
JSON list). Row-level security: a row is seen by the scope of any of its parties (docs/guarantees.md), so an
agent's request finds the agreements its partner signed and no other. See docs/design.md, "A customer seen across
partners".
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import plumbing.db.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = os.environ.get("HUB_APP_ROLE", "hub_app")

# any party in the transaction's checked scope (hub_scope(), 0011), evaluated once per statement for the scope
PREDICATE = (
    "((SELECT hub_scope()) && (ARRAY['*'] || ARRAY(SELECT jsonb_array_elements_text(parties)))::text[])"
)


def upgrade() -> None:
    op.create_table(
        "data_sharing_agreements",
        sa.Column("id", sa.String(63), primary_key=True),
        sa.Column("parties", plumbing.db.base.JsonDoc, nullable=False),
        sa.Column("definition", plumbing.db.base.JsonDoc, nullable=False),
        sa.Column("updated_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON data_sharing_agreements TO {APP_ROLE}")
    op.execute("ALTER TABLE data_sharing_agreements ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE data_sharing_agreements FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY partner_isolation ON data_sharing_agreements USING ({PREDICATE}) WITH CHECK ({PREDICATE})"
    )


def downgrade() -> None:
    op.drop_table("data_sharing_agreements")
