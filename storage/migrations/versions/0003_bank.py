"""Bank: accounts with TigerBeetle-style running totals, and the append-only transfer ledger.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("debits_posted", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("credits_posted", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("debits_pending", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("credits_pending", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("overdraft_limit", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("status", sa.String(8), nullable=False, server_default="open"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint("kind IN ('customer', 'shop', 'supplier', 'system')", name="ck_accounts_kind"),
        sa.CheckConstraint("status IN ('open', 'frozen', 'closed')", name="ck_accounts_status"),
        sa.CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND credits_pending >= 0"
            " AND overdraft_limit >= 0",
            name="ck_accounts_totals_not_negative",
        ),
        # The last wall under the service's check and the guarded UPDATE: no limited account can
        # ever be stored beyond its limit, whatever the code above does.
        sa.CheckConstraint(
            "kind = 'system' OR debits_posted + debits_pending <= credits_posted + overdraft_limit",
            name="ck_accounts_within_limit",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_accounts_tenant_name", "accounts", ["tenant_id", sa.text("lower(name)")], unique=True)
    op.create_index("ix_accounts_tenant_kind", "accounts", ["tenant_id", "kind", "currency"])
    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("debit_account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("credit_account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("pending_id", sa.Integer, sa.ForeignKey("transfers.id"), nullable=True),
        sa.Column("expires_at", sa.String(32), nullable=True),
        sa.Column("memo", sa.String(500), nullable=False, server_default=""),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("debit_balance_after", sa.BigInteger, nullable=False),
        sa.Column("credit_balance_after", sa.BigInteger, nullable=False),
        sa.CheckConstraint("kind IN ('posted', 'pending', 'post', 'void', 'expire')", name="ck_transfers_kind"),
        sa.CheckConstraint("amount_minor > 0", name="ck_transfers_amount_positive"),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name="ck_transfers_two_accounts"),
        sa.CheckConstraint("(pending_id IS NULL) = (kind IN ('posted', 'pending'))", name="ck_transfers_resolves"),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_transfers_tenant_key", "transfers", ["tenant_id", "idempotency_key"], unique=True)
    # A pending transfer is posted, voided or expired at most once.
    op.create_index(
        "ux_transfers_resolution", "transfers", ["pending_id"], unique=True,
        sqlite_where=sa.text("pending_id IS NOT NULL"), postgresql_where=sa.text("pending_id IS NOT NULL"),
    )
    op.create_index("ix_transfers_debit", "transfers", ["tenant_id", "debit_account_id", "id"])
    op.create_index("ix_transfers_credit", "transfers", ["tenant_id", "credit_account_id", "id"])
    op.create_index("ix_transfers_actor_time", "transfers", ["tenant_id", "actor", "created_at"])
    op.create_index(
        "ix_transfers_pending", "transfers", ["tenant_id", "id"],
        sqlite_where=sa.text("kind = 'pending'"), postgresql_where=sa.text("kind = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("transfers")
    op.drop_table("accounts")
