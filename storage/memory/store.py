"""In-memory adapter. One lock serialises units of work (like BEGIN IMMEDIATE); every write
records its inverse in an undo log, and leaving without commit replays the log backwards."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from operator import attrgetter
from typing import TYPE_CHECKING

from domain.errors import AlreadyExists, InUse, NotFound, StorageError, VersionConflict
from domain.model.bank import OPEN, PENDING, Account, LedgerTotals, NewAccount, NewTransfer, StatementLine, Transfer
from domain.model import Category, CategoryValue, NewProduct, Product, ProductListing, ProductQuery, User
from domain.model.catalog import ProductCursor, fold_case
from storage.memory.attachments import MemoryAttachments
from storage.memory.audit import MemoryAudit
from storage.memory.lifecycle import MemoryLifecycle
from storage.memory.snapshot import MemorySnapshot
from storage.memory.base import Repo, TenantData, Undo, is_listed
from storage.memory.stock import MemoryGame, MemoryLocations, MemoryStock

if TYPE_CHECKING:
    from domain.ports import ExportRow


class MemoryStore:
    """`memory://`: a store that lives as long as the process."""

    created = True

    def __init__(self, url: str = "memory://"):
        self.url = url
        self._lock = threading.RLock()
        self._tenants: dict[str, TenantData] = {}
        self._ids = {"category": 0, "product": 0, "user": 0, "audit": 0, "account": 0, "transfer": 0,
                     "location": 0, "move": 0, "attachment": 0}
        self._undo: Undo | None = None
        self._closed = False
        self._saves_folder: str | None = None

    def unit_of_work(self, tenant: str, *, write: bool = False) -> MemoryUnitOfWork:
        if self._closed:
            raise StorageError("the store is closed")
        return MemoryUnitOfWork(self, tenant)

    def close(self) -> None:
        self._closed = True
        if self._saves_folder is not None:  # the saves of a throwaway store go with it
            import shutil

            shutil.rmtree(self._saves_folder, ignore_errors=True)

    def save_slots(self, tenant: str):  # -> FileSaveSlots
        """A temporary folder, removed with the store (`stockbank load PATH` reads a save from anywhere)."""
        import tempfile

        from storage.savefiles.slots import FileSaveSlots, tenant_folder

        if self._saves_folder is None:
            self._saves_folder = tempfile.mkdtemp(prefix="stockbank-saves-")
        return FileSaveSlots(os.path.join(self._saves_folder, tenant_folder(tenant)), source=self.url)

    def _tenant(self, tenant: str) -> TenantData:
        return self._tenants.setdefault(tenant, TenantData())

    def _next_id(self, kind: str) -> int:
        assert self._undo is not None
        self._undo.set_item(self._ids, kind, self._ids[kind] + 1)
        return self._ids[kind]


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore, tenant: str):
        self._store = store
        self._tenant = tenant

    def __enter__(self) -> MemoryUnitOfWork:
        store = self._store
        store._lock.acquire()
        self._outer = store._undo is None
        if self._outer:
            store._undo = Undo()
        assert store._undo is not None
        self._mark = store._undo.mark()
        self._done = False
        data = store._tenant(self._tenant)
        self.categories = _Categories(store, data)
        self.products = _Products(store, data)
        self.users = _Users(store, data)
        self.audit = MemoryAudit(store, data)
        self.accounts = _Accounts(store, data)
        self.transfers = _Transfers(store, data)
        self.locations = MemoryLocations(store, data)
        self.stock = MemoryStock(store, data)
        self.game = MemoryGame(store, data)
        self.lifecycle = MemoryLifecycle(store, data)
        self.attachments = MemoryAttachments(store, data)
        self.snapshot = MemorySnapshot(store, data)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if not self._done:
                self.rollback()
        finally:
            if self._outer:
                self._store._undo = None
            self._store._lock.release()

    def commit(self) -> None:
        assert self._store._undo is not None
        if self._outer:
            self._store._undo.ops.clear()
        self._done = True

    def rollback(self) -> None:
        assert self._store._undo is not None
        self._store._undo.undo_to(self._mark)
        self._done = True


class _Categories(Repo):
    def _check_name(self, name: str, own_id: int | None) -> None:
        for c in self._data.categories.values():
            if fold_case(c.name) == fold_case(name) and c.id != own_id:
                raise AlreadyExists(f"category {name!r} already exists", field="name")

    def _check_parent(self, parent_id: int | None) -> None:
        if parent_id is not None and parent_id not in self._data.categories:
            raise NotFound(f"parent category {parent_id} does not exist", field="parent")

    def add(self, name: str, parent_id: int | None) -> Category:
        self._check_name(name, None)
        self._check_parent(parent_id)
        category = Category(self._store._next_id("category"), name, parent_id, 1)
        self._undo.set_item(self._data.categories, category.id, category)
        return category

    def get(self, category_id: int) -> Category | None:
        return self._data.categories.get(category_id)

    def get_by_name(self, name: str) -> Category | None:
        wanted = fold_case(name)
        return next((c for c in self._data.categories.values() if fold_case(c.name) == wanted), None)

    def list(self) -> list[Category]:
        return sorted(self._data.categories.values(), key=lambda c: (fold_case(c.name), c.id))

    def update(self, category: Category, expected_version: int) -> Category:
        current = self._data.categories.get(category.id)
        if current is None:
            raise NotFound(f"category {category.id} does not exist")
        if current.version != expected_version:
            raise VersionConflict(f"category {current.name!r} was changed by someone else; reload and try again")
        self._check_name(category.name, category.id)
        self._check_parent(category.parent_id)
        updated = replace(category, version=current.version + 1)
        self._undo.set_item(self._data.categories, category.id, updated)
        return updated

    def delete(self, category_id: int) -> None:
        current = self._data.categories.get(category_id)
        if current is None:
            raise NotFound(f"category {category_id} does not exist")
        if any(c.parent_id == category_id for c in self._data.categories.values()):
            raise InUse(f"category {current.name!r} has subcategories; move or delete them first")
        if any(p.category_id == category_id for p in self._data.products.values()):
            raise InUse(f"category {current.name!r} still has products; move or delete them first")
        self._undo.del_item(self._data.categories, category_id)


class _Products(Repo):
    def _check_category(self, category_id: int | None) -> None:
        if category_id is not None and category_id not in self._data.categories:
            raise NotFound(f"category {category_id} does not exist", field="category")

    def add(self, product: NewProduct) -> Product:
        if product.sku in self._data.sku_index:
            raise AlreadyExists(f"a product with SKU {product.sku} already exists", field="sku")
        self._check_category(product.category_id)
        new = Product(self._store._next_id("product"), product.sku, product.name, product.category_id,
                      product.price_minor, product.quantity, product.active, 1)
        self._undo.set_item(self._data.products, new.id, new)
        self._undo.set_item(self._data.sku_index, new.sku, new.id)
        return new

    def get(self, product_id: int) -> Product | None:
        return self._data.products.get(product_id)

    def get_by_sku(self, sku: str) -> Product | None:
        product_id = self._data.sku_index.get(sku)
        return None if product_id is None else self._data.products[product_id]

    def update(self, product: Product, expected_version: int) -> Product:
        current = self._data.products.get(product.id)
        if current is None:
            raise NotFound(f"product {product.id} does not exist")
        if current.version != expected_version:
            raise VersionConflict(f"{current.sku} was changed by someone else; reload and try again")
        owner = self._data.sku_index.get(product.sku)
        if owner is not None and owner != product.id:
            raise AlreadyExists(f"a product with SKU {product.sku} already exists", field="sku")
        self._check_category(product.category_id)
        updated = replace(product, version=current.version + 1)
        if current.sku != product.sku:
            self._undo.del_item(self._data.sku_index, current.sku)
            self._undo.set_item(self._data.sku_index, product.sku, product.id)
        self._undo.set_item(self._data.products, product.id, updated)
        return updated

    def set_deleted(self, product_id: int, expected_version: int, deleted_at: str | None) -> Product:
        current = self._data.products.get(product_id)
        if current is None:
            raise NotFound(f"product {product_id} does not exist")
        if current.version != expected_version:
            raise VersionConflict(f"{current.sku} was changed by someone else; reload and try again")
        updated = replace(current, deleted_at=deleted_at, version=current.version + 1)
        self._undo.set_item(self._data.products, product_id, updated)
        return updated

    def delete(self, product_id: int, expected_version: int | None = None) -> Product:
        current = self._data.products.get(product_id)
        if current is None:
            raise NotFound(f"product {product_id} does not exist")
        if expected_version is not None and current.version != expected_version:
            raise VersionConflict(f"{current.sku} was changed by someone else; reload and try again")
        self._undo.del_item(self._data.products, product_id)
        self._undo.del_item(self._data.sku_index, current.sku)
        for key in [k for k in self._data.levels if k[0] == product_id]:  # ON DELETE CASCADE
            self._undo.del_item(self._data.levels, key)
        for key in [k for k, a in self._data.attachments.items() if a.product_id == product_id]:
            self._undo.del_item(self._data.attachments, key)
            self._undo.del_item(self._data.attachment_content, key)
        return current

    def _matching(self, query: ProductQuery, after: ProductCursor | None = None,
                  backward: bool = False) -> list[Product]:
        """The listed products in list order (the query's sort; descending is the ascending order
        reversed), only those strictly after the cursor, or strictly before it when backward."""
        key = query.sort_key
        rows = [p for p in self._data.products.values() if is_listed(p, query)]
        if after is not None:
            cursor = (after.key, after.id)
            later = backward == query.descending  # further along the ascending order
            rows = [p for p in rows if (key(p) > cursor if later else key(p) < cursor)]
        rows.sort(key=key, reverse=query.descending)
        return rows

    def _listing(self, p: Product) -> ProductListing:
        cat = self._data.categories.get(p.category_id) if p.category_id is not None else None
        return ProductListing(p.id, p.sku, p.name, cat.name if cat else None, p.price_minor, p.quantity,
                              p.value_minor, p.active, p.version)

    def find(self, query: ProductQuery, after: ProductCursor | None, limit: int, *, backward: bool = False,
             skip: int = 0) -> list[ProductListing]:
        rows = self._matching(query, after, backward)
        if backward:
            rows = rows[max(len(rows) - skip - limit, 0):max(len(rows) - skip, 0)]
        else:
            rows = rows[skip:skip + limit]
        return [self._listing(p) for p in rows]

    def count(self, query: ProductQuery) -> int:
        return len(self._matching(query))

    def stream(self, query: ProductQuery) -> Iterator[ExportRow]:
        for p in self._matching(query):
            row = self._listing(p)
            yield (row.sku, row.name, row.category, row.price_minor, row.quantity, row.value_minor)

    def all_products(self) -> Iterator[ProductListing]:
        yield from [self._listing(p) for p in sorted(self._data.products.values(), key=attrgetter("id"))]

    def value_by_category(self) -> list[CategoryValue]:
        totals: dict[int | None, list[int]] = {}
        for p in self._data.products.values():
            if p.active and p.deleted_at is None:
                t = totals.setdefault(p.category_id, [0, 0, 0])
                t[0] += 1
                t[1] += p.quantity
                t[2] += p.value_minor
        result = []
        for cat_id, (count, qty, value) in totals.items():
            cat = self._data.categories.get(cat_id) if cat_id is not None else None
            result.append(CategoryValue(cat_id, cat.name if cat else None, count, qty, value))
        result.sort(key=lambda v: (v.category is None, fold_case(v.category or "")))
        return result

    def upsert_many(self, rows: Iterable[NewProduct]) -> tuple[int, int]:
        inserted = updated = 0
        for row in rows:
            self._check_category(row.category_id)
            existing_id = self._data.sku_index.get(row.sku)
            if existing_id is None:
                self.add(row)
                inserted += 1
                continue
            current = self._data.products[existing_id]
            if current.deleted_at is not None:
                raise AlreadyExists(f"SKU {row.sku} belongs to deleted product {current.id}; restore or purge it first",
                                    field="sku")
            wanted = replace(current, name=row.name, category_id=row.category_id, price_minor=row.price_minor,
                             quantity=row.quantity, active=row.active)
            if wanted != current:
                self._undo.set_item(self._data.products, current.id, replace(wanted, version=current.version + 1))
                updated += 1
        return inserted, updated


class _Users(Repo):
    def ensure(self, name: str, now: str) -> User:
        user = self._data.users.get(name)
        if user is None:
            user = User(self._store._next_id("user"), name, now)
            self._undo.set_item(self._data.users, name, user)
        return user

    def list(self) -> list[User]:
        return sorted(self._data.users.values(), key=lambda u: u.id)


class _Accounts(Repo):
    def add(self, account: NewAccount) -> Account:
        if self.get_by_name(account.name) is not None:
            raise AlreadyExists(f"an account named {account.name!r} already exists", field="name")
        new = Account(self._store._next_id("account"), account.name, account.kind, account.currency, 0, 0, 0, 0,
                      account.overdraft_limit, OPEN, 1)
        self._undo.set_item(self._data.accounts, new.id, new)
        return new

    def get(self, account_id: int) -> Account | None:
        return self._data.accounts.get(account_id)

    def get_by_name(self, name: str) -> Account | None:
        wanted = fold_case(name)
        return next((a for a in self._data.accounts.values() if fold_case(a.name) == wanted), None)

    def system_account(self, currency: str) -> Account | None:
        return next((a for a in self._data.accounts.values() if a.kind == "system" and a.currency == currency), None)

    def first_of_kind(self, kind: str, currency: str) -> Account | None:
        return next(
            (a for a in sorted(self._data.accounts.values(), key=lambda a: a.id)
             if a.kind == kind and a.currency == currency and a.status == OPEN and a.deleted_at is None),
            None,
        )

    def list(self, include_deleted: bool = False) -> list[Account]:
        shown = (a for a in self._data.accounts.values() if include_deleted or a.deleted_at is None)
        return sorted(shown, key=lambda a: (fold_case(a.name), a.id))

    def delete(self, account_id: int) -> None:
        self._undo.del_item(self._data.accounts, account_id)

    def update(self, account: Account, expected_version: int) -> Account:
        current = self._data.accounts.get(account.id)
        if current is None:
            raise NotFound(f"account {account.id} does not exist")
        if current.version != expected_version:
            raise VersionConflict(f"{current.name} was changed by someone else; reload and try again")
        other = self.get_by_name(account.name)
        if other is not None and other.id != account.id:
            raise AlreadyExists(f"an account named {account.name!r} already exists", field="name")
        updated = replace(current, name=account.name, overdraft_limit=account.overdraft_limit, status=account.status,
                          deleted_at=account.deleted_at, version=current.version + 1)
        self._undo.set_item(self._data.accounts, account.id, updated)
        return updated

    def apply(self, account_id: int, *, debits_posted: int = 0, credits_posted: int = 0, debits_pending: int = 0,
              credits_pending: int = 0, guard: bool = False) -> int | None:
        a = self._data.accounts.get(account_id)
        if a is None:
            raise NotFound(f"account {account_id} does not exist")
        new = replace(a, debits_posted=a.debits_posted + debits_posted, credits_posted=a.credits_posted + credits_posted,
                      debits_pending=a.debits_pending + debits_pending, credits_pending=a.credits_pending + credits_pending)
        if guard and (a.status != OPEN or (
            new.limited and new.debits_posted + new.debits_pending > new.credits_posted + new.overdraft_limit
        )):
            return None
        self._undo.set_item(self._data.accounts, account_id, new)
        return new.balance

    def totals(self) -> LedgerTotals:
        t = [0, 0, 0, 0]
        for a in self._data.accounts.values():
            t = [t[0] + a.debits_posted, t[1] + a.credits_posted, t[2] + a.debits_pending, t[3] + a.credits_pending]
        return LedgerTotals(*t)


class _Transfers(Repo):
    def add(self, transfer: NewTransfer) -> Transfer:
        if transfer.idempotency_key in self._data.transfer_keys:
            raise AlreadyExists(f"idempotency key {transfer.idempotency_key!r} was used already", field="idempotency_key")
        if transfer.pending_id is not None and transfer.pending_id in self._data.resolutions:
            raise AlreadyExists(f"transfer {transfer.pending_id} is already resolved")
        new = Transfer(self._store._next_id("transfer"), *transfer)
        self._undo.set_item(self._data.transfers, new.id, new)
        self._undo.set_item(self._data.transfer_keys, new.idempotency_key, new.id)
        if new.pending_id is not None:
            self._undo.set_item(self._data.resolutions, new.pending_id, new.id)
        return new

    def get(self, transfer_id: int) -> Transfer | None:
        return self._data.transfers.get(transfer_id)

    def get_by_key(self, idempotency_key: str) -> Transfer | None:
        found = self._data.transfer_keys.get(idempotency_key)
        return None if found is None else self._data.transfers[found]

    def resolution(self, pending_id: int) -> Transfer | None:
        found = self._data.resolutions.get(pending_id)
        return None if found is None else self._data.transfers[found]

    def unresolved_pending(self, expired_before: str | None = None) -> list[Transfer]:
        return [
            t for t in sorted(self._data.transfers.values(), key=lambda t: t.id)
            if t.kind == PENDING and t.id not in self._data.resolutions
            and (expired_before is None or (t.expires_at is not None and t.expires_at <= expired_before))
        ]

    def count_by_actor_since(self, actor: str, since: str) -> int:
        return sum(1 for t in self._data.transfers.values() if t.actor == actor and t.created_at >= since)

    def names_account(self, account_id: int) -> bool:
        return any(account_id in (t.debit_account_id, t.credit_account_id) for t in self._data.transfers.values())

    def statement(self, account_id: int, before_id: int | None, limit: int,
                  include_archive: bool = False, *, backward: bool = False, skip: int = 0) -> list[StatementLine]:
        lines: list[StatementLine] = []
        # backward: oldest first from the cursor, turned round at the end
        for t in sorted(self._statement_transfers(account_id, include_archive), key=lambda t: t.id if backward else -t.id):
            if before_id is not None and (t.id <= before_id if backward else t.id >= before_id):
                continue
            lines.append(_statement_line(t, account_id, self._data.accounts))
            if len(lines) == skip + limit:
                break
        lines = lines[skip:]
        return lines[::-1] if backward else lines

    def count_statement(self, account_id: int, include_archive: bool = False) -> int:
        return sum(1 for _ in self._statement_transfers(account_id, include_archive))

    def _statement_transfers(self, account_id: int, include_archive: bool) -> Iterator[Transfer]:
        archived = self._data.archived_transfers
        return (t for t in self._data.transfers.values()
                if account_id in (t.debit_account_id, t.credit_account_id)
                and (include_archive or t.id not in archived))

    def stream(self) -> Iterator[Transfer]:
        yield from sorted(self._data.transfers.values(), key=lambda t: t.id)


def _statement_line(t: Transfer, account_id: int, accounts: dict[int, Account]) -> StatementLine:
    incoming = t.credit_account_id == account_id
    other = accounts.get(t.debit_account_id if incoming else t.credit_account_id)
    return StatementLine(
        t.id, t.created_at, t.kind, other.name if other else "?", t.memo,
        t.amount_minor if incoming else -t.amount_minor,
        t.credit_balance_after if incoming else t.debit_balance_after, t.kind == PENDING,
    )
