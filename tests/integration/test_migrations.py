"""Schema history on real SQLite files: the Alembic chain, upgrading rev 0001 with a backup and
the created_at backfill, reading an old file without migrating, refusing a newer one, and
staying free of alembic/sqlalchemy when the file is already current."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from domain import Simulator
from domain.errors import DomainError
from storage import migrations, open_store

from tests.integration.conftest import PYTHON

ALICE_FIRST = "2025-01-15T08:00:00.000000Z"
ALICE_LATER = "2025-03-01T10:00:00.000000Z"
ALICE_T2 = "2025-06-30T12:30:00.000000Z"


def _revision(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        conn.close()


def _user_columns(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[1] for row in conn.execute("PRAGMA table_info(users)")]
    finally:
        conn.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def rev1(tmp_path: Path) -> Path:
    """A database at revision 0001 with users and audit entries written by an old stockbank."""
    path = tmp_path / "shop.db"
    migrations.upgrade(f"sqlite:///{path}", "0001")
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO users (tenant_id, name) VALUES (?, ?)",
        [("t1", "alice"), ("t1", "bob"), ("t2", "alice")],
    )
    conn.executemany(
        "INSERT INTO audit_log (tenant_id, at, actor, entity, entity_id, action) VALUES (?, ?, ?, ?, ?, ?)",
        [
            ("t1", ALICE_LATER, "alice", "category", "1", "update"),
            ("t1", ALICE_FIRST, "alice", "category", "1", "create"),
            ("t2", ALICE_T2, "alice", "category", "2", "create"),
            ("t2", "2024-01-01T00:00:00.000000Z", "bob", "category", "2", "update"),  # bob of t2, not t1
        ],
    )
    conn.execute("INSERT INTO categories (tenant_id, name) VALUES ('t1', 'Tools')")
    conn.execute(
        "INSERT INTO products (tenant_id, sku, name, category_id, price_minor, quantity) VALUES ('t1', 'HAM-1', 'Hammer', 1, 1250, 3)"
    )
    conn.commit()
    conn.close()
    assert _revision(path) == "0001"
    assert "created_at" not in _user_columns(path)
    return path


# -- the history itself -------------------------------------------------------------------------


def test_revisions_tuple_matches_the_alembic_script_chain() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
    assert scripts.get_heads() == [migrations.HEAD]
    chain = [script.revision for script in scripts.walk_revisions()]
    assert tuple(reversed(chain)) == migrations.REVISIONS
    assert scripts.get_base() == migrations.REVISIONS[0]
    for older, newer in zip(migrations.REVISIONS, migrations.REVISIONS[1:]):
        assert scripts.get_revision(newer).down_revision == older


def test_new_database_is_created_at_head(sqlite_url: str, tmp_path: Path) -> None:
    store = open_store(sqlite_url)
    try:
        assert store.created is True
        assert store.revision == migrations.HEAD
    finally:
        store.close()
    assert _revision(tmp_path / "shop.db") == migrations.HEAD
    assert not list(tmp_path.glob("*.bak")), "a new database needs no backup"


# -- upgrading 0001 -> 0002 ------------------------------------------------------------------------


def test_opening_a_rev1_file_upgrades_it_to_head(rev1: Path) -> None:
    store = open_store(f"sqlite:///{rev1}")
    try:
        assert store.created is False
        assert store.revision == migrations.HEAD
    finally:
        store.close()
    assert _revision(rev1) == migrations.HEAD
    assert "created_at" in _user_columns(rev1)


def test_upgrade_leaves_a_backup_still_at_rev1_next_to_the_file(rev1: Path) -> None:
    open_store(f"sqlite:///{rev1}").close()
    backups = list(rev1.parent.glob(f"{rev1.name}.pre-{migrations.HEAD}-*.bak"))
    assert len(backups) == 1, list(rev1.parent.iterdir())
    backup = backups[0]
    conn = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
        assert "created_at" not in [row[1] for row in conn.execute("PRAGMA table_info(users)")]
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (3,)
        assert conn.execute("SELECT sku, price_minor FROM products").fetchall() == [("HAM-1", 1250)]
    finally:
        conn.close()
    assert not list(rev1.parent.glob("*.tmp")), "the backup is written atomically"


def test_upgrade_backfills_created_at_from_the_first_audit_entry(rev1: Path) -> None:
    before_upgrade = datetime.now(timezone.utc) - timedelta(seconds=1)
    store = open_store(f"sqlite:///{rev1}")
    try:
        with store.unit_of_work("t1") as uow:
            t1 = {u.name: u.created_at for u in uow.users.list()}
        with store.unit_of_work("t2") as uow:
            t2 = {u.name: u.created_at for u in uow.users.list()}
    finally:
        store.close()
    assert t1["alice"] == ALICE_FIRST
    assert t2.pop("migration") > ALICE_T2, "the upgrade itself is an audited actor"
    assert t2 == {"alice": ALICE_T2}
    bob = t1["bob"]
    assert bob is not None, "a user without audit entries still gets a timestamp"
    stamped = datetime.strptime(bob, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert before_upgrade <= stamped <= datetime.now(timezone.utc) + timedelta(seconds=1)


def test_upgraded_file_keeps_its_data_and_accepts_new_users(rev1: Path) -> None:
    store = open_store(f"sqlite:///{rev1}")
    try:
        sim = Simulator(store, actor="carol", tenant="t1")
        assert sim.catalog.get_product_by_sku("HAM-1").price_minor == 1250
        sim.catalog.add_product("SAW-1", "Saw", "9.99", category="Tools")
        with store.unit_of_work("t1") as uow:
            carol = next(u for u in uow.users.list() if u.name == "carol")
            assert carol.created_at is not None
            assert carol.created_at <= uow.audit.latest(1)[0].at
    finally:
        store.close()


def test_upgraded_file_passes_integrity_and_foreign_key_checks(rev1: Path) -> None:
    open_store(f"sqlite:///{rev1}").close()
    conn = sqlite3.connect(rev1)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT count(*) FROM users WHERE created_at IS NULL").fetchone() == (0,)
        notnull = {row[1]: row[3] for row in conn.execute("PRAGMA table_info(users)")}
        assert notnull["created_at"] == 1
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"ux_products_tenant_sku", "ix_products_tenant_lower_name", "ix_products_active_category"} <= indexes
    finally:
        conn.close()


def test_failed_upgrade_rolls_back_to_the_whole_old_schema(rev1: Path) -> None:
    conn = sqlite3.connect(rev1)
    conn.execute("CREATE TRIGGER sabotage BEFORE UPDATE ON users BEGIN SELECT RAISE(ABORT, 'sabotaged'); END")
    conn.commit()
    conn.close()
    with pytest.raises(DomainError) as err:
        open_store(f"sqlite:///{rev1}")
    assert err.value.code == "storage"
    assert "sabotaged" in err.value.message
    assert _revision(rev1) == "0001"
    assert "created_at" not in _user_columns(rev1), "the added column went with the rollback"
    conn = sqlite3.connect(rev1)
    try:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (3,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def test_opening_twice_upgrades_once(rev1: Path) -> None:
    open_store(f"sqlite:///{rev1}").close()
    store = open_store(f"sqlite:///{rev1}")
    store.close()
    assert len(list(rev1.parent.glob("*.bak"))) == 1


# -- reading without migrating -------------------------------------------------------------------


def test_rev1_file_opened_without_migrating_stays_at_rev1_and_reads_created_at_as_none(rev1: Path) -> None:
    before = _digest(rev1)
    store = open_store(f"sqlite:///{rev1}?migrate=no")
    try:
        assert store.revision == "0001"
        with store.unit_of_work("t1") as uow:
            users = uow.users.list()
    finally:
        store.close()
    assert [(u.name, u.created_at) for u in users] == [("alice", None), ("bob", None)]
    assert _revision(rev1) == "0001"
    assert _digest(rev1) == before
    assert not list(rev1.parent.glob("*.bak"))


def test_rev1_file_opened_without_migrating_still_takes_writes(rev1: Path) -> None:
    store = open_store(f"sqlite:///{rev1}?migrate=no")
    try:
        sim = Simulator(store, actor="dave", tenant="t1")
        sim.catalog.add_category("Garden")
        with store.unit_of_work("t1") as uow:
            assert ("dave", None) in [(u.name, u.created_at) for u in uow.users.list()]
    finally:
        store.close()
    assert _revision(rev1) == "0001"


# -- refusing what we do not know -----------------------------------------------------------------


def test_database_from_a_newer_stockbank_is_refused_and_left_unchanged(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    open_store(sqlite_url).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    before = _digest(path)
    with pytest.raises(DomainError) as err:
        open_store(sqlite_url)
    assert err.value.code == "unsupported_version"
    assert "9999" in err.value.message
    assert _digest(path) == before
    assert _revision(path) == "9999"
    assert not list(tmp_path.glob("*.bak"))


def test_newer_database_is_refused_even_when_migrations_are_off(sqlite_url: str, tmp_path: Path) -> None:
    open_store(sqlite_url).close()
    conn = sqlite3.connect(tmp_path / "shop.db")
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    with pytest.raises(DomainError) as err:
        open_store(f"{sqlite_url}?migrate=no")
    assert err.value.code == "unsupported_version"


# -- the fast path ------------------------------------------------------------------------------------

_PROBE = """
import json, sys
from storage import open_store
from domain import Simulator
store = open_store(sys.argv[1])
names = [c.name for c in Simulator(store, actor="probe", tenant="t1").catalog.categories()]
store.close()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"alembic", "sqlalchemy", "mako"})
print(json.dumps({"names": names, "heavy": heavy}))
"""


def test_opening_a_current_database_imports_neither_alembic_nor_sqlalchemy(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    Simulator(store, actor="setup", tenant="t1").catalog.add_category("Tools")
    store.close()
    done = subprocess.run([PYTHON, "-c", _PROBE, sqlite_url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"names": ["Tools"], "heavy": []}


def test_opening_an_old_database_does_run_alembic(rev1: Path) -> None:
    done = subprocess.run([PYTHON, "-c", _PROBE, f"sqlite:///{rev1}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["names"] == ["Tools"]
    assert "alembic" in result["heavy"] and "sqlalchemy" in result["heavy"]
    assert _revision(rev1) == migrations.HEAD

