"""The composition root: turns a URL into a store, a Simulator and the file helpers the app
and the CLI need. The only module of tui_app that imports storage."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from domain import Simulator
from domain.model import AuditQuery, ProductQuery
from domain.model.bank import RateLimit
from domain.services.catalog import ImportResult
from domain.model.catalog import fold_case
from domain.services.demo import ACCOUNTS, CATEGORIES, demo_plan, demo_products

if TYPE_CHECKING:
    from domain.ports import Clock

ENV_DB = "STOCKBANK_DB"
APP_NAME = "stockbank"
DEMO_PLANNED = 2000  # products that get a demo cost and reorder level


def default_db_url() -> str:
    """A SQLite file in the user data dir (platformdirs)."""
    from platformdirs import user_data_dir

    folder = Path(user_data_dir(APP_NAME, appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'stockbank.db'}"


ENV_RATE_LIMIT = "STOCKBANK_RATE_LIMIT"


def parse_rate_limit(text: str | None) -> RateLimit | None:
    """`"100/60"` = at most 100 transfers per actor in any 60 s; None keeps the default.

    Raises: ValidationError.
    """
    text = text or os.environ.get(ENV_RATE_LIMIT)
    if not text:
        return None
    count, _, seconds = text.partition("/")
    if not (count.isdigit() and seconds.isdigit() and int(count) > 0 and 0 < int(seconds) <= 86_400):
        from domain.errors import ValidationError

        raise ValidationError(f"rate limit {text!r}: use TRANSFERS/SECONDS, like 100/60", field="rate_limit")
    return RateLimit(int(count), int(seconds))


def resolve_db_url(arg: str | None) -> str:
    return arg or os.environ.get(ENV_DB) or default_db_url()


ENV_CACHE = "STOCKBANK_CACHE"


def resolve_cache_spec(arg: str | None) -> str | None:
    """`--cache` (memory, redis://host:port/db, off), else env STOCKBANK_CACHE, else None: no cache."""
    return arg if arg is not None else os.environ.get(ENV_CACHE) or None


def missing_database(url: str) -> str | None:
    """The path of a file database that does not exist yet (opening it would create it), else None."""
    for prefix in ("sqlite:///", "sqlalchemy+sqlite:///", "jsonfile:///"):
        if url.startswith(prefix):
            path = os.path.expanduser(url[len(prefix):].partition("?")[0])
            return None if os.path.exists(path) else path
    return None


def masked(url: str) -> str:
    """A store URL fit to print or record: any password replaced."""
    from storage import masked_url

    return masked_url(url)


def seed_demo(sim: Simulator, products: int = 50, seed: int = 7, progress: Callable[[int], None] | None = None) -> int:
    """Create the demo categories (if missing) and `products` demo products; returns the count."""
    existing = {c.name.lower(): c for c in sim.catalog.categories()}
    for name, parent in CATEGORIES:
        if name.lower() not in existing:
            existing[name.lower()] = sim.catalog.add_category(name, parent)
    ids = {name: existing[name.lower()].id for name, _ in CATEGORIES}
    rows = map(itemgetter(0), demo_products(products, seed, ids))
    result = sim.catalog.bulk_add(rows, source=f"demo seed={seed}", progress=progress)
    if not sim.bank.accounts():
        seed_demo_bank(sim)
    if not any(fold_case(loc.name) == "shop floor" for loc in sim.inventory.locations()):
        seed_demo_inventory(sim, seed)
    return result.rows


def seed_demo_inventory(sim: Simulator, seed: int = 7) -> None:
    """A shop floor next to the warehouse, costs and reorder levels, some stock on the shop floor
    and one delivery in transit (at most the first DEMO_PLANNED products by name get a plan)."""
    inventory = sim.inventory
    inventory.add_location("Shop floor")
    rng = random.Random(seed)
    rows = inventory.stock(ProductQuery(include_inactive=True), limit=DEMO_PLANNED)
    for row in rows:
        cost, reorder = demo_plan(row.price_minor, rng)
        inventory.set_planning(row.product_id, cost=cost, reorder_level=reorder)
    stocked = [r for r in sorted(rows, key=lambda r: r.product_id) if r.on_hand >= 10][:8]
    for n, row in enumerate(stocked):
        inventory.move_stock(row.product_id, 5 if n else 3, "Warehouse", "Shop floor", pending=n == 0,
                             memo="to the shop floor", idempotency_key=f"demo-stock-{n}")


def seed_demo_bank(sim: Simulator) -> None:
    """A shop, a supplier and three customers, a few purchases and one pending order."""
    for name, kind, opening in ACCOUNTS:
        sim.bank.open_account(name, kind, opening_balance=opening)
    sim.bank.transfer("Alice", "Shop", "37.50", memo="hammer and nails", idempotency_key="demo-1")
    sim.bank.transfer("Bob", "Shop", "12.99", memo="watering can", idempotency_key="demo-2")
    sim.bank.transfer("Shop", "Acme Supplies", "150.00", memo="restock", idempotency_key="demo-3")
    sim.bank.transfer("Carol", "Shop", "89.00", memo="drill, reserved", pending=True, idempotency_key="demo-4")


@dataclass
class Backend:
    """Everything the TUI needs from outside the domain, wired once."""

    sim: Simulator
    url: str
    demo_loaded: int = 0

    @property
    def display_url(self) -> str:
        """The URL fit for a title bar: a PostgreSQL password is never shown."""
        return masked(self.url)

    def export_products(self, query: ProductQuery, out: TextIO) -> int:
        from storage.csvio import write_products_csv

        with self.sim.catalog.stream_products(query) as rows:
            return write_products_csv(rows, out)

    def export_statement(self, account_id: int, out: TextIO) -> int:
        """The account's whole statement, newest first, fetched a page at a time."""
        from domain.money import to_decimal
        from storage.csvio import write_csv

        def rows():
            before = None
            while page := self.sim.bank.statement(account_id, before, 1000):
                for line in page:
                    yield (line.transfer_id, line.at, line.kind, line.counterparty, line.memo,
                           to_decimal(line.amount_minor), to_decimal(line.balance_after))
                before = page[-1].transfer_id

        return write_csv(("transfer", "at", "kind", "counterparty", "memo", "amount", "balance_after"), rows(), out)

    def export_stock(self, query: ProductQuery, low_only: bool, out: TextIO) -> int:
        """Stock per product and location (the Inventory screen's view), fetched a page at a time."""
        from domain.model.catalog import ProductCursor
        from domain.money import to_decimal
        from storage.csvio import write_csv

        inventory = self.sim.inventory
        locations = inventory.locations()

        def rows():
            after = None
            while page := inventory.stock(query, after, 1000, low_only=low_only):
                levels = {(lv.product_id, lv.location_id): lv.on_hand for lv in inventory.levels([r.product_id for r in page])}
                for r in page:
                    yield (r.sku, r.name, r.category or "", *(levels.get((r.product_id, loc.id), 0) for loc in locations),
                           r.incoming, r.on_hand, r.reorder_level, to_decimal(r.cost_minor), to_decimal(r.value_minor),
                           "yes" if r.low else "")
                after = ProductCursor(fold_case(page[-1].name), page[-1].product_id)

        header = ("sku", "name", "category", *(loc.name for loc in locations), "in_transit", "on_hand", "reorder_level",
                  "unit_cost", "value", "low")
        return write_csv(header, rows(), out)

    def export_history(self, product_id: int, out: TextIO) -> int:
        """A product's whole move history, newest first."""
        from storage.csvio import write_csv

        inventory = self.sim.inventory
        names = {loc.id: loc.name for loc in inventory.locations(include_virtual=True)}

        def rows():
            before = None
            while page := inventory.history(product_id, before, 1000):
                for m in page:
                    yield (m.id, m.day, m.created_at, m.reason, m.kind, names.get(m.from_location_id, ""),
                           names.get(m.to_location_id, ""), m.quantity, m.transfer_id or "", m.actor, m.memo)
                before = page[-1].id

        return write_csv(("move", "day", "at", "reason", "state", "from", "to", "quantity", "transfer", "actor", "memo"),
                         rows(), out)

    def export_audit(self, query: AuditQuery, out: TextIO) -> int:
        """The audit entries a query matches, newest first, a page at a time."""
        from domain.services.audit import EXPORT_HEADER
        from storage.csvio import write_csv

        return write_csv(EXPORT_HEADER, self.sim.audit.export_rows(query), out)

    def import_products(self, path: str, progress: Callable[[int, int], None] | None = None) -> ImportResult:
        from storage.csvio import file_size, read_products_csv

        total = file_size(path)
        on_bytes = (lambda n: progress(n, total)) if progress else None
        return self.sim.catalog.import_products(read_products_csv(path, on_bytes), source=os.path.basename(path))

    def cache_stats(self) -> dict | None:
        """Hits, misses and hit ratio of the read cache in this process; None when it is off."""
        stats = getattr(self.sim.store, "cache_stats", None)
        return stats() if stats is not None else None

    def monitor(self):  # -> storage.monitor.DatabaseReading
        """The database monitor's figures now (sizes, statements and their mean time, cache hits, connections)."""
        from storage.monitor import read_monitor

        return read_monitor(self.sim.store)

    def forget_cached_rows(self) -> bool:
        """After the database changed outside any unit of work (a restore): retire every cached row of
        every tenant. False when there is no cache or it cannot be reached (its entries then expire
        after their TTL)."""
        invalidate = getattr(self.sim.store, "invalidate", None)
        if invalidate is None:
            return False
        from domain.errors import CacheUnavailable

        try:
            invalidate()
        except CacheUnavailable:
            return False
        return True

    def close(self) -> None:
        self.sim.store.close()


def open_backend(
    url: str | None = None,
    *,
    tenant: str = "default",
    actor: str | None = None,
    clock: Clock | None = None,
    demo_if_empty: bool = True,
    rate_limit: str | None = None,
    cache: str | None = None,
) -> Backend:
    """Open the store a URL names and wrap it for the app; an empty new database gets demo data.
    `cache` (or env STOCKBANK_CACHE) puts a read cache in front of it: memory, redis://host:port/db.

    Raises: DomainError (bad URL, unsupported or corrupt database, bad tenant/actor, bad cache spec,
        cache_unavailable: Redis does not answer).
    """
    from storage import open_store

    resolved = resolve_db_url(url)
    store = open_store(resolved)
    try:
        cache_spec = resolve_cache_spec(cache)
        if cache_spec is not None:
            from storage.cache import cached_store

            store = cached_store(store, cache_spec)
        sim = Simulator(store, actor=actor, tenant=tenant, clock=clock, rate_limit=parse_rate_limit(rate_limit))
        loaded = 0
        if demo_if_empty and sim.is_pristine():
            with sim.ctx.writing():  # one transaction (the services' own become savepoints): all or nothing
                loaded = seed_demo(sim)
    except BaseException:
        store.close()
        raise
    return Backend(sim, resolved, loaded)
