"""Bank entities, after TigerBeetle's accounts/transfers model.

An account keeps four running totals. Balance = credits_posted - debits_posted. A limited account
(every kind but `system`) may never have debits (posted + pending) beyond its credits plus its
overdraft limit. Transfers are immutable: a pending transfer is resolved by a *new* transfer
(post, void or expire) that points at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

ACCOUNT_KINDS = ("customer", "shop", "supplier", "system")
OPEN, FROZEN, CLOSED = "open", "frozen", "closed"
# Transfer kinds: single-phase `posted`; two-phase `pending` resolved by `post`, `void` or `expire`.
POSTED, PENDING, POST, VOID, EXPIRE = "posted", "pending", "post", "void", "expire"
MOVES_POSTED = (POSTED, POST)


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    kind: str
    currency: str
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    overdraft_limit: int
    status: str
    version: int
    deleted_at: str | None = None  # soft-deleted: hidden, refuses money, restorable, kept for history

    @property
    def balance(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def limited(self) -> bool:
        return self.kind != "system"

    @property
    def available(self) -> int:
        """What can still be debited: balance minus reserved funds plus the overdraft limit."""
        return self.credits_posted - self.debits_posted - self.debits_pending + self.overdraft_limit


class RateLimit(NamedTuple):
    """At most `max_transfers` per actor in any rolling `window_seconds`, counted in the store;
    `max_transfers=None` turns the limit off (the simulation's customers are not one person typing)."""

    max_transfers: int | None = 10_000
    window_seconds: int = 60


class NewAccount(NamedTuple):
    name: str
    kind: str
    currency: str
    overdraft_limit: int = 0


@dataclass(frozen=True, slots=True)
class Transfer:
    id: int
    kind: str
    debit_account_id: int
    credit_account_id: int
    amount_minor: int
    currency: str
    pending_id: int | None
    expires_at: str | None
    memo: str
    idempotency_key: str
    actor: str
    created_at: str
    debit_balance_after: int
    credit_balance_after: int
    reverses_id: int | None = None  # undo by compensation: the transfer this one reverses


class NewTransfer(NamedTuple):
    kind: str
    debit_account_id: int
    credit_account_id: int
    amount_minor: int
    currency: str
    pending_id: int | None
    expires_at: str | None
    memo: str
    idempotency_key: str
    actor: str
    created_at: str
    debit_balance_after: int
    credit_balance_after: int
    reverses_id: int | None = None  # undo by compensation: the transfer this one reverses


class StatementLine(NamedTuple):
    """One transfer as seen from one account: signed amount (+ in, - out) and the posted balance
    after it. Only `posted` and `post` lines move the balance; `pending` reserves, `void` and
    `expire` release."""

    transfer_id: int
    at: str
    kind: str
    counterparty: str
    memo: str
    amount_minor: int
    balance_after: int
    pending: bool


class LedgerTotals(NamedTuple):
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
