"""Products: the low-stock ones in an index of their own; a category's index holds only live products.

The low-stock reads (the dashboard's count, the Inventory screen's `low` view and its count) had no index
that held those products apart. On a migrated file SQLite took `ix_products_reorder` (migration 0009), the
products with a reorder level; but `stockbank demo` and `import` build the list's indexes again at the
end of the load, and SQLite, with no statistics, breaks a tie in favour of the newest index: at 1,000,000
products the dashboard's count walked the whole list and read every row (2 s instead of 3 ms).
`ix_products_low` holds only the products at or below their reorder level, in name order, with `active`
for the default view: the count reads it alone and the view pages it. The stores name it (`INDEXED BY`)
so a later index cannot take its place.

`ix_products_active_category` was partial on `active` only, so a category's count read each product's row
for `deleted_at` (0.4-1 s for a top category at 1,000,000 products). Its WHERE is now the default list's,
`active AND deleted_at IS NULL`, and the count reads the index alone.

On PostgreSQL the name key is the stored `name_key` (migration 0011), as in the other name indexes.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _name_key() -> str:
    return "name_key" if op.get_bind().dialect.name == "postgresql" else "lower(name)"


def upgrade() -> None:
    name_key = _name_key()
    op.execute("DROP INDEX ix_products_active_category")
    op.execute(f"CREATE INDEX ix_products_active_category ON products (tenant_id, category_id, {name_key}, id)"
               " WHERE active AND deleted_at IS NULL")
    op.execute(f"CREATE INDEX ix_products_low ON products (tenant_id, {name_key}, id, active)"
               " WHERE reorder_level > 0 AND quantity <= reorder_level AND deleted_at IS NULL")


def downgrade() -> None:
    name_key = _name_key()
    op.execute("DROP INDEX ix_products_low")
    op.execute("DROP INDEX ix_products_active_category")
    op.execute(f"CREATE INDEX ix_products_active_category ON products (tenant_id, category_id, {name_key}, id)"
               " WHERE active")
