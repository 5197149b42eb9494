"""figure tallies: per-contact facts and 15-minute interval tallies kept with the event log

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 03:40:00

Existing event logs are not counted here: run ``hub figures rebuild`` once after upgrading (docs/figures.md).
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import plumbing.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = os.environ.get("HUB_APP_ROLE", "hub_app")
# The owner's rows, and the answering partner's too (overflow received, the lender's side of the ledger).
PARTNER_OWNED = {
    "contact_facts": "(hub_sees(tenant_slug) OR hub_sees(handler_slug))",
    "figure_tallies": "(hub_sees(tenant_slug) OR hub_sees(handler_slug))",
    "agent_tallies": "hub_sees(tenant_slug)",
}
SUMS_INT = (
    "offered",
    "answered",
    "answered_within",
    "abandoned",
    "short_abandoned",
    "handled",
    "resolved",
    "callbacks",
    "transfers",
    "avoidable",
)


def upgrade() -> None:
    when = plumbing.db.base.UTCDateTime(timezone=True)
    op.create_table(
        "contact_facts",
        sa.Column("enquiry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_slug", sa.String(63), nullable=False),
        sa.Column("service_code", sa.String(63), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("threshold_seconds", sa.Integer(), nullable=False),
        sa.Column("queued_at", when, nullable=False),
        sa.Column("answered_at", when, nullable=True),
        sa.Column("abandoned_at", when, nullable=True),
        sa.Column("completed_at", when, nullable=True),
        sa.Column("completed_by", sa.String(63), nullable=True),
        sa.Column("handler_slug", sa.String(63), nullable=True),
        sa.Column("agreement_id", sa.String(63), nullable=True),
        sa.Column("pending_agreement", sa.String(63), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("wrap_seconds", sa.Float(), nullable=False),
        sa.Column("transferred", sa.Boolean(), nullable=False),
        sa.Column("callback", sa.Boolean(), nullable=False),
        sa.Column("avoidable", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enquiry_id"], ["enquiries.id"], name=op.f("fk_contact_facts_enquiry_id_enquiries")
        ),
        sa.PrimaryKeyConstraint("enquiry_id", name=op.f("pk_contact_facts")),
    )
    op.create_index("ix_contact_facts_completed_by", "contact_facts", ["completed_by", "completed_at"])
    op.create_index("ix_contact_facts_tenant_queued", "contact_facts", ["tenant_slug", "queued_at"])
    op.create_table(
        "figure_tallies",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_slug", sa.String(63), nullable=False),
        sa.Column("slot", when, nullable=False),
        sa.Column("service_code", sa.String(63), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("handler_slug", sa.String(63), nullable=False),
        sa.Column("agreement_id", sa.String(63), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in SUMS_INT],
        sa.Column("answered_wait", sa.Float(), nullable=False),
        sa.Column("handle_seconds", sa.Float(), nullable=False),
        sa.Column("longest_wait", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_figure_tallies")),
        sa.UniqueConstraint(
            "tenant_slug",
            "slot",
            "service_code",
            "channel",
            "handler_slug",
            "agreement_id",
            name=op.f("uq_figure_tallies_tenant_slug"),
        ),
    )
    op.create_index("ix_figure_tallies_handler_slot", "figure_tallies", ["handler_slug", "slot"])
    op.create_table(
        "agent_tallies",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("agent_id", sa.String(63), nullable=False),
        sa.Column("tenant_slug", sa.String(63), nullable=False),
        sa.Column("slot", when, nullable=False),
        sa.Column("handling_seconds", sa.Float(), nullable=False),
        sa.Column("available_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_tallies")),
        sa.UniqueConstraint("agent_id", "slot", name=op.f("uq_agent_tallies_agent_id_slot")),
    )
    op.create_index("ix_agent_tallies_tenant_slot", "agent_tallies", ["tenant_slug", "slot"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, predicate in PARTNER_OWNED.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY partner_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    for sequence in ("figure_tallies_id_seq", "agent_tallies_id_seq"):
        op.execute(f"GRANT USAGE, SELECT, UPDATE ON SEQUENCE {sequence} TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_index("ix_agent_tallies_tenant_slot", table_name="agent_tallies")
    op.drop_table("agent_tallies")
    op.drop_index("ix_figure_tallies_handler_slot", table_name="figure_tallies")
    op.drop_table("figure_tallies")
    op.drop_index("ix_contact_facts_tenant_queued", table_name="contact_facts")
    op.drop_index("ix_contact_facts_completed_by", table_name="contact_facts")
    op.drop_table("contact_facts")
