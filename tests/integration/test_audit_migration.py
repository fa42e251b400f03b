"""Migration 0005 on real SQLite files: a database written at revision 0004 holds unchained audit
entries in two tenants. Opening it upgrades it to head: every old entry is chained per tenant in id
order (each tenant's chain verifies on its own), and each tenant's log records the upgrade as a
("schema", "0005", "migrate") entry by the actor `migration`. Downgrading to 0004 after archiving
puts the archived transfers, stock moves and audit entries back into the live tables (nothing is
lost), and upgrading again works."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from domain import Simulator
from domain.audit_chain import GENESIS, entry_hash
from domain.model import AuditEntry
from storage import migrations, open_store

OLD = "0004"  # the revision before the audit chain (0005); opening upgrades through to head

# (tenant, at, actor, entity, entity_id, action, before, after, request_key), in the order written:
# the two tenants' entries interleave, so each tenant's ids are not one block.
OLD_ENTRIES = [
    ("t1", "2025-06-01T08:00:00.000001Z", "alice", "category", "1", "create", None, {"id": 1, "name": "Tools"}, None),
    ("t2", "2025-06-01T08:00:00.500000Z", "zoe", "category", "2", "create", None, {"id": 2, "name": "Fruit"}, None),
    ("t1", "2025-06-01T08:00:01.000000Z", "alice", "product", "1", "create", None,
     {"id": 1, "sku": "HAM-1", "name": "Hammer", "price_minor": 1250}, None),
    ("t1", "2025-06-01T08:00:02.000000Z", "bob", "product", "1", "update",
     {"name": "Hammer"}, {"name": "Claw hammer"}, None),
    ("t2", "2025-06-02T10:00:00.000000Z", "zoe", "account", "1", "open", None, {"id": 1, "name": "Till"}, None),
    ("t1", "2025-06-03T12:00:00.000000Z", "alice", "account", "2", "open", None, {"id": 2, "name": "Shop"}, "k-ü"),
    ("t2", "2025-06-04T09:30:00.000000Z", "zoe", "product", "*", "import", None, {"rows": 0, "source": "x.csv"}, None),
]
USERS = [("t1", "alice"), ("t1", "bob"), ("t2", "zoe"), ("t3", "quiet")]  # t3 has a user and no entries


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


def _dump(value: object) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write_rev4(path: Path, entries: list[tuple] = OLD_ENTRIES) -> None:
    """A database at 0004 as an older stockbank left it: users, a category, a product and accounts
    in two tenants, and their (unchained) audit entries."""
    migrations.upgrade(f"sqlite:///{path}", OLD)
    conn = sqlite3.connect(path)
    try:
        for tenant, name in USERS:
            conn.execute("INSERT INTO users (tenant_id, name, created_at) VALUES (?, ?, '2025-06-01T08:00:00.000000Z')",
                         (tenant, name))
        conn.execute("INSERT INTO categories (id, tenant_id, name) VALUES (1, 't1', 'Tools')")
        conn.execute("INSERT INTO categories (id, tenant_id, name) VALUES (2, 't2', 'Fruit')")
        conn.execute("INSERT INTO products (tenant_id, sku, name, category_id, price_minor, quantity, active)"
                     " VALUES ('t1', 'HAM-1', 'Claw hammer', 1, 1250, 0, 1)")
        conn.execute("INSERT INTO accounts (id, tenant_id, name, kind, currency) VALUES (1, 't2', 'Till', 'shop', 'EUR')")
        conn.execute("INSERT INTO accounts (id, tenant_id, name, kind, currency) VALUES (2, 't1', 'Shop', 'shop', 'EUR')")
        for tenant, at, actor, entity, entity_id, action, before, after, key in entries:
            conn.execute(
                "INSERT INTO audit_log (tenant_id, at, actor, entity, entity_id, action, before, after, request_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (tenant, at, actor, entity, entity_id, action, _dump(before), _dump(after), key),
            )
        conn.commit()
    finally:
        conn.close()
    assert _revision(path) == OLD
    assert "audit_log_archive" not in _tables(path)


@pytest.fixture
def rev4(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    write_rev4(path)
    return path


def _sim(store, tenant: str, actor: str = "tester") -> Simulator:
    return Simulator(store, actor=actor, tenant=tenant)


def _chain(sim: Simulator) -> list[AuditEntry]:
    with sim.store.unit_of_work(sim.tenant) as uow:
        return list(uow.audit.stream())


def _old(tenant: str) -> list[tuple]:
    return [(at, actor, entity, eid, action, _dump(b), _dump(a), key)
            for t, at, actor, entity, eid, action, b, a, key in OLD_ENTRIES if t == tenant]


def _assert_linked(entries: list[AuditEntry]) -> None:
    prev = GENESIS
    for e in entries:
        assert e.prev_hash == prev, e.id
        assert e.hash == entry_hash(prev, e.at, e.actor, e.entity, e.entity_id, e.action, e.before, e.after,
                                    e.request_key), e.id
        prev = e.hash


def _counts(path: Path) -> dict[str, tuple[int, set[int]]]:
    """Rows of each ledger and of the audit log, live and archived together: (count, ids)."""
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        found = {}
        for table in ("audit_log", "transfers", "stock_moves"):
            ids = [r[0] for r in conn.execute(f"SELECT id FROM {table}")]
            if f"{table}_archive" in tables:
                ids += [r[0] for r in conn.execute(f"SELECT id FROM {table}_archive")]
            found[table] = (len(ids), set(ids))
        return found
    finally:
        conn.close()


def _archived(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}_archive").fetchone()[0]
                for t in ("audit_log", "transfers", "stock_moves")}
    finally:
        conn.close()


# -- upgrade ------------------------------------------------------------------------------------------


def test_opening_a_0004_file_chains_every_old_entry_per_tenant(rev4: Path) -> None:
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    store = open_store(f"sqlite:///{rev4}")
    try:
        assert store.revision == migrations.HEAD and _revision(rev4) == migrations.HEAD
        for tenant in ("t1", "t2"):
            sim = _sim(store, tenant)
            entries = _chain(sim)
            old, migrate = entries[:-1], entries[-1]
            assert [(e.at, e.actor, e.entity, e.entity_id, e.action, e.before, e.after, e.request_key)
                    for e in old] == _old(tenant), "the old entries are kept exactly"
            assert entries[0].prev_hash == GENESIS
            _assert_linked(entries)
            report = sim.audit.verify()
            assert report.ok, report
            assert report.checked == len(_old(tenant)) + 1
            assert (migrate.actor, migrate.entity, migrate.entity_id, migrate.action) == (
                "migration", "schema", migrations.HEAD, "migrate")
            assert json.loads(migrate.before) == {"revision": OLD}
            assert json.loads(migrate.after) == {"revision": migrations.HEAD}
            assert migrate.at > old[-1].at and migrate.at[:19] >= started
            with store.unit_of_work(tenant) as uow:
                assert "migration" in {u.name for u in uow.users.list()}
        # the tenant known only from its users gets the entry too, as the first of its chain
        quiet = _sim(store, "t3")
        [only] = _chain(quiet)
        assert (only.actor, only.action, only.prev_hash) == ("migration", "migrate", GENESIS)
        assert quiet.audit.verify().ok
        # no entry crosses tenants
        assert not {e.id for e in _chain(_sim(store, "t1"))} & {e.id for e in _chain(_sim(store, "t2"))}
    finally:
        store.close()


def test_the_chain_goes_on_from_the_migration_entry_and_the_upgrade_runs_once(rev4: Path) -> None:
    store = open_store(f"sqlite:///{rev4}")
    try:
        sim = _sim(store, "t1")
        sim.catalog.add_category("Garden")
        sim.bank.open_account("Ann", opening_balance="5.00")
        entries = _chain(sim)
        assert entries[len(_old("t1"))].action == "migrate"
        _assert_linked(entries)
        assert sim.audit.verify().ok and sim.check().ok
        count = len(entries)
    finally:
        store.close()
    store = open_store(f"sqlite:///{rev4}")  # already at head: no second migrate entry
    try:
        sim = _sim(store, "t1")
        assert len(_chain(sim)) == count
        assert [e.action for e in _chain(sim)].count("migrate") == 1
        assert sim.audit.verify().ok
    finally:
        store.close()


def test_an_old_entry_edited_before_the_upgrade_is_chained_as_it_is(rev4: Path) -> None:
    """The chain starts at the upgrade: what was in the file then is what it vouches for."""
    conn = sqlite3.connect(rev4)
    conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 3")
    conn.commit()
    conn.close()
    store = open_store(f"sqlite:///{rev4}")
    try:
        sim = _sim(store, "t1")
        assert sim.audit.verify().ok
        assert sim.audit.entry(3).actor == "mallory"
        conn = sqlite3.connect(rev4)  # ... but an edit after it is found
        conn.execute("UPDATE audit_log SET actor = 'alice' WHERE id = 3")
        conn.commit()
        conn.close()
        assert sim.audit.verify().broken_id == 3
    finally:
        store.close()


@pytest.mark.parametrize("second", ["2025-06-01T08:00:00.000001Z", "2025-05-31T23:59:59.000000Z"],
                         ids=["same microsecond", "clock stepped back"])
def test_old_entries_whose_times_do_not_increase_still_verify_after_the_upgrade(tmp_path: Path, second: str) -> None:
    path = tmp_path / "shop.db"
    entries = [OLD_ENTRIES[0], ("t1", second, "alice", "category", "3", "create", None, {"id": 3}, None),
               *OLD_ENTRIES[1:]]
    write_rev4(path, entries)
    store = open_store(f"sqlite:///{path}")
    try:
        report = _sim(store, "t1").audit.verify()
        assert report.ok, report
    finally:
        store.close()


# -- down to 0004 and up again ------------------------------------------------------------------------


def _downgrade(path: Path, revision: str) -> None:
    from alembic import command

    command.downgrade(migrations.alembic_config(f"sqlite:///{path}"), revision)


def _activity(store) -> tuple[str, dict[str, list]]:
    """Both tenants buy, sell, move and pay; returns a cut between the first and second half and
    the balances of each tenant."""
    sims = {t: _sim(store, t, actor=f"clerk-{t}") for t in ("t1", "t2")}
    for tenant, sim in sims.items():
        shop = sim.bank.get_account("Shop" if tenant == "t1" else "Till")
        sim.bank.deposit(shop.id, "100.00")
        cust = sim.bank.open_account("Cust", opening_balance="50.00")
        supplier = sim.bank.open_account("Supp", kind="supplier")
        p = sim.catalog.add_product(f"P-{tenant}", "Thing", "2.00", quantity=6)
        sim.inventory.set_planning(p.id, cost="1.00")
        sim.inventory.sell(p.id, 2, cust.id)
        sim.inventory.purchase(p.id, 3, supplier.id, lead_days=1)
        held = sim.bank.transfer(cust.id, shop.id, "3.00", pending=True)
        sim.bank.post(held.id)
        sim.simulation.advance(1, seed=4)
    cut = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    for tenant, sim in sims.items():
        cust = sim.bank.get_account("Cust")
        sim.bank.transfer(cust.id, sim.bank.get_account("Shop" if tenant == "t1" else "Till").id, "1.00")
        sim.bank.transfer(cust.id, sim.bank.get_account("Supp").id, "2.00", pending=True)  # stays pending
    return cut, {t: s.bank.accounts(include_deleted=True) for t, s in sims.items()}


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_downgrade_after_archiving_puts_archived_rows_back_and_upgrading_again_works(rev4: Path) -> None:
    store = open_store(f"sqlite:///{rev4}")
    try:
        cut, balances = _activity(store)
        for tenant in ("t1", "t2"):
            report = _sim(store, tenant, actor="archivist").lifecycle.archive(cut, batch_size=3)
            assert report.transfers > 0 and report.moves > 0 and report.audit > 0, tenant
            assert _sim(store, tenant).audit.verify().ok and _sim(store, tenant).check().ok
    finally:
        store.close()
    archived = _archived(rev4)
    assert all(archived.values()), archived
    before = _counts(rev4)

    _downgrade(rev4, OLD)
    assert _revision(rev4) == OLD
    assert not {"audit_log_archive", "transfers_archive", "stock_moves_archive", "attachments"} & _tables(rev4)
    assert _counts(rev4) == before, "every archived row is back in its live table"
    conn = sqlite3.connect(rev4)
    try:
        columns = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in ("audit_log", "transfers",
                                                                                       "products", "accounts")}
        assert "hash" not in columns["audit_log"] and "reverses_id" not in columns["transfers"]
        assert "deleted_at" not in columns["products"] and "deleted_at" not in columns["accounts"]
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()

    store = open_store(f"sqlite:///{rev4}")  # upgrades again
    try:
        assert store.revision == migrations.HEAD
        for tenant in ("t1", "t2"):
            sim = _sim(store, tenant)
            assert sim.audit.verify().ok, tenant
            assert sim.check().ok, sim.check().problems
            assert sim.bank.accounts(include_deleted=True) == balances[tenant]
            assert [e.action for e in _chain(sim)].count("migrate") == 2  # one per upgrade
            sim.bank.deposit(sim.bank.get_account("Cust").id, "1.00")  # and it takes writes
            assert sim.audit.verify().ok
        counts = _counts(rev4)
        assert all(counts[t][1] >= before[t][1] for t in counts)
    finally:
        store.close()
