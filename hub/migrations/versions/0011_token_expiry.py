"""token expiry, and a scope the application cannot widen with its own SQL

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 03:30:00

1. ``api_tokens.expires_at``: a token with it set is refused from that moment (``hub token create --expires-in
   90d``); NULL: until revoked (``hub token revoke``).
2. (PostgreSQL) Row-level security no longer trusts ``hub.tenant`` as given. Each database connection the hub opens
   calls ``hub_open_connection()`` once, which makes a random key for that backend, keeps it in
   ``hub_connection_keys`` (which the application role cannot read or write) and returns it once; a second call
   on the same backend is refused. Each transaction then sets ``hub.tenant`` and ``hub.tenant_sig``
   (HMAC-SHA256 of the scope under the connection's key, plumbing.db.session). ``hub_scope()`` (SECURITY
   DEFINER) returns the scope only when the signature holds, else the empty scope (no rows). So SQL the hub did
   not mean to run (an injection, a stray ``SET hub.tenant = '*'``) cannot widen what its transaction sees: it
   has no key to sign a wider scope with. Policies read ``(SELECT hub_scope())``: evaluated once per statement.
   See docs/guarantees.md, "The application cannot widen its own scope".
"""

import os
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import plumbing.db.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = os.environ.get("HUB_APP_ROLE", "hub_app")

# The partner-owned tables of 0008 and 0009 and their predicates (hub_sees(x): x is in the scope, or the scope is '*').
PARTNER_OWNED: dict[str, str] = {
    "enquiries": "hub_sees(tenant_slug)",
    "enquiry_events": "hub_sees(tenant_slug)",
    "services": "hub_sees(tenant_slug)",
    "catalogue_versions": "hub_sees(tenant_slug)",
    "agents": "hub_sees(tenant_slug)",
    "agent_events": "hub_sees(tenant_slug)",
    "agent_skills": "EXISTS (SELECT 1 FROM agents a WHERE a.id = agent_skills.agent_id)",
    "customers": "hub_sees(tenant_slug)",
    "cases": "hub_sees(tenant_slug)",
    "case_updates": "hub_sees(tenant_slug)",
    "backoffice_deliveries": "hub_sees(tenant_slug)",
    "published_periods": "hub_sees(tenant_slug)",
    "survey_invites": "hub_sees(tenant_slug)",
    "agreements": "(hub_sees(lender_slug) OR hub_sees(borrower_slug))",
    "audit_log": "(hub_sees(owner_tenant) OR hub_sees(actor_tenant))",
    "api_tokens": "hub_sees(tenant_slug)",
    "users": "hub_sees(tenant_slug)",
    "intake_rejections": "hub_sees(claimed_tenant)",
    # the figures' tallies (0009), like the rows they count
    "contact_facts": "(hub_sees(tenant_slug) OR hub_sees(handler_slug))",
    "figure_tallies": "(hub_sees(tenant_slug) OR hub_sees(handler_slug))",
    "agent_tallies": "hub_sees(tenant_slug)",
}


def _checked(predicate: str) -> str:
    """hub_sees(x) written out over the checked scope, as sub-selects PostgreSQL runs once per statement."""
    return re.sub(
        r"hub_sees\((\w+)\)",
        r"((SELECT hub_scope()) && ARRAY['*', \1]::text[])",
        predicate,
    )


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE TABLE hub_connection_keys (
          pid integer PRIMARY KEY,
          backend_start timestamptz,
          ipad bytea NOT NULL,
          opad bytea NOT NULL
        )
        """
    )
    op.execute(f"REVOKE ALL ON hub_connection_keys FROM PUBLIC, {APP_ROLE}")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION hub_open_connection() RETURNS text
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        DECLARE
          started timestamptz := (SELECT s.backend_start FROM pg_stat_get_activity(pg_backend_pid()) s);
          key bytea := decode(
            replace(gen_random_uuid()::text || gen_random_uuid()::text
                    || gen_random_uuid()::text || gen_random_uuid()::text, '-', ''),
            'hex');
          ipad bytea := key;
          opad bytea := key;
        BEGIN
          DELETE FROM hub_connection_keys k
           WHERE k.pid = pg_backend_pid() AND k.backend_start IS DISTINCT FROM started;
          IF EXISTS (SELECT 1 FROM hub_connection_keys k WHERE k.pid = pg_backend_pid()) THEN
            RAISE EXCEPTION 'this connection already has its scope key'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          FOR i IN 0..63 LOOP
            ipad := set_byte(ipad, i, get_byte(key, i) # 54);
            opad := set_byte(opad, i, get_byte(key, i) # 92);
          END LOOP;
          INSERT INTO hub_connection_keys (pid, backend_start, ipad, opad)
          VALUES (pg_backend_pid(), started, ipad, opad);
          RETURN encode(key, 'hex');
        END $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION hub_scope() RETURNS text[]
        LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
        DECLARE
          scope text := coalesce(current_setting('hub.tenant', true), '');
          sig text := coalesce(current_setting('hub.tenant_sig', true), '');
          k record;
        BEGIN
          IF scope = '' THEN
            RETURN '{}';
          END IF;
          -- schema-qualified: no SET search_path (it costs on every call), and pg_temp cannot shadow the table
          SELECT ipad, opad INTO k FROM public.hub_connection_keys WHERE pid = pg_catalog.pg_backend_pid();
          IF NOT FOUND
             OR encode(sha256(k.opad || sha256(k.ipad || convert_to(scope, 'UTF8'))), 'hex') <> sig THEN
            RETURN '{}';  -- an unsigned or forged scope sees nothing
          END IF;
          RETURN string_to_array(scope, ',');
        END $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION hub_sees(partner text) RETURNS boolean
        LANGUAGE sql STABLE AS $$
          SELECT '*' = ANY (hub_scope()) OR partner = ANY (hub_scope())
        $$
        """
    )
    for name in ("hub_open_connection()", "hub_scope()"):
        op.execute(f"REVOKE ALL ON FUNCTION {name} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {name} TO {APP_ROLE}")
    for table, predicate in PARTNER_OWNED.items():
        checked = _checked(predicate)
        op.execute(f"ALTER POLICY partner_isolation ON {table} USING ({checked}) WITH CHECK ({checked})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, predicate in PARTNER_OWNED.items():
            op.execute(
                f"ALTER POLICY partner_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})"
            )
        op.execute(
            """
            CREATE OR REPLACE FUNCTION hub_sees(partner text) RETURNS boolean
            LANGUAGE sql STABLE PARALLEL SAFE AS $$
              SELECT coalesce(current_setting('hub.tenant', true), '') = '*'
                  OR partner = ANY (string_to_array(nullif(current_setting('hub.tenant', true), ''), ','))
            $$
            """
        )
        op.execute("DROP FUNCTION IF EXISTS hub_scope()")
        op.execute("DROP FUNCTION IF EXISTS hub_open_connection()")
        op.execute("DROP TABLE IF EXISTS hub_connection_keys")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
