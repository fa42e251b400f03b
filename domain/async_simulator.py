"""The services with an async API: `await sim.bank.transfer(...)`, for asyncio programs.

The same service code runs for every call, through the async store's `run_sync` (an asyncio store runs
it in its driver's bridge, so each statement is awaited and the event loop never blocks). Methods that
return an iterator or stream (exports) are not offered here: a stream would outlive the call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from domain.simulator import Simulator


class AsyncRunner(Protocol):
    """What an async store offers the domain: run sync store/service code the async way."""

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...


class AsyncSimulator:
    """`Simulator` with coroutine methods; every keyword of Simulator is accepted."""

    def __init__(self, store: AsyncRunner, **kwargs: Any) -> None:
        self._run = store.run_sync
        self.sync = Simulator(store, **kwargs)  # type: ignore[arg-type]

    async def check(self):  # -> CheckReport
        return await self._run(self.sync.check)

    async def is_pristine(self) -> bool:
        return await self._run(self.sync.is_pristine)

    def __getattr__(self, name: str) -> _AsyncService:
        """`sim.catalog`, `sim.bank`, `sim.inventory`, ...: the service with coroutine methods. Building
        a service may touch the store (save slots), so it happens in the bridge on first call."""
        return _AsyncService(self, name)


class _AsyncService:
    def __init__(self, owner: AsyncSimulator, name: str) -> None:
        self._owner, self._name = owner, name

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        owner, service = self._owner, self._name

        async def call(*args: Any, **kwargs: Any) -> Any:
            def run() -> Any:
                return getattr(getattr(owner.sync, service), method)(*args, **kwargs)

            return await owner._run(run)

        call.__name__ = method
        return call
