"""callback figures kept as events land: one row per owner × service × 15-minute slot

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-06 06:30:00

Callbacks requested, rung, reached, missed, put back for a retry, given up and completed, and the time from
queueing to reaching the caller, counted in the same transaction as the events (``routing.tallies``); the
event-log computation (``figures.callbacks.from_events``) stays the reference. Callbacks recorded before this
migration are counted once ``hub figures rebuild`` recounts their months.
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import plumbing.db.base

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = os.environ.get("HUB_APP_ROLE", "hub_app")


def upgrade() -> None:
    op.create_table(
        "callback_tallies",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_slug", sa.String(63), nullable=False),
        sa.Column("slot", plumbing.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("service_code", sa.String(63), nullable=False),
        sa.Column("requested", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("attempted", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("answered", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("missed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("retried", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("given_up", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("completed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reached_wait_seconds", sa.Float(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_tallies")),
        sa.UniqueConstraint(
            "tenant_slug",
            "slot",
            "service_code",
            name=op.f("uq_callback_tallies_tenant_slug_slot_service_code"),
        ),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    # The owner's rows only (a callback is rung by the owner's agents: nothing here is another partner's).
    op.execute("ALTER TABLE callback_tallies ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE callback_tallies FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY partner_isolation ON callback_tallies USING (hub_sees(tenant_slug)) "
        "WITH CHECK (hub_sees(tenant_slug))"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON callback_tallies TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT, UPDATE ON SEQUENCE callback_tallies_id_seq TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("callback_tallies")
