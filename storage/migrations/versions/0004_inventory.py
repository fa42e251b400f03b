"""Inventory: locations, stock levels, the stock-move ledger, product cost and reorder level, the game state.

Every product's existing quantity becomes an opening adjustment into the Warehouse, so the
stock ledger explains every unit on hand from the first day.

Revision ID: 0004
Revises: 0003
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("products", sa.Column("cost_minor", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column("products", sa.Column("reorder_level", sa.BigInteger, nullable=False, server_default="0"))
    # No recorded cost yet: value stock at its price until someone sets a cost.
    op.execute("UPDATE products SET cost_minor = price_minor")

    op.create_table(
        "locations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint(
            "kind IN ('internal', 'supplier', 'customer', 'scrap', 'adjustment')", name="ck_locations_kind"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_locations_tenant_name", "locations", ["tenant_id", sa.text("lower(name)")], unique=True)
    op.create_index("ix_locations_tenant_kind", "locations", ["tenant_id", "kind", "id"])

    op.create_table(
        "stock_levels",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("location_id", sa.Integer, sa.ForeignKey("locations.id"), nullable=False),
        sa.Column("on_hand", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("incoming", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("outgoing", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("product_id", "location_id"),
        # The last wall under the service's check and the guarded UPDATE: never below zero, never
        # more on its way out than is on hand.
        sa.CheckConstraint(
            "on_hand >= 0 AND incoming >= 0 AND outgoing >= 0 AND outgoing <= on_hand", name="ck_stock_levels_not_negative"
        ),
    )

    op.create_table(
        "stock_moves",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(10), nullable=False),
        # No foreign key: the ledger keeps a deleted product's history, like the audit log.
        sa.Column("product_id", sa.Integer, nullable=False),
        sa.Column("from_location_id", sa.Integer, sa.ForeignKey("locations.id"), nullable=False),
        sa.Column("to_location_id", sa.Integer, sa.ForeignKey("locations.id"), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("pending_id", sa.Integer, sa.ForeignKey("stock_moves.id"), nullable=True),
        sa.Column("transfer_id", sa.Integer, sa.ForeignKey("transfers.id"), nullable=True),
        sa.Column("due_day", sa.Integer, nullable=True),
        sa.Column("day", sa.Integer, nullable=False, server_default="0"),
        sa.Column("memo", sa.String(500), nullable=False, server_default=""),
        # NULL for bookkeeping adjustments no client asked for (an import's counts): unique keys cost a
        # quarter of each insert. Unique indexes treat NULLs as distinct.
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("from_after", sa.BigInteger, nullable=True),
        sa.Column("to_after", sa.BigInteger, nullable=True),
        sa.CheckConstraint("kind IN ('posted', 'pending', 'received', 'cancelled')", name="ck_stock_moves_kind"),
        sa.CheckConstraint(
            "reason IN ('receive', 'sell', 'move', 'adjust', 'scrap', 'purchase')", name="ck_stock_moves_reason"
        ),
        sa.CheckConstraint("quantity > 0", name="ck_stock_moves_quantity_positive"),
        sa.CheckConstraint("from_location_id <> to_location_id", name="ck_stock_moves_two_locations"),
        sa.CheckConstraint("(pending_id IS NULL) = (kind IN ('posted', 'pending'))", name="ck_stock_moves_resolves"),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_stock_moves_tenant_key", "stock_moves", ["tenant_id", "idempotency_key"], unique=True)
    op.create_index(
        "ux_stock_moves_resolution", "stock_moves", ["pending_id"], unique=True,
        sqlite_where=sa.text("pending_id IS NOT NULL"), postgresql_where=sa.text("pending_id IS NOT NULL"),
    )
    op.create_index("ix_stock_moves_product", "stock_moves", ["tenant_id", "product_id", "id"])
    op.create_index(
        "ix_stock_moves_pending", "stock_moves", ["tenant_id", "id"],
        sqlite_where=sa.text("kind = 'pending'"), postgresql_where=sa.text("kind = 'pending'"),
    )

    op.create_table(
        "game_state",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("rng_state", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.CheckConstraint("day >= 0", name="ck_game_state_day"),
    )

    _opening_stock()


def _opening_stock() -> None:
    """Each tenant's on-hand quantities become opening adjustments into its Warehouse."""
    bind = op.get_bind()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    tenants = [row[0] for row in bind.execute(sa.text("SELECT DISTINCT tenant_id FROM products WHERE quantity > 0"))]
    for tenant in tenants:
        ids = {}
        for name, kind in (("Warehouse", "internal"), ("Inventory adjustment", "adjustment")):
            bind.execute(
                sa.text("INSERT INTO locations (tenant_id, name, kind, version) VALUES (:t, :n, :k, 1)"),
                {"t": tenant, "n": name, "k": kind},
            )
            ids[kind] = bind.execute(
                sa.text("SELECT id FROM locations WHERE tenant_id = :t AND kind = :k"), {"t": tenant, "k": kind}
            ).scalar_one()
        params = {"t": tenant, "w": ids["internal"], "a": ids["adjustment"], "now": now}
        bind.execute(
            sa.text(
                "INSERT INTO stock_moves (tenant_id, kind, reason, product_id, from_location_id, to_location_id,"
                " quantity, day, memo, idempotency_key, actor, created_at, from_after, to_after)"
                " SELECT tenant_id, 'posted', 'adjust', id, :a, :w, quantity, 0, 'opening stock (migration 0004)',"
                " 'opening ' || id, 'migration', :now, NULL, quantity"
                " FROM products WHERE tenant_id = :t AND quantity > 0 ORDER BY id"
            ),
            params,
        )
        bind.execute(
            sa.text(
                "INSERT INTO stock_levels (tenant_id, product_id, location_id, on_hand, incoming, outgoing)"
                " SELECT tenant_id, id, :w, quantity, 0, 0 FROM products WHERE tenant_id = :t AND quantity > 0"
            ),
            params,
        )


def downgrade() -> None:
    op.drop_table("game_state")
    op.drop_table("stock_moves")
    op.drop_table("stock_levels")
    op.drop_table("locations")
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch rebuild of products would lose
    # its AUTOINCREMENT and expression indexes.
    op.execute("ALTER TABLE products DROP COLUMN reorder_level")
    op.execute("ALTER TABLE products DROP COLUMN cost_minor")
