"""The facade scripts, the CLI and the TUI use: one object, services hanging off it."""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from dataclasses import dataclass, field

from domain.clock import SystemClock
from domain.model import ProductQuery
from domain.ports import Clock, Store
from domain.model.bank import MOVES_POSTED, PENDING
from domain.services.bank import BankService, RateLimit
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
        self.bank = BankService(self.ctx, rate_limit)

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
            accounts = {a.id: a for a in uow.accounts.list()}
            ledger_problems, transfers = _ledger_problems(accounts, uow.transfers.stream())
        problems.extend(ledger_problems)
        cash = -sum(a.balance for a in accounts.values() if not a.limited)
        return CheckReport(
            problems,
            {"categories": len(categories), "products": products, "accounts": len(accounts),
             "transfers": transfers, "cash_brought_in_minor": cash},
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
