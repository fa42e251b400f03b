"""Attachments on real SQLite files: the `attachments=file|blob` URL option, the content-addressed
folder next to the database, what a rolled-back upload leaves behind, and the garbage collection
of files no row uses (safe against a concurrent writer because it holds the write lock)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError
from storage import open_store
from storage.sqlite.store import parse_url

DATA = b"datasheet " * 1000


def sim_for(url: str, actor: str = "tester") -> Simulator:
    return Simulator(open_store(url), actor=actor, tenant="t1", clock=FixedClock())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    sim = sim_for(f"sqlite:///{path}")
    sim.catalog.add_product(sku="HAM-1", name="Hammer", price="1.00")
    sim.store.close()
    return path


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_the_url_option_chooses_where_new_bytes_go() -> None:
    assert parse_url("sqlite:///a.db").attachments == "file"
    assert parse_url("sqlite:///a.db?attachments=BLOB&synchronous=normal").attachments == "blob"
    for bad in ("sqlite:///a.db?attachments=", "sqlite:///a.db?attachments=s3"):
        with pytest.raises(DomainError) as info:
            parse_url(bad)
        assert info.value.code == "validation"


def test_files_live_in_a_folder_next_to_the_database_created_on_first_use(db: Path) -> None:
    folder = Path(f"{db}.files")
    sim = sim_for(f"sqlite:///{db}")
    assert not folder.exists()  # opening the store writes nothing
    a = sim.attachments.attach("HAM-1", "a.pdf", DATA)
    sim.store.close()
    assert files_under(folder) == [folder / a.sha256[:2] / a.sha256]
    assert (folder / a.sha256[:2] / a.sha256).read_bytes() == DATA
    assert hashlib.sha256(DATA).hexdigest() == a.sha256


def test_a_store_reads_rows_of_either_mode_whatever_mode_it_was_opened_in(db: Path) -> None:
    as_file = sim_for(f"sqlite:///{db}")
    f = as_file.attachments.attach("HAM-1", "f.bin", DATA)
    as_file.store.close()
    as_blob = sim_for(f"sqlite:///{db}?attachments=blob")
    b = as_blob.attachments.attach("HAM-1", "b.bin", DATA + b"!")
    assert (f.storage, b.storage) == ("file", "blob")
    assert as_blob.attachments.read(f.id) == DATA
    as_blob.store.close()
    again = sim_for(f"sqlite:///{db}")
    assert [again.attachments.read(x.id) for x in (f, b)] == [DATA, DATA + b"!"]
    again.store.close()


def test_a_rolled_back_upload_leaves_no_row_and_at_most_an_unused_file(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TRIGGER no_audit BEFORE INSERT ON audit_log WHEN NEW.entity = 'attachment'"
                  " BEGIN SELECT RAISE(ABORT, 'audit refused'); END")
    conn.commit()
    sim = sim_for(f"sqlite:///{db}")
    with pytest.raises(DomainError):
        sim.attachments.attach("HAM-1", "a.bin", DATA)
    assert conn.execute("SELECT count(*) FROM attachments").fetchone()[0] == 0
    leftovers = files_under(Path(f"{db}.files"))
    assert [p.name for p in leftovers] == [hashlib.sha256(DATA).hexdigest()]  # harmless: nothing points at it
    assert sim.store.collect_attachment_files() == (1, len(DATA))
    assert files_under(Path(f"{db}.files")) == []
    conn.close()
    sim.store.close()


def test_gc_deletes_only_files_no_row_of_any_tenant_uses(db: Path) -> None:
    sim = sim_for(f"sqlite:///{db}")
    other = Simulator(sim.store, actor="x", tenant="t2", clock=FixedClock())
    other.catalog.add_product(sku="HAM-1", name="Hammer", price="1.00")
    shared = sim.attachments.attach("HAM-1", "a.bin", DATA)
    other.attachments.attach("HAM-1", "same.bin", DATA)
    gone = sim.attachments.attach("HAM-1", "gone.bin", b"gone")
    sim.attachments.remove(shared.id)
    sim.attachments.remove(gone.id)
    stray = Path(f"{db}.files") / "ab" / ".tmp-crashed"  # a temp file left by a crash mid-write
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"half")
    assert sim.store.collect_attachment_files() == (2, len(b"gone") + len(b"half"))
    assert [p.name for p in files_under(Path(f"{db}.files"))] == [shared.sha256]  # t2 still uses it
    assert other.attachments.list("HAM-1")[0].sha256 == shared.sha256
    sim.store.close()


def test_gc_spares_files_younger_than_min_age(db: Path) -> None:
    sim = sim_for(f"sqlite:///{db}")
    a = sim.attachments.attach("HAM-1", "a.bin", DATA)
    sim.attachments.remove(a.id)
    assert sim.store.collect_attachment_files(min_age_seconds=3600) == (0, 0)
    path = sim.store.files.path(a.sha256)
    old = time.time() - 7200
    os.utime(path, (old, old))
    assert sim.store.collect_attachment_files(min_age_seconds=3600) == (1, len(DATA))
    sim.store.close()


def test_gc_waits_for_a_writer_and_gives_up_busy(db: Path) -> None:
    sim = sim_for(f"sqlite:///{db}?busy_timeout=100")
    a = sim.attachments.attach("HAM-1", "a.bin", DATA)
    sim.attachments.remove(a.id)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process mid-upload: its file may not have its row yet
    with pytest.raises(DomainError) as info:
        sim.store.collect_attachment_files()
    assert info.value.code == "busy"
    assert files_under(Path(f"{db}.files")) != []
    writer.execute("ROLLBACK")
    writer.close()
    assert sim.store.collect_attachment_files() == (1, len(DATA))
    sim.store.close()


def test_an_unwritable_files_folder_is_a_storage_error_and_no_row_is_written(db: Path) -> None:
    Path(f"{db}.files").write_text("not a folder")
    sim = sim_for(f"sqlite:///{db}")
    with pytest.raises(DomainError) as info:
        sim.attachments.attach("HAM-1", "a.bin", DATA)
    assert info.value.code == "storage"
    assert sim.attachments.list("HAM-1") == []
    sim.store.close()


def test_writes_leave_no_temp_files(db: Path) -> None:
    sim = sim_for(f"sqlite:///{db}")
    for i in range(5):
        sim.attachments.attach("HAM-1", f"{i}.bin", DATA + bytes([i]))
    sim.attachments.attach("HAM-1", "again.bin", DATA + bytes([3]))  # dedup: no sixth file
    names = [p.name for p in files_under(Path(f"{db}.files"))]
    assert len(names) == 5 and not [n for n in names if n.startswith(".tmp")]
    sim.store.close()


def test_blob_mode_keeps_the_bytes_in_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "blob.db"
    sim = sim_for(f"sqlite:///{path}?attachments=blob")
    sim.catalog.add_product(sku="HAM-1", name="Hammer", price="1.00")
    a = sim.attachments.attach("HAM-1", "a.bin", DATA)
    sim.store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT storage, content FROM attachments WHERE id = ?", (a.id,)).fetchone() == ("blob", DATA)
    conn.close()
    assert not Path(f"{path}.files").exists()
