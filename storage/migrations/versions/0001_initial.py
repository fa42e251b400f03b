"""Users (id, name) and the catalog: categories and products, every row owned by a tenant.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_users_tenant_name"),
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("categories.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sqlite_autoincrement=True,  # ids are never reused (PostgreSQL identities never are)
    )
    op.create_index("ux_categories_tenant_name", "categories", ["tenant_id", sa.text("lower(name)")], unique=True)
    op.create_index("ix_categories_parent", "categories", ["parent_id"])
    op.create_table(
        "products",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category_id", sa.Integer, sa.ForeignKey("categories.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("price_minor", sa.BigInteger, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint("price_minor >= 0", name="ck_products_price_not_negative"),
        sa.CheckConstraint("quantity >= 0", name="ck_products_quantity_not_negative"),
        # A stale edit (id, version 1) must never land on a newer product that got a deleted id.
        sqlite_autoincrement=True,
    )
    op.create_index("ux_products_tenant_sku", "products", ["tenant_id", "sku"], unique=True)
    # Name order and the text filter walk this expression index instead of sorting.
    op.create_index("ix_products_tenant_lower_name", "products", ["tenant_id", sa.text("lower(name)"), "id"])
    # The default list, the category filter and the value summary only look at active products.
    op.create_index(
        "ix_products_active_category",
        "products",
        ["tenant_id", "category_id", sa.text("lower(name)"), "id"],
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("request_key", sa.String(200), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_log_tenant_id", "audit_log", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("products")
    op.drop_table("categories")
    op.drop_table("users")
