"""The async SQLAlchemy store: `sqlite+aiosqlite:///path.db` and `postgresql+psycopg_async://…`.

An asyncio engine (aiosqlite, psycopg's async connection) does the I/O; the repositories, the unit of
work and the services are the very same code as the sync store's. They run in SQLAlchemy's greenlet
bridge (`greenlet_spawn`, what `AsyncSession.run_sync` uses): inside it, every statement of the sync
code awaits the async driver, so the event loop never blocks on the database.

- `AsyncSqlAlchemyStore.open(url)` (await it) gives the store; `domain.async_simulator.AsyncSimulator`
  gives the services with coroutine methods (`await sim.bank.transfer(...)`).
- `open_store(url)` with one of these URLs gives `BlockingAsyncStore`: the same async store driven from
  sync callers (the CLI, the TUI's thread workers, the contract suite) through a private event loop in
  its own thread; each call hops into that loop and runs in the greenlet bridge there.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from storage.sqlalchemy.store import SqlAlchemyStore, engine_arguments

T = TypeVar("T")


class AsyncSqlAlchemyStore(SqlAlchemyStore):
    """A SqlAlchemyStore whose engine is the `sync_engine` of an asyncio engine. Make it with
    `await AsyncSqlAlchemyStore.open(url)`; use it only inside `run_sync` (or the bridge)."""

    def _new_engine(self):
        from sqlalchemy.ext.asyncio import create_async_engine

        self.async_engine = create_async_engine(self.options.engine_url, **engine_arguments(self.options))
        return self.async_engine.sync_engine

    @classmethod
    async def open(cls, url: str) -> AsyncSqlAlchemyStore:
        """Raises: the same errors as open_store (ValidationError, UnsupportedVersion, Corrupt, StorageError)."""
        from sqlalchemy.util import greenlet_spawn

        return await greenlet_spawn(cls, url)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run sync store or service code with every statement awaited on this loop's driver."""
        from sqlalchemy.util import greenlet_spawn

        return await greenlet_spawn(fn, *args, **kwargs)

    async def aclose(self) -> None:
        self._closed = True
        await self.async_engine.dispose()


class _Loop:
    """An event loop in a daemon thread, for sync callers of an async store."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="stockbank-async-store", daemon=True)
        self.thread.start()

    def run(self, coro) -> Any:
        if threading.current_thread() is self.thread:
            raise RuntimeError("a blocking call from inside the store's own event loop")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


def _is_ours(value: object) -> bool:
    """Objects of this adapter (units of work, repositories, slots, file stores) are wrapped so their
    methods hop into the loop too; domain values come back as they are."""
    return type(value).__module__.startswith("storage.")


class _Hop:
    """Calls on the wrapped object run in the loop's thread, inside the greenlet bridge."""

    def __init__(self, target: Any, loop: _Loop) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_loop", loop)

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.util import greenlet_spawn

        result = self._loop.run(greenlet_spawn(fn, *args, **kwargs))
        if hasattr(result, "__next__") and hasattr(result, "send"):  # a generator: stream it a row at a time
            return _HopIterator(result, self._loop)
        return _Hop(result, self._loop) if _is_ours(result) else result

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() and tests that patch a repository's class see the real one
        return type(self._target)

    def __getattr__(self, name: str) -> Any:
        value = self._call(getattr, self._target, name)  # a lazy attribute may open a repository
        if callable(value) and not isinstance(value, type):
            method = value._target if isinstance(value, _Hop) else value
            return lambda *args, **kwargs: self._call(method, *args, **kwargs)
        return value

    def __enter__(self) -> Any:
        return self._call(self._target.__enter__)

    def __exit__(self, *exc_info: object) -> Any:
        return self._call(self._target.__exit__, *exc_info)


class _HopIterator:
    def __init__(self, generator: Any, loop: _Loop) -> None:
        self._generator, self._loop = generator, loop

    def __iter__(self) -> _HopIterator:
        return self

    def __next__(self) -> Any:
        from sqlalchemy.util import greenlet_spawn

        def step() -> tuple[bool, Any]:
            try:
                return True, next(self._generator)
            except StopIteration:
                return False, None

        more, value = self._loop.run(greenlet_spawn(step))
        if not more:
            raise StopIteration
        return value


class BlockingAsyncStore(_Hop):
    """`open_store("sqlite+aiosqlite:///…")`: the async store for sync callers (see the module docstring)."""

    def __init__(self, url: str) -> None:
        loop = _Loop()
        try:
            store = loop.run(AsyncSqlAlchemyStore.open(url))
        except BaseException:
            loop.stop()
            raise
        super().__init__(store, loop)

    def unit_of_work(self, tenant: str, *, write: bool = False) -> Any:
        if self._target._closed:  # its loop is gone with it
            from domain.errors import StorageError

            raise StorageError("the store is closed")
        return self._call(self._target.unit_of_work, tenant, write=write)

    def close(self) -> None:
        store, loop = self._target, self._loop
        if not store._closed:
            loop.run(store.aclose())
            loop.stop()

    def __enter__(self) -> BlockingAsyncStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["AsyncSqlAlchemyStore", "BlockingAsyncStore"]
