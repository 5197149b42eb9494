"""token expiry: an optional end to a bearer token's life

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-06 03:30:00

A token with ``expires_at`` set is refused from that moment (``hub token create --expires-in 90d``); NULL: until
revoked (``hub token revoke``). The table keeps the row-level security of 0008.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import plumbing.db.base

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", plumbing.db.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
