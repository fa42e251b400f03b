"""Migration 0004 on real SQLite files: a database written at revision 0003 (products with
quantities in two tenants, a bank account) is upgraded by opening it. Every quantity on hand
becomes an opening adjustment into that tenant's Warehouse, so the new stock ledger explains
every unit from the first day; cost is backfilled from price; both ledgers check out; and the
migrated stock can be sold. Also: 0004 downgrades to 0003 and upgrades again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError
from domain.model.stock import StockLevel
from storage import migrations, open_store

# tenant -> (sku, name, price_minor, quantity, active), inserted interleaved across the tenants
CATALOG = {
    "t1": [("HAM-1", "Hammer", 1250, 3, 1), ("SAW-1", "Saw", 2999, 0, 1), ("NAIL-1", "Nails", 5, 10_000, 1),
           ("OLD-1", "Old drill", 4500, 2, 0)],
    "t2": [("HAM-1", "Hammer", 1100, 7, 1), ("APL-1", "Apple", 0, 40, 1), ("PEAR-1", "Pear", 80, 0, 1)],
    "t3": [("ZERO-1", "Nothing here", 100, 0, 1)],  # a tenant without any stock
}
OPENING_MEMO = "opening stock (migration 0004)"


def _revision(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        conn.close()


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def _products_schema(path: Path) -> tuple[str, list[tuple[str, str]]]:
    """The products table's CREATE statement and its indexes (name, SQL)."""
    conn = sqlite3.connect(path)
    try:
        table = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'products'").fetchone()[0]
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'products' AND sql IS NOT NULL"
            " ORDER BY name"
        ).fetchall()
        return table, indexes
    finally:
        conn.close()


@pytest.fixture
def rev3(tmp_path: Path) -> Path:
    """A database at revision 0003 written by an old stockbank: products with quantities in two
    tenants (and one tenant with none), categories, a shop account."""
    path = tmp_path / "shop.db"
    migrations.upgrade(f"sqlite:///{path}", "0003")
    conn = sqlite3.connect(path)
    for tenant in CATALOG:
        conn.execute("INSERT INTO categories (tenant_id, name) VALUES (?, 'Stuff')", (tenant,))
    longest = max(len(rows) for rows in CATALOG.values())
    for i in range(longest):  # interleaved, so a tenant's product ids are not one block
        for tenant, rows in CATALOG.items():
            if i < len(rows):
                sku, name, price, qty, active = rows[i]
                conn.execute(
                    "INSERT INTO products (tenant_id, sku, name, category_id, price_minor, quantity, active)"
                    " VALUES (?, ?, ?, (SELECT id FROM categories WHERE tenant_id = ?), ?, ?, ?)",
                    (tenant, sku, name, tenant, price, qty, active),
                )
    conn.execute("INSERT INTO accounts (tenant_id, name, kind, currency) VALUES ('t1', 'Till', 'shop', 'EUR')")
    conn.commit()
    conn.close()
    assert _revision(path) == "0003"
    assert "stock_moves" not in _tables(path)
    return path


def _sim(store, tenant: str) -> Simulator:
    return Simulator(store, actor="tester", tenant=tenant, clock=FixedClock())


def test_opening_a_rev3_file_upgrades_it_to_head_with_a_backup_at_rev3(rev3: Path) -> None:
    store = open_store(f"sqlite:///{rev3}")
    try:
        assert store.created is False
        assert store.revision == migrations.HEAD
    finally:
        store.close()
    assert _revision(rev3) == migrations.HEAD
    assert {"locations", "stock_levels", "stock_moves", "game_state"} <= _tables(rev3)
    backups = list(rev3.parent.glob(f"{rev3.name}.pre-{migrations.HEAD}-*.bak"))
    assert len(backups) == 1, list(rev3.parent.iterdir())
    assert _revision(backups[0]) == "0003"
    assert "stock_moves" not in _tables(backups[0])


def test_every_quantity_becomes_an_opening_adjustment_into_the_tenants_warehouse(rev3: Path) -> None:
    store = open_store(f"sqlite:///{rev3}")
    try:
        warehouses = {}
        for tenant in ("t1", "t2"):
            sim = _sim(store, tenant)
            internal = sim.inventory.locations()
            assert [(loc.name, loc.kind) for loc in internal] == [("Warehouse", "internal")], tenant
            warehouse = internal[0]
            assert sim.inventory.default_location() == warehouse
            virtual = [loc for loc in sim.inventory.locations(include_virtual=True) if not loc.internal]
            assert [(loc.name, loc.kind) for loc in virtual] == [("Inventory adjustment", "adjustment")], tenant
            adjustment = virtual[0]
            warehouses[tenant] = warehouse.id
            for sku, _name, price, qty, _active in CATALOG[tenant]:
                product = sim.catalog.get_product_by_sku(sku)
                moves = sim.inventory.history(sku)
                levels = sim.inventory.levels([product.id])
                row = sim.inventory.stock_row(sku)
                assert row.cost_minor == price, f"{tenant} {sku}: cost backfilled from price"
                assert row.reorder_level == 0
                assert row.on_hand == product.quantity == qty
                assert row.incoming == 0
                assert sim.inventory.level(sku) == StockLevel(product.id, warehouse.id, qty, 0, 0)
                if qty == 0:
                    assert moves == [], f"{tenant} {sku} had no stock, so no opening move"
                    assert levels == []
                    continue
                assert levels == [StockLevel(product.id, warehouse.id, qty, 0, 0)], (tenant, sku)
                assert len(moves) == 1, (tenant, sku, moves)
                m = moves[0]
                assert (m.kind, m.reason, m.product_id, m.from_location_id, m.to_location_id, m.quantity) == (
                    "posted", "adjust", product.id, adjustment.id, warehouse.id, qty), (tenant, sku)
                assert (m.pending_id, m.transfer_id, m.due_day, m.day) == (None, None, None, 0)
                assert (m.from_after, m.to_after) == (None, qty)
                assert (m.memo, m.actor, m.idempotency_key) == (OPENING_MEMO, "migration", f"opening {product.id}")
                assert sim.inventory.get_move(m.id) == m
            report = sim.check()
            assert report.ok, (tenant, report.problems)
            assert report.checked["products"] == len(CATALOG[tenant])
            assert report.checked["stock_moves"] == sum(1 for row in CATALOG[tenant] if row[3] > 0)
        assert warehouses["t1"] != warehouses["t2"], "each tenant has its own Warehouse"
        # the inactive product's stock is on the ledger too
        assert _sim(store, "t1").inventory.stock_row("OLD-1").on_hand == 2
        # a tenant never sees another's moves: t1's move ids are not t2's
        t1_ids = {m.id for sku, *_ in CATALOG["t1"] for m in _sim(store, "t1").inventory.history(sku)}
        t2_ids = {m.id for sku, *_ in CATALOG["t2"] for m in _sim(store, "t2").inventory.history(sku)}
        assert t1_ids and t2_ids and not t1_ids & t2_ids
        with pytest.raises(DomainError) as err:
            _sim(store, "t2").inventory.get_move(min(t1_ids))
        assert err.value.code == "not_found"
    finally:
        store.close()


def test_a_tenant_without_stock_gets_no_location_and_no_move(rev3: Path) -> None:
    store = open_store(f"sqlite:///{rev3}")
    try:
        sim = _sim(store, "t3")
        assert sim.inventory.locations(include_virtual=True) == []
        assert sim.inventory.history("ZERO-1") == []
        assert sim.inventory.stock_row("ZERO-1").cost_minor == 100
        assert sim.check().ok
        # the Warehouse is created on first use, as in a new database
        assert sim.inventory.default_location().name == "Warehouse"
        sim.inventory.receive("ZERO-1", 4)
        assert sim.inventory.stock_row("ZERO-1").on_hand == 4
        assert sim.check().ok
    finally:
        store.close()


def test_migrated_stock_can_be_sold_counted_and_scrapped_and_both_ledgers_still_add_up(rev3: Path) -> None:
    store = open_store(f"sqlite:///{rev3}")
    try:
        sim = _sim(store, "t1")
        ann = sim.bank.open_account("Ann", opening_balance=100_000)
        sale = sim.inventory.sell("HAM-1", 2, ann.id, idempotency_key="sale-1")
        assert sale.transfer.amount_minor == 2 * 1250
        assert sale.transfer.credit_account_id == sim.bank.get_account("Till").id, "the 0003 shop account is paid"
        assert sale.move.from_after == 1
        with pytest.raises(DomainError) as err:
            sim.inventory.sell("HAM-1", 2, ann.id, idempotency_key="sale-2")
        assert err.value.code == "insufficient_stock"
        sim.inventory.scrap("NAIL-1", 100)
        sim.inventory.count_stock("OLD-1", 5)
        assert {sku: sim.inventory.stock_row(sku).on_hand for sku in ("HAM-1", "NAIL-1", "OLD-1")} == {
            "HAM-1": 1, "NAIL-1": 9_900, "OLD-1": 5}
        assert [m.reason for m in sim.inventory.history("HAM-1")] == ["sell", "adjust"]
        report = sim.check()
        assert report.ok, report.problems
        assert _sim(store, "t2").check().ok
    finally:
        store.close()


def test_upgraded_file_passes_integrity_and_foreign_key_checks(rev3: Path) -> None:
    open_store(f"sqlite:///{rev3}").close()
    conn = sqlite3.connect(rev3)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT count(*) FROM products WHERE cost_minor <> price_minor").fetchone() == (0,)
        # levels and products agree, row by row
        assert conn.execute(
            "SELECT count(*) FROM products p WHERE p.quantity <>"
            " COALESCE((SELECT SUM(on_hand) FROM stock_levels l WHERE l.product_id = p.id), 0)"
        ).fetchone() == (0,)
    finally:
        conn.close()


def test_opening_twice_migrates_once(rev3: Path) -> None:
    open_store(f"sqlite:///{rev3}").close()
    store = open_store(f"sqlite:///{rev3}")
    try:
        assert len(_sim(store, "t1").inventory.history("HAM-1")) == 1, "no second opening move"
    finally:
        store.close()
    assert len(list(rev3.parent.glob("*.bak"))) == 1


# -- down to 0003 and up again ----------------------------------------------------------------------


def _downgrade(path: Path, revision: str) -> None:
    from alembic import command

    command.downgrade(migrations.alembic_config(f"sqlite:///{path}"), revision)


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_downgrade_to_0003_and_upgrade_again_keeps_the_quantities(rev3: Path) -> None:
    store = open_store(f"sqlite:///{rev3}")
    try:
        sim = _sim(store, "t1")
        ann = sim.bank.open_account("Ann", opening_balance=100_000)
        sim.inventory.sell("HAM-1", 1, ann.id)
        sim.inventory.receive("SAW-1", 6)
    finally:
        store.close()

    _downgrade(rev3, "0003")
    assert _revision(rev3) == "0003"
    tables = _tables(rev3)
    assert not {"locations", "stock_levels", "stock_moves", "game_state"} & tables
    conn = sqlite3.connect(rev3)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(products)")]
        assert "cost_minor" not in columns and "reorder_level" not in columns
        assert conn.execute("SELECT sku, quantity FROM products WHERE tenant_id = 't1' ORDER BY id").fetchall() == [
            ("HAM-1", 2), ("SAW-1", 6), ("NAIL-1", 10_000), ("OLD-1", 2)]
        assert conn.execute("SELECT count(*) FROM transfers").fetchone() == (2,), "the bank's ledger stays"
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()

    store = open_store(f"sqlite:///{rev3}")  # upgrades again: today's quantities are the opening stock
    try:
        assert store.revision == migrations.HEAD
        for tenant in ("t1", "t2"):
            sim = _sim(store, tenant)
            assert sim.check().ok, tenant
            for sku, _name, price, _qty, _active in CATALOG[tenant]:
                row = sim.inventory.stock_row(sku)
                moves = sim.inventory.history(sku)
                assert row.cost_minor == price
                assert [(m.reason, m.quantity, m.memo) for m in moves] == (
                    [("adjust", row.on_hand, OPENING_MEMO)] if row.on_hand else []), (tenant, sku)
        assert _sim(store, "t1").inventory.stock_row("HAM-1").on_hand == 2
        assert _sim(store, "t1").inventory.stock_row("SAW-1").on_hand == 6
    finally:
        store.close()


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_downgrade_to_0003_restores_the_products_table_as_0003_made_it(rev3: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh-0003.db"
    migrations.upgrade(f"sqlite:///{fresh}", "0003")
    open_store(f"sqlite:///{rev3}").close()
    _downgrade(rev3, "0003")
    # what AUTOINCREMENT is there for: an id is never handed out twice (a stale edit of a deleted
    # product must not land on a new one)
    conn = sqlite3.connect(rev3)
    try:
        (last,) = conn.execute("SELECT max(id) FROM products").fetchone()
        conn.execute("DELETE FROM products WHERE id = ?", (last,))
        new_id = conn.execute(
            "INSERT INTO products (tenant_id, sku, name, price_minor) VALUES ('t1', 'NEW-1', 'New', 1)"
        ).lastrowid
        conn.rollback()
    finally:
        conn.close()
    assert new_id > last, f"the deleted product's id {last} was handed out again"
    table, indexes = _products_schema(rev3)
    want_table, want_indexes = _products_schema(fresh)
    assert "AUTOINCREMENT" in table, table
    assert [name for name, _ in indexes] == [name for name, _ in want_indexes]
    assert indexes == want_indexes
