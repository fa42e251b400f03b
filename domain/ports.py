"""The small interfaces the domain needs from the outside world.

Storage adapters implement them; services depend only on these Protocols.
Every repository is bound to one tenant by the unit of work that made it: no method takes
a tenant, so nothing can cross tenants by mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from domain.model import AuditEntry, AuditQuery, Category, CategoryValue, NewProduct, Product, ProductListing, ProductQuery, User
from domain.model.bank import Account, LedgerTotals, NewAccount, NewTransfer, StatementLine, Transfer
from domain.model.catalog import ProductCursor
from domain.model.dashboard import DailyTrade, TopSeller
from domain.model.stock import GameState, Location, NewStockMove, StockLevel, StockMove, StockRow, Valuation

if TYPE_CHECKING:  # annotations only: start-up does not pay for the save/load model
    from domain.model.saves import SlotInfo
    from domain.model.snapshot import TenantSnapshot
    from domain.model.world import GameWorld

# Columns of a streamed product export, in order: sku, name, category, price_minor, quantity, value_minor.
ExportRow = tuple[str, str, str | None, int, int, int]


class Clock(Protocol):
    def now(self) -> datetime: ...


class CategoryRepository(Protocol):
    def add(self, name: str, parent_id: int | None) -> Category:
        """Raises: AlreadyExists (same name, case-insensitive), NotFound (parent)."""

    def get(self, category_id: int) -> Category | None: ...

    def get_by_name(self, name: str) -> Category | None:
        """Case-insensitive lookup."""

    def list(self) -> list[Category]:
        """All categories, ordered by name."""

    def update(self, category: Category, expected_version: int) -> Category:
        """Store the new name/parent; returns it with version + 1.

        Raises: VersionConflict, NotFound, AlreadyExists.
        """

    def delete(self, category_id: int) -> None:
        """Raises: NotFound; InUse if products or subcategories still point at it."""


class ProductRepository(Protocol):
    def add(self, product: NewProduct) -> Product:
        """Raises: AlreadyExists (SKU taken in this tenant), NotFound (category)."""

    def get(self, product_id: int) -> Product | None: ...

    def get_by_sku(self, sku: str) -> Product | None: ...

    def update(self, product: Product, expected_version: int) -> Product:
        """Store every field of `product` if the stored version is still `expected_version`.

        Raises: VersionConflict (someone saved first), NotFound, AlreadyExists (SKU).
        """

    def set_deleted(self, product_id: int, expected_version: int, deleted_at: str | None) -> Product:
        """Soft-delete (a time) or restore (None) the product; returns it with version + 1.

        Raises: NotFound, VersionConflict.
        """

    def delete(self, product_id: int, expected_version: int | None = None) -> Product:
        """Remove the row for good (a purge; its levels and attachments go with it, its stock moves
        stay) and return what it was. Raises: NotFound, VersionConflict."""

    def find(self, query: ProductQuery, after: ProductCursor | None, limit: int, *, backward: bool = False,
             skip: int = 0) -> list[ProductListing]:
        """One page of the list in the query's sort (its key, then id; descending reverses both), strictly
        after the cursor, which holds that sort's key and the id. backward: the
        `limit` rows strictly before the cursor instead (the last rows when it is None), still in list
        order. skip: leave out that many rows first (a jump into the middle of a long list)."""

    def count(self, query: ProductQuery) -> int: ...

    def stream(self, query: ProductQuery) -> Iterator[ExportRow]:
        """Every row of the query in list order, fetched in chunks (constant memory)."""

    def all_products(self) -> Iterator[ProductListing]:
        """Every product of the tenant, deleted and inactive too, in id order, in chunks (for `check`: in
        the table's own order, not the list's)."""

    def value_by_category(self) -> list[CategoryValue]:
        """Stock value (price x quantity) of active products per category, computed in the store."""

    def upsert_many(self, rows: Iterable[NewProduct]) -> tuple[int, int]:
        """Insert or update by SKU; identical rows are left untouched (version unchanged).

        Returns (inserted, updated). Raises: NotFound (category).
        """


class UserRepository(Protocol):
    def ensure(self, name: str, now: str) -> User:
        """The user with this name, created (with created_at=now) if missing."""

    def list(self) -> list[User]: ...


class AuditLog(Protocol):
    """Append-only: nothing here updates or deletes an entry. Reads see the archive too, so the chain
    and the history read across the archive boundary in id order."""

    def append(self, entry: AuditEntry) -> AuditEntry:
        """Record a mutation in the same transaction as the mutation; returns it with its id."""

    def tail(self) -> AuditEntry | None:
        """The newest entry, live or archived: the chain continues from its hash."""

    def latest(self, limit: int) -> list[AuditEntry]:
        """Newest first (live entries)."""

    def get(self, entry_id: int) -> AuditEntry | None:
        """One entry, live or archived."""

    def page(self, query: AuditQuery, before_id: int | None, limit: int, *, backward: bool = False,
             skip: int = 0) -> list[AuditEntry]:
        """Entries matching the query, newest first, strictly before (older than) `before_id` (keyset
        pages). backward: the `limit` entries strictly newer than `before_id` instead (the oldest ones
        when it is None), still newest first. skip: leave out that many first, counted from the cursor
        in the direction of travel (a jump into the middle of a long log)."""

    def count(self, query: AuditQuery, before_id: int | None = None) -> int:
        """How many entries match the query (only those older than `before_id` when given: an
        entry's place in the list is count(query) - count(query, its id + 1))."""

    def stream(self, after_id: int = 0) -> Iterator[AuditEntry]:
        """Every entry after `after_id`, archived and live, in id order, in chunks (for verifying the chain)."""


class AccountRepository(Protocol):
    def add(self, account: NewAccount) -> Account:
        """Raises: AlreadyExists (name taken in this tenant, case-insensitive)."""

    def get(self, account_id: int) -> Account | None: ...

    def get_by_name(self, name: str) -> Account | None:
        """Case-insensitive lookup."""

    def system_account(self, currency: str) -> Account | None:
        """The tenant's cash account for a currency, if it was created."""

    def first_of_kind(self, kind: str, currency: str) -> Account | None:
        """The oldest open account of a kind and currency (the shop's own account for sales)."""

    def list(self, include_deleted: bool = False) -> list[Account]:
        """Every account (soft-deleted ones only when asked), ordered by name."""

    def delete(self, account_id: int) -> None:
        """Remove the row for good (a purge). The caller checks that no transfer names it."""

    def update(self, account: Account, expected_version: int) -> Account:
        """Store name, overdraft limit, status and deleted_at if the version is still `expected_version`.

        Raises: VersionConflict, NotFound, AlreadyExists.
        """

    def apply(
        self,
        account_id: int,
        *,
        debits_posted: int = 0,
        credits_posted: int = 0,
        debits_pending: int = 0,
        credits_pending: int = 0,
        guard: bool = False,
    ) -> int | None:
        """Add the deltas in one guarded statement and return the posted balance after.

        With `guard`, the change is made only if the account is open and, for a limited account,
        debits (posted + pending) stay within credits posted plus the overdraft limit; otherwise
        nothing changes and None is returned. This keeps balances right even when the check in
        the service raced with another writer.
        """

    def totals(self) -> LedgerTotals:
        """The four running totals summed over every account of the tenant."""


class TransferRepository(Protocol):
    def add(self, transfer: NewTransfer) -> Transfer:
        """Append to the ledger. Raises: AlreadyExists (idempotency key or a second resolution)."""

    def get(self, transfer_id: int) -> Transfer | None: ...

    def get_by_key(self, idempotency_key: str) -> Transfer | None: ...

    def resolution(self, pending_id: int) -> Transfer | None:
        """The post, void or expire transfer that resolved a pending one, if any."""

    def unresolved_pending(self, expired_before: str | None = None) -> list[Transfer]:
        """Pending transfers with no resolution; with `expired_before`, only those past their timeout."""

    def count_by_actor_since(self, actor: str, since: str) -> int:
        """Transfers written by `actor` at or after `since` (rate limiting)."""

    def statement(self, account_id: int, before_id: int | None, limit: int,
                  include_archive: bool = False, *, backward: bool = False, skip: int = 0) -> list[StatementLine]:
        """The account's transfers, newest first, strictly before (older than) `before_id` (keyset
        pages); archived ones too when asked. backward: the `limit` lines strictly newer than
        `before_id` instead (the oldest ones when it is None), still newest first. skip: leave out that
        many first, counted from the cursor in the direction of travel (a jump by offset)."""

    def count_statement(self, account_id: int, include_archive: bool = False) -> int:
        """How many lines the account's statement has (two index counts, not a read of the lines)."""

    def stream(self) -> Iterator[Transfer]:
        """Every transfer of the tenant, archived ones included, in id order, in chunks (for `check`)."""

    def names_account(self, account_id: int) -> bool:
        """Whether any transfer, live or archived, has a leg on the account (then it cannot be purged)."""


class LocationRepository(Protocol):
    def add(self, name: str, kind: str) -> Location:
        """Raises: AlreadyExists (name taken in this tenant, case-insensitive)."""

    def get(self, location_id: int) -> Location | None: ...

    def get_by_name(self, name: str) -> Location | None:
        """Case-insensitive lookup."""

    def first_of_kind(self, kind: str) -> Location | None:
        """The oldest location of a kind (the default internal one, or the one virtual location)."""

    def list(self) -> list[Location]:
        """Every location, internal ones first, then by id."""


class StockRepository(Protocol):
    def apply(self, product_id: int, location_id: int, *, on_hand: int = 0, incoming: int = 0, outgoing: int = 0) -> int | None:
        """Add the deltas to the product's level at an internal location (creating it at zero) in one
        guarded statement, keep the product's total on hand in step, and return on hand after.

        If the change would take on hand, incoming or outgoing below zero, or leave more outgoing than
        on hand, nothing changes and None is returned: the check holds even when the service's
        earlier read raced with another writer.
        """

    def level(self, product_id: int, location_id: int) -> StockLevel | None: ...

    def row(self, product_id: int) -> StockRow | None:
        """One product's stock totals, cost and reorder level."""

    def levels_of(self, product_ids: Iterable[int]) -> list[StockLevel]:
        """The levels of these products at every internal location."""

    def all_levels(self) -> Iterator[StockLevel]:
        """Every level of the tenant, in no particular order, in chunks (for `check`: a million levels are
        never all held)."""

    def add_move(self, move: NewStockMove) -> StockMove:
        """Append to the ledger. Raises: AlreadyExists (idempotency key or a second resolution)."""

    def get_move(self, move_id: int) -> StockMove | None: ...

    def get_move_by_key(self, idempotency_key: str) -> StockMove | None: ...

    def resolution(self, pending_id: int) -> StockMove | None:
        """The received or cancelled move that resolved a pending one, if any."""

    def paid_by(self, transfer_id: int) -> StockMove | None:
        """The move (live or archived) whose money leg is this transfer: a sale's or purchase's payment,
        a cancelled purchase's refund, an undone sale's refund."""

    def pending_moves(self, product_id: int | None = None, due_by_day: int | None = None) -> list[StockMove]:
        """Unresolved pending moves, oldest first; optionally one product's, or those due by a day."""

    def history(self, product_id: int, before_id: int | None, limit: int, include_archive: bool = False, *,
                backward: bool = False, skip: int = 0) -> list[StockMove]:
        """The product's moves, newest first, strictly before `before_id` (older; keyset pages); archived
        ones too when asked. backward: the `limit` moves strictly after it instead (newer; the oldest
        moves when it is None), still newest first. skip: leave out that many moves first, counted from
        the cursor in the direction of travel (a jump into the middle of a long history)."""

    def count_history(self, product_id: int, include_archive: bool = False) -> int:
        """How many moves `history` walks through for the product."""

    def stream_moves(self) -> Iterator[StockMove]:
        """Every move of the tenant in id order, in chunks (for `check`)."""

    def rows(self, query: ProductQuery, after: ProductCursor | None, limit: int, low_only: bool = False, *,
             backward: bool = False, skip: int = 0) -> list[StockRow]:
        """One page of products with their stock totals, in (lower(name), id) order, strictly after the
        cursor; `low_only` keeps those at or below a positive reorder level. backward: the `limit` rows
        strictly before the cursor instead (the last rows when it is None), still in list order. skip:
        leave out that many rows first, counted from the cursor in the direction of travel."""

    def count_rows(self, query: ProductQuery, low_only: bool = False) -> int:
        """How many rows `rows` walks through for the query."""

    def count_low(self) -> int:
        """Active products at or below a positive reorder level."""

    def needs_reorder(self) -> list[StockRow]:
        """Active products whose on hand plus incoming is at or below a positive reorder level, by id."""

    def daily_trade(self, first_day: int, last_day: int) -> list[DailyTrade]:
        """Sales and purchases per game day in [first_day, last_day], net of undone sales and cancelled or
        undone purchases, money from their bank legs; only days with trade, oldest first."""

    def top_sellers(self, first_day: int, last_day: int, limit: int) -> list[TopSeller]:
        """The products with the most net units sold on those days, most first (ties: by id); at most `limit`."""

    def valuation_by_category(self) -> list[Valuation]:
        """On hand x unit cost per category (every product with stock, active or not), computed in the store."""

    def valuation_by_location(self) -> list[Valuation]:
        """On hand x unit cost per internal location, computed in the store."""

    def set_planning(self, product_id: int, cost_minor: int, reorder_level: int) -> None:
        """Store a product's unit cost and reorder level. Raises: NotFound."""

    def reconcile(self, skus: Iterable[str], location_id: int, adjustment_id: int, move: NewStockMove) -> int:
        """Post an adjustment for every listed product whose recorded total (products.quantity) differs
        from its levels, into or out of `location_id`; `move` is the template (no idempotency key: these are
        bookkeeping, not requests).
        Returns how many were posted. Raises: InsufficientStock (the location cannot give up that much).
        """


class GameRepository(Protocol):
    def get(self) -> GameState:
        """The tenant's game state; a fresh GameState (day 0, version 0) if none was saved."""

    def save(self, state: GameState, expected_version: int) -> GameState:
        """Store it if the stored version is still `expected_version`; returns it with version + 1.

        Raises: VersionConflict.
        """


class LifecycleRepository(Protocol):
    """Archiving and time travel over the ledgers (live and archived rows alike)."""

    def archive_batch(self, before: str, limit: int) -> tuple[int, int, int]:
        """Move up to `limit` transfers, stock moves and audit entries older than `before` into the
        archive tables (a pending row only with its resolution; a transfer only once no live move points
        at it). Returns (transfers, moves, audit entries) moved; all zero when nothing is left."""

    def last_ids(self) -> tuple[int, int]:
        """The newest transfer id and stock move id (live or archived; 0 when none): a day's boundary."""

    def balances_asof(self, at: str, inclusive: bool = True, through_id: int | None = None) -> dict[int, LedgerTotals]:
        """Each account's four running totals from the transfers created at or before `at` (before it
        when not `inclusive`), or with `through_id`, from those with an id up to it; accounts without any
        such transfer are absent."""

    def levels_asof(self, at: str, inclusive: bool = True, through_id: int | None = None) -> list[StockLevel]:
        """Stock per product and internal location from the moves made up to `at` (or up to move id
        `through_id`); zero levels left out."""


class SnapshotRepository(Protocol):
    """The tenant's whole books at once: read for a save, written back by a load."""

    def dump(self) -> TenantSnapshot:
        """Every category, product (with its plan), account, transfer, location, level and stock move of the
        tenant, soft-deleted and archived rows included, plus the game state and the users."""

    def counts(self) -> dict[str, int]:
        """The rows `dump().counts()` would count, counted in the store (what a load is about to replace)."""

    def replace(self, snapshot: TenantSnapshot) -> None:
        """Replace the tenant's books with the snapshot, in the caller's transaction.

        Ids are renumbered: each kind is shifted past every id the store ever gave out (ids are never
        reused), keeping their order and every reference between rows. Deleted: the tenant's categories,
        products, plans, accounts, transfers (live and archived), locations, levels and moves. Kept: the
        audit log, and other tenants' rows. Users are merged by name. An attachment stays with the loaded
        product of the same SKU; the others are removed (their files are collected by `attachment gc`).
        The game state is written with version = stored version + 1. Archived rows go back to the archive.

        Raises: StorageError.
        """


class SaveSlots(Protocol):
    """Named save files of one tenant (a folder), read and written through the save-file codecs."""

    location: str  # where the files are, as a person would look for them

    def list(self) -> list[SlotInfo]:
        """Every slot, newest first, each with its checksum checked (bad files are listed, marked not ok)."""

    def info(self, name: str) -> SlotInfo:
        """Raises: NotFound, ValidationError (a name that is not a slot name)."""

    def write(self, name: str, codec: str, world: GameWorld, *, tenant: str, saved_by: str, created_at: str) -> SlotInfo:
        """Write the slot atomically (a crash leaves the old file or the new one, never half of one); a slot of
        the same name in another format is replaced. Raises: ValidationError (name, codec), StorageError."""

    def read(self, name: str) -> tuple[GameWorld, SlotInfo, int | None]:
        """The world in a slot (or a file path), fully decoded, validated and upgraded; the last item is the
        file's format version when it was older than the current one (else None).

        Raises: NotFound, Corrupt, Tampered, UnsupportedVersion, TooLarge.
        """

    def delete(self, name: str) -> SlotInfo:
        """Raises: NotFound."""


class UnitOfWork(Protocol):
    """One transaction. Leaving the `with` block without `commit()` rolls everything back."""

    categories: CategoryRepository
    products: ProductRepository
    users: UserRepository
    audit: AuditLog
    accounts: AccountRepository
    transfers: TransferRepository
    locations: LocationRepository
    stock: StockRepository
    game: GameRepository
    lifecycle: LifecycleRepository
    attachments: AttachmentRepository
    snapshot: SnapshotRepository

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def commit(self) -> None:
        """Raises: Busy, StorageError."""

    def rollback(self) -> None: ...


class Store(Protocol):
    """A storage backend opened from a URL; makes units of work for one tenant at a time."""

    url: str
    created: bool  # True when this open created an empty database (the app seeds demo data)

    def unit_of_work(self, tenant: str, *, write: bool = False) -> AbstractContextManager[UnitOfWork]:
        """A transaction for `tenant`; `write=True` takes the write lock up front.

        Raises: Busy (write lock not obtained within the busy timeout).
        """

    def close(self) -> None: ...

    def save_slots(self, tenant: str) -> SaveSlots:
        """The tenant's save files (next to the database file, or in a folder made for this store)."""


from domain.model.attachments import Attachment  # noqa: E402 (kept next to its port: appended with issue #5)


class AttachmentRepository(Protocol):
    """Attachment rows and their bytes. The bytes are addressed by sha256 and verified on every read."""

    def add(self, product_id: int, name: str, media_type: str, content: bytes, actor: str,
            created_at: str) -> Attachment:
        """Store the bytes and the row (storage 'file' or 'blob', as the store was opened); returns it with
        its id and sha256. Raises: NotFound (product), StorageError (disk full, permissions)."""

    def get(self, attachment_id: int) -> Attachment | None: ...

    def list(self, product_id: int) -> list[Attachment]:
        """The product's attachments, oldest first."""

    def content(self, attachment_id: int) -> bytes:
        """The bytes, checked against the recorded sha256 and size.

        Raises: NotFound (no such attachment), Corrupt (bytes changed or missing).
        """

    def remove(self, attachment_id: int) -> Attachment:
        """Delete the row and return what it was. Raises: NotFound."""
