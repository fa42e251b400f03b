"""The facade scripts, the CLI and the TUI use: one object, services hanging off it."""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from domain.clock import SystemClock
from domain.model.bank import MOVES_POSTED, PENDING, RateLimit
from domain.model.stock import PENDING as STOCK_PENDING
from domain.model.stock import POSTED as STOCK_POSTED
from domain.model.stock import PURCHASE, RECEIVED as STOCK_RECEIVED, SELL, StockMove
from domain.services.catalog import CatalogService
from domain.services.context import ServiceContext

if TYPE_CHECKING:
    from domain.ports import Clock, Store


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

    def __init__(
        self,
        store: Store,
        *,
        actor: str | None = None,
        tenant: str = "default",
        clock: Clock | None = None,
        rate_limit: RateLimit | None = None,
    ):
        self.store = store
        self.ctx = ServiceContext(store, tenant, actor or default_actor(), clock or SystemClock())
        self.catalog = CatalogService(self.ctx)
        self._rate_limit = rate_limit

    @cached_property
    def bank(self):  # -> BankService; built on first use, like the others: start-up pays for the first screen
        from domain.services.bank import BankService

        return BankService(self.ctx, self._rate_limit)

    @cached_property
    def inventory(self):  # -> InventoryService; built on first use: start-up only pays for the first screen
        from domain.services.inventory import InventoryService

        return InventoryService(self.ctx, self.bank)

    @cached_property
    def simulation(self):  # -> SimulationService
        from domain.services.inventory import InventoryService
        from domain.services.simulation import SimulationService

        # The simulated customers are not one person typing: their sales skip the per-actor rate limit.
        from domain.services.bank import BankService

        world_bank = BankService(self.ctx, RateLimit(max_transfers=None))
        return SimulationService(self.ctx, InventoryService(self.ctx, world_bank), world_bank)

    @cached_property
    def attachments(self):  # -> AttachmentService
        from domain.services.attachments import AttachmentService

        return AttachmentService(self.ctx)

    @cached_property
    def audit(self):  # -> AuditService
        from domain.services.audit import AuditService

        return AuditService(self.ctx, self.bank, lambda: self.inventory)

    @cached_property
    def dashboard(self):  # -> DashboardService
        from domain.services.dashboard import DashboardService

        return DashboardService(self.ctx, self.bank)

    @cached_property
    def lifecycle(self):  # -> LifecycleService
        from domain.services.lifecycle import LifecycleService

        return LifecycleService(self.ctx)

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
        """Verify the invariants of everything stored for this tenant: the catalog's, and the
        ledger's (double entry conserved, no account beyond its limit, every account's totals
        equal to what its transfers add up to, every pending transfer resolved at most once)."""
        return check_books(self.ctx)

    @cached_property
    def saves(self):  # -> SavesService
        from domain.services.saves import SavesService

        return SavesService(self.ctx, self.store.save_slots(self.tenant))


def check_books(ctx: ServiceContext) -> CheckReport:
    """`Simulator.check()` for a context; inside a write transaction it checks what that transaction wrote."""
    problems: list[str] = []
    with ctx.reading() as uow:
        categories = {c.id: c for c in uow.categories.list()}
        for c in categories.values():
            if c.parent_id is not None and c.parent_id not in categories:
                problems.append(f"category {c.name!r} has a missing parent {c.parent_id}")
        totals: dict[int, int] = {}  # product id -> its recorded total on hand
        for row in uow.products.all_products():
            totals[row.id] = row.quantity
            if row.price_minor < 0 or row.quantity < 0:
                problems.append(f"product {row.sku} has a negative price or quantity")
            if row.value_minor != row.price_minor * row.quantity:
                problems.append(f"product {row.sku} value {row.value_minor} != price x quantity")
        accounts = {a.id: a for a in uow.accounts.list(include_deleted=True)}
        payments: dict[int, int] = {}  # transfer id -> amount, for the stock ledger's money legs

        def remembered(stream: Iterable) -> Iterator:
            for t in stream:
                payments[t.id] = t.amount_minor
                yield t

        ledger_problems, transfers = _ledger_problems(accounts, remembered(uow.transfers.stream()))
        stock_problems, moves = _stock_problems(
            {loc.id: loc for loc in uow.locations.list()}, totals, uow.stock.all_levels(), uow.stock.stream_moves(),
            payments,
        )
    problems.extend(ledger_problems)
    problems.extend(stock_problems)
    cash = -sum(a.balance for a in accounts.values() if not a.limited)
    return CheckReport(
        problems,
        {"categories": len(categories), "products": len(totals), "accounts": len(accounts),
         "transfers": transfers, "stock_moves": moves, "cash_brought_in_minor": cash},
    )


def _ledger_problems(accounts: dict, transfers: Iterable) -> tuple[list[str], int]:
    """Replay the ledger against the accounts' stored totals; returns (problems, transfers seen)."""
    problems: list[str] = []
    seen = 0
    totals = {a: [0, 0, 0, 0] for a in accounts}  # debits_posted, credits_posted, debits_pending, credits_pending
    pending_amount: dict[int, int] = {}
    resolved: dict[int, int] = {}
    for t in transfers:
        seen += 1
        if t.debit_account_id not in accounts or t.credit_account_id not in accounts:
            problems.append(f"transfer {t.id} has a leg on a missing account")
            continue
        if t.amount_minor <= 0:
            problems.append(f"transfer {t.id} has amount {t.amount_minor}")
        if t.kind == PENDING:
            pending_amount[t.id] = t.amount_minor
            totals[t.debit_account_id][2] += t.amount_minor
            totals[t.credit_account_id][3] += t.amount_minor
        elif t.pending_id is not None:
            resolved[t.pending_id] = resolved.get(t.pending_id, 0) + 1
            reserved = pending_amount.get(t.pending_id)
            if reserved is None:
                problems.append(f"transfer {t.id} resolves {t.pending_id}, which is not an earlier pending transfer")
                continue
            totals[t.debit_account_id][2] -= reserved
            totals[t.credit_account_id][3] -= reserved
        if t.kind in MOVES_POSTED:
            totals[t.debit_account_id][0] += t.amount_minor
            totals[t.credit_account_id][1] += t.amount_minor
    problems += [f"pending transfer {p} resolved {n} times" for p, n in resolved.items() if n > 1]
    sums = [0, 0, 0, 0]
    for account_id, account in accounts.items():
        stored = [account.debits_posted, account.credits_posted, account.debits_pending, account.credits_pending]
        if stored != totals[account_id]:
            problems.append(f"account {account.name}: totals {stored} but its transfers add up to {totals[account_id]}")
        sums = [x + y for x, y in zip(sums, stored)]
        if account.limited and account.debits_posted + account.debits_pending > account.credits_posted + account.overdraft_limit:
            problems.append(f"account {account.name} is beyond its limit (available {account.available})")
    if sums[0] != sums[1] or sums[2] != sums[3]:
        problems.append(f"double entry broken: debits {sums[0]}/{sums[2]} vs credits {sums[1]}/{sums[3]}")
    return problems, seen


def _stock_problems(locations: dict, totals: dict[int, int], levels: Iterable, moves: Iterable,
                    payments: dict[int, int]) -> tuple[list[str], int]:
    """Replay the stock ledger against the stored levels and each product's total on hand; every
    sale and purchase must have its payment in the bank's ledger."""
    problems: list[str] = []
    seen = 0
    replayed: dict[tuple[int, int], list[int]] = {}  # (product, location) -> on hand, incoming, outgoing
    pending: dict[int, StockMove] = {}
    resolved: dict[int, int] = {}

    def add(product_id: int, location_id: int, on_hand: int = 0, incoming: int = 0, outgoing: int = 0) -> None:
        loc = locations.get(location_id)
        if loc is None or not loc.internal:
            return
        level = replayed.setdefault((product_id, location_id), [0, 0, 0])
        level[0] += on_hand
        level[1] += incoming
        level[2] += outgoing

    for m in moves:
        seen += 1
        if m.from_location_id not in locations or m.to_location_id not in locations:
            problems.append(f"stock move {m.id} has a leg on a missing location")
            continue
        if m.quantity <= 0:
            problems.append(f"stock move {m.id} has quantity {m.quantity}")
        q = m.quantity
        if m.kind == STOCK_POSTED:
            add(m.product_id, m.from_location_id, on_hand=-q)
            add(m.product_id, m.to_location_id, on_hand=q)
        elif m.kind == STOCK_PENDING:
            pending[m.id] = m
            add(m.product_id, m.from_location_id, outgoing=q)
            add(m.product_id, m.to_location_id, incoming=q)
        else:
            resolved[m.pending_id] = resolved.get(m.pending_id, 0) + 1
            first = pending.get(m.pending_id)
            if first is None or first.quantity != q:
                problems.append(f"stock move {m.id} resolves {m.pending_id}, which is not an earlier pending move of {q}")
                continue
            add(m.product_id, m.from_location_id, outgoing=-q, on_hand=-q if m.kind == STOCK_RECEIVED else 0)
            add(m.product_id, m.to_location_id, incoming=-q, on_hand=q if m.kind == STOCK_RECEIVED else 0)
        if m.reason in (SELL, PURCHASE) and m.kind in (STOCK_POSTED, STOCK_PENDING):
            if m.transfer_id is None or payments.get(m.transfer_id, 0) <= 0:
                problems.append(f"stock move {m.id} ({m.reason}) has no payment in the bank's ledger")
    problems += [f"pending stock move {p} resolved {n} times" for p, n in resolved.items() if n > 1]

    def compare(product_id: int, location_id: int, have: list[int], want: list[int]) -> None:
        if product_id not in totals:
            return  # a deleted product: its history stays, its levels went with it
        if have != want:
            problems.append(f"product {product_id} at location {location_id}: level {have} but its moves add up to {want}")
        if have[0] < 0 or have[0] < have[2]:
            problems.append(f"product {product_id} at location {location_id} is below zero ({have})")

    # The stored levels stream past once, each held against what its moves add up to (taken out of
    # `replayed`, so what is left there has moves but no level): a million levels are never all held.
    on_hand: dict[int, int] = {}
    for lv in levels:
        on_hand[lv.product_id] = on_hand.get(lv.product_id, 0) + lv.on_hand
        compare(lv.product_id, lv.location_id, [lv.on_hand, lv.incoming, lv.outgoing],
                replayed.pop((lv.product_id, lv.location_id), None) or [0, 0, 0])
    for (product_id, location_id), want in replayed.items():
        compare(product_id, location_id, [0, 0, 0], want)
    for product_id, total in totals.items():
        if total != on_hand.get(product_id, 0):
            problems.append(f"product {product_id}: total on hand {total} but its levels add up to {on_hand.get(product_id, 0)}")
    return problems, seen
