"""The attachments contract: product attachments behave the same on every adapter, and on SQLite in
both of its modes (content-addressed files, the default, and BLOBs in the row).

Bytes round-trip exactly and are verified on every read (tampered or missing bytes are `corrupt`);
refusals (too large, bad names, unknown products) leave the tenant unchanged, files included; an
attach or remove writes its audit entry in the same transaction, metadata only; deleting a product
takes its attachments with it; nothing crosses tenants.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import STORE_FACTORIES  # one store factory per adapter

from domain import Simulator
from domain.clock import FixedClock
from domain.errors import DomainError
from domain.model.attachments import MAX_ATTACHMENT_BYTES, Attachment
from domain.ports import Store
from domain.services.attachments import AttachmentService
from storage import open_store

TENANT = "t1"
# Every adapter, plus SQLite with its BLOB option: a new adapter joins through STORE_FACTORIES.
FACTORIES = {**STORE_FACTORIES, "sqlite-blob": lambda tmp: f"sqlite:///{tmp / 'shop.db'}?attachments=blob"}
PAYLOAD = bytes(range(256)) * 41 + b"\x00end"  # every byte value, not a multiple of any block size


@pytest.fixture(params=list(FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(FACTORIES[request.param](tmp_path))
    yield opened
    opened.close()


@pytest.fixture
def sim(store: Store) -> Simulator:
    s = Simulator(store, actor="tester", tenant=TENANT, clock=FixedClock())
    s.catalog.add_product(sku="HAM-1", name="Hammer", price="12.50")
    s.catalog.add_product(sku="SAW-1", name="Saw", price="20.00")
    return s


# -- helpers --------------------------------------------------------------------------------------


def expected_storage(store: Store) -> str:
    """Where an adapter keeps new bytes: files for SQLite by default, BLOBs otherwise."""
    options = getattr(store, "options", None)
    return getattr(options, "attachments", "blob")


def files_root(store: Store) -> Path | None:
    files = getattr(store, "files", None)
    return files.root if files is not None else None


def stored_files(store: Store) -> list[Path]:
    """Every file under the store's attachment folder (temp files included)."""
    root = files_root(store)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root is not None and root.exists() else []


def raw_rows(sim: Simulator) -> list[Attachment]:
    """Every attachment row of the tenant, read through the repository (no service rules)."""
    with sim.store.unit_of_work(sim.tenant) as uow:
        products = [uow.products.get_by_sku(s) for s in ("HAM-1", "SAW-1")]
        return [a for p in products if p is not None for a in uow.attachments.list(p.id)]


def snapshot(sim: Simulator) -> dict[str, Any]:
    with sim.store.unit_of_work(sim.tenant) as uow:
        audit = len(uow.audit.latest(100_000))
    return {"rows": raw_rows(sim), "audit": audit, "files": stored_files(sim.store)}


def refused(sim: Simulator, code: str, call) -> DomainError:
    before = snapshot(sim)
    with pytest.raises(DomainError) as info:
        call()
    assert info.value.code == code, info.value
    assert snapshot(sim) == before
    return info.value


def tamper(store: Store, a: Attachment, data: bytes) -> None:
    """Change an attachment's stored bytes behind the store's back, wherever the adapter keeps them."""
    if a.storage == "file":
        store.files.path(a.sha256).write_bytes(data)  # type: ignore[attr-defined]
    elif hasattr(store, "_tenants"):  # memory
        store._tenants[TENANT].attachment_content[a.id] = data  # type: ignore[attr-defined]
    else:
        behind_the_store(store, "UPDATE attachments SET content = ? WHERE id = ?", (data, a.id))


def behind_the_store(store: Store, sql: str, params: tuple) -> list[tuple]:
    """Run SQL on the store's database with a connection of its own (SQLite file, or PostgreSQL as the
    superuser, who is not walled by row-level security)."""
    if getattr(store, "path", None):
        conn = sqlite3.connect(store.path)  # type: ignore[attr-defined]
        try:
            rows = conn.execute(sql, params).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()
    import psycopg

    url = store.options.engine_url.replace("postgresql+psycopg_async", "postgresql").replace("postgresql+psycopg", "postgresql")  # type: ignore[attr-defined]
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


# -- round trip -----------------------------------------------------------------------------------


def test_attached_bytes_read_back_exactly_with_sha256_and_size_recorded(sim: Simulator) -> None:
    a = sim.attachments.attach("ham-1", "datasheet.pdf", PAYLOAD)
    assert a.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert (a.size_bytes, a.name, a.media_type, a.actor) == (len(PAYLOAD), "datasheet.pdf", "application/pdf", "tester")
    assert a.storage == expected_storage(sim.store)
    assert sim.attachments.read(a.id) == PAYLOAD
    assert sim.attachments.get(a.id) == a
    assert sim.attachments.list("HAM-1") == [a]
    assert sim.attachments.list(a.product_id) == [a]
    assert sim.attachments.list("SAW-1") == []


def test_a_product_lists_its_attachments_oldest_first(sim: Simulator) -> None:
    made = [sim.attachments.attach("HAM-1", f"photo-{i}.jpg", PAYLOAD + bytes([i])) for i in range(3)]
    sim.attachments.attach("SAW-1", "saw.png", b"png")
    assert sim.attachments.list("HAM-1") == made
    assert [sim.attachments.read(a.id) for a in made] == [PAYLOAD + bytes([i]) for i in range(3)]


def test_bytes_kept_in_a_file_or_in_the_row_as_the_store_was_opened(sim: Simulator, tmp_path: Path) -> None:
    a = sim.attachments.attach("HAM-1", "a.bin", PAYLOAD)
    if expected_storage(sim.store) == "file":
        assert [p.name for p in stored_files(sim.store)] == [a.sha256]
        assert stored_files(sim.store)[0].parent.name == a.sha256[:2]
        assert stored_files(sim.store)[0].read_bytes() == PAYLOAD
    else:
        assert stored_files(sim.store) == []
    if getattr(sim.store, "path", None) or hasattr(getattr(sim.store, "options", None), "engine_url"):  # an SQL store
        [(content,)] = behind_the_store(sim.store, "SELECT content FROM attachments WHERE id = ?", (a.id,))
        assert (bytes(content) if content is not None else None) == (PAYLOAD if a.storage == "blob" else None)


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("photo.png", None, "image/png"),
        ("sheet.PDF", None, "application/pdf"),
        ("notes.txt", "", "text/plain"),
        ("README", None, "application/octet-stream"),
        ("photo.png", " Image/WEBP ", "image/webp"),
        ("x", "application/vnd.ms-excel", "application/vnd.ms-excel"),
    ],
)
def test_media_type_is_given_or_guessed_from_the_name(sim: Simulator, name: str, given: str | None,
                                                      expected: str) -> None:
    assert sim.attachments.attach("HAM-1", name, b"x", given).media_type == expected


@pytest.mark.parametrize("bad", ["png", "image/", "/png", "image/png; q=1", "image png/x", "a/" + "b" * 100, 7])
def test_a_malformed_media_type_is_refused(sim: Simulator, bad: Any) -> None:
    error = refused(sim, "validation", lambda: sim.attachments.attach("HAM-1", "a.png", b"x", bad))
    assert error.field == "media_type"


def test_names_are_trimmed_and_may_hold_any_printable_text(sim: Simulator) -> None:
    a = sim.attachments.attach("HAM-1", "  Fiche technique (v2) — été.pdf ", b"x")
    assert a.name == "Fiche technique (v2) — été.pdf"
    assert sim.attachments.attach("HAM-1", "n" * 255, b"x").name == "n" * 255


# -- verification on read -------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["flip", "truncate", "swap"])
def test_bytes_changed_behind_the_store_are_corrupt_on_read(sim: Simulator, change: str) -> None:
    a = sim.attachments.attach("HAM-1", "a.bin", PAYLOAD)
    other = sim.attachments.attach("HAM-1", "b.bin", b"other bytes")
    damaged = {
        "flip": PAYLOAD[:100] + bytes([PAYLOAD[100] ^ 1]) + PAYLOAD[101:],  # same size, one bit differs
        "truncate": PAYLOAD[:-1],
        "swap": b"other bytes",  # another attachment's intact bytes
    }[change]
    tamper(sim.store, a, damaged)
    with pytest.raises(DomainError) as info:
        sim.attachments.read(a.id)
    assert info.value.code == "corrupt"
    assert sim.attachments.get(a.id) == a  # the metadata is still there to show what was lost
    assert sim.attachments.read(other.id) == b"other bytes"


def test_a_missing_attachment_file_is_corrupt(sim: Simulator) -> None:
    a = sim.attachments.attach("HAM-1", "a.bin", PAYLOAD)
    if a.storage != "file":
        pytest.skip("bytes are kept in the row")
    sim.store.files.path(a.sha256).unlink()  # type: ignore[attr-defined]
    with pytest.raises(DomainError) as info:
        sim.attachments.read(a.id)
    assert info.value.code == "corrupt"


# -- deduplication (file mode) ----------------------------------------------------------------------


def test_identical_content_is_stored_once_in_file_mode(sim: Simulator) -> None:
    a = sim.attachments.attach("HAM-1", "a.bin", PAYLOAD)
    b = sim.attachments.attach("SAW-1", "b.bin", PAYLOAD)
    assert a.id != b.id and a.sha256 == b.sha256
    if a.storage != "file":
        pytest.skip("bytes are kept in each row")
    assert len(stored_files(sim.store)) == 1
    sim.attachments.remove(a.id)
    assert sim.attachments.read(b.id) == PAYLOAD  # the shared file outlives one of its rows


def test_a_damaged_file_is_repaired_by_the_next_identical_upload(sim: Simulator) -> None:
    a = sim.attachments.attach("HAM-1", "a.bin", PAYLOAD)
    if a.storage != "file":
        pytest.skip("bytes are kept in each row")
    tamper(sim.store, a, b"garbage")
    sim.attachments.attach("SAW-1", "again.bin", PAYLOAD)
    assert sim.attachments.read(a.id) == PAYLOAD


# -- refusals leave everything unchanged ------------------------------------------------------------


def test_content_over_the_limit_is_too_large_and_nothing_is_written(sim: Simulator) -> None:
    error = refused(sim, "too_large", lambda: sim.attachments.attach("HAM-1", "big.bin", bytes(MAX_ATTACHMENT_BYTES + 1)))
    assert error.details == {"size_bytes": MAX_ATTACHMENT_BYTES + 1, "limit_bytes": MAX_ATTACHMENT_BYTES}


def test_the_size_limit_is_inclusive(sim: Simulator) -> None:
    small = AttachmentService(sim.ctx, max_bytes=10)
    assert small.attach("HAM-1", "ten.bin", b"0123456789").size_bytes == 10
    refused(sim, "too_large", lambda: small.attach("HAM-1", "eleven.bin", b"0123456789A"))


@pytest.mark.parametrize(
    "name", ["", "   ", "a/b.pdf", "..\\evil.exe", "/etc/passwd", ".", "..", "n" * 256, "tab\there", "nul\x00.pdf",
             "line\nbreak", None, 42, b"bytes.pdf"],
)
def test_a_bad_name_is_refused(sim: Simulator, name: Any) -> None:
    error = refused(sim, "validation", lambda: sim.attachments.attach("HAM-1", name, PAYLOAD))
    assert error.field == "name"


@pytest.mark.parametrize("content", [b"", "text, not bytes", None, [1, 2, 3]])
def test_empty_or_non_bytes_content_is_refused(sim: Simulator, content: Any) -> None:
    error = refused(sim, "validation", lambda: sim.attachments.attach("HAM-1", "a.bin", content))
    assert error.field == "content"


def test_bytearray_and_memoryview_are_accepted(sim: Simulator) -> None:
    a = sim.attachments.attach("HAM-1", "a.bin", bytearray(b"abc"))
    b = sim.attachments.attach("HAM-1", "b.bin", memoryview(b"abc"))
    assert sim.attachments.read(a.id) == sim.attachments.read(b.id) == b"abc"


@pytest.mark.parametrize(("ref", "code"), [("NOPE-1", "not_found"), (999, "not_found"), (0, "not_found"),
                                           (2**70, "not_found"), (True, "validation"), (None, "validation")])
def test_an_unknown_product_is_refused(sim: Simulator, ref: Any, code: str) -> None:
    refused(sim, code, lambda: sim.attachments.attach(ref, "a.bin", PAYLOAD))
    with pytest.raises(DomainError) as info:
        sim.attachments.list(ref)
    assert info.value.code == code


@pytest.mark.parametrize("ref", [999, 0, -1, True, "1", 1.0, None, 2**70])
def test_an_unknown_attachment_is_not_found(sim: Simulator, ref: Any) -> None:
    sim.attachments.attach("HAM-1", "a.bin", PAYLOAD)  # id 1 exists: "1", 1.0 and True must not find it
    for call in (sim.attachments.get, sim.attachments.read):
        with pytest.raises(DomainError) as info:
            call(ref)
        assert info.value.code == "not_found"
    refused(sim, "not_found", lambda: sim.attachments.remove(ref))


# -- removal, audit, transactions -------------------------------------------------------------------


def test_a_removed_attachment_is_gone(sim: Simulator) -> None:
    a = sim.attachments.attach("HAM-1", "a.bin", PAYLOAD)
    keep = sim.attachments.attach("HAM-1", "b.bin", b"b")
    assert sim.attachments.remove(a.id) == a
    assert sim.attachments.list("HAM-1") == [keep]
    for call in (sim.attachments.get, sim.attachments.read, sim.attachments.remove):
        with pytest.raises(DomainError) as info:
            call(a.id)
        assert info.value.code == "not_found"


def test_attach_and_remove_write_one_audit_entry_each_with_metadata_only(sim: Simulator) -> None:
    big = PAYLOAD * 4
    a = sim.attachments.attach("HAM-1", "a.bin", big)
    sim.attachments.remove(a.id)
    removed, created = sim.audit.entries(limit=2)
    assert (created.entity, created.entity_id, created.action, created.actor) == ("attachment", str(a.id), "create", "tester")
    assert (removed.entity, removed.entity_id, removed.action) == ("attachment", str(a.id), "delete")
    for entry, text in ((created, created.after), (removed, removed.before)):
        assert a.sha256 in text and '"size_bytes":%d' % len(big) in text and '"product_id":%d' % a.product_id in text
        assert len(text) < 1000  # the bytes are never in the log
    assert created.before is None and removed.after is None
    assert sim.audit.verify().ok


class _ClockThatStops:
    """A FixedClock that fails on one given reading: a failure at an exact step of a write."""

    def __init__(self) -> None:
        self._inner = FixedClock()
        self.readings = 0
        self.fail_at: int | None = None

    def now(self) -> datetime:
        self.readings += 1
        if self.readings == self.fail_at:
            raise RuntimeError("clock stopped")
        return self._inner.now()


def test_a_failure_while_auditing_rolls_the_attachment_back(store: Store) -> None:
    clock = _ClockThatStops()
    sim = Simulator(store, actor="tester", tenant=TENANT, clock=clock)
    sim.catalog.add_product(sku="HAM-1", name="Hammer", price="1.00")
    start = clock.readings
    first = sim.attachments.attach("HAM-1", "first.bin", b"first")
    per_attach = clock.readings - start  # the audit entry's time is the last reading of an attach
    before = raw_rows(sim)
    clock.fail_at = clock.readings + per_attach
    with pytest.raises(RuntimeError, match="clock stopped"):
        sim.attachments.attach("HAM-1", "second.bin", PAYLOAD)
    assert raw_rows(sim) == before == [first]
    assert [e.entity_id for e in sim.audit.entries(limit=10) if e.entity == "attachment"] == [str(first.id)]
    assert sim.attachments.attach("HAM-1", "third.bin", PAYLOAD).id > first.id


def test_a_unit_of_work_left_without_commit_keeps_no_attachment(sim: Simulator) -> None:
    product = sim.catalog.get_product_by_sku("HAM-1")
    with sim.store.unit_of_work(TENANT, write=True) as uow:
        made = uow.attachments.add(product.id, "a.bin", "application/octet-stream", PAYLOAD, "tester", "2026-01-01")
        assert uow.attachments.content(made.id) == PAYLOAD  # visible inside its own transaction
    assert raw_rows(sim) == []
    keep = sim.attachments.attach("HAM-1", "keep.bin", b"keep")
    with pytest.raises(ZeroDivisionError):
        with sim.store.unit_of_work(TENANT, write=True) as uow:
            uow.attachments.remove(keep.id)
            1 / 0
    assert sim.attachments.read(keep.id) == b"keep"


# -- cascade and tenants ------------------------------------------------------------------------------


def test_a_deleted_product_keeps_its_attachments_but_takes_no_new_ones(sim: Simulator) -> None:
    ham = sim.catalog.get_product_by_sku("HAM-1")
    a = sim.attachments.attach("HAM-1", "a.bin", PAYLOAD)
    sim.catalog.delete_product(ham.id)
    assert sim.attachments.list(ham.id) == [a]
    assert sim.attachments.read(a.id) == PAYLOAD
    refused(sim, "not_found", lambda: sim.attachments.attach(ham.id, "b.bin", PAYLOAD))
    sim.catalog.restore_product(ham.id)
    assert sim.attachments.attach("HAM-1", "b.bin", b"b").product_id == ham.id


def test_purging_a_product_deletes_its_attachments(sim: Simulator) -> None:
    ham = sim.catalog.get_product_by_sku("HAM-1")
    a = sim.attachments.attach("HAM-1", "a.bin", PAYLOAD)
    other = sim.attachments.attach("SAW-1", "s.bin", b"saw")
    sim.catalog.delete_product(ham.id)
    sim.catalog.purge_product(ham.id)
    with sim.store.unit_of_work(TENANT) as uow:
        assert uow.attachments.get(a.id) is None
        assert uow.attachments.list(ham.id) == []
    for call in (sim.attachments.get, sim.attachments.read, sim.attachments.remove):
        with pytest.raises(DomainError) as info:
            call(a.id)
        assert info.value.code == "not_found"
    assert sim.attachments.read(other.id) == b"saw"
    assert sim.check().ok


def test_a_purge_that_fails_keeps_the_attachments(sim: Simulator) -> None:
    ham = sim.catalog.get_product_by_sku("HAM-1")
    a = sim.attachments.attach("HAM-1", "a.bin", PAYLOAD)
    sim.catalog.delete_product(ham.id)
    with pytest.raises(ZeroDivisionError):
        with sim.store.unit_of_work(TENANT, write=True) as uow:
            uow.products.delete(ham.id)
            1 / 0
    assert sim.attachments.list(ham.id) == [a]
    assert sim.attachments.read(a.id) == PAYLOAD


def test_tenants_never_see_each_others_attachments(store: Store, sim: Simulator) -> None:
    a = sim.attachments.attach("HAM-1", "a.bin", PAYLOAD)
    other = Simulator(store, actor="intruder", tenant="t2", clock=FixedClock())
    other.catalog.add_product(sku="HAM-1", name="Their hammer", price="1.00")
    mine = other.attachments.attach("HAM-1", "same-bytes.bin", PAYLOAD)  # same content, maybe the same file
    assert other.attachments.list("HAM-1") == [mine]
    for call in (other.attachments.get, other.attachments.read, other.attachments.remove):
        with pytest.raises(DomainError) as info:
            call(a.id)
        assert info.value.code == "not_found"
    assert a.product_id != mine.product_id
    with pytest.raises(DomainError) as info:
        other.attachments.list(a.product_id)  # t1's product, named by its id
    assert info.value.code == "not_found"
    other.attachments.remove(mine.id)
    assert sim.attachments.read(a.id) == PAYLOAD
    assert sim.attachments.list("HAM-1") == [a]
