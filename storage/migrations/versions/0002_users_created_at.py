"""users.created_at, backfilled: the actor's first audit entry, else the time of the upgrade.

Revision ID: 0002
Revises: 0001
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("created_at", sa.String(32), nullable=True))
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    op.get_bind().execute(
        sa.text(
            "UPDATE users SET created_at = COALESCE("
            " (SELECT MIN(a.at) FROM audit_log a WHERE a.tenant_id = users.tenant_id AND a.actor = users.name),"
            " :now)"
        ),
        {"now": now},
    )
    with op.batch_alter_table("users") as batch:
        batch.alter_column("created_at", existing_type=sa.String(32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("created_at")
