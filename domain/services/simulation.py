"""The day-by-day simulation: customers buy, the shop reorders, deliveries arrive.

A game clock (day N) and a seeded random generator are stored with the shop, so the same seed from
the same state always gives the same final state. Every sale and purchase goes through the same
services as a person's would (and so through both ledgers); a day is one transaction, and each
sale inside it a savepoint, so a refused sale leaves nothing and an interrupted run loses at most
the day in progress.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from domain.errors import (
    AccountClosed,
    AccountFrozen,
    IdempotencyConflict,
    InsufficientFunds,
    InsufficientStock,
    ValidationError,
)
from domain.model import ProductQuery
from domain.model.bank import OPEN
from domain.model.catalog import ProductCursor, fold_case
from domain.model.stock import GameState
from domain.services.bank import BankService
from domain.services.context import ServiceContext
from domain.services.inventory import InventoryService

if TYPE_CHECKING:
    from domain.ports import UnitOfWork

MAX_DAYS = 3650
BUY_PROBABILITY = 0.35  # chance that a customer buys something on a given day
MAX_ITEMS = 3  # units per purchase by a customer
PAYDAY_EVERY = 7  # days between customers' wages
WAGE_MINOR = 400_00
MAX_LEAD_DAYS = 3
_PAGE = 5000


@dataclass(frozen=True)
class DayReport:
    """What happened on one simulated day."""

    day: int
    sales: int = 0
    revenue_minor: int = 0
    lost_sales: int = 0  # out of stock
    refused_sales: int = 0  # the customer could not pay for even one
    orders: int = 0
    spent_minor: int = 0
    unfunded_orders: int = 0  # the shop could not pay for even one unit
    arrivals: int = 0
    wages: int = 0
    ledger_rows: int = 0  # stock moves + transfers written


def _rng(state: GameState, seed: int | None) -> random.Random:
    if seed is not None:
        return random.Random(seed)
    rng = random.Random(state.seed)
    if state.rng_state is not None:
        version, internal, gauss = json.loads(state.rng_state)
        rng.setstate((version, tuple(internal), gauss))
    return rng


class SimulationService:
    """Advances the shop's game clock for one tenant."""

    def __init__(self, ctx: ServiceContext, inventory: InventoryService, bank: BankService):
        self._ctx = ctx
        self._inventory = inventory
        self._bank = bank

    def state(self) -> GameState:
        """The game clock and generator as stored (day 0 before the first simulated day)."""
        with self._ctx.reading() as uow:
            return uow.game.get()

    def advance(
        self, days: int = 1, *, seed: int | None = None, progress: Callable[[DayReport], None] | None = None
    ) -> list[DayReport]:
        """Simulate `days` days, each in its own transaction. With `seed`, the generator restarts
        from it (the seed is stored); without, it continues from the stored state.

        Raises: ValidationError (days or seed), Busy.
        """
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise ValidationError(f"days: a whole number between 1 and {MAX_DAYS}", field="days")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
            raise ValidationError("seed: a whole number between 0 and 2**63-1", field="seed")
        reports = []
        for n in range(days):
            report = self._one_day(seed if n == 0 else None)
            reports.append(report)
            if progress is not None:
                progress(report)
        return reports

    def _one_day(self, seed: int | None) -> DayReport:
        with self._ctx.writing() as uow:
            state = uow.game.get()
            rng = _rng(state, seed)
            day = state.day + 1
            state = uow.game.save(replace(state, day=day, seed=state.seed if seed is None else seed), state.version)
            # First in the day's transaction: as-of "day N" is everything before day N+1 began, told by
            # the newest ledger ids then (ids follow commit order; clocks may stand still or step back).
            last_transfer, last_move = uow.lifecycle.last_ids()
            self._ctx.audit(uow, "game", day, "advance", after={"day": day, "seed": state.seed,
                                                                 "last_transfer_id": last_transfer,
                                                                 "last_move_id": last_move})
            report = DayReport(day)
            report = self._arrivals(uow, report)
            customers = [a for a in uow.accounts.list() if a.kind == "customer" and a.status == OPEN]
            customers.sort(key=lambda a: a.id)
            if day % PAYDAY_EVERY == 0:
                report = self._wages(customers, report)
            report = self._demand(uow, rng, customers, report)
            report = self._reorders(uow, rng, report)
            internal = rng.getstate()
            uow.game.save(replace(state, rng_state=json.dumps([internal[0], list(internal[1]), internal[2]])), state.version)
            self._ctx.audit(uow, "game", day, "report", after=report.__dict__)
        return report

    def _arrivals(self, uow: UnitOfWork, report: DayReport) -> DayReport:
        arrived = 0
        for move in uow.stock.pending_moves(due_by_day=report.day):
            self._inventory.receive_pending(move.id)  # the day is one transaction: no retry to guard against
            arrived += 1
        return replace(report, arrivals=arrived, ledger_rows=report.ledger_rows + arrived)

    def _wages(self, customers: list, report: DayReport) -> DayReport:
        for c in customers:
            self._bank.deposit(c.id, WAGE_MINOR, memo="wages")
        return replace(report, wages=len(customers), ledger_rows=report.ledger_rows + len(customers))

    def _products(self, uow: UnitOfWork) -> list:
        rows, after = [], None
        while page := uow.stock.rows(ProductQuery(), after, _PAGE):
            rows.extend(r for r in page if r.price_minor > 0)
            last = page[-1]
            after = ProductCursor(fold_case(last.name), last.product_id)
        rows.sort(key=lambda r: r.product_id)
        return rows

    def _demand(self, uow: UnitOfWork, rng: random.Random, customers: list, report: DayReport) -> DayReport:
        products = self._products(uow)
        if not products:
            return report
        sales = revenue = lost = refused = 0
        for c in customers:
            if rng.random() >= BUY_PROBABILITY:
                continue
            product = products[rng.randrange(len(products))]
            wanted = rng.randint(1, MAX_ITEMS)
            buyer = uow.accounts.get(c.id)
            affordable = buyer.available // product.price_minor if buyer is not None else 0
            if affordable < 1:
                refused += 1
                continue
            try:
                sale = self._inventory.sell(product.product_id, min(wanted, affordable), c.id,
                                            idempotency_key=f"sim-sale-{report.day}-{c.id}")
            except InsufficientStock:
                lost += 1
            except (InsufficientFunds, AccountFrozen, AccountClosed, IdempotencyConflict):
                refused += 1  # (a conflict: someone used this day's key by hand; the sale does not happen)
            else:
                sales += 1
                revenue += sale.transfer.amount_minor
        return replace(report, sales=sales, revenue_minor=revenue, lost_sales=lost, refused_sales=refused,
                       ledger_rows=report.ledger_rows + 2 * sales)

    def _reorders(self, uow: UnitOfWork, rng: random.Random, report: DayReport) -> DayReport:
        suppliers = sorted((a for a in uow.accounts.list() if a.kind == "supplier" and a.status == OPEN), key=lambda a: a.id)
        if not suppliers:
            return report
        orders = spent = unfunded = 0
        for row in uow.stock.needs_reorder():
            if row.cost_minor <= 0:
                continue
            wanted = max(2 * row.reorder_level - row.on_hand - row.incoming, 1)
            # by SKU, not id: a loaded save renumbers ids, and must simulate the same days as the original
            supplier = suppliers[zlib.crc32(row.sku.encode()) % len(suppliers)]
            lead = rng.randint(1, MAX_LEAD_DAYS)
            shop = uow.accounts.first_of_kind("shop", supplier.currency)
            quantity = min(wanted, shop.available // row.cost_minor) if shop is not None else 0
            if quantity < 1:  # order what the shop can pay for, or nothing
                unfunded += 1
                continue
            try:
                bought = self._inventory.purchase(row.product_id, quantity, supplier.id, lead_days=lead,
                                                  idempotency_key=f"sim-order-{report.day}-{row.product_id}")
            except (InsufficientFunds, AccountFrozen, AccountClosed, IdempotencyConflict):
                unfunded += 1
            else:
                orders += 1
                spent += bought.transfer.amount_minor
        return replace(report, orders=orders, spent_minor=spent, unfunded_orders=unfunded,
                       ledger_rows=report.ledger_rows + 2 * orders)
