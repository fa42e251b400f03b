"""Group commit for the sqlite3 store: the writer threads of one store share write transactions.

SQLite lets one connection write at a time, and at synchronous=FULL every COMMIT waits for an fsync of
the WAL. So the write units of work of one store take turns, first come first served, on one
connection: the first writer opens a transaction (BEGIN IMMEDIATE) and runs its unit of work; a writer
that arrives meanwhile queues, and when its turn comes runs its unit of work inside a SAVEPOINT of the
same transaction. A writer whose unit of work succeeds releases its savepoint and passes the turn on
if someone is queued (while the transaction is younger than GROUP_WINDOW and holds fewer than
GROUP_MAX requests); the writer that finds nobody queued commits for all of them, once. Every writer's
commit() returns only after that COMMIT, so no write is acknowledged before it is durable. A failing
unit of work rolls back its own savepoint only and never fails the others; if the shared COMMIT itself
fails, every writer in it gets the error and nothing of theirs was saved.

Every request sees the ones before it in the same transaction (balances, idempotency keys, the audit
chain's tail, the rate-limit count), exactly as if each had committed on its own. Other processes are
kept out by SQLite's file lock, as before; each process groups its own threads.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable

from domain.errors import Busy, DomainError, StorageError
from storage.sqlite.errors import translate

GROUP_WINDOW = 0.010  # seconds: an older transaction takes no more writers, it commits
GROUP_MAX = 64  # requests per shared transaction at most
WRITE_CACHE = "PRAGMA cache_size=-32768"
_SAVEPOINT = "group_request"


class SharedTransaction:
    """One open write transaction on one connection, and the requests it holds so far."""

    __slots__ = ("conn", "started", "members", "done", "error")

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.started = time.monotonic()
        self.members = 0  # requests that succeeded in it and wait for its COMMIT
        self.done = False
        self.error: DomainError | None = None  # why it did not commit (set with done)


class Turn:
    """One writer's turn on the shared connection: from its unit of work's start to its commit or rollback."""

    __slots__ = ("tx", "savepoint", "finished")

    def __init__(self, tx: SharedTransaction, savepoint: bool):
        self.tx = tx
        self.savepoint = savepoint  # False for the writer that opened the transaction: nothing to protect yet
        self.finished = False

    @property
    def conn(self) -> sqlite3.Connection:
        return self.tx.conn


class GroupCommit:
    """The turn-taking of one store's writers (see the module docstring). The writer that holds the
    turn is the only one using the shared connection; whenever it lets the turn go, the transaction
    is either handed to the next writer in the queue or ended (committed, or rolled back when it
    holds nothing), so no acknowledged writer is ever left waiting."""

    def __init__(self, checkout: Callable[[], sqlite3.Connection], checkin: Callable[[sqlite3.Connection], None],
                 discard: Callable[[sqlite3.Connection], None], timeout: float):
        self._checkout, self._checkin, self._discard = checkout, checkin, discard
        self._timeout = timeout  # the busy timeout: how long a writer waits for its turn
        lock = threading.Lock()
        self._turns = threading.Condition(lock)  # writers waiting for their turn
        self._durable = threading.Condition(lock)  # writers waiting for the COMMIT of their transaction
        self._queue: deque[object] = deque()
        self._busy = False  # a writer holds the turn
        self._tx: SharedTransaction | None = None
        self.commits = 0  # shared COMMITs done (for tests and the bench)

    def begin(self) -> Turn:
        """Wait for this thread's turn (first come, first served), then open a transaction or join the
        open one.

        Raises: Busy (no turn within the busy timeout, or SQLite's lock held by another process), StorageError.
        """
        me = object()
        with self._turns:
            self._queue.append(me)
            deadline = None
            while self._busy or self._queue[0] is not me:  # checked before the deadline: a turn passed on is taken
                if deadline is None:
                    deadline = time.monotonic() + self._timeout
                left = deadline - time.monotonic()
                if left <= 0:
                    self._queue.remove(me)
                    self._turns.notify_all()  # whoever is now first in line
                    raise Busy("the database is busy with another writer; try again")
                self._turns.wait(left)
            self._queue.popleft()
            self._busy = True
            tx = self._tx
        try:
            if tx is None:
                conn = self._checkout()
                try:
                    # 32 MiB of page cache for writes (SQLite's default is 2 MiB): a 1M-row import keeps its
                    # indexes in memory instead of re-reading pages.
                    conn.execute(WRITE_CACHE)
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as e:
                    (self._discard if conn.in_transaction else self._checkin)(conn)
                    raise translate(e) from e
                self._tx = SharedTransaction(conn)
                return Turn(self._tx, savepoint=False)
            tx.conn.execute(f"SAVEPOINT {_SAVEPOINT}")
            return Turn(tx, savepoint=True)
        except sqlite3.Error as e:  # the SAVEPOINT: the transaction goes on without this writer
            self._pass_on(tx)  # type: ignore[arg-type]
            raise translate(e) from e
        except BaseException:
            if tx is None:  # opening failed: nothing is open
                self._release()
            else:
                self._pass_on(tx)
            raise

    def commit(self, turn: Turn) -> None:
        """Keep this writer's work and return once it is durable (after the shared COMMIT).

        Raises: what the shared COMMIT raised (StorageError, Busy, Corrupt): then nothing was saved.
            If releasing the savepoint fails, the turn is still held and the caller must roll back.
        """
        tx = turn.tx
        if turn.savepoint:
            try:
                tx.conn.execute(f"RELEASE {_SAVEPOINT}")
            except sqlite3.Error as e:
                raise translate(e) from e
        turn.finished = True
        tx.members += 1
        if not self._pass_on(tx):
            with self._durable:
                while not tx.done:
                    self._durable.wait()
        if tx.error is not None:
            error = tx.error
            raise type(error)(error.message, field=error.field, row=error.row, **error.details) from error.__cause__

    def rollback(self, turn: Turn) -> None:
        """Undo this writer's work only, then let the turn go. Never raises: a transaction that cannot
        be rolled back to the savepoint is rolled back whole, and the writers in it get the error."""
        if turn.finished:
            return
        turn.finished = True
        tx = turn.tx
        conn = tx.conn
        try:
            if not turn.savepoint:  # this writer opened the transaction and nobody joined it
                self._end(tx, None)
                return
            conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
            conn.execute(f"RELEASE {_SAVEPOINT}")
        except sqlite3.Error as e:
            self._end(tx, _aborted(translate(e), e))
            return
        except BaseException as e:
            self._end(tx, _aborted(StorageError(f"interrupted: {e!r}"), e))
            raise
        if not conn.in_transaction:  # SQLite rolled the whole transaction back on an error (disk full, I/O)
            self._end(tx, _aborted(StorageError("the database rolled the shared transaction back"), None))
        else:
            self._pass_on(tx)

    # -- the turn owner only --------------------------------------------------------------------

    def _pass_on(self, tx: SharedTransaction) -> bool:
        """Hand the open transaction to the next writer in line, or end it. Returns True when this
        thread ended it (so it is already done), False when a queued writer goes on with it."""
        with self._turns:
            if self._queue and tx.members < GROUP_MAX and time.monotonic() - tx.started < GROUP_WINDOW:
                self._busy = False
                self._turns.notify_all()
                return False
        if tx.members == 0:
            self._end(tx, None)  # holds nothing: rolled back
            return True
        try:
            tx.conn.execute("COMMIT")
        except sqlite3.Error as e:
            self._end(tx, _aborted(translate(e), e))
        else:
            self._end(tx, None)
        return True

    def _end(self, tx: SharedTransaction, error: DomainError | None) -> None:
        """Close the transaction (rolled back unless already committed), return its connection, wake
        everyone waiting for it, and let the turn go."""
        conn = tx.conn
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        finally:
            (self._discard if conn.in_transaction else self._checkin)(conn)
            with self._turns:
                if error is None and tx.members:
                    self.commits += 1
                self._tx = None
                tx.error, tx.done = error, True
                self._busy = False
                self._turns.notify_all()
                self._durable.notify_all()

    def _release(self) -> None:
        with self._turns:
            self._busy = False
            self._turns.notify_all()


def _aborted(error: DomainError, cause: BaseException | None) -> DomainError:
    """The error every writer of a lost shared transaction gets: the cause, and that nothing was saved."""
    lost = type(error)(f"{error.message} (the shared commit did not happen; nothing of this request was saved)",
                       field=error.field, row=error.row, **error.details)
    lost.__cause__ = cause
    return lost
