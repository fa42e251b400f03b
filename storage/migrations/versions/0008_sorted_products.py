"""The product list sorted in the store: one partial index per sort key besides the name.

The list sorts by SKU, price, quantity or value (price x quantity) as well as by name, each way, ties
broken by id. Each of these indexes is (tenant_id, key, id, active) over the products not deleted, so
a page in that order is a seek and a short walk, a descending page the same walk backwards, and the
offset of a jump an index-only read, with no sort of the matching rows (2.5 s a page at 1,000,000
products). `active` is the last column rather than in the WHERE (as in ix_products_listed): the index
then also serves the list with inactive products shown, and the default list still reads `active` from
the index alone. Value is no column: its index is on the expression price_minor * quantity, which the
queries spell the same way (SQLite and PostgreSQL both match expression indexes by the expression). The
services keep price x quantity within a BIGINT, so the expression never overflows while the index
computes it.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

LIVE = "deleted_at IS NULL"
SORTED = {
    "ix_products_by_sku": "sku",
    "ix_products_by_price": "price_minor",
    "ix_products_by_quantity": "quantity",
    "ix_products_by_value": sa.text("(price_minor * quantity)"),
}


def upgrade() -> None:
    for name, key in SORTED.items():
        op.create_index(name, "products", ["tenant_id", key, "id", "active"],
                        sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))


def downgrade() -> None:
    for name in SORTED:
        op.drop_index(name, "products")
