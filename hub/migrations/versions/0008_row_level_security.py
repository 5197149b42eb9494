"""partner isolation: row-level security on every partner-owned table, and the application role

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-21 22:35:00

PostgreSQL only (SQLite, the embedded demo, has no RLS and is single-trust). The application connects as
``HUB_APP_ROLE`` (default ``hub_app``): a LOGIN role that owns nothing, is no superuser and has no BYPASSRLS. Every
partner-owned table gets ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` and one policy that lets a row through only when
the transaction's ``hub.tenant`` (set with ``set_config(..., true)`` by plumbing.db.session) is ``*`` or lists its partner.
The audit log is append-only for the application role: UPDATE, DELETE and TRUNCATE are not granted.
"""

import os
from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = os.environ.get("HUB_APP_ROLE", "hub_app")

# table -> the SQL expression naming the partner(s) a row belongs to (decided per table; see docs/guarantees.md).
PARTNER_OWNED: dict[str, str] = {
    "enquiries": "hub_sees(tenant_slug)",
    "enquiry_events": "hub_sees(tenant_slug)",
    "services": "hub_sees(tenant_slug)",
    "catalogue_versions": "hub_sees(tenant_slug)",
    "agents": "hub_sees(tenant_slug)",
    "agent_events": "hub_sees(tenant_slug)",
    # a skill row belongs to its agent's partner (the sub-select is itself under the agents policy)
    "agent_skills": "EXISTS (SELECT 1 FROM agents a WHERE a.id = agent_skills.agent_id)",
    "customers": "hub_sees(tenant_slug)",
    "cases": "hub_sees(tenant_slug)",
    "case_updates": "hub_sees(tenant_slug)",
    "backoffice_deliveries": "hub_sees(tenant_slug)",
    "published_periods": "hub_sees(tenant_slug)",
    "survey_invites": "hub_sees(tenant_slug)",
    # both sides of an agreement see it
    "agreements": "(hub_sees(lender_slug) OR hub_sees(borrower_slug))",
    # the partner whose data it is, or the partner who acted; hub-wide entries (both NULL) only in the '*' scope
    "audit_log": "(hub_sees(owner_tenant) OR hub_sees(actor_tenant))",
    # credentials scoped to a partner; hub-wide ones (NULL) only in the '*' scope
    "api_tokens": "hub_sees(tenant_slug)",
    "users": "hub_sees(tenant_slug)",
    # the tenant a rejected message claimed (unverified); NULL only in the '*' scope
    "intake_rejections": "hub_sees(claimed_tenant)",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION hub_sees(partner text) RETURNS boolean
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
          SELECT coalesce(current_setting('hub.tenant', true), '') = '*'
              OR partner = ANY (string_to_array(nullif(current_setting('hub.tenant', true), ''), ','))
        $$
        """
    )
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        END $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION hub_sees(text) TO {APP_ROLE}")
    # tables later migrations create get the same grants (their migration must add RLS: a test checks it)
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {APP_ROLE}"
    )
    # append-only audit for the application (the trigger of 0005 also refuses changes, for every role)
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {APP_ROLE}")
    for table, predicate in PARTNER_OWNED.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY partner_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in PARTNER_OWNED:
        op.execute(f"DROP POLICY IF EXISTS partner_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS hub_sees(text)")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP_ROLE}")
