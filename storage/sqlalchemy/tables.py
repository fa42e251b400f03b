"""The head schema as SQLAlchemy ORM models: what the SQLAlchemy store reads and writes.

The schema itself comes from the Alembic history (storage/migrations), the same one the sqlite3
store runs; these classes describe it, and a test (tests/integration/test_sqlalchemy_schema.py)
proves they match what the migrations build, on SQLite and on PostgreSQL. ORM rows never leave
storage: repositories map them to domain objects at the boundary.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, foreign, mapped_column, relationship


class Base(DeclarativeBase):
    pass


def _partial(where: str) -> dict[str, object]:
    return {"sqlite_where": text(where), "postgresql_where": text(where)}


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))
    # Who did what: the user's audit entries (the log names its actor by name, not by id).
    audit_entries: Mapped[list[AuditRow]] = relationship(
        primaryjoin=lambda: and_(
            UserRow.tenant_id == foreign(AuditRow.tenant_id), UserRow.name == foreign(AuditRow.actor)
        ),
        viewonly=True,
        order_by=lambda: AuditRow.id,
    )
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_users_tenant_name"),)


class CategoryRow(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("categories.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    products: Mapped[list[ProductRow]] = relationship(back_populates="category", order_by=lambda: ProductRow.id)
    children: Mapped[list[CategoryRow]] = relationship(back_populates="parent", order_by=lambda: CategoryRow.id)
    parent: Mapped[CategoryRow | None] = relationship(back_populates="children", remote_side=lambda: CategoryRow.id)
    __table_args__ = (
        Index("ux_categories_tenant_name", "tenant_id", func.lower(text("name")), unique=True),
        Index("ix_categories_parent", "parent_id"),
        {"sqlite_autoincrement": True},
    )


class ProductRow(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("categories.id", ondelete="RESTRICT"))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    cost_minor: Mapped[int] = mapped_column(BigInteger, server_default="0")
    reorder_level: Mapped[int] = mapped_column(BigInteger, server_default="0")
    deleted_at: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[CategoryRow | None] = relationship(back_populates="products")
    __table_args__ = (
        CheckConstraint("price_minor >= 0", name="ck_products_price_not_negative"),
        CheckConstraint("quantity >= 0", name="ck_products_quantity_not_negative"),
        Index("ux_products_tenant_sku", "tenant_id", "sku", unique=True),
        Index("ix_products_tenant_lower_name", "tenant_id", func.lower(text("name")), "id"),
        Index("ix_products_active_category", "tenant_id", "category_id", func.lower(text("name")), "id",
              **_partial("active AND deleted_at IS NULL")),  # 0014
        Index("ix_products_listed", "tenant_id", func.lower(text("name")), "id",
              **_partial("active AND deleted_at IS NULL")),
        # the deleted view (migration 0013): the few deleted products, apart from the catalog
        Index("ix_products_deleted", "tenant_id", func.lower(text("name")), "id",
              **_partial("deleted_at IS NOT NULL")),
        # the list's other sorts (migration 0008), inactive products included; value is price x quantity
        *(Index(f"ix_products_by_{sort}", "tenant_id", key, "id", "active", **_partial("deleted_at IS NULL"))
          for sort, key in (("sku", "sku"), ("price", "price_minor"), ("quantity", "quantity"),
                            ("value", text("(price_minor * quantity)")))),
        # what the dashboard and the reorder check read (migration 0009): the few products with a reorder level
        Index("ix_products_reorder", "tenant_id", "id", **_partial("reorder_level > 0 AND active AND deleted_at IS NULL")),
        # the low-stock products (migration 0014), in name order: the dashboard's count, the Inventory's low view
        Index("ix_products_low", "tenant_id", func.lower(text("name")), "id", "active",
              **_partial("reorder_level > 0 AND quantity <= reorder_level AND deleted_at IS NULL")),
        {"sqlite_autoincrement": True},
    )


class _AuditColumns:
    """The columns an audit entry has, live or archived."""

    tenant_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    request_key: Mapped[str | None] = mapped_column(String(200))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditRow(_AuditColumns, Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    __table_args__ = (
        Index("ix_audit_log_tenant_id", "tenant_id", "id"),
        Index("ix_audit_log_actor", "tenant_id", "actor", "id"),
        Index("ix_audit_log_entity", "tenant_id", "entity", "id"),
        Index("ix_audit_log_at", "tenant_id", "at"),
        {"sqlite_autoincrement": True},
    )


class AuditArchiveRow(_AuditColumns, Base):
    __tablename__ = "audit_log_archive"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    __table_args__ = (Index("ix_audit_log_archive_tenant_id", "tenant_id", "id"),)


class AccountRow(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    debits_posted: Mapped[int] = mapped_column(BigInteger, server_default="0")
    credits_posted: Mapped[int] = mapped_column(BigInteger, server_default="0")
    debits_pending: Mapped[int] = mapped_column(BigInteger, server_default="0")
    credits_pending: Mapped[int] = mapped_column(BigInteger, server_default="0")
    overdraft_limit: Mapped[int] = mapped_column(BigInteger, server_default="0")
    status: Mapped[str] = mapped_column(String(8), server_default="open")
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    deleted_at: Mapped[str | None] = mapped_column(String(32))
    __table_args__ = (
        CheckConstraint("kind IN ('customer', 'shop', 'supplier', 'system')", name="ck_accounts_kind"),
        CheckConstraint("status IN ('open', 'frozen', 'closed')", name="ck_accounts_status"),
        CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND credits_pending >= 0"
            " AND overdraft_limit >= 0",
            name="ck_accounts_totals_not_negative",
        ),
        CheckConstraint(
            "kind = 'system' OR debits_posted + debits_pending <= credits_posted + overdraft_limit",
            name="ck_accounts_within_limit",
        ),
        Index("ux_accounts_tenant_name", "tenant_id", func.lower(text("name")), unique=True),
        Index("ix_accounts_tenant_kind", "tenant_id", "kind", "currency"),
        {"sqlite_autoincrement": True},
    )


class _TransferColumns:
    """The columns a transfer has, live or archived."""

    tenant_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    expires_at: Mapped[str | None] = mapped_column(String(32))
    memo: Mapped[str] = mapped_column(String(500), server_default="")
    idempotency_key: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))
    debit_balance_after: Mapped[int] = mapped_column(BigInteger)
    credit_balance_after: Mapped[int] = mapped_column(BigInteger)
    reverses_id: Mapped[int | None] = mapped_column(Integer)


class TransferRow(_TransferColumns, Base):
    __tablename__ = "transfers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    debit_account_id: Mapped[int] = mapped_column(Integer, ForeignKey("accounts.id"))
    credit_account_id: Mapped[int] = mapped_column(Integer, ForeignKey("accounts.id"))
    pending_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("transfers.id"))
    __table_args__ = (
        CheckConstraint("kind IN ('posted', 'pending', 'post', 'void', 'expire')", name="ck_transfers_kind"),
        CheckConstraint("amount_minor > 0", name="ck_transfers_amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="ck_transfers_two_accounts"),
        CheckConstraint("(pending_id IS NULL) = (kind IN ('posted', 'pending'))", name="ck_transfers_resolves"),
        Index("ux_transfers_tenant_key", "tenant_id", "idempotency_key", unique=True),
        Index("ux_transfers_resolution", "pending_id", unique=True, **_partial("pending_id IS NOT NULL")),
        Index("ix_transfers_debit", "tenant_id", "debit_account_id", "id"),
        Index("ix_transfers_credit", "tenant_id", "credit_account_id", "id"),
        Index("ix_transfers_actor_time", "tenant_id", "actor", "created_at"),
        Index("ix_transfers_pending", "tenant_id", "id", **_partial("kind = 'pending'")),
        Index("ux_transfers_reverses", "tenant_id", "reverses_id", unique=True, **_partial("reverses_id IS NOT NULL")),
        Index("ix_transfers_created", "tenant_id", "created_at"),
        {"sqlite_autoincrement": True},
    )


class TransferArchiveRow(_TransferColumns, Base):
    __tablename__ = "transfers_archive"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    debit_account_id: Mapped[int] = mapped_column(Integer)
    credit_account_id: Mapped[int] = mapped_column(Integer)
    pending_id: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        Index("ix_transfers_archive_tenant_id", "tenant_id", "id"),
        Index("ix_transfers_archive_key", "tenant_id", "idempotency_key"),
        Index("ix_transfers_archive_debit", "tenant_id", "debit_account_id", "id"),
        Index("ix_transfers_archive_credit", "tenant_id", "credit_account_id", "id"),
        Index("ix_transfers_archive_pending", "pending_id"),
        Index("ix_transfers_archive_created", "tenant_id", "created_at"),
    )


class LocationRow(Base):
    __tablename__ = "locations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    __table_args__ = (
        CheckConstraint("kind IN ('internal', 'supplier', 'customer', 'scrap', 'adjustment')", name="ck_locations_kind"),
        Index("ux_locations_tenant_name", "tenant_id", func.lower(text("name")), unique=True),
        Index("ix_locations_tenant_kind", "tenant_id", "kind", "id"),
        {"sqlite_autoincrement": True},
    )


class StockLevelRow(Base):
    __tablename__ = "stock_levels"
    tenant_id: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[int] = mapped_column(Integer, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[int] = mapped_column(Integer, ForeignKey("locations.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(BigInteger, server_default="0")
    incoming: Mapped[int] = mapped_column(BigInteger, server_default="0")
    outgoing: Mapped[int] = mapped_column(BigInteger, server_default="0")
    __table_args__ = (
        CheckConstraint(
            "on_hand >= 0 AND incoming >= 0 AND outgoing >= 0 AND outgoing <= on_hand", name="ck_stock_levels_not_negative"
        ),
        Index("ix_stock_levels_tenant", "tenant_id", "product_id", "location_id"),
    )


class _MoveColumns:
    """The columns a stock move has, live or archived."""

    tenant_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(10))
    product_id: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(BigInteger)
    due_day: Mapped[int | None] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer, server_default="0")
    memo: Mapped[str] = mapped_column(String(500), server_default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))
    from_after: Mapped[int | None] = mapped_column(BigInteger)
    to_after: Mapped[int | None] = mapped_column(BigInteger)
    reverses_id: Mapped[int | None] = mapped_column(Integer)


class StockMoveRow(_MoveColumns, Base):
    __tablename__ = "stock_moves"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_location_id: Mapped[int] = mapped_column(Integer, ForeignKey("locations.id"))
    to_location_id: Mapped[int] = mapped_column(Integer, ForeignKey("locations.id"))
    pending_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("stock_moves.id"))
    transfer_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("transfers.id"))
    __table_args__ = (
        CheckConstraint("kind IN ('posted', 'pending', 'received', 'cancelled')", name="ck_stock_moves_kind"),
        CheckConstraint(
            "reason IN ('receive', 'sell', 'move', 'adjust', 'scrap', 'purchase')", name="ck_stock_moves_reason"
        ),
        CheckConstraint("quantity > 0", name="ck_stock_moves_quantity_positive"),
        CheckConstraint("from_location_id <> to_location_id", name="ck_stock_moves_two_locations"),
        CheckConstraint("(pending_id IS NULL) = (kind IN ('posted', 'pending'))", name="ck_stock_moves_resolves"),
        Index("ux_stock_moves_tenant_key", "tenant_id", "idempotency_key", unique=True,
              **_partial("idempotency_key IS NOT NULL")),  # 0012
        Index("ux_stock_moves_resolution", "pending_id", unique=True, **_partial("pending_id IS NOT NULL")),
        Index("ix_stock_moves_product", "tenant_id", "product_id", "id"),
        Index("ix_stock_moves_pending", "tenant_id", "id", **_partial("kind = 'pending'")),
        Index("ix_stock_moves_trade", "tenant_id", "day", **_partial("reason IN ('sell', 'purchase')")),  # 0009
        Index("ux_stock_moves_reverses", "tenant_id", "reverses_id", unique=True, **_partial("reverses_id IS NOT NULL")),
        Index("ix_stock_moves_created", "tenant_id", "created_at"),
        Index("ix_stock_moves_transfer", "transfer_id", **_partial("transfer_id IS NOT NULL")),  # 0012
        {"sqlite_autoincrement": True},
    )


class StockMoveArchiveRow(_MoveColumns, Base):
    __tablename__ = "stock_moves_archive"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    from_location_id: Mapped[int] = mapped_column(Integer)
    to_location_id: Mapped[int] = mapped_column(Integer)
    pending_id: Mapped[int | None] = mapped_column(Integer)
    transfer_id: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        Index("ix_stock_moves_archive_tenant_id", "tenant_id", "id"),
        Index("ix_stock_moves_archive_key", "tenant_id", "idempotency_key",
              **_partial("idempotency_key IS NOT NULL")),  # 0012
        Index("ix_stock_moves_archive_product", "tenant_id", "product_id", "id"),
        Index("ix_stock_moves_archive_pending", "pending_id", **_partial("pending_id IS NOT NULL")),  # 0012
        Index("ix_stock_moves_archive_transfer", "transfer_id", **_partial("transfer_id IS NOT NULL")),  # 0012
        Index("ix_stock_moves_archive_created", "tenant_id", "created_at"),
    )


class GameStateRow(Base):
    __tablename__ = "game_state"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    rng_state: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    __table_args__ = (CheckConstraint("day >= 0", name="ck_game_state_day"),)


class AttachmentRow(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[int] = mapped_column(Integer, ForeignKey("products.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage: Mapped[str] = mapped_column(String(8))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))
    __table_args__ = (
        CheckConstraint("storage IN ('file', 'blob')", name="ck_attachments_storage"),
        CheckConstraint("(storage = 'blob') = (content IS NOT NULL)", name="ck_attachments_content"),
        CheckConstraint("size_bytes >= 0", name="ck_attachments_size"),
        Index("ix_attachments_product", "tenant_id", "product_id", "id"),
        Index("ix_attachments_sha256", "sha256"),
        {"sqlite_autoincrement": True},
    )


# Tables whose rows belong to one tenant (all of them): scoping and row-level security cover these.
TENANT_TABLES: tuple[str, ...] = tuple(sorted(Base.metadata.tables))
