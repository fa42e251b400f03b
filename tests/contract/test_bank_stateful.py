"""A Hypothesis state machine drives the bank with random operations against a plain Python model
of balances, reservations and idempotency keys, on every adapter (a fresh store per example).

After every step: each account's balance, reservations and available funds equal the model, the
number of stored transfers equals the model's, the sum of all balances is zero and `check()` is ok.
Every refusal must carry the code the model predicts (and, via the invariants, change nothing).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain import Simulator
from domain.errors import DomainError
from domain.model.bank import Transfer
from storage import open_store

NAMES = ["Ann", "Ben", "Cy", "Dee"]
CASH = "Cash EUR"
KEYS = ["k1", "k2", "k3", "k4", "k5"]
_VALID = st.integers(min_value=1, max_value=2500)
AMOUNTS = st.one_of(  # mostly good amounts, some over the balance, some refused outright
    _VALID, _VALID, _VALID, _VALID,
    st.sampled_from(["12.50", "0.01", "40.00"]),
    st.sampled_from([0, -1, "1e3", "12.345", "NaN", 1.5, float("nan"), str(2**64)]),
)
LONG_MEMO = "x" * 501
MEMOS = st.sampled_from(["", "", "rent", "rent", "Grüße", "a\nb", LONG_MEMO])
TIMEOUTS = st.sampled_from([None, 10, 30, 60])  # multiples of the clock's steps: expiry lands exactly on time
SETTINGS = settings(max_examples=50, stateful_step_count=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def parse_amount(value: Any) -> int | None:
    """The model's view of an amount: minor units, or None when it must be refused."""
    if isinstance(value, bool) or isinstance(value, float):
        return None
    if isinstance(value, int):
        return value if 0 < value < 2**63 else None
    known = {"12.50": 1250, "0.01": 1, "40.00": 4000}
    return known.get(value)


class ManualClock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.moment


@dataclass
class ModelAccount:
    id: int
    name: str
    system: bool = False
    limit: int = 0
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0
    status: str = "open"
    version: int = 1

    @property
    def balance(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        return self.balance - self.debits_pending + self.limit

    def can_debit(self, amount: int) -> bool:
        return self.system or self.available >= amount


@dataclass
class ModelTransfer:
    """The fields a replay is compared on, plus what two-phase resolution needs."""

    id: int
    kind: str
    debit: str
    credit: str
    amount: int
    memo: str
    pending_id: int | None = None
    expires_at: datetime | None = None
    resolution: str | None = None  # for a pending transfer: post, void or expire


@dataclass
class Model:
    accounts: dict[str, ModelAccount] = field(default_factory=dict)
    transfers: dict[int, ModelTransfer] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)
    written: int = 0

    def move(self, kind: str, debit: str, credit: str, amount: int) -> None:
        d, c = self.accounts[debit], self.accounts[credit]
        if kind == "pending":
            d.debits_pending += amount
            c.credits_pending += amount
        else:
            d.debits_posted += amount
            c.credits_posted += amount

    def settle(self, pending: ModelTransfer, kind: str, posted: int) -> None:
        d, c = self.accounts[pending.debit], self.accounts[pending.credit]
        d.debits_pending -= pending.amount
        c.credits_pending -= pending.amount
        d.debits_posted += posted
        c.credits_posted += posted
        pending.resolution = kind
        self.written += 1

    def due(self, now: datetime, debit: str | None = None) -> list[ModelTransfer]:
        return [t for t in sorted(self.transfers.values(), key=lambda t: t.id)
                if t.kind == "pending" and t.resolution is None and t.expires_at is not None and t.expires_at <= now
                and (debit is None or t.debit == debit)]


class BankMachine(RuleBasedStateMachine):
    make_url: Any = None  # set by the per-adapter subclasses

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="bank-sm-")
        self.store = open_store(self.make_url(Path(self.tmp)))
        self.clock = ManualClock()
        self.sim = Simulator(self.store, actor="tester", tenant="t1", clock=self.clock)
        self.model = Model()

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers ------------------------------------------------------------------------------

    def ref(self, name: str, by_id: bool) -> int | str:
        account = self.model.accounts.get(name)
        if by_id:
            return account.id if account is not None else 10**9
        return name.upper() if len(name) % 2 else name.lower()

    def call(self, expected: str | None, fn, *args: Any, **kwargs: Any) -> Any:
        """Run `fn`; it must fail with `expected` (a code) or succeed when `expected` is None."""
        try:
            result = fn(*args, **kwargs)
        except DomainError as e:
            event(f"{fn.__name__}: {e.code}")
            assert expected == e.code, f"model expected {expected or 'success'}, got {e.code}: {e.message}"
            return None
        event(f"{fn.__name__}: ok")
        assert expected is None, f"model expected {expected}, but it succeeded: {result!r}"
        return result

    def record(self, t: Transfer, debit: str, credit: str, memo: str, expires_at: datetime | None = None) -> None:
        assert t.id not in self.model.transfers
        self.model.transfers[t.id] = ModelTransfer(t.id, t.kind, debit, credit, t.amount_minor, memo, t.pending_id,
                                                   expires_at)
        self.model.keys[t.idempotency_key] = t.id
        self.model.written += 1

    def replay_check(self, key: str | None, **payload: Any) -> tuple[str | None, int | None]:
        """(expected code, transfer id to be returned) when `key` was used before."""
        if key is None or key not in self.model.keys:
            return None, None
        first = self.model.transfers[self.model.keys[key]]
        seen = {k: getattr(first, k) for k in payload}
        return ("idempotency_conflict", None) if seen != payload else (None, first.id)

    # -- rules --------------------------------------------------------------------------------

    @initialize(ann=st.integers(0, 3000), ben=st.integers(0, 1000))
    def open_some_accounts(self, ann: int, ben: int) -> None:
        """Ann and Ben (with a 5.00 overdraft) have money, Cy starts empty; Dee is opened by a rule, or not."""
        self.open_account("Ann", ann, 0)
        self.open_account("Ben", ben, 500)
        self.open_account("Cy", 0, 0)

    @rule(name=st.sampled_from(NAMES), opening=st.integers(0, 3000), limit=st.sampled_from([0, 0, 500]))
    def open_account(self, name: str, opening: int, limit: int) -> None:
        m = self.model
        expected = "already_exists" if name in m.accounts else None
        account = self.call(expected, self.sim.bank.open_account, name, opening_balance=opening, overdraft_limit=limit)
        if account is None:
            return
        assert (account.balance, account.overdraft_limit, account.version) == (opening, limit, 1)
        m.accounts[name] = ModelAccount(account.id, name, limit=limit)
        if opening:
            if CASH not in m.accounts:
                m.accounts[CASH] = ModelAccount(self.sim.bank.get_account(CASH).id, CASH, system=True)
            m.move("posted", CASH, name, opening)
            m.written += 1  # its key is random: never replayed

    @rule(source=st.sampled_from(NAMES + [CASH]), dest=st.sampled_from(NAMES + [CASH]), amount=AMOUNTS,
          memo=MEMOS, key=st.none() | st.sampled_from(KEYS), pending=st.booleans(),
          timeout=TIMEOUTS, by_id=st.booleans())
    def transfer(self, source: str, dest: str, amount: Any, memo: str, key: str | None, pending: bool,
                 timeout: int | None, by_id: bool) -> None:
        m = self.model
        target = dest
        if not pending:
            timeout = None
        minor = parse_amount(amount)
        d, c = m.accounts.get(source), m.accounts.get(target)
        kind = "pending" if pending else "posted"
        replay_id = None
        if minor is None or memo not in ("", "rent", "Grüße"):
            expected: str | None = "validation"
        elif d is None:
            expected = "not_found"
        elif c is None:
            expected = "not_found"
        else:
            expected, replay_id = self.replay_check(key, kind=kind, debit=source, credit=target, amount=minor, memo=memo)
            if expected is None and replay_id is None:
                expected = self._transfer_refusal(d, c, minor)
        t = self.call(expected, self.sim.bank.transfer, self.ref(source, by_id), self.ref(target, by_id), amount,
                      idempotency_key=key, memo=memo, pending=pending, timeout_seconds=timeout)
        if t is None:
            return
        if replay_id is not None:
            assert t.id == replay_id, "a replay must return the first transfer"
            return
        assert minor is not None and d is not None and c is not None
        self._expire_for_room(d, minor)
        m.move(kind, source, target, minor)
        expires = self.clock.now() + timedelta(seconds=timeout) if timeout is not None else None
        self.record(t, source, target, memo, expires)
        assert (t.kind, t.amount_minor, t.memo, t.debit_account_id, t.credit_account_id) == (kind, minor, memo, d.id, c.id)
        assert (t.debit_balance_after, t.credit_balance_after) == (d.balance, c.balance)

    @rule(data=st.data(), amount=st.integers(1, 2500), pending=st.booleans(), timeout=TIMEOUTS,
          key=st.none() | st.sampled_from(KEYS))
    def pay(self, data: st.DataObject, amount: int, pending: bool, timeout: int | None, key: str | None) -> None:
        """A well-formed request between two existing accounts (refused only for funds, status or key)."""
        names = sorted(self.model.accounts)
        source = data.draw(st.sampled_from(names), label="source")
        dest = data.draw(st.sampled_from([n for n in names if n != source]), label="dest")
        self.transfer(source, dest, amount, "rent", key, pending, timeout, by_id=data.draw(st.booleans(), label="by_id"))

    @rule(data=st.data(), extra=st.sampled_from([0, 0, 1]))
    def spend_everything(self, data: st.DataObject, extra: int) -> None:
        """Pay exactly what an account can spend (counting reservations that are due to expire), or a
        cent more: the edge of insufficient_funds, and the release of due reservations to make room."""
        m = self.model
        now = self.clock.now()
        names = sorted(n for n, a in m.accounts.items() if not a.system and len(m.accounts) > 1)
        if not names:
            return
        source = data.draw(st.sampled_from(names), label="source")
        dest = data.draw(st.sampled_from([n for n in sorted(m.accounts) if n != source]), label="dest")
        room = m.accounts[source].available + sum(t.amount for t in m.due(now, source))
        if room + extra > 0:
            self.transfer(source, dest, room + extra, "", None, False, None, by_id=False)

    @rule()
    def wait_until_the_next_expiry(self) -> None:
        """Move the clock exactly onto the next timeout: expiry is due at, not after, that moment."""
        now = self.clock.now()
        upcoming = [t.expires_at for t in self.model.transfers.values()
                    if t.resolution is None and t.expires_at is not None and t.expires_at > now]
        if upcoming:
            self.clock.moment = min(upcoming)

    def _transfer_refusal(self, d: ModelAccount, c: ModelAccount, minor: int) -> str | None:
        if d is c:
            return "same_account"
        for account in (d, c):
            if account.status != "open":
                return f"account_{account.status}"
        if not d.can_debit(minor):
            room = sum(t.amount for t in self.model.due(self.clock.now(), d.name))
            if d.available + room < minor:
                return "insufficient_funds"
        return None

    def _expire_for_room(self, d: ModelAccount, minor: int) -> None:
        """The service releases the debit account's due reservations when they make room."""
        if not d.can_debit(minor):
            for t in self.model.due(self.clock.now(), d.name):
                self.model.settle(t, "expire", 0)

    @rule(data=st.data(), partial=st.sampled_from([None, None, "half", "over", "zero"]),
          key=st.none() | st.sampled_from(KEYS))
    def post(self, data: st.DataObject, partial: str | None, key: str | None) -> None:
        self._resolve(data, "post", partial, key)

    @rule(data=st.data(), key=st.none() | st.sampled_from(KEYS))
    def void(self, data: st.DataObject, key: str | None) -> None:
        self._resolve(data, "void", None, key)

    def _resolve(self, data: st.DataObject, kind: str, partial: str | None, key: str | None) -> None:
        m = self.model
        ids = sorted(m.transfers) + [10**9]
        open_ids = [t.id for t in m.transfers.values() if t.kind == "pending" and t.resolution is None]
        choice = st.sampled_from(ids) if not open_ids else st.sampled_from(open_ids) | st.sampled_from(ids)
        target_id = data.draw(choice, label="transfer id")
        p = m.transfers.get(target_id)
        amount: Any = None
        if kind == "post" and p is not None and partial is not None:
            amount = {"half": max(1, p.amount // 2), "over": p.amount + 1, "zero": 0}[partial]
        post_amount = (p.amount if amount is None or kind == "void" else amount) if p is not None else 0
        replay_id = None
        expired_now = False
        if p is None:
            expected: str | None = "not_found"
        elif kind == "post" and amount == 0:
            expected = "validation"
        else:
            expected, replay_id = self.replay_check(key, kind=kind, pending_id=p.id, amount=post_amount)
            if expected is None and replay_id is None:
                if p.kind != "pending":
                    expected = "not_pending"
                elif p.resolution is not None:
                    expected = {"post": "already_posted", "void": "already_voided", "expire": "expired"}[p.resolution]
                elif p.expires_at is not None and self.clock.now() >= p.expires_at:
                    expected, expired_now = "expired", True
                elif post_amount > p.amount:
                    expected = "validation"
                elif kind == "post":
                    for name in (p.debit, p.credit):
                        if m.accounts[name].status != "open":
                            expected = f"account_{m.accounts[name].status}"
                            break
        fn = self.sim.bank.post if kind == "post" else self.sim.bank.void
        args = (target_id, amount) if kind == "post" else (target_id,)
        t = self.call(expected, fn, *args, idempotency_key=key)
        if expired_now:
            assert p is not None
            m.settle(p, "expire", 0)  # the release is kept although the call was refused
            return
        if t is None:
            return
        if replay_id is not None:
            assert t.id == replay_id
            return
        assert p is not None
        m.settle(p, kind, post_amount if kind == "post" else 0)
        m.written -= 1  # record() counts it
        self.record(t, p.debit, p.credit, p.memo)
        m.transfers[t.id].pending_id = p.id
        assert (t.kind, t.pending_id, t.amount_minor) == (kind, p.id, post_amount)

    @rule(name=st.sampled_from(NAMES), freeze=st.booleans(), stale=st.sampled_from([False, False, False, True]))
    def freeze_or_unfreeze(self, name: str, freeze: bool, stale: bool) -> None:
        a = self.model.accounts.get(name)
        version = (a.version - 1 if stale else a.version) if a is not None else 1
        if a is None:
            expected: str | None = "not_found"
        elif stale:
            expected = "version_conflict"
        elif a.status == "closed":
            expected = "account_closed"
        else:
            expected = None
        fn = self.sim.bank.freeze if freeze else self.sim.bank.unfreeze
        updated = self.call(expected, fn, name, version)
        if updated is not None:
            assert a is not None
            a.status, a.version = ("frozen" if freeze else "open"), a.version + 1
            assert (updated.status, updated.version) == (a.status, a.version)

    @rule(name=st.sampled_from(NAMES))
    def close(self, name: str) -> None:
        a = self.model.accounts.get(name)
        if a is None:
            expected: str | None = "not_found"
        elif a.status == "closed":
            expected = "account_closed"
        elif a.balance or a.debits_pending or a.credits_pending:
            expected = "validation"
        else:
            expected = None
        updated = self.call(expected, self.sim.bank.close_account, name, a.version if a else 1)
        if updated is not None:
            assert a is not None
            a.status, a.version = "closed", a.version + 1

    @rule(data=st.data(), change=st.sampled_from(["same", "amount", "memo", "target"]))
    def retry_an_earlier_key(self, data: st.DataObject, change: str) -> None:
        """Send a request again under a key used before: the same request returns the first transfer,
        another one is an idempotency conflict; neither writes anything."""
        m = self.model
        keyed = sorted(k for k, tid in m.keys.items() if m.transfers[tid].kind in ("posted", "pending") and k in KEYS)
        if not keyed:
            return
        key = data.draw(st.sampled_from(keyed), label="key")
        first = m.transfers[m.keys[key]]
        target, amount, memo = first.credit, first.amount, first.memo
        if change == "amount":
            amount += 1
        elif change == "memo":
            memo = "other" if memo != "other" else ""
        elif change == "target":
            others = [n for n in m.accounts if n not in (first.debit, first.credit)]
            if not others:
                return
            target = others[0]
        before = m.written
        t = self.call(None if change == "same" else "idempotency_conflict", self.sim.bank.transfer, first.debit, target,
                      amount, idempotency_key=key, memo=memo, pending=first.kind == "pending",
                      timeout_seconds=10 if first.expires_at is not None else None)  # a timeout, or none, like the first
        if t is not None:
            assert t.id == first.id
        assert m.written == before

    @rule(seconds=st.sampled_from([10, 30, 60]))
    def advance_time(self, seconds: int) -> None:
        self.clock.moment += timedelta(seconds=seconds)

    @rule()
    def expire_due(self) -> None:
        due = self.model.due(self.clock.now())
        assert self.sim.bank.expire_due() == len(due)
        for t in due:
            self.model.settle(t, "expire", 0)

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def accounts_match_the_model(self) -> None:
        stored = {a.name: a for a in self.sim.bank.accounts()}
        assert set(stored) == set(self.model.accounts)
        for name, expected in self.model.accounts.items():
            a = stored[name]
            assert (a.id, a.status, a.version, a.overdraft_limit) == (expected.id, expected.status, expected.version,
                                                                      expected.limit), name
            assert (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending) == (
                expected.debits_posted, expected.credits_posted, expected.debits_pending, expected.credits_pending), name
            assert (a.balance, a.available) == (expected.balance, expected.available), name
            if not expected.system:
                assert a.available >= 0, f"{name} is beyond its limit"

    @invariant()
    def money_is_conserved_and_the_ledger_replays(self) -> None:
        assert sum(a.balance for a in self.sim.bank.accounts()) == 0
        report = self.sim.check()
        assert report.ok, report.problems
        assert report.checked["transfers"] == self.model.written


class MemoryBank(BankMachine):
    make_url = staticmethod(lambda tmp: "memory://")


class SqliteBank(BankMachine):
    make_url = staticmethod(lambda tmp: f"sqlite:///{tmp / 'shop.db'}")


TestMemoryBank = MemoryBank.TestCase
TestMemoryBank.settings = SETTINGS
TestSqliteBank = SqliteBank.TestCase
TestSqliteBank.settings = SETTINGS
