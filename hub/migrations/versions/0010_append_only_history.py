"""history is append-only: events, agent events, published periods and case updates refuse UPDATE and DELETE

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 03:30:00

The figures are derived from these rows and the committee quotes what was published, so nothing may rewrite them:
the application role loses UPDATE, DELETE and TRUNCATE on them (PostgreSQL), and a trigger refuses those statements
for every role (both dialects), as 0005 does for the audit log. A correction is a new row that names what it
corrects. A superuser who truly must repair history (a migration backfill) runs with
``SET session_replication_role = replica``, under which PostgreSQL fires no ordinary triggers; the application role
cannot set it. The ledger and the recharge statement are not stored on their own: they are computed from the events
and frozen inside ``published_periods.figures`` when a month is published, so the same guard covers them.
See docs/guarantees.md.
"""

import os
from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = os.environ.get("HUB_APP_ROLE", "hub_app")

HISTORY = ("enquiry_events", "agent_events", "published_periods", "case_updates")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in HISTORY:
            for verb in ("update", "delete"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '% is append-only: record a correction as a new row', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    for table in HISTORY:
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {APP_ROLE}")
        op.execute(
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION history_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in HISTORY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        return
    for table in HISTORY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"GRANT UPDATE, DELETE ON {table} TO {APP_ROLE}")
    op.execute("DROP FUNCTION IF EXISTS history_append_only()")
