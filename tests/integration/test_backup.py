"""Backups, restore, export/import of the sqlite3 database file (storage/sqlite/backup.py): a backup
brings the old state back (balances, products, attachment files); a bad, tampered or too-new copy
is refused before anything changes; a damaged live file is moved aside, never lost."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError
from domain.model import ProductQuery
from storage import migrations, open_store
from storage.sqlite import backup
from tests.integration.damage import damage_an_index

DATASHEET = b"hammer datasheet " * 500


def sim_for(path: Path) -> Simulator:
    return Simulator(open_store(f"sqlite:///{path}"), actor="tester", tenant="t1", clock=FixedClock())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A shop with a category, two products, two accounts, a transfer and a file attachment."""
    path = tmp_path / "shop.db"
    sim = sim_for(path)
    sim.catalog.add_category("Tools")
    sim.catalog.add_product(sku="HAM-1", name="Hammer", price="12.50", category="Tools")
    sim.catalog.add_product(sku="SAW-1", name="Saw", price="20.00", category="Tools")
    sim.bank.open_account("Alice", kind="customer", opening_balance="100.00")
    sim.bank.open_account("Shop", kind="shop")
    sim.bank.transfer("Alice", "Shop", "12.50", idempotency_key="order-1")
    sim.attachments.attach("HAM-1", "hammer.pdf", DATASHEET)
    sim.store.close()
    return path


def state(path: Path) -> dict:
    sim = sim_for(path)
    try:
        products = sim.catalog.find_products(ProductQuery(include_inactive=True))
        return {
            "products": sorted((p.sku, p.name, p.price_minor) for p in products),
            "balances": sorted((a.name, a.balance) for a in sim.bank.accounts()),
            "attachments": [sim.attachments.read(a.id) for a in sim.attachments.list("HAM-1")],
        }
    finally:
        sim.store.close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(code: str, call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


def flip_bytes(path: Path, at: int, n: int = 16) -> None:
    with open(path, "r+b") as fh:
        fh.seek(at)
        old = fh.read(n)
        fh.seek(at)
        fh.write(bytes(b ^ 0xFF for b in old))


# -- backup -------------------------------------------------------------------------------------


def test_backup_is_a_timestamped_file_with_its_manifest_and_attachment_files(db: Path) -> None:
    info = backup.create_backup(str(db))
    made = Path(info.path)
    assert made.parent == Path(f"{db}.backups")
    assert made.name.startswith("shop-") and made.suffix == ".db"
    manifest = json.loads(Path(f"{made}.manifest.json").read_text())
    assert manifest["sha256"] == sha(made) and manifest["size"] == made.stat().st_size
    assert manifest["revision"] == migrations.HEAD and manifest["source"] == str(db)
    assert manifest["created_at"].endswith("Z")
    conn = sqlite3.connect(db)
    newest = conn.execute("SELECT hash FROM audit_log WHERE tenant_id = 't1' ORDER BY id DESC LIMIT 1").fetchone()[0]
    conn.close()
    assert manifest["audit_tails"] == {"t1": newest}
    attached = hashlib.sha256(DATASHEET).hexdigest()
    assert manifest["attachments"] == [{"sha256": attached, "size": len(DATASHEET)}]
    assert Path(f"{made}.files/{attached[:2]}/{attached}").read_bytes() == DATASHEET
    copy = sqlite3.connect(f"file:{made}?mode=ro", uri=True)
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    copy.close()
    assert not [p for p in made.parent.iterdir() if p.name.startswith(".tmp-")]


def test_backups_are_listed_newest_first_and_unfinished_ones_are_bad(db: Path) -> None:
    first = backup.create_backup(str(db))
    second = backup.create_backup(str(db))
    folder = Path(f"{db}.backups")
    (folder / "shop-20000101-000000.db").write_bytes(Path(first.path).read_bytes())  # a copy without manifest
    (folder / ".tmp-shop-20990101-000000.db").write_bytes(b"half")  # what a crash mid-backup leaves
    listed = backup.list_backups(str(db))
    assert [b.name for b in listed] == [second.name, first.name, "shop-20000101-000000.db"]
    assert [b.ok for b in listed] == [True, True, False]
    assert "no manifest" in listed[2].problem


def test_a_changed_backup_is_listed_as_bad(db: Path) -> None:
    info = backup.create_backup(str(db))
    flip_bytes(Path(info.path), 5000)
    [listed] = backup.list_backups(str(db))
    assert not listed.ok and "checksum mismatch" in listed.problem


def test_backup_to_another_folder(db: Path, tmp_path: Path) -> None:
    info = backup.create_backup(str(db), tmp_path / "elsewhere")
    assert Path(info.path).parent == tmp_path / "elsewhere"
    assert [b.name for b in backup.list_backups(str(db), tmp_path / "elsewhere")] == [info.name]


def test_backup_of_a_damaged_database_is_refused_and_leaves_nothing_valid_looking(db: Path) -> None:
    damage_an_index(db)
    refused("corrupt", backup.create_backup, str(db))
    assert backup.list_backups(str(db)) == []
    assert [p.name for p in Path(f"{db}.backups").iterdir()] == []


def test_backup_of_a_missing_database_is_not_found(tmp_path: Path) -> None:
    refused("not_found", backup.create_backup, str(tmp_path / "nothing.db"))


# -- restore ------------------------------------------------------------------------------------


def test_backup_then_changes_then_restore_brings_the_old_state_back(db: Path) -> None:
    before = state(db)
    info = backup.create_backup(str(db))
    sim = sim_for(db)
    sim.catalog.add_product(sku="NEW-1", name="Newcomer", price="1.00")
    sim.bank.transfer("Alice", "Shop", "50.00", idempotency_key="order-2")
    [gone] = sim.attachments.list("HAM-1")
    sim.attachments.remove(gone.id)
    sim.store.collect_attachment_files()  # the file itself is deleted from <db>.files/
    sim.store.close()
    assert state(db) != before

    report = backup.restore_copy(str(db), backup.verify_copy(info.path))
    assert report.method == "backup-api" and report.attachments == 1
    assert Path(report.safety_copy).name.startswith("shop-pre-restore-")
    assert state(db) == before
    assert sim_for(db).check().ok


def test_a_store_left_open_sees_the_restored_content(db: Path) -> None:
    info = backup.create_backup(str(db))
    sim = sim_for(db)
    sim.catalog.add_product(sku="NEW-1", name="Newcomer", price="1.00")
    backup.restore_copy(str(db), backup.verify_copy(info.path))
    assert "NEW-1" not in {p.sku for p in sim.catalog.find_products(ProductQuery())}
    sim.store.close()


def test_the_safety_copy_can_undo_a_restore(db: Path) -> None:
    info = backup.create_backup(str(db))
    sim = sim_for(db)
    sim.catalog.add_product(sku="NEW-1", name="Newcomer", price="1.00")
    sim.store.close()
    after = state(db)
    report = backup.restore_copy(str(db), backup.verify_copy(info.path))
    backup.restore_copy(str(db), backup.verify_copy(report.safety_copy))
    assert state(db) == after


def test_restore_refuses_a_corrupted_backup_and_leaves_the_database_untouched(db: Path) -> None:
    info = backup.create_backup(str(db))
    flip_bytes(Path(info.path), 3 * 4096 + 100)
    live = sha(db)
    error = refused("corrupt", backup.verify_copy, info.path)
    assert "checksum" in error.message
    assert sha(db) == live and len(backup.list_backups(str(db))) == 1  # no pre-restore copy either


def test_restore_refuses_a_copy_failing_integrity_check_even_with_a_matching_checksum(db: Path) -> None:
    info = backup.create_backup(str(db))
    damage_an_index(Path(info.path))
    manifest_path = Path(f"{info.path}.manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"], manifest["size"] = sha(Path(info.path)), Path(info.path).stat().st_size
    manifest_path.write_text(json.dumps(manifest))
    assert "integrity_check" in refused("corrupt", backup.verify_copy, info.path).message


@pytest.mark.parametrize("edit, code", [
    (lambda m: {**m, "sha256": "0" * 64}, "corrupt"),
    (lambda m: {**m, "size": m["size"] + 1}, "corrupt"),
    (lambda m: {**m, "audit_tails": {"t1": "f" * 64}}, "tampered"),  # the audit log "ends" elsewhere
    (lambda m: {**m, "audit_tails": {}}, "tampered"),
    (lambda m: {**m, "format": "something else"}, "corrupt"),
    (lambda m: {**m, "version": 99}, "unsupported_version"),
])
def test_restore_refuses_a_tampered_manifest(db: Path, edit, code: str) -> None:
    info = backup.create_backup(str(db))
    manifest_path = Path(f"{info.path}.manifest.json")
    manifest_path.write_text(json.dumps(edit(json.loads(manifest_path.read_text()))))
    live = sha(db)
    refused(code, backup.verify_copy, info.path)
    assert sha(db) == live


def test_restore_refuses_a_manifest_that_is_not_json(db: Path) -> None:
    info = backup.create_backup(str(db))
    Path(f"{info.path}.manifest.json").write_text('{"sha256": ')
    refused("corrupt", backup.verify_copy, info.path)


def test_restore_refuses_a_backup_whose_attachment_file_changed(db: Path) -> None:
    info = backup.create_backup(str(db))
    [content] = [p for p in Path(f"{info.path}.files").rglob("*") if p.is_file()]
    content.write_bytes(b"not the datasheet")
    assert "attachment" in refused("corrupt", backup.verify_copy, info.path).message


def test_restore_of_a_missing_file_is_not_found(db: Path) -> None:
    refused("not_found", backup.verify_copy, str(db) + ".backups/none.db")


def test_a_file_without_manifest_is_no_backup_but_can_be_imported(db: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.db"
    conn = sqlite3.connect(db)
    conn.execute("VACUUM INTO ?", (str(bare),))
    conn.close()
    assert "no manifest" in refused("corrupt", backup.verify_copy, str(bare)).message
    copy = backup.verify_copy(str(bare), require_manifest=False)
    assert copy.revision == migrations.HEAD and copy.missing_attachments == 1  # bare.db.files/ does not exist


def test_a_garbage_file_is_refused_as_corrupt(db: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(8192))
    refused("corrupt", backup.verify_copy, str(junk), require_manifest=False)


def test_restore_over_a_garbage_database_moves_it_aside(db: Path) -> None:
    before = state(db)
    info = backup.create_backup(str(db))
    garbage = os.urandom(4096)
    db.write_bytes(garbage)
    report = backup.restore_copy(str(db), backup.verify_copy(info.path))
    assert report.method == "file-swap" and report.safety_copy is None
    [aside] = report.moved_aside
    assert Path(aside).name.startswith("shop.db.damaged-") and Path(aside).read_bytes() == garbage
    assert state(db) == before


def test_restore_over_a_database_failing_quick_check_moves_it_aside(db: Path) -> None:
    before = state(db)
    info = backup.create_backup(str(db))
    damage_an_index(db)
    assert backup.check_database(str(db)) is not None
    report = backup.restore_copy(str(db), backup.verify_copy(info.path))
    assert report.method == "file-swap" and report.moved_aside
    assert backup.check_database(str(db)) is None
    assert state(db) == before


def test_restore_when_the_database_is_gone(db: Path) -> None:
    before = state(db)
    info = backup.create_backup(str(db))
    db.unlink()
    report = backup.restore_copy(str(db), backup.verify_copy(info.path))
    assert report.method == "new-file"
    assert state(db) == before


def test_restore_gives_up_with_busy_while_another_writer_holds_the_database(db: Path) -> None:
    info = backup.create_backup(str(db))
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        refused("busy", backup.restore_copy, str(db), backup.verify_copy(info.path), busy_timeout_ms=300)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_restore_refuses_to_overwrite_a_sqlite_file_that_is_not_stockbanks(db: Path, tmp_path: Path) -> None:
    info = backup.create_backup(str(db))
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (text)")
    conn.commit()
    conn.close()
    refused("unsupported_version", backup.restore_copy, str(other), backup.verify_copy(info.path))
    assert sqlite3.connect(other).execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]


# -- export-db / import-db ----------------------------------------------------------------------


def test_export_then_import_into_another_path_round_trips(db: Path, tmp_path: Path) -> None:
    before = state(db)
    moved = tmp_path / "usb" / "shop-copy.db"
    moved.parent.mkdir()
    info = backup.export_database(str(db), moved)
    assert info.kind == "export" and Path(f"{moved}.manifest.json").exists()
    assert sqlite3.connect(moved).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    other_machine = tmp_path / "other" / "books.db"
    other_machine.parent.mkdir()
    report = backup.restore_copy(str(other_machine), backup.verify_copy(str(moved), require_manifest=False))
    assert report.method == "new-file" and report.attachments == 1
    assert state(other_machine) == before
    assert Path(f"{other_machine}.files").is_dir()


def test_import_over_an_existing_database_keeps_it_as_a_pre_restore_backup(db: Path, tmp_path: Path) -> None:
    exported = tmp_path / "export.db"
    backup.export_database(str(db), exported)
    target = tmp_path / "target.db"
    sim = sim_for(target)
    sim.catalog.add_product(sku="MINE-1", name="Mine", price="1.00")
    sim.store.close()
    report = backup.restore_copy(str(target), backup.verify_copy(str(exported), require_manifest=False))
    assert report.safety_copy and Path(report.safety_copy).parent == Path(f"{target}.backups")
    assert state(target) == state(db)
    kept = sqlite3.connect(report.safety_copy)
    assert kept.execute("SELECT sku FROM products").fetchall() == [("MINE-1",)]
    kept.close()


def test_export_refuses_an_existing_target(db: Path, tmp_path: Path) -> None:
    (tmp_path / "taken.db").write_bytes(b"x")
    refused("already_exists", backup.export_database, str(db), tmp_path / "taken.db")


def test_import_of_a_newer_schema_is_unsupported_version(db: Path, tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    backup.export_database(str(db), newer)
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    Path(f"{newer}.manifest.json").unlink()
    refused("unsupported_version", backup.verify_copy, str(newer), require_manifest=False)


def test_import_of_an_older_schema_is_upgraded_on_next_open(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    migrations.upgrade(f"sqlite:///{old}", "0004")
    conn = sqlite3.connect(old)
    conn.execute("INSERT INTO categories (tenant_id, name) VALUES ('t1', 'Tools')")
    conn.commit()
    conn.close()
    target = tmp_path / "shop.db"
    report = backup.restore_copy(str(target), backup.verify_copy(str(old), require_manifest=False))
    assert report.revision == "0004"
    sim = sim_for(target)
    assert [c.name for c in sim.catalog.categories()] == ["Tools"]
    assert sim.store.revision == migrations.HEAD
    sim.store.close()


# -- health check -------------------------------------------------------------------------------


def test_check_database_names_what_is_wrong(db: Path, tmp_path: Path) -> None:
    assert backup.check_database(str(db)) is None
    assert backup.check_database(str(tmp_path / "missing.db")) is None  # nothing there is not damage
    damage_an_index(db)
    assert "page" in backup.check_database(str(db))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"garbage!" * 512)
    assert "not a database" in backup.check_database(str(junk))


def test_newest_good_backup_skips_bad_ones(db: Path) -> None:
    good = backup.create_backup(str(db))
    bad = backup.create_backup(str(db))
    flip_bytes(Path(bad.path), 4096 + 10)
    assert backup.newest_good_backup(str(db)).name == good.name
    flip_bytes(Path(good.path), 4096 + 10)
    assert backup.newest_good_backup(str(db)) is None

