"""Audit chain and data lifecycle: hash-chained audit entries, soft deletes, archive tables,
reversal links for undo by compensation, and product attachments.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from domain.audit_chain import GENESIS, entry_hash

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_AUDIT_COLUMNS = (
    ("at", sa.String(32), False),
    ("actor", sa.String(64), False),
    ("entity", sa.String(32), False),
    ("entity_id", sa.String(64), False),
    ("action", sa.String(32), False),
    ("before", sa.Text, True),
    ("after", sa.Text, True),
    ("request_key", sa.String(200), True),
    ("prev_hash", sa.String(64), True),
    ("hash", sa.String(64), True),
)


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("audit_log", sa.Column("hash", sa.String(64), nullable=True))
    _chain_existing_entries()
    # The Audit screen filters newest first by actor, entity or time without scanning a million rows.
    op.create_index("ix_audit_log_actor", "audit_log", ["tenant_id", "actor", "id"])
    op.create_index("ix_audit_log_entity", "audit_log", ["tenant_id", "entity", "id"])
    op.create_index("ix_audit_log_at", "audit_log", ["tenant_id", "at"])

    # Soft deletes: a deleted product or account is hidden, restorable, and kept for history.
    op.add_column("products", sa.Column("deleted_at", sa.String(32), nullable=True))
    op.add_column("accounts", sa.Column("deleted_at", sa.String(32), nullable=True))

    # Undo by compensation: a reversing entry points at the one it reverses (no FK: it may be archived).
    op.add_column("transfers", sa.Column("reverses_id", sa.Integer, nullable=True))
    op.add_column("stock_moves", sa.Column("reverses_id", sa.Integer, nullable=True))
    op.create_index(
        "ux_transfers_reverses", "transfers", ["tenant_id", "reverses_id"], unique=True,
        sqlite_where=sa.text("reverses_id IS NOT NULL"), postgresql_where=sa.text("reverses_id IS NOT NULL"),
    )
    op.create_index(
        "ux_stock_moves_reverses", "stock_moves", ["tenant_id", "reverses_id"], unique=True,
        sqlite_where=sa.text("reverses_id IS NOT NULL"), postgresql_where=sa.text("reverses_id IS NOT NULL"),
    )
    # As-of queries and archiving select by time; archiving keeps a transfer while a live move points at it.
    op.create_index("ix_transfers_created", "transfers", ["tenant_id", "created_at"])
    op.create_index("ix_stock_moves_created", "stock_moves", ["tenant_id", "created_at"])
    op.create_index("ix_stock_moves_transfer", "stock_moves", ["transfer_id"])

    _archive_tables()

    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage", sa.String(8), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.CheckConstraint("storage IN ('file', 'blob')", name="ck_attachments_storage"),
        sa.CheckConstraint("(storage = 'blob') = (content IS NOT NULL)", name="ck_attachments_content"),
        sa.CheckConstraint("size_bytes >= 0", name="ck_attachments_size"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_attachments_product", "attachments", ["tenant_id", "product_id", "id"])
    op.create_index("ix_attachments_sha256", "attachments", ["sha256"])


def _chain_existing_entries() -> None:
    """Entries written before the chain existed are chained now, per tenant in id order."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, tenant_id, at, actor, entity, entity_id, action, before, after, request_key"
            " FROM audit_log ORDER BY tenant_id, id"
        )
    ).fetchall()
    tails: dict[str, str] = {}
    for row in rows:
        prev = tails.get(row.tenant_id, GENESIS)
        digest = entry_hash(prev, row.at, row.actor, row.entity, row.entity_id, row.action, row.before, row.after,
                            row.request_key)
        bind.execute(sa.text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE id = :i"),
                     {"p": prev, "h": digest, "i": row.id})
        tails[row.tenant_id] = digest


def _archive_tables() -> None:
    """Old ledger rows and audit entries move here batch by batch; ids are kept, so history and the
    audit chain read across the boundary in id order."""
    op.create_table(
        "audit_log_archive",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        *[sa.Column(name, type_, nullable=nullable) for name, type_, nullable in _AUDIT_COLUMNS],
    )
    op.create_index("ix_audit_log_archive_tenant_id", "audit_log_archive", ["tenant_id", "id"])
    op.create_table(
        "transfers_archive",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("debit_account_id", sa.Integer, nullable=False),
        sa.Column("credit_account_id", sa.Integer, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("pending_id", sa.Integer, nullable=True),
        sa.Column("expires_at", sa.String(32), nullable=True),
        sa.Column("memo", sa.String(500), nullable=False, server_default=""),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("debit_balance_after", sa.BigInteger, nullable=False),
        sa.Column("credit_balance_after", sa.BigInteger, nullable=False),
        sa.Column("reverses_id", sa.Integer, nullable=True),
    )
    op.create_index("ix_transfers_archive_tenant_id", "transfers_archive", ["tenant_id", "id"])
    op.create_index("ix_transfers_archive_key", "transfers_archive", ["tenant_id", "idempotency_key"])
    op.create_index("ix_transfers_archive_debit", "transfers_archive", ["tenant_id", "debit_account_id", "id"])
    op.create_index("ix_transfers_archive_credit", "transfers_archive", ["tenant_id", "credit_account_id", "id"])
    op.create_index("ix_transfers_archive_pending", "transfers_archive", ["pending_id"])
    op.create_index("ix_transfers_archive_created", "transfers_archive", ["tenant_id", "created_at"])
    op.create_table(
        "stock_moves_archive",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(10), nullable=False),
        sa.Column("product_id", sa.Integer, nullable=False),
        sa.Column("from_location_id", sa.Integer, nullable=False),
        sa.Column("to_location_id", sa.Integer, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("pending_id", sa.Integer, nullable=True),
        sa.Column("transfer_id", sa.Integer, nullable=True),
        sa.Column("due_day", sa.Integer, nullable=True),
        sa.Column("day", sa.Integer, nullable=False, server_default="0"),
        sa.Column("memo", sa.String(500), nullable=False, server_default=""),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("from_after", sa.BigInteger, nullable=True),
        sa.Column("to_after", sa.BigInteger, nullable=True),
        sa.Column("reverses_id", sa.Integer, nullable=True),
    )
    op.create_index("ix_stock_moves_archive_tenant_id", "stock_moves_archive", ["tenant_id", "id"])
    op.create_index("ix_stock_moves_archive_key", "stock_moves_archive", ["tenant_id", "idempotency_key"])
    op.create_index("ix_stock_moves_archive_product", "stock_moves_archive", ["tenant_id", "product_id", "id"])
    op.create_index("ix_stock_moves_archive_pending", "stock_moves_archive", ["pending_id"])
    op.create_index("ix_stock_moves_archive_transfer", "stock_moves_archive", ["transfer_id"])
    op.create_index("ix_stock_moves_archive_created", "stock_moves_archive", ["tenant_id", "created_at"])


def downgrade() -> None:
    # Archived rows go back into the live tables first (ids kept), so a downgrade loses nothing.
    _unarchive("audit_log", "at, actor, entity, entity_id, action, before, after, request_key")
    _unarchive("transfers", "kind, debit_account_id, credit_account_id, amount_minor, currency, pending_id, expires_at,"
               " memo, idempotency_key, actor, created_at, debit_balance_after, credit_balance_after")
    _unarchive("stock_moves", "kind, reason, product_id, from_location_id, to_location_id, quantity, pending_id,"
               " transfer_id, due_day, day, memo, idempotency_key, actor, created_at, from_after, to_after")
    op.drop_table("attachments")
    op.drop_table("stock_moves_archive")
    op.drop_table("transfers_archive")
    op.drop_table("audit_log_archive")
    for index, table in (
        ("ix_stock_moves_transfer", "stock_moves"), ("ix_stock_moves_created", "stock_moves"),
        ("ix_transfers_created", "transfers"),
        ("ux_stock_moves_reverses", "stock_moves"), ("ux_transfers_reverses", "transfers"),
        ("ix_audit_log_at", "audit_log"), ("ix_audit_log_entity", "audit_log"), ("ix_audit_log_actor", "audit_log"),
    ):
        op.drop_index(index, table_name=table)
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch rebuild would lose AUTOINCREMENT
    # and the expression indexes.
    for table, column in (
        ("stock_moves", "reverses_id"), ("transfers", "reverses_id"), ("accounts", "deleted_at"),
        ("products", "deleted_at"), ("audit_log", "hash"), ("audit_log", "prev_hash"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def _unarchive(table: str, columns: str) -> None:
    op.execute(f"INSERT INTO {table} (id, tenant_id, {columns}) SELECT id, tenant_id, {columns} FROM {table}_archive")
