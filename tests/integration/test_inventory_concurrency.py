"""Stock and money stay exact under concurrency: several processes sell, receive, move (some in
transit, later received or cancelled), scrap, count and purchase on ONE SQLite file for a few
seconds, retrying idempotency keys (some keys are shared between processes) and retrying `busy`
refusals with the same key. Stock runs low on purpose, so sales are refused for want of stock.

Afterwards both ledgers must hold exactly what was acknowledged: every acknowledged move once,
with its quantity; every sale paid by its customer to the shop at unit price x quantity; every
purchase paid by the shop (and refunded when cancelled); every level what its moves add up to,
and never below zero.
"""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.services.bank import RateLimit
from storage import open_store
from tests.conftest import STORE_FACTORIES


@pytest.fixture(params=["sqlite", "postgres"])
def concurrent_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """One SQLite file (BEGIN IMMEDIATE), or one PostgreSQL database (READ COMMITTED)."""
    return STORE_FACTORIES[request.param](tmp_path)

TENANT = "t1"
WORKERS = 4
SECONDS = 4.0
# sku -> (name, price, cost, opening stock at the Warehouse, opening stock on the Shop floor)
PRODUCTS = {
    "APL-1": ("Apple", 120, 70, 12, 4),
    "BRD-1": ("Bread", 350, 200, 8, 2),
    "CHS-1": ("Cheese", 899, 500, 6, 0),
    "DAT-1": ("Dates", 45, 20, 20, 10),
    "EGG-1": ("Eggs", 275, 150, 0, 0),  # only what is bought or received can be sold
}
CUSTOMERS = {"Ann": 3_000_000, "Ben": 3_000_000, "Cy": 3_000_000, "Dee": 3_000_000, "Broke": 600}
SUPPLIERS = ("Acme", "Bolt")
SHOP_OPENING = 5_000_000
LOCATIONS = ("Warehouse", "Shop floor")
SHARED_KEYS = 60  # sale keys every process may send, always with the same request
# refusals that are a correct answer to a valid request under this load
EXPECTED_REFUSALS = {"insufficient_stock", "insufficient_funds"}


def _shared_sale(k: int) -> tuple[str, str, int, str]:
    """The one sale behind shared key k, the same in every process: customer, sku, quantity, location."""
    rng = random.Random(f"shared-sale-{k}")
    return rng.choice(sorted(CUSTOMERS)), rng.choice(sorted(PRODUCTS)), rng.randint(1, 5), rng.choice(LOCATIONS)


def _move_row(m: Any) -> tuple[Any, ...]:
    return (m.id, m.kind, m.reason, m.product_id, m.from_location_id, m.to_location_id, m.quantity, m.pending_id,
            m.transfer_id)


def _transfer_row(t: Any) -> tuple[Any, ...]:
    return (t.id, t.kind, t.debit_account_id, t.credit_account_id, t.amount_minor)


def _worker(url: str, me: int, seconds: float, barrier: Any, results: Any) -> None:  # runs in a spawned process
    from domain import Simulator
    from domain.errors import DomainError
    from domain.services.bank import RateLimit
    from storage import open_store

    # worker 0 waits at most 20 ms for the write lock, so it sees `busy` often and must retry
    store = open_store(url + (("&" if "?" in url else "?") + "busy_timeout=20" if me == 0 else ""))
    sim = Simulator(store, actor=f"w{me}", tenant=TENANT, rate_limit=RateLimit(max_transfers=None))
    inv = sim.inventory
    accounts = {a.name: a.id for a in sim.bank.accounts()}
    locations = {loc.name: loc.id for loc in inv.locations()}
    rng = random.Random(2000 + me)
    # key -> (move row, transfer row or None); a key may be acknowledged many times, always the same
    acks: list[tuple[str, tuple[Any, ...], tuple[Any, ...] | None]] = []
    problems: list[str] = []
    stats: Counter[str] = Counter()
    my_sales: list[tuple[str, tuple[Any, ...], tuple[Any, ...]]] = []  # key, request, (move id, transfer id)
    in_transit: list[int] = []  # my pending move ids

    def attempt(fn, *args, **kwargs):
        """Call until it is not `busy`, always with the same arguments (so the same key)."""
        for _ in range(10_000):
            try:
                return fn(*args, **kwargs), None
            except DomainError as e:
                if e.code != "busy":
                    return None, e.code
                stats["busy"] += 1
                time.sleep(rng.random() * 0.005)
        raise AssertionError("busy for ever")

    def ack(move: Any, transfer: Any = None) -> None:
        acks.append((move.idempotency_key, _move_row(move), _transfer_row(transfer) if transfer is not None else None))

    def refused(what: str, code: str | None, allowed: set[str] = EXPECTED_REFUSALS) -> None:
        stats[f"{what} {code}"] += 1
        if code not in allowed:
            problems.append(f"{what} was refused with {code}")

    def sell(key: str, customer: str, sku: str, qty: int, location: str) -> Any:
        sale, code = attempt(inv.sell, sku, qty, accounts[customer], location=locations[location], idempotency_key=key)
        if sale is None:
            refused("sell", code)
            return None
        stats["sell ok"] += 1
        ack(sale.move, sale.transfer)
        return sale

    def resolve(pending_id: int) -> None:
        """Receive or cancel goods in transit. Whoever resolves a move (its maker, or another process
        that found it in transit) sends the same request with the same key, so all get one answer."""
        receive = random.Random(f"resolve-{pending_id}").random() < 0.7
        fn, other = (inv.receive_pending, inv.cancel_pending) if receive else (inv.cancel_pending, inv.receive_pending)
        key = f"resolve-{pending_id}"
        done, code = attempt(fn, pending_id, idempotency_key=key)
        if done is None:
            refused("resolve", code, set())
            return
        again, code = attempt(fn, pending_id, idempotency_key=key)  # a retry: the same resolution
        if again is None or again.id != done.id:
            problems.append(f"retrying {key} gave {code or again.id}, expected move {done.id}")
        ack(done, sim.bank.get_transfer(done.transfer_id) if done.transfer_id is not None else None)
        stats[done.kind] += 1
        # resolving it the other way with a new key is refused: a move is resolved once
        twice, code = attempt(other, pending_id, idempotency_key=f"w{me}-{n}-twice")
        want = "already_received" if receive else "already_cancelled"
        if code != want:
            problems.append(f"resolving {pending_id} a second time gave {code or twice.id}, expected {want}")

    barrier.wait(timeout=60)
    deadline = time.monotonic() + seconds
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            key = f"w{me}-{n}"
            roll = rng.random()
            sku = rng.choice(sorted(PRODUCTS))
            where = rng.choice(LOCATIONS)
            if roll < 0.33 or (roll < 0.45 and not my_sales):  # a new sale: random customer, 1-5 units
                customer, qty = rng.choice(sorted(CUSTOMERS)), rng.randint(1, 5)
                sale = sell(key, customer, sku, qty, where)
                if sale is not None:
                    my_sales.append((key, (customer, sku, qty, where), (sale.move.id, sale.transfer.id)))
            elif roll < 0.41:  # a retry of one of my sales: the first sale, even when stock has run out since
                old_key, request, first = rng.choice(my_sales)
                sale = sell(old_key, *request)
                if sale is None or (sale.move.id, sale.transfer.id) != first:
                    problems.append(f"retry of sale {old_key} gave {sale}, expected {first}")
                stats["sell retry"] += 1
            elif roll < 0.45:  # the same key with another quantity: refused
                old_key, (customer, sku, qty, where), _ = rng.choice(my_sales)
                sale, code = attempt(inv.sell, sku, qty + 1, accounts[customer], location=locations[where],
                                     idempotency_key=old_key)
                if code != "idempotency_conflict":
                    problems.append(f"sale {old_key} with another quantity gave {code or sale}")
                stats["sell conflict"] += 1
            elif roll < 0.55:  # a key other processes send too
                k = rng.randrange(SHARED_KEYS)
                sell(f"shared-{k}", *_shared_sale(k))
                stats["sell shared"] += 1
            elif roll < 0.62:  # goods arrive, sometimes acknowledged twice for one key
                qty = rng.randint(1, 6)
                move, code = attempt(inv.receive, sku, qty, location=locations[where], idempotency_key=key)
                if move is None:
                    refused("receive", code, set())
                    continue
                ack(move)
                stats["receive ok"] += 1
                if rng.random() < 0.3:
                    again, code = attempt(inv.receive, sku, qty, location=locations[where], idempotency_key=key)
                    if again is None or again.id != move.id:
                        problems.append(f"retry of receipt {key} gave {code or again.id}, expected move {move.id}")
            elif roll < 0.72:  # between the two locations, half of them in transit
                source, target = rng.sample(LOCATIONS, 2)
                pending = rng.random() < 0.5
                move, code = attempt(inv.move_stock, sku, rng.randint(1, 4), locations[source], locations[target],
                                     pending=pending, idempotency_key=key)
                if move is None:
                    refused("move", code)
                    continue
                ack(move)
                stats["move " + move.kind] += 1
                if pending:
                    in_transit.append(move.id)
            elif roll < 0.77:  # broken, lost
                move, code = attempt(inv.scrap, sku, rng.randint(1, 2), location=locations[where], idempotency_key=key)
                if move is None:
                    refused("scrap", code)
                    continue
                ack(move)
                stats["scrap ok"] += 1
            elif roll < 0.87:  # bought from a supplier: here now, or in transit for a few days
                supplier = rng.choice(SUPPLIERS)
                qty, lead = rng.randint(2, 8), rng.choice((0, 0, 1, 2, 3))
                bought, code = attempt(inv.purchase, sku, qty, accounts[supplier], location=locations[where],
                                       lead_days=lead, idempotency_key=key)
                if bought is None:
                    refused("purchase", code, set())
                    continue
                ack(bought.move, bought.transfer)
                stats["purchase " + bought.move.kind] += 1
                if rng.random() < 0.3:
                    again, code = attempt(inv.purchase, sku, qty, accounts[supplier], location=locations[where],
                                          lead_days=lead, idempotency_key=key)
                    if again is None or (again.move.id, again.transfer.id) != (bought.move.id, bought.transfer.id):
                        problems.append(f"retry of purchase {key} gave {code or again}")
                if lead:
                    in_transit.append(bought.move.id)
            elif roll < 0.92:  # goods I sent or bought arrive, or will not
                if in_transit:
                    resolve(in_transit.pop(rng.randrange(len(in_transit))))
            elif roll < 0.97:  # anyone's goods in transit, perhaps being resolved by their maker right now
                found, code = attempt(inv.pending_moves)
                if found:
                    resolve(rng.choice(found).id)
                    stats["resolved another's"] += 1
            else:  # a stocktake
                counted = rng.randint(0, 8)
                move, code = attempt(inv.count_stock, sku, counted, location=locations[where])
                if code is not None:
                    refused("count", code, {"insufficient_stock"})  # fewer counted than reserved for transit
                elif move is not None:
                    ack(move)
                    stats["count ok"] += 1
        while in_transit:  # leave nothing in transit (another process may have resolved it: the same answer)
            resolve(in_transit.pop())
    except BaseException as e:  # report instead of dying silently
        problems.append(f"worker {me} crashed: {e!r}")
    finally:
        store.close()
        results.put((me, acks, problems, dict(stats)))


def _setup(url: str) -> set[str]:
    """Accounts, two locations, the products with their opening stock; returns the setup's move keys."""
    store = open_store(url)
    try:
        sim = Simulator(store, actor="setup", tenant=TENANT, clock=FixedClock(),
                        rate_limit=RateLimit(max_transfers=None))
        sim.bank.open_account("Shop", kind="shop", opening_balance=SHOP_OPENING)
        for name, amount in CUSTOMERS.items():
            sim.bank.open_account(name, opening_balance=amount)
        for name in SUPPLIERS:
            sim.bank.open_account(name, kind="supplier")
        warehouse = sim.inventory.default_location()
        floor = sim.inventory.add_location("Shop floor")
        assert [loc.name for loc in sim.inventory.locations()] == list(LOCATIONS)
        keys = set()
        for sku, (name, price, cost, at_warehouse, on_floor) in PRODUCTS.items():
            sim.catalog.add_product(sku, name, price)
            sim.inventory.set_planning(sku, cost=cost)
            for location, qty in ((warehouse, at_warehouse), (floor, on_floor)):
                if qty:
                    key = f"open-{sku}-{location.id}"
                    move = sim.inventory.receive(sku, qty, location=location.id, idempotency_key=key)
                    keys.add(move.idempotency_key)
        assert sim.check().ok
        return keys
    finally:
        store.close()


def _run_workers(url: str) -> list[tuple[int, list, list[str], dict[str, int]]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    # A sale is ~23 round trips on PostgreSQL: give it longer to do as much work as SQLite does in SECONDS.
    seconds = SECONDS if url.startswith("sqlite:") else 3 * SECONDS
    procs = [ctx.Process(target=_worker, args=(url, me, seconds, barrier, results)) for me in range(WORKERS)]
    for p in procs:
        p.start()
    try:
        reports = [results.get(timeout=seconds + 60) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0] * WORKERS
    return reports


def _all_history(sim: Simulator, sku: str) -> list[Any]:
    """The product's whole stock ledger, oldest first, read a page at a time through history()."""
    moves, before = [], None
    while page := sim.inventory.history(sku, before_id=before, limit=250):
        moves += page
        before = page[-1].id
    return list(reversed(moves))


@pytest.mark.slow
def test_many_processes_selling_and_moving_stock_on_one_database_keep_both_ledgers_exact(
    concurrent_url: str, tmp_path: Path,
) -> None:
    sqlite_url = concurrent_url  # the same test on PostgreSQL (READ COMMITTED) too
    setup_keys = _setup(sqlite_url)
    reports = _run_workers(sqlite_url)

    problems = [problem for _, _, found, _ in reports for problem in found]
    assert not problems, problems[:10]
    stats: Counter[str] = Counter()
    for _, _, _, counts in reports:
        stats.update(counts)

    # every acknowledgement of a key names the same move (and payment), also across processes
    acked: dict[str, tuple[tuple[Any, ...], tuple[Any, ...] | None]] = {}
    processes_per_key: dict[str, set[int]] = defaultdict(set)
    for me, acks, _, _ in reports:
        for key, move, transfer in acks:
            assert acked.setdefault(key, (move, transfer)) == (move, transfer), f"{key} acknowledged as two moves"
            processes_per_key[key].add(me)
    assert len(acked) > 200, f"too little work was done: {stats}"
    assert any(len(who) > 1 for who in processes_per_key.values()), "no key was acknowledged in two processes"
    # stock ran low on purpose: sales, moves and scrap were refused for want of stock, and the
    # poor customer could not pay for everything
    assert stats["sell insufficient_stock"] > 0, stats
    assert stats["sell insufficient_funds"] > 0, stats
    assert stats["received"] > 0 and stats["cancelled"] > 0, stats
    assert stats["purchase pending"] > 0 and stats["purchase posted"] > 0, stats

    store = open_store(sqlite_url)
    try:
        sim = Simulator(store, actor="checker", tenant=TENANT, clock=FixedClock())
        report = sim.check()
        assert report.ok, report.problems

        products = {sku: sim.catalog.get_product_by_sku(sku) for sku in PRODUCTS}
        sku_of = {p.id: sku for sku, p in products.items()}
        accounts = {a.name: a for a in sim.bank.accounts()}
        customer_of = {accounts[name].id: name for name in CUSTOMERS}
        supplier_of = {accounts[name].id: name for name in SUPPLIERS}
        shop = accounts["Shop"]
        locations = {loc.id: loc for loc in sim.inventory.locations(include_virtual=True)}
        internal = {loc_id for loc_id, loc in locations.items() if loc.internal}
        assert {locations[i].name for i in internal} == set(LOCATIONS)

        # -- the stock ledger holds exactly what was acknowledged -------------------------------
        history = {sku: _all_history(sim, sku) for sku in PRODUCTS}
        stored = sorted((m for moves in history.values() for m in moves), key=lambda m: m.id)
        with store.unit_of_work(TENANT) as uow:
            assert [m.id for m in uow.stock.stream_moves()] == [m.id for m in stored], "history() misses moves"
            transfers = {t.id: t for t in uow.transfers.stream()}
        by_key = {m.idempotency_key: m for m in stored}
        assert len(by_key) == len(stored), "one move per key"
        for key, (move, _transfer) in acked.items():
            m = by_key.get(key)
            assert m is not None, f"acknowledged {key} is not stored"
            assert _move_row(m) == move, key
        unacknowledged = {m.idempotency_key for m in stored} - set(acked)
        assert unacknowledged == setup_keys, sorted(unacknowledged - setup_keys)[:5]
        assert len(stored) == len(acked) + len(setup_keys)

        # -- per product: on hand = receipts - sales - scrap +/- adjustments ---------------------
        for sku, moves in history.items():
            flows: Counter[str] = Counter()
            for m in moves:
                if m.kind in ("pending", "cancelled"):
                    continue  # in transit or called off: nothing arrived, nothing left
                into, out_of = m.to_location_id in internal, m.from_location_id in internal
                if into and not out_of:
                    flows[m.reason] += m.quantity
                elif out_of and not into:
                    flows[m.reason] -= m.quantity
                else:
                    assert m.reason == "move", m  # internal to internal changes no total
            assert set(flows) <= {"receive", "purchase", "sell", "scrap", "adjust"}, flows
            assert flows["sell"] <= 0 and flows["scrap"] <= 0 and flows["receive"] >= 0 and flows["purchase"] >= 0
            total = flows["receive"] + flows["purchase"] + flows["sell"] + flows["scrap"] + flows["adjust"]
            row = sim.inventory.stock_row(sku)
            assert row.on_hand == total == products[sku].quantity, (sku, flows, row)
            assert row.incoming == 0, "everything in transit was received or cancelled"
            levels = sim.inventory.levels([products[sku].id])
            assert sum(lv.on_hand for lv in levels) == total
            assert all(lv.location_id in internal for lv in levels)
            # no level ever went below zero: not now, and not after any move
            assert all(lv.on_hand >= 0 and lv.incoming == 0 and lv.outgoing == 0 for lv in levels), levels
            for m in moves:
                assert (m.from_after is None or m.from_after >= 0) and (m.to_after is None or m.to_after >= 0), m

        # -- money and stock agree sale by sale ------------------------------------------------
        revenue = purchases = refunds = 0
        paid_by: Counter[int] = Counter()
        paid_to: Counter[int] = Counter()
        pending_moves = {m.id: m for m in stored if m.kind == "pending"}
        money_legs = set()
        for m in stored:
            sku = sku_of[m.product_id]
            _name, price, cost, *_ = PRODUCTS[sku]
            t = transfers.get(m.transfer_id) if m.transfer_id is not None else None
            if m.reason == "sell":
                assert m.kind == "posted" and t is not None, m
                assert t.idempotency_key == m.idempotency_key, (m, t)
                assert t.credit_account_id == shop.id and t.debit_account_id in customer_of, (m, t)
                assert t.amount_minor == price * m.quantity and t.kind == "posted", (m, t)
                assert acked[m.idempotency_key][1] == _transfer_row(t)
                revenue += t.amount_minor
                paid_by[t.debit_account_id] += t.amount_minor
            elif m.reason == "purchase" and m.kind in ("posted", "pending"):
                assert t is not None, m
                assert t.debit_account_id == shop.id and t.credit_account_id in supplier_of, (m, t)
                assert t.amount_minor == cost * m.quantity and t.kind == "posted", (m, t)
                assert acked[m.idempotency_key][1] == _transfer_row(t)
                purchases += t.amount_minor
                paid_to[t.credit_account_id] += t.amount_minor
            elif m.reason == "purchase" and m.kind == "cancelled":  # refunded by the supplier
                paid = transfers[pending_moves[m.pending_id].transfer_id]
                assert t is not None, m
                assert (t.debit_account_id, t.credit_account_id, t.amount_minor) == (
                    paid.credit_account_id, paid.debit_account_id, paid.amount_minor), (m, t)
                refunds += t.amount_minor
                paid_to[t.debit_account_id] -= t.amount_minor
            else:
                assert t is None, m  # receipts, moves, scrap, counts and arrivals carry no money
            if t is not None:
                money_legs.add(t.id)
        openings = {t.id for t in transfers.values() if t.memo == "opening balance"}
        assert set(transfers) == money_legs | openings, "every payment belongs to a sale, a purchase or a refund"
        assert shop.balance - SHOP_OPENING == revenue - purchases + refunds
        for account_id, name in customer_of.items():
            assert accounts[name].balance == CUSTOMERS[name] - paid_by[account_id], name
        for account_id, name in supplier_of.items():
            assert accounts[name].balance == paid_to[account_id], name
        assert report.checked["stock_moves"] == len(stored)
    finally:
        store.close()

    if not concurrent_url.startswith("sqlite:"):
        return  # the CHECK constraint is the same on PostgreSQL (tests/integration/test_sqlalchemy_schema.py)
    # the last wall: the table itself refuses a level below zero
    conn = sqlite3.connect(tmp_path / "shop.db")
    first = "WHERE rowid = (SELECT min(rowid) FROM stock_levels)"
    try:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(f"UPDATE stock_levels SET on_hand = -1 {first}")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(f"UPDATE stock_levels SET outgoing = on_hand + 1 {first}")
        below = conn.execute("SELECT count(*) FROM stock_levels WHERE on_hand < 0 OR outgoing > on_hand").fetchone()
        assert below == (0,)
    finally:
        conn.close()
    print(f"\n{len(acked)} acknowledged keys, {len(stored)} moves, {len(transfers)} transfers; {dict(stats)}")
