"""The facade scripts, the CLI and the TUI use: one object, services hanging off it."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

from domain.clock import SystemClock
from domain.model import ProductQuery
from domain.ports import Clock, Store
from domain.services.catalog import CatalogService
from domain.services.context import ServiceContext


@dataclass(frozen=True)
class CheckReport:
    """Result of `Simulator.check()`: `ok` is True when every invariant holds."""

    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def default_actor() -> str:
    try:
        return getpass.getuser() or "user"
    except Exception:  # no login name in some containers
        return "user"


class Simulator:
    """The shop of one tenant, driven by one actor."""

    def __init__(self, store: Store, *, actor: str | None = None, tenant: str = "default", clock: Clock | None = None):
        self.store = store
        self.ctx = ServiceContext(store, tenant, actor or default_actor(), clock or SystemClock())
        self.catalog = CatalogService(self.ctx)

    @property
    def tenant(self) -> str:
        return self.ctx.tenant

    @property
    def actor(self) -> str:
        return self.ctx.actor

    def is_pristine(self) -> bool:
        """True when nothing was ever written for this tenant (no audit entry at all)."""
        with self.ctx.reading() as uow:
            return not uow.audit.latest(1)

    def check(self) -> CheckReport:
        """Verify the invariants of everything stored for this tenant."""
        problems: list[str] = []
        with self.ctx.reading() as uow:
            categories = {c.id: c for c in uow.categories.list()}
            for c in categories.values():
                if c.parent_id is not None and c.parent_id not in categories:
                    problems.append(f"category {c.name!r} has a missing parent {c.parent_id}")
            products = 0
            for sku, _name, _category, price, quantity, value in uow.products.stream(ProductQuery(include_inactive=True)):
                products += 1
                if price < 0 or quantity < 0:
                    problems.append(f"product {sku} has a negative price or quantity")
                if value != price * quantity:
                    problems.append(f"product {sku} value {value} != price x quantity")
        return CheckReport(problems, {"categories": len(categories), "products": products})





