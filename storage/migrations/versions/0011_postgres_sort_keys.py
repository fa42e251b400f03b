"""PostgreSQL: the name and value sort keys as stored columns, so a keyset page seeks under row-level security.

The product list pages by (lower(name), id) or (price_minor * quantity, id), on expression indexes
(migrations 0007 and 0008). Under the forced tenant policy (migration 0006) PostgreSQL applies a
condition of the query only after the policy's unless every function in it is leakproof, and neither
lower() nor bigint multiplication is. So a page's cursor condition `lower(name) >= :key` was no index
condition: a page deep in the list read the index from the tenant's first product (0.24 s at 200,000
products, 180,000 rows filtered out; about 1 s at a million). Comparing two texts or two bigints is
leakproof, so on stored generated columns the same condition is a seek again.

`name_key` is lower(name) in the name's own collation "C" (ASCII letters folded, as SQLite's lower() and
domain fold_case do) and `value_minor` is price_minor * quantity; the four indexes that had the
expressions are rebuilt on the columns under the same names and predicates. SQLite keeps its expression
indexes: it has no policies, and its planner matches the expressions. Rewriting the table costs about as
much as building the indexes.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

LIVE = "deleted_at IS NULL"
# name -> (columns, predicate), before (expressions) and after (stored columns)
EXPRESSIONS = {
    "ix_products_tenant_lower_name": ("tenant_id, lower(name), id", None),
    "ix_products_active_category": ("tenant_id, category_id, lower(name), id", "active"),
    "ix_products_listed": ("tenant_id, lower(name), id", f"active AND {LIVE}"),
    "ix_products_by_value": ("tenant_id, (price_minor * quantity), id, active", LIVE),
}
COLUMNS = {
    "ix_products_tenant_lower_name": "tenant_id, name_key, id",
    "ix_products_active_category": "tenant_id, category_id, name_key, id",
    "ix_products_listed": "tenant_id, name_key, id",
    "ix_products_by_value": "tenant_id, value_minor, id, active",
}


def _rebuild(columns_of: dict[str, str]) -> None:
    for name, (_, predicate) in EXPRESSIONS.items():
        op.execute(f"DROP INDEX {name}")
        where = f" WHERE {predicate}" if predicate else ""
        op.execute(f"CREATE INDEX {name} ON products ({columns_of[name]}){where}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        'ALTER TABLE products ADD COLUMN name_key VARCHAR(200) COLLATE "C" GENERATED ALWAYS AS (lower(name)) STORED,'
        " ADD COLUMN value_minor BIGINT GENERATED ALWAYS AS (price_minor * quantity) STORED"
    )
    _rebuild(COLUMNS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rebuild({name: columns for name, (columns, _) in EXPRESSIONS.items()})
    op.execute("ALTER TABLE products DROP COLUMN name_key, DROP COLUMN value_minor")
