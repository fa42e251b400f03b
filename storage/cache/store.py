"""A read-through cache in front of any Store: hot reads (a product by id or SKU, the account list)
come from the cache, everything else goes to the wrapped store unchanged.

Keys are versioned: `sb:{store}:{tenant}:{generation}:product:{id}`. A committed unit of work that
changed products or accounts bumps the tenant's generation after its COMMIT, so every older entry is
dead at once, in this process and, with Redis, in every process. A rolled-back one bumps nothing.

When a cached row may be served:
- only in a unit of work that writes nothing. A write transaction always reads the store: services
  decide on the row they read (a sale charges the product's price, a purge trusts `deleted_at`, a
  transfer checks the account's status and currency) and not every one of those decisions is
  re-checked by a guarded UPDATE; a stale row there could slip past a rule. Reads nested inside a
  write transaction see its uncommitted rows, so they bypass the cache too, and never fill it.
- only if the unit of work read the generation before it touched the database: its snapshot then
  starts after the generation it uses, and it never stores a row older than that generation. A
  fill is also dropped if the generation moved while the row was being read (checked atomically).
- a read unit of work is opened lazily: if every read is a hit, no connection or transaction is used.

Staleness bound (another process's committed write):
- Redis: the generation is read at each unit of work's first cached read, so a unit of work that starts
  after the writer's INCR returned sees the write. The only window is between the writer's COMMIT and its
  INCR (microseconds); if the writer dies in between, or Redis cannot be reached for the INCR, or the file
  is replaced outside a unit of work (`restore`), entries expire after the TTL (default 60 s).
- memory: another process never bumps this process's generation: its write is seen once the entries
  read before it expire, at most TTL seconds (default 5 s) after the unit of work that read them began.
Writes in this process are seen by the next unit of work with either backend.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from domain.errors import CacheUnavailable
from storage.cache.backends import MISSING, Cache, Codec
from storage.cache.codec import ACCOUNTS, PRODUCT

T = TypeVar("T")

# Repositories whose writes change a cached row, with the calls that only read. Any other call on
# them marks the unit of work dirty (a method added later invalidates by default). stock.apply keeps
# products.quantity in step, and snapshot.replace swaps the whole books.
TRACKED: dict[str, frozenset[str]] = {
    "products": frozenset({"get", "get_by_sku", "find", "count", "stream", "all_products", "value_by_category"}),
    "accounts": frozenset({"get", "get_by_name", "system_account", "first_of_kind", "list", "totals"}),
    "stock": frozenset({"level", "row", "levels_of", "all_levels", "get_move", "get_move_by_key", "resolution",
                        "paid_by", "pending_moves", "history", "stream_moves", "rows", "count_low", "needs_reorder",
                        "valuation_by_category", "valuation_by_location", "count_rows", "count_history",
                        "daily_trade", "top_sellers"}),
    "snapshot": frozenset({"dump", "counts"}),
}
FLUSH_EVERY = 1000  # cached reads between two additions to the shared counters (Redis)
COUNTERS = ("hits", "misses", "bypassed", "fills", "invalidations", "errors")


def store_namespace(store: Any) -> str:
    """Who the cached rows belong to: the database file (resolved), or the server URL without password
    or options. Two processes on the same database share entries; two databases never do."""
    options = getattr(store, "options", None)
    path = getattr(options, "path", None) or getattr(store, "path", None)
    url = str(getattr(store, "url", ""))
    if url.startswith("memory://"):
        identity = f"memory:{uuid.uuid4()}"  # lives in this process only
    elif isinstance(path, str) and path:
        identity = "file:" + os.path.realpath(path)
    else:
        parts = urlsplit(url)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        if parts.username:
            host = f"{parts.username}@{host}"
        identity = urlunsplit((parts.scheme, host, parts.path, "", ""))
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


class CacheStats:
    """Counters of one store object (this process), safe to bump from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(COUNTERS, 0)
        self._unflushed = dict.fromkeys(COUNTERS, 0)

    def add(self, name: str, n: int = 1) -> int:
        with self._lock:
            self.counts[name] += n
            self._unflushed[name] += n
            return self._unflushed["hits"] + self._unflushed["misses"]

    def take_unflushed(self) -> dict[str, int]:
        with self._lock:
            taken, self._unflushed = self._unflushed, dict.fromkeys(COUNTERS, 0)
            return taken

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


def with_ratio(counts: dict[str, int]) -> dict[str, Any]:
    lookups = counts.get("hits", 0) + counts.get("misses", 0)
    return {**counts, "ratio": counts.get("hits", 0) / lookups if lookups else 0.0}


class CachedStore:
    """Any Store with a cache in front of its hot reads (see the module docstring for when it serves).
    Everything it does not cache (attributes, save slots, store-specific tools) is the wrapped store's."""

    def __init__(self, store: Any, cache: Cache, *, namespace: str | None = None):
        self.inner = store
        self.cache = cache
        self.url = store.url
        self.created = store.created
        self.prefix = f"sb:{namespace or store_namespace(store)}:"
        self.counters = CacheStats()
        self._local = threading.local()
        self._pending_bumps: set[str] = set()  # tenants whose bump failed: bumped before their next read
        self._prefixes: dict[str, str] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # revision, path, files, collect_attachment_files, ...
        if name == "inner":  # not set yet (a half-built object): no endless recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def unit_of_work(self, tenant: str, *, write: bool = False) -> CachedUnitOfWork:
        return CachedUnitOfWork(self, tenant, write)

    def save_slots(self, tenant: str):
        return self.inner.save_slots(tenant)

    def close(self) -> None:
        try:
            self._flush()
        finally:
            try:
                self.inner.close()
            finally:
                self.cache.close()

    def __enter__(self) -> CachedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the app shows -----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """This process's hits, misses and hit ratio (hits / (hits + misses), 0.0 before any lookup), plus
        bypassed reads (write transactions, cache errors), fills, invalidations, errors; the backend and its TTL."""
        return {"backend": self.cache.name, "ttl": self.cache.ttl, "shared": self.cache.shared,
                **with_ratio(self.counters.snapshot())}

    def cache_stats(self) -> dict[str, Any]:
        """stats(), under the name the app looks for on any store (tui_app/bootstrap.py)."""
        return self.stats()

    def shared_cache_stats(self) -> dict[str, Any] | None:
        """The counters every process added to the shared cache (Redis), or None for the memory cache.
        Raises: CacheUnavailable."""
        if not self.cache.shared:
            return None
        self._flush()
        return with_ratio({name: 0 for name in COUNTERS} | self.cache.counts(self.prefix + "stats"))

    def generation(self, tenant: str) -> int:
        """The tenant's current generation. Raises: CacheUnavailable."""
        return self.cache.generation(self._scope(tenant))

    def invalidate(self, tenant: str | None = None) -> int:
        """Retire every cached row of the tenant, or of every tenant of this database (after the file
        changed behind the cache's back: a restore, an edit by hand). Returns how many tenants' generations
        were bumped. Raises: CacheUnavailable."""
        if tenant is not None:
            scopes = [self._scope(tenant)]
        else:
            scopes = [s for s in self.cache.scopes(self.prefix) if s.endswith(":gen") and s.count(":") == 3]
        for scope in scopes:
            self.cache.bump(scope)
            self.counters.add("invalidations")
        return len(scopes)

    # -- internals ----------------------------------------------------------------------------

    def _scope(self, tenant: str) -> str:
        return self._tenant_prefix(tenant) + "gen"

    def _tenant_prefix(self, tenant: str) -> str:
        """`sb:{store}:{tenant}:` with the tenant quoted: no tenant name can reach into another's keys."""
        prefix = self._prefixes.get(tenant)
        if prefix is None:
            prefix = self._prefixes[tenant] = f"{self.prefix}{quote(tenant, safe='')}:"
        return prefix

    def _frames(self) -> list[CachedUnitOfWork]:
        frames = getattr(self._local, "frames", None)
        if frames is None:
            frames = self._local.frames = []
        return frames

    def _make_up_bump(self, tenant: str) -> None:
        """Raises: CacheUnavailable (the caller reads the store instead) if a bump this process owes the
        tenant still cannot be made."""
        if tenant in self._pending_bumps:
            self._bump(tenant)
            if tenant in self._pending_bumps:
                raise CacheUnavailable("the cache missed an invalidation and cannot be reached to make it up")

    def _bump(self, tenant: str) -> None:
        """After a commit: never raises (the write is done); a failed bump is retried before this
        process reads the tenant's cache again."""
        try:
            self.cache.bump(self._scope(tenant))
        except CacheUnavailable:
            with self._lock:
                self._pending_bumps.add(tenant)
            self.counters.add("errors")
            return
        with self._lock:
            self._pending_bumps.discard(tenant)
        self.counters.add("invalidations")

    def _flush(self) -> None:
        counts = self.counters.take_unflushed()
        if self.cache.shared and any(counts.values()):
            try:
                self.cache.add_counts(self.prefix + "stats", counts)
            except CacheUnavailable:
                pass

    def _counted(self, name: str) -> None:
        if self.counters.add(name) >= FLUSH_EVERY and self.cache.shared:
            self._flush()


class _Txn:
    """What the frames of one outermost unit of work on one thread share."""

    __slots__ = ("tenant", "started", "serve", "gen", "materialized")

    def __init__(self, tenant: str, serve: bool):
        self.tenant = tenant
        self.started = time.monotonic()
        self.serve = serve  # may cached rows be served and stored?
        self.gen: int | None = None
        self.materialized = False  # has the wrapped store's transaction begun?


class CachedUnitOfWork:
    """The wrapped store's unit of work, begun lazily for an outermost read (a read that only hits the
    cache opens nothing), and at once for a write or a nested one (a SAVEPOINT in the outer one)."""

    def __init__(self, owner: CachedStore, tenant: str, write: bool):
        self._owner = owner
        self._tenant = tenant
        self._write = write
        self._cm: Any = None
        self._uow: Any = None
        self._parent: CachedUnitOfWork | None = None
        self._txn: _Txn | None = None
        self._dirty: set[str] = set()  # tenants whose cached rows this frame changed
        self._committed = False
        self._repos: dict[str, Any] = {}

    def __enter__(self) -> CachedUnitOfWork:
        frames = self._owner._frames()
        if frames:
            parent = frames[-1]
            parent._materialize()
            self._parent, self._txn = parent, parent._txn
            if self._write or self._tenant != self._txn.tenant:
                self._txn.serve = False
            self._materialize()
        else:
            self._txn = _Txn(self._tenant, serve=not self._write)
            if self._write:
                self._materialize()  # takes the write lock up front, as the store promises
        frames.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        frames = self._owner._frames()
        if frames and frames[-1] is self:
            frames.pop()
        if self._cm is not None:
            self._cm.__exit__(*exc_info)
        if self._parent is not None and self._committed:
            self._parent._dirty |= self._dirty

    def commit(self) -> None:
        if self._uow is None:  # a lazy read that touched nothing: nothing to commit
            self._committed = True
            return
        try:
            self._uow.commit()
        except BaseException:
            if self._parent is None:  # the outcome is unknown: retiring the entries is always safe
                self._bump_dirty()
            raise
        self._committed = True
        if self._parent is None:
            self._bump_dirty()

    def rollback(self) -> None:
        self._dirty.clear()
        if self._uow is not None:
            self._uow.rollback()

    def _bump_dirty(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for tenant in sorted(dirty):
            self._owner._bump(tenant)

    # -- the wrapped unit of work ------------------------------------------------------------

    def _materialize(self) -> Any:
        if self._uow is None:
            if self._parent is not None:
                self._parent._materialize()
            cm = self._owner.inner.unit_of_work(self._tenant, write=self._write)
            uow = cm.__enter__()
            self._cm, self._uow = cm, uow
            assert self._txn is not None
            self._txn.materialized = True
        return self._uow

    def __getattr__(self, name: str) -> Any:  # categories, users, audit, transfers, ... straight through
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._materialize(), name)

    def _repo(self, name: str, cls: type) -> Any:
        repo = self._repos.get(name)
        if repo is None:
            repo = self._repos[name] = cls(self, name)
        return repo

    @property
    def products(self) -> CachedProducts:
        return self._repo("products", CachedProducts)

    @property
    def accounts(self) -> CachedAccounts:
        return self._repo("accounts", CachedAccounts)

    @property
    def stock(self) -> Tracked:
        return self._repo("stock", Tracked)

    @property
    def snapshot(self) -> Tracked:
        return self._repo("snapshot", Tracked)

    # -- the cache ----------------------------------------------------------------------------

    def _mark(self) -> None:
        """A call that may change cached rows: bump after commit; no more cached reads in this transaction."""
        self._dirty.add(self._tenant)
        assert self._txn is not None
        self._txn.serve = False

    def _read(self, suffix: str, fetch: Callable[[], T], codec: Codec, valid: Callable[[T], bool]) -> T:
        """The cached value under this tenant's current generation, else `fetch()`, stored there."""
        owner, txn = self._owner, self._txn
        assert txn is not None
        if not txn.serve or self._tenant != txn.tenant:
            owner._counted("bypassed")
            return fetch()
        prefix = owner._tenant_prefix(self._tenant)
        value: Any = MISSING
        try:
            if txn.gen is None:
                if txn.materialized:  # its snapshot may be older than the generation it would read now
                    txn.serve = False
                    owner._counted("bypassed")
                    return fetch()
                owner._make_up_bump(self._tenant)
                txn.gen, value = owner.cache.lookup(prefix + "gen", prefix, suffix, codec)
            else:
                value = owner.cache.get(f"{prefix}{txn.gen}:{suffix}", codec)
        except CacheUnavailable:
            owner._counted("errors")
            if txn.gen is None:
                txn.serve = False
        if value is not MISSING and valid(value):
            owner._counted("hits")
            return value
        if txn.gen is None:
            owner._counted("bypassed")
            return fetch()
        owner._counted("misses")
        value = fetch()
        remaining = owner.cache.ttl - (time.monotonic() - txn.started)
        if txn.serve and remaining > 0:
            try:
                if owner.cache.set_if_current(prefix + "gen", txn.gen, f"{prefix}{txn.gen}:{suffix}", value, codec,
                                              remaining):
                    owner._counted("fills")
            except CacheUnavailable:
                owner._counted("errors")
        return value


class Tracked:
    """A repository whose writes change cached rows: every call but a known read marks the unit of work."""

    def __init__(self, frame: CachedUnitOfWork, name: str):
        self._frame = frame
        self._name = name
        self._reads = TRACKED[name]

    def _inner(self) -> Any:
        return getattr(self._frame._materialize(), self._name)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        target = getattr(self._inner(), attr)
        if attr not in self._reads and callable(target):
            self._frame._mark()
        return target


def _row_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class CachedProducts(Tracked):
    def get(self, product_id: int):
        if not _row_id(product_id):
            return self._inner().get(product_id)
        return self._frame._read(f"product:{product_id}", lambda: self._inner().get(product_id), PRODUCT,
                                 lambda p: p is None or p.id == product_id)

    def get_by_sku(self, sku: str):
        if not isinstance(sku, str):
            return self._inner().get_by_sku(sku)
        return self._frame._read(f"product-sku:{quote(sku, safe='')}", lambda: self._inner().get_by_sku(sku), PRODUCT,
                                 lambda p: p is None or p.sku == sku)


class CachedAccounts(Tracked):
    def list(self, include_deleted: bool = False):
        if not isinstance(include_deleted, bool):
            return self._inner().list(include_deleted)
        rows = self._frame._read(
            "accounts:" + ("all" if include_deleted else "live"), lambda: tuple(self._inner().list(include_deleted)),
            ACCOUNTS, lambda rows: include_deleted or all(a.deleted_at is None for a in rows),
        )
        return list(rows)  # a new list: the caller may sort it; the cached tuple stays as it was
