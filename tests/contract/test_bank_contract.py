"""The bank contract: accounts, double-entry transfers, idempotency, linked batches, two-phase
transfers, rate limiting and statements behave the same on every adapter (the `store`/`sim`
fixtures are parametrized over all of them in tests/conftest.py).

Every refusal is checked with its code and to leave the whole tenant unchanged: accounts (with
their four totals and versions), every transfer, the sum of all totals, users and audit entries.
After every test the ledger replays cleanly (`sim.check().ok`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError, all_codes
from domain.model.bank import Account, Transfer
from domain.money import MAX_MINOR
from domain.ports import Store
from domain.services.bank import RateLimit

TENANT = "t1"  # the tenant of the `sim` fixture
_ANY: Any = object()


# -- helpers ----------------------------------------------------------------------------------


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None):
        self.moment = start or datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def state(store: Store, tenant: str = TENANT) -> tuple[Any, ...]:
    """Everything the bank keeps for a tenant, read in one transaction."""
    with store.unit_of_work(tenant) as uow:
        return (
            uow.accounts.list(),
            list(uow.transfers.stream()),
            uow.accounts.totals(),
            [u.name for u in uow.users.list()],
            uow.audit.latest(100_000),
        )


def transfers(store: Store, tenant: str = TENANT) -> list[Transfer]:
    with store.unit_of_work(tenant) as uow:
        return list(uow.transfers.stream())


def audit(store: Store, tenant: str = TENANT) -> list[Any]:
    with store.unit_of_work(tenant) as uow:
        return uow.audit.latest(100_000)


def refuse(
    sim: Simulator,
    call: Callable[[], object],
    code: str,
    *,
    field: str | None = _ANY,
    tenant: str = TENANT,
) -> DomainError:
    """Assert that `call` is refused with `code`, that nothing at all changed, and that the ledger
    still replays cleanly."""
    before = state(sim.store, tenant)
    with pytest.raises(DomainError) as caught:
        call()
    err = caught.value
    assert err.code == code, f"expected {code}, got {err.code}: {err.message}"
    assert err.message, "a refusal needs a human message"
    if field is not _ANY:
        assert err.field == field, err.message
    assert state(sim.store, tenant) == before, "a refused call changed the stored state"
    report = sim.check()
    assert report.ok, report.problems
    return err


def acct(sim: Simulator, ref: int | str) -> Account:
    return sim.bank.get_account(ref)


def balances(sim: Simulator) -> dict[str, int]:
    return {a.name: a.balance for a in sim.bank.accounts()}


def total(sim: Simulator) -> int:
    return sum(a.balance for a in sim.bank.accounts())


@pytest.fixture(autouse=True)
def _ledger_replays_after_every_test(sim: Simulator):
    yield
    report = sim.check()
    assert report.ok, report.problems
    assert total(sim) == 0


@pytest.fixture
def ab(sim: Simulator) -> tuple[Account, Account]:
    """Alice with 100.00, Bob with nothing."""
    return (
        sim.bank.open_account("Alice", kind="customer", opening_balance="100.00"),
        sim.bank.open_account("Bob", kind="customer"),
    )


# -- accounts ---------------------------------------------------------------------------------


def test_an_opened_account_has_its_fields_and_its_opening_balance_comes_from_cash(sim: Simulator) -> None:
    alice = sim.bank.open_account("Alice", kind="customer", opening_balance="100.00")
    assert (alice.name, alice.kind, alice.currency, alice.balance, alice.overdraft_limit, alice.status, alice.version) == (
        "Alice", "customer", "EUR", 10_000, 0, "open", 1,
    )
    assert alice.available == 10_000
    shop = sim.bank.open_account("  Shop  ", kind="shop")
    assert (shop.name, shop.balance, shop.available) == ("Shop", 0, 0)
    supplier = sim.bank.open_account("Acme", kind="supplier", currency="USD", opening_balance=5, overdraft_limit="2.50")
    assert (supplier.currency, supplier.balance, supplier.overdraft_limit, supplier.available) == ("USD", 5, 250, 255)
    assert balances(sim) == {"Acme": 5, "Alice": 10_000, "Cash EUR": -10_000, "Cash USD": -5, "Shop": 0}
    cash = acct(sim, "cash eur")
    assert (cash.kind, cash.limited) == ("system", False)
    report = sim.check()
    assert report.ok and report.checked["accounts"] == 5 and report.checked["transfers"] == 2
    assert report.checked["cash_brought_in_minor"] == 10_005


def test_accounts_are_found_by_id_or_name_case_insensitively_and_listed_by_name(sim: Simulator, ab) -> None:
    alice, bob = ab
    assert acct(sim, alice.id) == acct(sim, "ALICE") == acct(sim, "  alice ") == alice
    assert [a.name for a in sim.bank.accounts()] == ["Alice", "Bob", "Cash EUR"]


@pytest.mark.parametrize("ref", [999_999, 0, -1, 2**63, 2**64, "Nobody", ""])
def test_an_unknown_account_is_not_found(sim: Simulator, ab, ref: object) -> None:
    refuse(sim, lambda: sim.bank.get_account(ref), "not_found")  # type: ignore[arg-type]


@pytest.mark.parametrize("ref", [None, 1.0, True, ["Alice"]])
def test_an_account_reference_must_be_an_id_or_a_name(sim: Simulator, ab, ref: object) -> None:
    refuse(sim, lambda: sim.bank.get_account(ref), "validation")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": None}, "name"),
        ({"kind": "system"}, "kind"),
        ({"kind": "bank"}, "kind"),
        ({"currency": "E1R"}, "currency"),
        ({"currency": ""}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"opening_balance": 1.5}, "opening_balance"),
        ({"opening_balance": "-1.00"}, "opening_balance"),
        ({"opening_balance": "1e3"}, "opening_balance"),
        ({"overdraft_limit": -1}, "overdraft_limit"),
        ({"overdraft_limit": float("nan")}, "overdraft_limit"),
    ],
)
def test_opening_an_account_with_bad_input_is_refused(sim: Simulator, ab, kwargs: dict[str, Any], field: str) -> None:
    args = {"name": "Carol", "kind": "customer", **kwargs}
    refuse(sim, lambda: sim.bank.open_account(**args), "validation", field=field)


@pytest.mark.parametrize("name", ["Alice", "alice", " ALICE "])
def test_an_account_name_is_taken_case_insensitively(sim: Simulator, ab, name: str) -> None:
    refuse(sim, lambda: sim.bank.open_account(name, opening_balance=5), "already_exists")


def test_account_edits_bump_the_version_and_a_stale_version_is_a_version_conflict(sim: Simulator, ab) -> None:
    alice, bob = ab
    renamed = sim.bank.rename_account(alice.id, 1, "Alice Smith")
    assert (renamed.name, renamed.version, renamed.balance) == ("Alice Smith", 2, 10_000)
    err = refuse(sim, lambda: sim.bank.rename_account(alice.id, 1, "Other"), "version_conflict")
    assert err.details["current_version"] == 2
    refuse(sim, lambda: sim.bank.set_overdraft_limit(alice.id, 1, "5.00"), "version_conflict")
    refuse(sim, lambda: sim.bank.freeze(alice.id, 1), "version_conflict")
    refuse(sim, lambda: sim.bank.close_account(bob.id, 7), "version_conflict")
    limited = sim.bank.set_overdraft_limit(alice.id, 2, "5.00")
    assert (limited.overdraft_limit, limited.version, limited.available) == (500, 3, 10_500)
    # transfers do not bump the version: a form opened before a payment can still be saved
    sim.bank.transfer(alice.id, bob.id, 1)
    assert acct(sim, alice.id).version == 3
    refuse(sim, lambda: sim.bank.rename_account(alice.id, 3, "bob"), "already_exists")
    refuse(sim, lambda: sim.bank.rename_account(alice.id, 3, ""), "validation")
    refuse(sim, lambda: sim.bank.rename_account("Nobody", 1, "X"), "not_found")


def test_an_edit_is_audited_with_before_and_after(sim: Simulator, store: Store, ab) -> None:
    alice, _ = ab
    sim.bank.rename_account(alice.id, 1, "Alicia")
    entry = audit(store)[0]
    assert (entry.entity, entry.entity_id, entry.action, entry.actor) == ("account", str(alice.id), "rename", "tester")
    assert '"Alice"' in entry.before and '"Alicia"' in entry.after


def test_the_system_cash_account_cannot_be_edited(sim: Simulator, ab) -> None:
    cash = acct(sim, "Cash EUR")
    refuse(sim, lambda: sim.bank.freeze(cash.id, cash.version), "validation")
    refuse(sim, lambda: sim.bank.rename_account(cash.id, cash.version, "Mine"), "validation")
    refuse(sim, lambda: sim.bank.close_account(cash.id, cash.version), "validation")


def test_a_limit_below_what_the_account_already_owes_is_refused(sim: Simulator, ab) -> None:
    alice, bob = ab
    bob = sim.bank.set_overdraft_limit(bob.id, 1, "50.00")
    sim.bank.transfer(bob.id, alice.id, "30.00")
    assert acct(sim, bob.id).balance == -3000
    refuse(sim, lambda: sim.bank.set_overdraft_limit(bob.id, 2, "29.99"), "insufficient_funds", field="overdraft_limit")
    assert sim.bank.set_overdraft_limit(bob.id, 2, "30.00").available == 0


def test_an_overdraft_limit_lets_an_account_go_negative_up_to_the_limit(sim: Simulator, ab) -> None:
    alice, bob = ab
    carol = sim.bank.open_account("Carol", kind="shop", overdraft_limit="20.00")
    sim.bank.transfer(carol.id, bob.id, "15.00")
    err = refuse(sim, lambda: sim.bank.transfer(carol.id, bob.id, "5.01"), "insufficient_funds", field="amount")
    assert err.details["available"] == 500
    sim.bank.transfer(carol.id, bob.id, "5.00")
    assert (acct(sim, carol.id).balance, acct(sim, carol.id).available) == (-2000, 0)


def test_freeze_unfreeze_and_close(sim: Simulator, ab) -> None:
    alice, bob = ab
    frozen = sim.bank.freeze(alice.id, 1)
    assert (frozen.status, frozen.version, frozen.balance) == ("frozen", 2, 10_000)
    refuse(sim, lambda: sim.bank.close_account(alice.id, 2), "validation", field="balance")
    thawed = sim.bank.unfreeze(alice.id, 2)
    assert (thawed.status, thawed.version) == ("open", 3)
    closed = sim.bank.close_account(bob.id, 1)
    assert (closed.status, closed.version) == ("closed", 2)
    refuse(sim, lambda: sim.bank.unfreeze(bob.id, 2), "account_closed")
    refuse(sim, lambda: sim.bank.freeze(bob.id, 2), "account_closed")
    refuse(sim, lambda: sim.bank.close_account(bob.id, 2), "account_closed")
    refuse(sim, lambda: sim.bank.rename_account(bob.id, 2, "Robert"), "account_closed")
    assert acct(sim, bob.id).status == "closed"


def test_an_account_with_money_or_reservations_cannot_be_closed(sim: Simulator, ab) -> None:
    alice, bob = ab
    refuse(sim, lambda: sim.bank.close_account(alice.id, 1), "validation", field="balance")
    overdrawn = sim.bank.open_account("Dan", overdraft_limit=100)
    sim.bank.transfer(overdrawn.id, bob.id, 1)
    refuse(sim, lambda: sim.bank.close_account(overdrawn.id, 1), "validation", field="balance")
    pending = sim.bank.transfer(alice.id, bob.id, "100.00", pending=True)
    sim.bank.transfer(bob.id, overdrawn.id, 1)
    refuse(sim, lambda: sim.bank.close_account(bob.id, 1), "validation", field="balance")  # credits pending
    sim.bank.void(pending.id)
    sim.bank.transfer(alice.id, "Cash EUR", "100.00")
    assert sim.bank.close_account(alice.id, 1).status == "closed"
    assert sim.bank.close_account(bob.id, 1).status == "closed"


# -- transfers --------------------------------------------------------------------------------


def test_a_transfer_moves_exact_money_between_two_accounts_in_one_entry(sim: Simulator, store: Store, ab) -> None:
    alice, bob = ab
    t = sim.bank.transfer("alice", "BOB", "12.50", idempotency_key="order-1", memo="hammer")
    assert (t.kind, t.debit_account_id, t.credit_account_id, t.amount_minor, t.currency) == (
        "posted", alice.id, bob.id, 1250, "EUR",
    )
    assert (t.memo, t.idempotency_key, t.actor, t.debit_balance_after, t.credit_balance_after) == (
        "hammer", "order-1", "tester", 8750, 1250,
    )
    assert sim.bank.get_transfer(t.id) == t
    assert balances(sim) == {"Alice": 8750, "Bob": 1250, "Cash EUR": -10_000}
    entry = audit(store)[0]
    assert (entry.entity, entry.entity_id, entry.action, entry.request_key) == ("transfer", str(t.id), "posted", "order-1")
    sim.bank.transfer(bob.id, alice.id, 1)
    sim.bank.transfer(alice.id, bob.id, Decimal("0.99"))
    assert balances(sim) == {"Alice": 8750 + 1 - 99, "Bob": 1250 - 1 + 99, "Cash EUR": -10_000}


def test_deposits_and_withdrawals_go_through_the_system_cash_account(sim: Simulator, ab) -> None:
    alice, bob = ab
    d = sim.bank.deposit("bob", "20.00", idempotency_key="dep-1")
    w = sim.bank.withdraw(alice.id, "30.00")
    cash = acct(sim, "Cash EUR")
    assert (d.debit_account_id, d.credit_account_id, d.memo) == (cash.id, bob.id, "deposit")
    assert (w.debit_account_id, w.credit_account_id, w.memo) == (alice.id, cash.id, "withdrawal")
    assert balances(sim) == {"Alice": 7000, "Bob": 2000, "Cash EUR": -9000}
    assert sim.bank.deposit("bob", "20.00", idempotency_key="dep-1") == d
    refuse(sim, lambda: sim.bank.withdraw(bob.id, "20.01"), "insufficient_funds")
    refuse(sim, lambda: sim.bank.deposit("bob", "20.01", idempotency_key="dep-1"), "idempotency_conflict")


def test_a_refused_first_deposit_creates_no_cash_account(sim: Simulator) -> None:
    """The Cash account is created in the same transaction as the deposit that needs it."""
    alice = sim.bank.open_account("Alice")
    refuse(sim, lambda: sim.bank.deposit(alice.id, "abc"), "validation", field="amount")
    refuse(sim, lambda: sim.bank.withdraw(alice.id, 5), "insufficient_funds")
    sim.bank.freeze(alice.id, 1)
    refuse(sim, lambda: sim.bank.deposit(alice.id, 5), "account_frozen", field="target")
    assert [a.name for a in sim.bank.accounts()] == ["Alice"]


BAD_AMOUNTS = [
    0, -1, "0", "0.00", "-0.01", "-1.00", 1.5, 100.0, float("nan"), float("inf"), "NaN", "nan", "Infinity", "1e3", "12.345",
    "1,00", "12.", ".5", "+5", "", "  ", "abc", "١٢", str(2**64), 2**63, 2**64, -(2**64), True, False, None, [1],
    Decimal("NaN"), Decimal("1.001"),
]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_a_bad_amount_is_refused_and_changes_nothing(sim: Simulator, ab, amount: object) -> None:
    alice, bob = ab
    refuse(sim, lambda: sim.bank.transfer(alice.id, bob.id, amount), "validation", field="amount")  # type: ignore[arg-type]
    refuse(sim, lambda: sim.bank.deposit(bob.id, amount), "validation", field="amount")  # type: ignore[arg-type]
    refuse(sim, lambda: sim.bank.transfer(alice.id, bob.id, amount, pending=True), "validation", field="amount")  # type: ignore[arg-type]


def test_the_largest_amount_is_exact_and_totals_never_pass_a_bigint(sim: Simulator) -> None:
    rich = sim.bank.open_account("Rich", opening_balance=str(MAX_MINOR)[:-2] + "." + str(MAX_MINOR)[-2:])
    assert rich.balance == MAX_MINOR
    poor = sim.bank.open_account("Poor")
    sim.bank.transfer(rich.id, poor.id, MAX_MINOR - 1)
    assert (acct(sim, rich.id).balance, acct(sim, poor.id).balance) == (1, MAX_MINOR - 1)
    # Cash has paid out 2**63 - 1 in total and Rich received as much: one more cent would not fit
    # a BIGINT total (SQLite would silently turn it into an inexact float)
    refuse(sim, lambda: sim.bank.deposit(poor.id, 1), "validation", field="amount")
    refuse(sim, lambda: sim.bank.open_account("More", opening_balance=1), "validation")
    refuse(sim, lambda: sim.bank.transfer(poor.id, rich.id, 1), "validation", field="amount")
    refuse(sim, lambda: sim.bank.transfer(poor.id, rich.id, 1, pending=True), "validation", field="amount")
    sim.bank.transfer(rich.id, poor.id, 1)
    assert (acct(sim, rich.id).balance, acct(sim, poor.id).balance) == (0, MAX_MINOR)
    third = sim.bank.open_account("Third")
    sim.bank.transfer(poor.id, third.id, 5)
    refuse(sim, lambda: sim.bank.transfer(third.id, poor.id, 1), "validation", field="amount")


@pytest.mark.parametrize("side", ["source", "target"])
@pytest.mark.parametrize("ref", [999_999, 2**63, 2**64, "Nobody"])
def test_an_unknown_account_in_a_transfer_is_not_found(sim: Simulator, ab, side: str, ref: object) -> None:
    alice, bob = ab
    source, target = (ref, bob.id) if side == "source" else (alice.id, ref)
    refuse(sim, lambda: sim.bank.transfer(source, target, 1), "not_found", field=side)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["frozen", "closed"])
@pytest.mark.parametrize("side", ["source", "target"])
def test_a_frozen_or_closed_account_can_neither_pay_nor_be_paid(sim: Simulator, ab, status: str, side: str) -> None:
    alice, bob = ab
    carol = sim.bank.open_account("Carol")
    if status == "frozen":
        sim.bank.freeze(carol.id, 1)
    else:
        sim.bank.close_account(carol.id, 1)
    code = f"account_{status}"
    if side == "source":
        refuse(sim, lambda: sim.bank.transfer(carol.id, bob.id, 1), code, field="source")
        refuse(sim, lambda: sim.bank.withdraw(carol.id, 1), code, field="source")
        refuse(sim, lambda: sim.bank.transfer(carol.id, bob.id, 1, pending=True), code, field="source")
    else:
        refuse(sim, lambda: sim.bank.transfer(alice.id, carol.id, 1), code, field="target")
        refuse(sim, lambda: sim.bank.deposit(carol.id, 1), code, field="target")
        refuse(sim, lambda: sim.bank.transfer(alice.id, "carol", 1, pending=True), code, field="target")


def test_an_account_cannot_pay_itself(sim: Simulator, ab) -> None:
    alice, _ = ab
    refuse(sim, lambda: sim.bank.transfer(alice.id, alice.id, 1), "same_account", field="target")
    refuse(sim, lambda: sim.bank.transfer(alice.id, "ALICE", 1), "same_account", field="target")
    refuse(sim, lambda: sim.bank.transfer("Cash EUR", "cash eur", 1, pending=True), "same_account")


def test_money_does_not_cross_currencies(sim: Simulator, ab) -> None:
    alice, _ = ab
    dollars = sim.bank.open_account("Dollars", currency="USD", opening_balance=100)
    refuse(sim, lambda: sim.bank.transfer(alice.id, dollars.id, 1), "currency_mismatch", field="target")
    refuse(sim, lambda: sim.bank.transfer(dollars.id, alice.id, 1), "currency_mismatch", field="target")
    refuse(sim, lambda: sim.bank.transfer(dollars.id, "Cash EUR", 1), "currency_mismatch")
    assert sim.bank.withdraw(dollars.id, 100).credit_account_id == acct(sim, "Cash USD").id


def test_a_transfer_beyond_the_balance_is_refused(sim: Simulator, ab) -> None:
    alice, bob = ab
    err = refuse(sim, lambda: sim.bank.transfer(alice.id, bob.id, "100.01"), "insufficient_funds", field="amount")
    assert err.details["available"] == 10_000
    refuse(sim, lambda: sim.bank.transfer(bob.id, alice.id, 1), "insufficient_funds")
    sim.bank.transfer(alice.id, bob.id, "100.00")
    assert (acct(sim, alice.id).balance, acct(sim, alice.id).available) == (0, 0)


@pytest.mark.parametrize(
    "memo", ["x" * 10_000, "x" * 501, "a\x00b", "line\nbreak", "tab\there", "bell\x07", "del\x7f", "\x1b[31mred", None, 5],
    ids=lambda m: repr(m)[:20],
)
def test_a_bad_memo_is_refused(sim: Simulator, ab, memo: object) -> None:
    alice, bob = ab
    refuse(sim, lambda: sim.bank.transfer(alice.id, bob.id, 1, memo=memo), "validation", field="memo")  # type: ignore[arg-type]
    refuse(sim, lambda: sim.bank.deposit(bob.id, 1, memo=memo), "validation", field="memo")  # type: ignore[arg-type]


def test_a_memo_may_hold_any_printable_text_up_to_500_characters(sim: Simulator, ab) -> None:
    alice, bob = ab
    for memo in ["x" * 500, "Grüße — 日本 💶", "Robert'); DROP TABLE transfers;--", ""]:
        assert sim.bank.transfer(alice.id, bob.id, 1, memo=memo).memo == memo
    assert sim.bank.statement(bob.id)[1].memo == "Robert'); DROP TABLE transfers;--"


@pytest.mark.parametrize("key", ["", "a b", "x" * 201, "ключ", "tab\tkey", 5, 5.0], ids=repr)
def test_a_bad_idempotency_key_is_refused(sim: Simulator, ab, key: object) -> None:
    alice, bob = ab
    refuse(sim, lambda: sim.bank.transfer(alice.id, bob.id, 1, idempotency_key=key), "validation",  # type: ignore[arg-type]
           field="idempotency_key")


@pytest.mark.parametrize(("pending", "timeout"), [(False, 60), (True, 0), (True, -1), (True, 366 * 24 * 3600 + 1),
                                                   (True, 1.5), (True, True), (True, "60"), ("yes", None), (1, None)])
def test_bad_two_phase_options_are_refused(sim: Simulator, ab, pending: object, timeout: object) -> None:
    alice, bob = ab
    refuse(sim, lambda: sim.bank.transfer(alice.id, bob.id, 1, pending=pending, timeout_seconds=timeout),  # type: ignore[arg-type]
           "validation")


# -- idempotency ------------------------------------------------------------------------------


def test_the_same_key_and_request_returns_the_first_transfer_and_writes_nothing(sim: Simulator, ab) -> None:
    alice, bob = ab
    first = sim.bank.transfer(alice.id, bob.id, "10.00", idempotency_key="k-1", memo="rent")
    before = state(sim.store)
    # the same request in any spelling: names for ids, minor units for a decimal string
    assert sim.bank.transfer(alice.id, bob.id, "10.00", idempotency_key="k-1", memo="rent") == first
    assert sim.bank.transfer("ALICE", "bob", 1000, idempotency_key="k-1", memo="rent") == first
    assert state(sim.store) == before
    assert balances(sim)["Bob"] == 1000
    # a replay is answered even when the request could not be made again today
    sim.bank.freeze(alice.id, 1)
    after_freeze = state(sim.store)
    assert sim.bank.transfer(alice.id, bob.id, "10.00", idempotency_key="k-1", memo="rent") == first
    assert state(sim.store) == after_freeze


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"amount": "10.01"}, "amount_minor"),
        ({"target": "Carol"}, "credit_account_id"),
        ({"source": "Carol", "target": "Bob"}, "debit_account_id"),
        ({"memo": "other"}, "memo"),
        ({"memo": ""}, "memo"),
        ({"pending": True}, "kind"),
    ],
)
def test_the_same_key_with_another_request_is_an_idempotency_conflict(
    sim: Simulator, ab, change: dict[str, Any], differs: str,
) -> None:
    alice, bob = ab
    sim.bank.open_account("Carol", opening_balance=5000)
    first = sim.bank.transfer(alice.id, bob.id, "10.00", idempotency_key="k-1", memo="rent")
    request = {"source": "Alice", "target": "Bob", "amount": "10.00", "memo": "rent", **change}
    source, target, amount = request.pop("source"), request.pop("target"), request.pop("amount")
    err = refuse(sim, lambda: sim.bank.transfer(source, target, amount, idempotency_key="k-1", **request),
                 "idempotency_conflict", field="idempotency_key")
    assert err.details["transfer_id"] == first.id
    assert differs in err.message
    # a linked batch reusing the key is refused as a whole, naming the item
    err = refuse(sim, lambda: sim.bank.transfer_batch([
        {"source": "Alice", "target": "Bob", "amount": 1},
        {"source": source, "target": target, "amount": amount, "idempotency_key": "k-1", **request},
    ]), "idempotency_conflict")
    assert err.message.startswith("item 1:") and err.details["index"] == 1


def test_a_key_is_one_request_across_transfers_deposits_posts_and_voids(sim: Simulator, ab) -> None:
    alice, bob = ab
    t = sim.bank.transfer(alice.id, bob.id, 100, idempotency_key="shared")
    p = sim.bank.transfer(alice.id, bob.id, 100, pending=True, idempotency_key="p-1")
    refuse(sim, lambda: sim.bank.deposit(bob.id, 100, idempotency_key="shared"), "idempotency_conflict")
    refuse(sim, lambda: sim.bank.post(p.id, idempotency_key="shared"), "idempotency_conflict")
    refuse(sim, lambda: sim.bank.void(p.id, idempotency_key="p-1"), "idempotency_conflict")
    posted = sim.bank.post(p.id, 40, idempotency_key="post-1")
    assert sim.bank.post(p.id, 40, idempotency_key="post-1") == posted  # a retried post is answered, not refused
    refuse(sim, lambda: sim.bank.post(p.id, 41, idempotency_key="post-1"), "idempotency_conflict")
    refuse(sim, lambda: sim.bank.void(p.id, idempotency_key="post-1"), "idempotency_conflict")
    assert sim.bank.get_transfer(t.id) == t


def test_a_retry_does_not_count_against_the_rate_limit(sim: Simulator, store: Store) -> None:
    clock = ManualClock()
    limited = Simulator(store, actor="tester", tenant=TENANT, clock=clock, rate_limit=RateLimit(3, 60))
    alice = limited.bank.open_account("Alice", opening_balance=100)  # the opening deposit is transfer 1
    bob = limited.bank.open_account("Bob")
    first = limited.bank.transfer(alice.id, bob.id, 1, idempotency_key="r-1")
    limited.bank.transfer(alice.id, bob.id, 1)
    for _ in range(5):
        assert limited.bank.transfer(alice.id, bob.id, 1, idempotency_key="r-1") == first
    refuse(limited, lambda: limited.bank.transfer(alice.id, bob.id, 1), "rate_limited")


# -- linked batches ---------------------------------------------------------------------------


def test_a_linked_batch_applies_every_item_in_order_in_one_transaction(sim: Simulator, ab) -> None:
    alice, bob = ab
    carol = sim.bank.open_account("Carol")
    done = sim.bank.transfer_batch([
        {"source": "Alice", "target": "Bob", "amount": "60.00", "idempotency_key": "b-1", "memo": "one"},
        {"source": bob.id, "target": carol.id, "amount": 6000},  # spends what item 0 brought in
        {"source": "Carol", "target": "Alice", "amount": "10.00", "pending": True, "timeout_seconds": 60},
    ])
    assert [t.kind for t in done] == ["posted", "posted", "pending"]
    assert [t.id for t in done] == sorted(t.id for t in done)
    assert balances(sim) == {"Alice": 4000, "Bob": 0, "Carol": 6000, "Cash EUR": -10_000}
    assert acct(sim, carol.id).available == 5000
    assert sim.bank.transfer_batch([]) == []
    # retrying the batch with the same keys returns the first transfer for the keyed item
    again = sim.bank.transfer_batch([{"source": "Alice", "target": "Bob", "amount": "60.00", "idempotency_key": "b-1",
                                      "memo": "one"}])
    assert again == [done[0]]


BAD_THIRD_ITEMS = [
    ({"source": "Alice", "target": "Bob", "amount": 1.5}, "validation"),
    ({"source": "Alice", "target": "Bob", "amount": "12.345"}, "validation"),
    ({"source": "Alice", "target": "Bob", "amount": 0}, "validation"),
    ({"source": "Alice", "target": "Bob", "amount": 1, "memo": "a\nb"}, "validation"),
    ({"source": "Alice", "target": "Bob"}, "validation"),
    ({"source": "Alice", "target": "Bob", "amount": 1, "colour": "red"}, "validation"),
    ("not a mapping", "validation"),
    (None, "validation"),
    ({"source": "Nobody", "target": "Bob", "amount": 1}, "not_found"),
    ({"source": "Alice", "target": 2**64, "amount": 1}, "not_found"),
    ({"source": "Alice", "target": "alice", "amount": 1}, "same_account"),
    ({"source": "Alice", "target": "Frozen", "amount": 1}, "account_frozen"),
    ({"source": "Alice", "target": "Dollars", "amount": 1}, "currency_mismatch"),
    ({"source": "Bob", "target": "Alice", "amount": "30.01"}, "insufficient_funds"),  # Bob holds 30.00 by then
    ({"source": "Alice", "target": "Bob", "amount": 1, "idempotency_key": "taken"}, "idempotency_conflict"),
]


@pytest.mark.parametrize(("item", "code"), BAD_THIRD_ITEMS, ids=[c + "-" + repr(i)[:40] for i, c in BAD_THIRD_ITEMS])
def test_a_batch_with_a_bad_third_item_writes_nothing_and_names_the_item(sim: Simulator, ab, item: Any, code: str) -> None:
    alice, bob = ab
    frozen = sim.bank.open_account("Frozen")
    sim.bank.freeze(frozen.id, 1)
    sim.bank.open_account("Dollars", currency="USD")
    sim.bank.transfer(alice.id, bob.id, 5, idempotency_key="taken")
    sim.bank.transfer(bob.id, alice.id, 5)
    items = [
        {"source": "Alice", "target": "Bob", "amount": "20.00", "idempotency_key": "batch-0"},
        {"source": "Alice", "target": "Bob", "amount": "10.00"},
        item,
        {"source": "Alice", "target": "Bob", "amount": 1},
    ]
    err = refuse(sim, lambda: sim.bank.transfer_batch(items), code)
    assert err.message.startswith("item 2:"), err.message
    assert err.details["index"] == 2
    assert sim.bank.transfer(alice.id, bob.id, "20.00", idempotency_key="batch-0").amount_minor == 2000  # key is free


# -- two-phase transfers ----------------------------------------------------------------------


def test_a_pending_transfer_reserves_funds_that_count_against_available(sim: Simulator, ab) -> None:
    alice, bob = ab
    p = sim.bank.transfer(alice.id, bob.id, "60.00", pending=True, memo="hold")
    assert (p.kind, p.pending_id, p.expires_at, p.debit_balance_after, p.credit_balance_after) == (
        "pending", None, None, 10_000, 0,
    )
    a, b = acct(sim, alice.id), acct(sim, bob.id)
    assert (a.balance, a.available, a.debits_pending, b.balance, b.available, b.credits_pending) == (
        10_000, 4000, 6000, 0, 0, 6000,
    )
    err = refuse(sim, lambda: sim.bank.transfer(alice.id, bob.id, "40.01"), "insufficient_funds")
    assert err.details["available"] == 4000
    refuse(sim, lambda: sim.bank.transfer(alice.id, bob.id, "40.01", pending=True), "insufficient_funds")
    refuse(sim, lambda: sim.bank.transfer(bob.id, alice.id, 1), "insufficient_funds")  # pending credits are not money yet
    assert sim.bank.pending_transfers() == [p]
    line = sim.bank.statement(alice.id)[0]
    assert (line.transfer_id, line.kind, line.amount_minor, line.balance_after, line.pending) == (p.id, "pending", -6000, 10_000, True)


def test_posting_in_full_moves_the_reserved_funds(sim: Simulator, store: Store, ab) -> None:
    alice, bob = ab
    p = sim.bank.transfer(alice.id, bob.id, "60.00", pending=True)
    posted = sim.bank.post(p.id)
    assert (posted.kind, posted.pending_id, posted.amount_minor, posted.debit_balance_after, posted.credit_balance_after) == (
        "post", p.id, 6000, 4000, 6000,
    )
    a, b = acct(sim, alice.id), acct(sim, bob.id)
    assert (a.balance, a.available, a.debits_pending, b.balance, b.credits_pending) == (4000, 4000, 0, 6000, 0)
    assert sim.bank.pending_transfers() == []
    assert audit(store)[0].action == "post"


def test_posting_in_part_moves_that_much_and_releases_the_rest(sim: Simulator, ab) -> None:
    alice, bob = ab
    p = sim.bank.transfer(alice.id, bob.id, "60.00", pending=True)
    refuse(sim, lambda: sim.bank.post(p.id, "60.01"), "validation", field="amount")
    refuse(sim, lambda: sim.bank.post(p.id, 0), "validation", field="amount")
    refuse(sim, lambda: sim.bank.post(p.id, 1.5), "validation", field="amount")
    refuse(sim, lambda: sim.bank.post(p.id, "12.345"), "validation", field="amount")
    posted = sim.bank.post(p.id, "25.00")
    assert posted.amount_minor == 2500
    a, b = acct(sim, alice.id), acct(sim, bob.id)
    assert (a.balance, a.available, a.debits_pending, b.balance, b.credits_pending) == (7500, 7500, 0, 2500, 0)


def test_voiding_releases_the_reserved_funds(sim: Simulator, ab) -> None:
    alice, bob = ab
    p = sim.bank.transfer(alice.id, bob.id, "60.00", pending=True)
    voided = sim.bank.void(p.id)
    assert (voided.kind, voided.pending_id, voided.amount_minor) == ("void", p.id, 6000)
    a, b = acct(sim, alice.id), acct(sim, bob.id)
    assert (a.balance, a.available, a.debits_pending, b.balance, b.credits_pending) == (10_000, 10_000, 0, 0, 0)
    assert [line.kind for line in sim.bank.statement(alice.id)] == ["void", "pending", "posted"]


def test_a_pending_transfer_is_resolved_once(sim: Simulator, ab) -> None:
    alice, bob = ab
    p1 = sim.bank.transfer(alice.id, bob.id, 100, pending=True)
    p2 = sim.bank.transfer(alice.id, bob.id, 100, pending=True)
    sim.bank.post(p1.id, 50)
    sim.bank.void(p2.id)
    refuse(sim, lambda: sim.bank.post(p1.id), "already_posted")
    refuse(sim, lambda: sim.bank.post(p1.id, 10), "already_posted")
    refuse(sim, lambda: sim.bank.void(p1.id), "already_posted")
    refuse(sim, lambda: sim.bank.post(p2.id), "already_voided")
    refuse(sim, lambda: sim.bank.void(p2.id), "already_voided")


def test_only_a_pending_transfer_can_be_posted_or_voided(sim: Simulator, ab) -> None:
    alice, bob = ab
    plain = sim.bank.transfer(alice.id, bob.id, 100)
    p = sim.bank.transfer(alice.id, bob.id, 100, pending=True)
    post = sim.bank.post(p.id)
    for target in (plain.id, post.id):
        refuse(sim, lambda: sim.bank.post(target), "not_pending")
        refuse(sim, lambda: sim.bank.void(target), "not_pending")
    for missing in (999_999, 0, -1, 2**64, "1", None, True):
        refuse(sim, lambda: sim.bank.post(missing), "not_found")  # type: ignore[arg-type]
        refuse(sim, lambda: sim.bank.void(missing), "not_found")  # type: ignore[arg-type]
        refuse(sim, lambda: sim.bank.get_transfer(missing), "not_found")  # type: ignore[arg-type]


def test_posting_to_a_frozen_account_is_refused_but_voiding_is_allowed(sim: Simulator, ab) -> None:
    alice, bob = ab
    p = sim.bank.transfer(alice.id, bob.id, 100, pending=True)
    sim.bank.freeze(bob.id, 1)
    refuse(sim, lambda: sim.bank.post(p.id), "account_frozen")
    sim.bank.unfreeze(bob.id, 2)
    sim.bank.freeze(alice.id, 1)
    refuse(sim, lambda: sim.bank.post(p.id, 50), "account_frozen")
    assert sim.bank.void(p.id).kind == "void"
    assert acct(sim, alice.id).available == 10_000


def test_a_pending_transfer_expires_after_its_timeout_and_the_release_is_kept(sim: Simulator, store: Store, ab) -> None:
    alice, bob = ab
    clock = ManualClock()
    timed = Simulator(store, actor="tester", tenant=TENANT, clock=clock)
    p = timed.bank.transfer(alice.id, bob.id, "60.00", pending=True, timeout_seconds=60)
    assert p.expires_at == "2026-01-01T09:01:00.000000Z"
    clock.advance(59)
    assert acct(timed, alice.id).available == 4000
    assert timed.bank.pending_transfers() == [p]
    clock.advance(1)
    before = state(store)
    with pytest.raises(DomainError) as caught:
        timed.bank.post(p.id, 100)
    assert caught.value.code == "expired"
    released = state(store)
    assert released != before, "the release must be kept even though the post was refused"
    a, b = acct(timed, alice.id), acct(timed, bob.id)
    assert (a.balance, a.available, a.debits_pending, b.balance, b.credits_pending) == (10_000, 10_000, 0, 0, 0)
    expire = transfers(store)[-1]
    assert (expire.kind, expire.pending_id, expire.amount_minor) == ("expire", p.id, 6000)
    assert audit(store)[0].action == "expire"
    assert timed.check().ok
    # resolved for good: later posts and voids are `expired` and change nothing more
    refuse(timed, lambda: timed.bank.post(p.id), "expired")
    refuse(timed, lambda: timed.bank.void(p.id), "expired")
    assert timed.bank.pending_transfers() == []


def test_expire_due_releases_every_pending_transfer_past_its_timeout(sim: Simulator, store: Store, ab) -> None:
    alice, bob = ab
    clock = FixedClock(step=timedelta(minutes=10))  # every reading is ten minutes later
    timed = Simulator(store, actor="tester", tenant=TENANT, clock=clock)
    short = timed.bank.transfer(alice.id, bob.id, 100, pending=True, timeout_seconds=1)
    forever = timed.bank.transfer(alice.id, bob.id, 100, pending=True)
    long = timed.bank.transfer(alice.id, bob.id, 100, pending=True, timeout_seconds=366 * 24 * 3600)
    assert timed.bank.expire_due() == 1
    assert timed.bank.expire_due() == 0
    assert [t.id for t in timed.bank.pending_transfers()] == [forever.id, long.id]
    refuse(timed, lambda: timed.bank.void(short.id), "expired")
    assert acct(timed, alice.id).debits_pending == 200


def test_an_expired_reservation_makes_room_for_a_new_transfer(sim: Simulator, store: Store, ab) -> None:
    alice, bob = ab
    clock = ManualClock()
    timed = Simulator(store, actor="tester", tenant=TENANT, clock=clock)
    p = timed.bank.transfer(alice.id, bob.id, "100.00", pending=True, timeout_seconds=30)
    refuse(timed, lambda: timed.bank.transfer(alice.id, bob.id, 1), "insufficient_funds")
    clock.advance(30)
    assert timed.bank.transfer(alice.id, bob.id, "100.00").amount_minor == 10_000
    assert sim.bank.get_transfer(p.id).kind == "pending"
    assert [t.kind for t in transfers(store)][-2:] == ["expire", "posted"]


def test_a_client_key_cannot_take_the_key_an_expiry_will_use(sim: Simulator, store: Store, ab) -> None:
    """Regression: expiries used to be keyed "expire:<id>", a key any client could send first; the
    pending transfer then could never expire and pending_transfers() failed with already_exists."""
    alice, bob = ab
    clock = ManualClock()
    timed = Simulator(store, actor="tester", tenant=TENANT, clock=clock)
    p = timed.bank.transfer(alice.id, bob.id, 100, pending=True, timeout_seconds=5)
    for key in (f"expire:{p.id}", f"expire-{p.id}", f"expire_{p.id}"):
        timed.bank.transfer(alice.id, bob.id, 1, idempotency_key=key)
    clock.advance(5)
    assert timed.bank.pending_transfers() == []
    refuse(timed, lambda: timed.bank.post(p.id), "expired")


# -- rate limiting ----------------------------------------------------------------------------


def test_transfers_per_actor_are_rate_limited_in_a_rolling_window_counted_in_the_store(sim: Simulator, store: Store) -> None:
    clock = ManualClock()
    limit = RateLimit(max_transfers=4, window_seconds=60)
    alice_sim = Simulator(store, actor="alice", tenant=TENANT, clock=clock, rate_limit=limit)
    a = alice_sim.bank.open_account("A", opening_balance=1000)  # 1
    b = alice_sim.bank.open_account("B")
    alice_sim.bank.transfer(a.id, b.id, 1)  # 2
    clock.advance(30)
    alice_sim.bank.transfer(a.id, b.id, 1)  # 3
    alice_sim.bank.deposit(b.id, 1)  # 4
    err = refuse(alice_sim, lambda: alice_sim.bank.transfer(a.id, b.id, 1), "rate_limited")
    assert "60" in err.message
    refuse(alice_sim, lambda: alice_sim.bank.transfer(a.id, b.id, 1, pending=True), "rate_limited")
    refuse(alice_sim, lambda: alice_sim.bank.deposit(b.id, 1), "rate_limited")
    refuse(alice_sim, lambda: alice_sim.bank.transfer_batch([{"source": "A", "target": "B", "amount": 1}]), "rate_limited")
    # counted in the store, not in the service object: a new session of the same actor is limited too
    again = Simulator(store, actor="alice", tenant=TENANT, clock=clock, rate_limit=limit)
    refuse(again, lambda: again.bank.transfer(a.id, b.id, 1), "rate_limited")
    # per actor
    bob_sim = Simulator(store, actor="bob", tenant=TENANT, clock=clock, rate_limit=limit)
    bob_sim.bank.transfer(a.id, b.id, 1)
    # rolling: once the first two are more than 60 s old there is room for two more
    clock.advance(31)
    alice_sim.bank.transfer(a.id, b.id, 1)
    alice_sim.bank.transfer(a.id, b.id, 1)
    refuse(alice_sim, lambda: alice_sim.bank.transfer(a.id, b.id, 1), "rate_limited")


def test_a_batch_larger_than_the_rate_limit_is_refused_whole(sim: Simulator, store: Store) -> None:
    clock = ManualClock()
    limited = Simulator(store, actor="alice", tenant=TENANT, clock=clock, rate_limit=RateLimit(3, 60))
    clock.advance(-3600)
    a = limited.bank.open_account("A", opening_balance=1000)
    b = limited.bank.open_account("B")
    clock.advance(3600)
    item = {"source": "A", "target": "B", "amount": 1}
    err = refuse(limited, lambda: limited.bank.transfer_batch([item] * 4), "rate_limited")
    assert err.details["index"] == 3 and err.message.startswith("item 3:")
    assert len(limited.bank.transfer_batch([item] * 3)) == 3
    assert acct(limited, b.id).balance == 3 and acct(limited, a.id).balance == 997


# -- statements -------------------------------------------------------------------------------


def test_a_statement_is_newest_first_with_the_balance_after_each_line_in_keyset_pages(sim: Simulator, ab) -> None:
    alice, bob = ab
    for i in range(1, 24):
        if i % 3 == 0:
            sim.bank.transfer(bob.id, alice.id, i, memo=f"back {i}")
        else:
            sim.bank.transfer(alice.id, bob.id, i * 10, memo=f"pay {i}")
    p = sim.bank.transfer(alice.id, bob.id, 5, pending=True)
    sim.bank.void(p.id)
    sim.bank.transfer(sim.bank.open_account("Carol", opening_balance=1).id, alice.id, 1, memo="from carol")
    full = sim.bank.statement(alice.id, limit=10_000)
    assert [line.transfer_id for line in full] == sorted((line.transfer_id for line in full), reverse=True)
    assert full[0].balance_after == acct(sim, alice.id).balance
    assert (full[0].counterparty, full[0].memo, full[0].amount_minor) == ("Carol", "from carol", 1)
    assert (full[-1].counterparty, full[-1].memo, full[-1].amount_minor) == ("Cash EUR", "opening balance", 10_000)
    # replay from the oldest line: each balance_after is the running sum of the lines that move money
    running = 0
    for line in reversed(full):
        if line.kind in ("posted", "post"):
            running += line.amount_minor
        assert line.balance_after == running, line
    assert running == acct(sim, alice.id).balance
    pages, before = [], None
    while page := sim.bank.statement("alice", before_id=before, limit=4):
        assert len(page) <= 4
        pages.append(page)
        before = page[-1].transfer_id
    assert [line for page in pages for line in page] == full
    assert sim.bank.statement(alice.id, before_id=full[-1].transfer_id) == []
    assert sim.bank.statement(alice.id, before_id=2**64, limit=3) == full[:3]
    bob_lines = sim.bank.statement(bob.id)
    assert all(line.counterparty == "Alice" for line in bob_lines)
    assert bob_lines[0].balance_after == acct(sim, bob.id).balance


def test_statement_arguments_are_checked(sim: Simulator, ab) -> None:
    alice, _ = ab
    refuse(sim, lambda: sim.bank.statement(alice.id, limit=0), "validation", field="limit")
    refuse(sim, lambda: sim.bank.statement(alice.id, limit=10_001), "validation", field="limit")
    refuse(sim, lambda: sim.bank.statement(alice.id, before_id="5"), "validation", field="before_id")  # type: ignore[arg-type]
    refuse(sim, lambda: sim.bank.statement("Nobody"), "not_found")
    refuse(sim, lambda: sim.bank.statement(2**64), "not_found")


def busy_account(sim: Simulator, alice: Account, bob: Account, n: int = 23) -> list[int]:
    """Alice's statement with lines of every kind (in and out, pending, void); her transfer ids,
    newest first."""
    for i in range(1, n + 1):
        if i % 3 == 0:
            sim.bank.transfer(bob.id, alice.id, i, memo=f"back {i}")
        else:
            sim.bank.transfer(alice.id, bob.id, i * 10, memo=f"pay {i}")
        if i % 7 == 0:
            sim.bank.void(sim.bank.transfer(alice.id, bob.id, 5, pending=True).id)
    return [line.transfer_id for line in sim.bank.statement(alice.id, limit=10_000)]


def statement_backward(sim: Simulator, ref: int | str, limit: int, include_archive: bool = False) -> list[list[Any]]:
    """What a virtual table does after jumping to the end: the oldest page, then each page of the
    lines newer than the newest one it has, until an empty page; in list order (newest first)."""
    pages: list[list[Any]] = []
    page = sim.bank.statement(ref, None, limit, include_archive, backward=True)
    while page:
        assert len(page) <= limit
        pages.insert(0, page)
        page = sim.bank.statement(ref, page[0].transfer_id, limit, include_archive, backward=True)
        assert len(pages) < 1000, "paging never ends"
    return pages


@pytest.mark.parametrize("size", [1, 4, 10])
def test_a_statement_walked_backward_from_the_oldest_page_is_the_forward_order(sim: Simulator, ab, size: int) -> None:
    alice, bob = ab
    forward = busy_account(sim, alice, bob)
    full = sim.bank.statement(alice.id, limit=10_000)
    pages = statement_backward(sim, "alice", size)
    assert [line for page in pages for line in page] == full  # whole lines, balances included
    assert [line.transfer_id for line in pages[-1]] == forward[-size:]
    assert all(len(p) == size for p in pages[1:])
    middle = forward[len(forward) // 2]
    assert [line.transfer_id for line in sim.bank.statement(alice.id, middle, 3, backward=True)] == [
        i for i in forward if i > middle][-3:]
    assert sim.bank.statement(alice.id, forward[0], 3, backward=True) == []  # nothing newer than the newest
    assert sim.bank.statement(alice.id, 2**64, 3, backward=True) == []
    assert sim.bank.statement(alice.id, 0, 3, backward=True) == full[-3:]  # everything is newer than 0
    assert sim.bank.statement(alice.id, 0, 3) == []
    bob_forward = [line.transfer_id for line in sim.bank.statement(bob.id, limit=10_000)]
    assert [i.transfer_id for p in statement_backward(sim, bob.id, size) for i in p] == bob_forward


@pytest.mark.parametrize("skip", [0, 1, 5, 17, 100])
def test_statement_skip_jumps_by_offset_both_ways_and_the_count_is_the_number_of_lines(sim: Simulator, ab, skip: int) -> None:
    alice, bob = ab
    forward = busy_account(sim, alice, bob)
    assert sim.bank.count_statement(alice.id) == len(forward) == sim.bank.count_statement("ALICE")
    assert sim.bank.count_statement(bob.id) == len(sim.bank.statement(bob.id, limit=10_000))
    assert [line.transfer_id for line in sim.bank.statement(alice.id, None, 4, skip=skip)] == forward[skip:skip + 4]
    end = max(len(forward) - skip, 0)
    assert [line.transfer_id for line in sim.bank.statement(alice.id, None, 4, backward=True, skip=skip)] == \
        forward[max(end - 4, 0):end]
    cursor = forward[2]  # counted from the cursor, in the direction of travel
    assert [line.transfer_id for line in sim.bank.statement(alice.id, cursor, 4, skip=skip)] == forward[3 + skip:7 + skip]
    cursor = forward[-3]
    end = max(len(forward) - 3 - skip, 0)
    assert [line.transfer_id for line in sim.bank.statement(alice.id, cursor, 4, backward=True, skip=skip)] == \
        forward[max(end - 4, 0):end]
    assert sim.bank.count_statement(sim.bank.open_account("Dora").id) == 0


def test_statement_paging_both_ways_skip_and_count_cross_the_archive(sim: Simulator, ab) -> None:
    alice, bob = ab
    busy_account(sim, alice, bob, 12)
    archived = sim.lifecycle.archive(sim.ctx.now()[:19])
    assert archived.transfers > 5
    busy_account(sim, alice, bob, 9)
    live = [line.transfer_id for line in sim.bank.statement(alice.id, limit=10_000)]
    every = [line.transfer_id for line in sim.bank.statement(alice.id, limit=10_000, include_archive=True)]
    assert 0 < len(live) < len(every) and every[:len(live)] == live
    assert sim.bank.count_statement(alice.id) == len(live)
    assert sim.bank.count_statement(alice.id, include_archive=True) == len(every)
    assert [i.transfer_id for p in statement_backward(sim, alice.id, 4, True) for i in p] == every
    assert [i.transfer_id for p in statement_backward(sim, alice.id, 4) for i in p] == live
    for skip in (0, 3, len(live) - 1, len(live) + 2, len(every)):
        assert [line.transfer_id for line in sim.bank.statement(alice.id, None, 4, True, skip=skip)] == every[skip:skip + 4]
        end = max(len(every) - skip, 0)
        assert [line.transfer_id for line in sim.bank.statement(alice.id, None, 4, True, backward=True, skip=skip)] == \
            every[max(end - 4, 0):end]


def test_a_bad_statement_skip_is_refused(sim: Simulator, ab) -> None:
    alice, _ = ab
    for skip in (-1, 1.5, True, "3", None):
        for backward in (False, True):
            refuse(sim, lambda: sim.bank.statement(alice.id, None, 3, skip=skip, backward=backward),  # type: ignore[arg-type]
                   "validation", field="skip")
    refuse(sim, lambda: sim.bank.count_statement("Nobody"), "not_found")


# -- tenants and codes ------------------------------------------------------------------------


def test_nothing_crosses_tenants(sim: Simulator, store: Store, ab) -> None:
    alice, bob = ab
    t = sim.bank.transfer(alice.id, bob.id, 100, idempotency_key="same-key")
    other = Simulator(store, actor="tester", tenant="t2", clock=FixedClock())
    assert other.bank.accounts() == []
    refuse(other, lambda: other.bank.get_account(alice.id), "not_found", tenant="t2")
    refuse(other, lambda: other.bank.get_account("Alice"), "not_found", tenant="t2")
    refuse(other, lambda: other.bank.post(t.id), "not_found", tenant="t2")
    x = other.bank.open_account("Alice", opening_balance=5)
    y = other.bank.open_account("Bob")
    own = other.bank.transfer(x.id, y.id, 5, idempotency_key="same-key")  # keys are per tenant
    assert own.id != t.id and other.check().ok
    assert balances(sim) == {"Alice": 9900, "Bob": 100, "Cash EUR": -10_000}


def test_every_bank_error_code_is_defined() -> None:
    codes = set(all_codes())
    assert {
        "validation", "not_found", "same_account", "insufficient_funds", "account_closed", "account_frozen",
        "currency_mismatch", "idempotency_conflict", "version_conflict", "rate_limited", "busy", "not_pending",
        "already_posted", "already_voided", "expired",
    } <= codes


# -- follow-ups ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Cash EUR", "cash usd", " CASH GBP "])
def test_system_cash_account_names_are_reserved(sim: Simulator, ab, name: str) -> None:
    refuse(sim, lambda: sim.bank.open_account(name), "validation", field="name")
    a = acct(sim, ab[0].id)
    refuse(sim, lambda: sim.bank.rename_account(a.id, a.version, name), "validation", field="name")
    assert sim.bank.deposit(a.id, "1.00").amount_minor == 100  # deposits still find the real Cash account


@pytest.mark.parametrize("currency", ["eß", "ＥＵＲ", "€"])
def test_a_currency_must_be_three_ascii_letters(sim: Simulator, currency: str) -> None:
    refuse(sim, lambda: sim.bank.open_account("Zed", currency=currency), "validation", field="currency")


def test_a_retry_that_changes_the_timeout_is_an_idempotency_conflict(sim: Simulator, ab) -> None:
    a, b = ab
    first = sim.bank.transfer(a.id, b.id, "1.00", pending=True, timeout_seconds=60, idempotency_key="to-1")
    refuse(sim, lambda: sim.bank.transfer(a.id, b.id, "1.00", pending=True, idempotency_key="to-1"),
           "idempotency_conflict")
    assert sim.bank.transfer(a.id, b.id, "1.00", pending=True, timeout_seconds=60, idempotency_key="to-1") == first
