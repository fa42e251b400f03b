"""The dashboard at a million rows: two small partial indexes for the figures it reads on every change.

- Low stock (`count_low`, the low-stock list, the simulation's reorder check) looks only at products with a
  reorder level; without an index it read every product (1.8 s at 1,000,000). Few products have a level,
  so the index of those is small and cheap to keep.
- Daily trade and top sellers read the sales and purchases of the last days; without an index they read
  every stock move (0.5 s each at a million moves, most of them opening stock).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

REORDERED = "reorder_level > 0 AND active AND deleted_at IS NULL"
TRADE = "reason IN ('sell', 'purchase')"


def upgrade() -> None:
    op.create_index("ix_products_reorder", "products", ["tenant_id", "id"],
                    sqlite_where=sa.text(REORDERED), postgresql_where=sa.text(REORDERED))
    op.create_index("ix_stock_moves_trade", "stock_moves", ["tenant_id", "day"],
                    sqlite_where=sa.text(TRADE), postgresql_where=sa.text(TRADE))


def downgrade() -> None:
    op.drop_index("ix_stock_moves_trade", "stock_moves")
    op.drop_index("ix_products_reorder", "products")
