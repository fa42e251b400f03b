"""`jsonfile:///path.json`: the in-memory store (storage/memory) with the whole state kept in one JSON
file — seed 003's key-value store with batch saving and an auto-save thread.

Every port is the memory store's: one RLock serialises units of work, an undo log rolls back. This
module adds persistence around it: the file is read on open and rewritten whole (storage/durable.
replace_file: temp file, fsync, rename, fsync of the folder) when

- a commit makes the N-th committed write unit of work not yet in the file (`?batch=N`, default
  100; 0 turns batch writes off): that commit's thread writes the file before its call returns;
- the auto-save thread wakes (every `?interval=T` seconds, default 1; 0 turns it off) and finds
  anything pending;
- `close()` (or `flush()`) is called; an interpreter that exits normally closes open stores too.

Locks: the state is captured under the store's lock (shallow copies of the containers; the rows in them
are immutable, so that is a consistent snapshot of committed units of work only), then encoded and
written outside it, so readers and writers wait only for the copy. A second lock, taken first, makes
file writes one at a time and in capture order: a later snapshot never lands under an older one. A
lock file (`<path>.lock`, flock) keeps a second process (or a second store in this one) from opening
the same file and overwriting its changes: it gets `busy`.

Durability — exactly what a crash (kill -9, power cut) can lose: the write units of work acknowledged
(their call returned) since the file was last written. That is at most N-1 of them (the N-th writes the
file before returning), and only those of the last T seconds plus the time of a write or two (the
auto-save thread writes whatever is pending, then sleeps T seconds), whichever bound is smaller. Read-only and rolled-
back units of work are never pending. The file itself is never torn: a crash leaves the previous
snapshot or the new one, whole (and a temp file, removed on the next open). `?batch=1` writes every
commit before it returns (nothing acknowledged is lost; each commit rewrites the whole file).

If the file cannot be written (disk full, permissions), the commit that should have written it raises
`StorageError` (its change is kept in memory but not acknowledged), `last_write_error` says why, the
auto-save thread keeps retrying, and `close()` raises rather than drop the pending changes.

Attachments are kept as the memory store keeps them, as bytes in the state (storage "blob"), written
into the file as base64; save slots live next to the file in `<path>.saves/<tenant>/`, as with SQLite.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from domain.errors import Busy, Corrupt, StorageError, UnsupportedVersion, ValidationError
from storage.durable import replace_file
from storage.jsonfile import codec
from storage.memory.store import MemoryStore, MemoryUnitOfWork

SCHEME = "jsonfile:///"
DEFAULT_BATCH = 100
DEFAULT_INTERVAL = 1.0


@dataclass(frozen=True)
class JsonFileOptions:
    path: str
    batch: int = DEFAULT_BATCH  # write the file every N committed write units of work; 0: never for that reason
    interval: float = DEFAULT_INTERVAL  # seconds between auto-saves; 0: no auto-save thread


def parse_url(url: str) -> JsonFileOptions:
    """`jsonfile:///relative.json`, `jsonfile:////abs/path.json`; options `?batch=N&interval=T`.

    Raises: ValidationError (no path, an unknown option or value).
    """
    if not url.startswith(SCHEME):
        raise ValidationError(f"not a jsonfile URL: {url!r} (expected jsonfile:///path.json)", field="db")
    path, _, query = url[len(SCHEME):].partition("?")
    if not path:
        raise ValidationError("jsonfile URL has no file path", field="db")
    opts: dict[str, object] = {"path": os.path.expanduser(path)}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "batch" and value.isascii() and value.isdigit():
            opts["batch"] = int(value)
        elif key == "interval" and _seconds(value) is not None:
            opts["interval"] = _seconds(value)
        else:
            raise ValidationError(f"unknown jsonfile URL option {key}={value!r} (use batch=N, interval=SECONDS)",
                                  field="db")
    return JsonFileOptions(**opts)  # type: ignore[arg-type]


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 <= value <= 86_400 else None


class JsonFileStore(MemoryStore):
    """`jsonfile:///path.json`: the memory store, saved whole to one JSON file in batches."""

    def __init__(self, url: str):
        super().__init__(url)
        self.options = parse_url(url)
        self.json_path = Path(os.path.abspath(self.options.path))  # not `path`: that names an SQLite file
        self.created = False
        self.last_write_error: StorageError | None = None  # why the last write failed, until one succeeds
        self.writes = 0  # times the file was written by this store
        self._write_lock = threading.Lock()  # taken before self._lock: one file write at a time, in order
        self._committed = 0  # write units of work committed since open (changed under self._lock)
        self._written = 0  # how many of them the file holds (changed under self._write_lock)
        self._stop = threading.Event()
        self._saver: threading.Thread | None = None
        self._lock_fd = _lock_exclusively(self.json_path)
        try:
            self._remove_stale_temp_files()
            self.created = self._load()
            if self.created:
                self._save(at_least=0)  # the file exists from now on: a bad path shows at open, not later
        except BaseException:
            _unlock(self._lock_fd)
            raise
        self._release = weakref.finalize(self, _unlock, self._lock_fd)  # also if dropped without close()
        self._at_exit = _close_at_exit(weakref.ref(self))
        atexit.register(self._at_exit)
        if self.options.interval > 0:
            self._saver = threading.Thread(target=_autosave, args=(weakref.ref(self), self._stop, self.options.interval),
                                           name=f"jsonfile auto-save {self.json_path.name}", daemon=True)
            self._saver.start()

    # -- the store ------------------------------------------------------------------------------------

    def unit_of_work(self, tenant: str, *, write: bool = False) -> JsonFileUnitOfWork:
        if self._closed:
            raise StorageError("the store is closed")
        return JsonFileUnitOfWork(self, tenant)

    def save_slots(self, tenant: str):  # -> FileSaveSlots: `<path>.saves/<tenant>/`, next to the file
        from storage.savefiles.slots import FileSaveSlots, tenant_folder

        return FileSaveSlots(Path(str(self.json_path) + ".saves") / tenant_folder(tenant), source=self.url)

    @property
    def pending(self) -> int:
        """Committed write units of work the file does not hold yet (what a crash now would lose)."""
        return self._committed - self._written

    def flush(self) -> bool:
        """Write pending changes now; returns whether there were any. Not from inside a unit of work.

        Raises: StorageError (the file cannot be written; the changes stay pending).
        """
        return self._save(at_least=1)

    def close(self) -> None:
        """Refuse new units of work (after the running one ends), stop the auto-save thread, write what is
        pending and let go of the file. Raises: StorageError when the final write fails: the changes stay
        in memory and the file stays locked, so calling close() again retries."""
        if self._lock_fd is None:
            return
        with self._lock:
            self._closed = True
        self._stop.set()
        if self._saver is not None and self._saver is not threading.current_thread():
            self._saver.join()
        self._save(at_least=1)
        atexit.unregister(self._at_exit)
        self._release()
        self._lock_fd = None
        super().close()

    def __enter__(self) -> JsonFileStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- persistence ----------------------------------------------------------------------------------

    def _load(self) -> bool:
        """Read the file into the store; returns True when there was none (a new, empty store).

        Raises: Corrupt, UnsupportedVersion, StorageError. The file is never changed here.
        """
        try:
            raw = self.json_path.read_bytes()
        except FileNotFoundError:
            return True
        except OSError as e:
            raise StorageError(f"cannot read {self.json_path}: {e.strerror or e}") from e
        try:
            ids, tenants = codec.decode(raw, self._ids)
        except codec.NewerFormat as e:
            raise UnsupportedVersion(
                f"{self.json_path} was written by a newer stockbank (JSON-file format version {e.version}; this one "
                f"reads up to {codec.VERSION}); upgrade stockbank to open it"
            ) from e
        except codec.FormatError as e:
            raise Corrupt(
                f"{self.json_path} is not a readable stockbank JSON-file store: {e}. It was left as it is; "
                "restore a copy or move it away to start an empty store"
            ) from e
        self._ids, self._tenants = ids, tenants
        return False

    def _after_commit(self, quiet: bool) -> None:
        """A write unit of work just ended committed: write the file if that made a full batch."""
        batch = self.options.batch
        if batch and self.pending >= batch:
            try:
                self._save(at_least=batch)
            except StorageError:
                if not quiet:
                    raise

    def _save(self, at_least: int, wait: float = -1) -> bool:
        """Write the file when at least `at_least` committed write units of work are pending (0: always);
        returns whether it wrote. `wait` bounds the time for the locks (-1: no bound; timed out: False).

        Raises: StorageError (write failed; recorded in last_write_error, the changes stay pending).
        """
        if not self._write_lock.acquire(timeout=wait):
            return False
        try:
            if not self._lock.acquire(timeout=wait):
                return False
            try:
                if self._undo is not None:  # this thread is inside one of our units of work
                    raise StorageError("the JSON file cannot be written from inside a unit of work")
                committed = self._committed
                if committed - self._written < at_least:
                    return False
                ids = dict(self._ids)
                tenants = {name: codec.capture(data) for name, data in self._tenants.items()}
            finally:
                self._lock.release()
            data = codec.encode(ids, tenants)
            try:
                replace_file(self.json_path, data, self._temp_prefix)
            except OSError as e:
                pending = committed - self._written
                self.last_write_error = StorageError(
                    f"cannot write {self.json_path}: {e.strerror or e}; {pending} committed change(s) are kept in "
                    "memory, not yet on disk, and the next write tries again")
                raise self.last_write_error from e
            self._written = committed
            self.writes += 1
            self.last_write_error = None
            return True
        finally:
            self._write_lock.release()

    @property
    def _temp_prefix(self) -> str:
        return f".{self.json_path.name}.tmp-"

    def _remove_stale_temp_files(self) -> None:
        """Temp files of writes a crash interrupted (we hold the lock file: nobody else is writing)."""
        try:
            for stale in self.json_path.parent.glob(self._temp_prefix + "*"):
                stale.unlink(missing_ok=True)
        except OSError:
            pass  # leftovers are harmless; the folder's problems show on the next read or write


class JsonFileUnitOfWork(MemoryUnitOfWork):
    """The memory unit of work, counting committed writes so that the store knows when to save."""

    _store: JsonFileStore

    def __enter__(self) -> JsonFileUnitOfWork:
        super().__enter__()
        if self._store._closed:  # closed while this one waited for the lock
            self._done = True
            super().__exit__(None, None, None)
            raise StorageError("the store is closed")
        self._wrote = False
        return self

    def commit(self) -> None:
        store = self._store
        changed = self._outer and store._undo is not None and bool(store._undo.ops)
        super().commit()
        if changed:
            store._committed += 1
            self._wrote = True

    def __exit__(self, exc_type: object, *rest: object) -> None:
        super().__exit__(exc_type, *rest)
        if self._wrote:  # the lock is let go: the batch write happens outside it
            self._store._after_commit(quiet=exc_type is not None)


# -- process-wide helpers -----------------------------------------------------------------------------


def _autosave(ref: weakref.ref[JsonFileStore], stop: threading.Event, interval: float) -> None:
    """The auto-save thread: every `interval` seconds, write whatever is pending. It holds the store only
    weakly, so a store dropped without close() does not live on through its thread."""
    while not stop.wait(interval):
        store = ref()
        if store is None:
            return
        try:
            store._save(at_least=1)
        except StorageError:
            pass  # recorded in last_write_error; the next tick tries again
        except Exception as e:  # noqa: BLE001 (a bug must not silently end auto-saving)
            store.last_write_error = StorageError(f"auto-save of {store.json_path} failed: {e!r}")
        del store


def _close_at_exit(ref: weakref.ref[JsonFileStore]):
    def write_pending() -> None:
        store = ref()
        if store is not None and store._lock_fd is not None:
            try:
                store._save(at_least=1, wait=10.0)  # never hang the exit on a thread stuck in a unit of work
            except StorageError:
                pass
    return write_pending


def _lock_exclusively(path: Path) -> int | None:
    """Hold `<path>.lock` with flock for as long as the store is open (POSIX; elsewhere a no-op).

    Raises: Busy (another store has the file open), StorageError (the folder cannot be used).
    """
    try:
        import fcntl
    except ImportError:  # Windows: one process per file is then up to the user
        return -1
    lock_path = str(path) + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise StorageError(f"cannot open {path}: {e.strerror or e}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Busy(f"{path} is open in another process or store (a JSON-file store has one owner at a time); "
                   "close it there first") from None
    except OSError as e:
        os.close(fd)
        raise StorageError(f"cannot lock {lock_path}: {e.strerror or e}") from e
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None and fd >= 0:
        os.close(fd)  # closing the descriptor lets go of the flock
