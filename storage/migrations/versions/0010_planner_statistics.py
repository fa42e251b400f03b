"""PostgreSQL: a way for the store to refresh the planner's statistics in the middle of a bulk write.

A bulk import or `stockbank demo` is one transaction. Autovacuum cannot see its rows until it commits, so
its last statements were planned as if the tables held what they held before it began: the level update
of each chunk's opening stock walked every stock move of the tenant for every level (a nested loop),
30-40 s a chunk at 30,000 products, and the SKU lookups scanned the tenant's products.
ANALYZE run inside the transaction samples its own uncommitted rows, but only the tables' owner may run
it, and the store acts as `stockbank_app` (migration 0006). `stockbank_analyze_books()` runs it as the
owner (SECURITY DEFINER, with the search path fixed at creation) on the tables a bulk write grows, and
only `stockbank_app` (and the owner) may call it. SQLite keeps no statistics unless asked: nothing to do.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

APP_ROLE = "stockbank_app"
FUNCTION = "stockbank_analyze_books()"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE FUNCTION {FUNCTION} RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT"
        " AS $$ BEGIN ANALYZE products, stock_moves, stock_levels; END $$"
    )
    op.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")
    if bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}).scalar():
        op.execute(f"GRANT EXECUTE ON FUNCTION {FUNCTION} TO {APP_ROLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
