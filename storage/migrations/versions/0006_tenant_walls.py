"""Tenant walls and one text order for every SQL store.

- Both: stock levels get an index that leads with tenant_id (a tenant's levels were a full scan).
- PostgreSQL: every VARCHAR column gets COLLATE "C", so lower() folds ASCII letters only and ORDER BY is
  byte order, exactly like SQLite (and domain.model.catalog.fold_case): lists, keyset cursors and
  case-insensitive uniqueness agree between the stores.
- PostgreSQL: row-level security on every tenant table, forced for the owner too. A row is visible and
  writable only when `stockbank.tenant` (set per transaction by the store) names its tenant, or is `*`
  (maintenance across tenants, set explicitly by the store for that); with no tenant set, nothing is
  visible: it fails closed. Superusers bypass row-level security, so a role `stockbank_app` without
  that right is created (when the migrating user may) for the store to act as.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "accounts", "attachments", "audit_log", "audit_log_archive", "categories", "game_state", "locations",
    "products", "stock_levels", "stock_moves", "stock_moves_archive", "transfers", "transfers_archive", "users",
)
APP_ROLE = "stockbank_app"
POLICY = (
    "tenant_id = current_setting('stockbank.tenant', true)"
    " OR current_setting('stockbank.tenant', true) = '*'"
)


def upgrade() -> None:
    op.create_index("ix_stock_levels_tenant", "stock_levels", ["tenant_id", "product_id", "location_id"])
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    columns = bind.execute(sa.text(
        "SELECT table_name, column_name, character_maximum_length FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND data_type = 'character varying'"
        " AND table_name = ANY(:tables) ORDER BY table_name, ordinal_position"
    ), {"tables": list(TENANT_TABLES)}).all()
    for table, column, length in columns:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE VARCHAR({length}) COLLATE "C"')
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")
    may_create_roles = bind.execute(sa.text(
        "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
    )).scalar()
    if may_create_roles:
        exists = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}).scalar()
        if not exists:
            op.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS")
        op.execute(f"GRANT USAGE ON SCHEMA {_schema(bind)} TO {APP_ROLE}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(TENANT_TABLES)} TO {APP_ROLE}")
        op.execute(f"GRANT SELECT ON alembic_version TO {APP_ROLE}")
        op.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {_schema(bind)} TO {APP_ROLE}")
        op.execute(f"GRANT {APP_ROLE} TO current_user")


def _schema(bind) -> str:
    return '"' + bind.execute(sa.text("SELECT current_schema()")).scalar().replace('"', '""') + '"'


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in TENANT_TABLES:
            op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        # The collation stays "C": it is what the data was compared with, and SQLite never had another.
    op.drop_index("ix_stock_levels_tenant", table_name="stock_levels")
