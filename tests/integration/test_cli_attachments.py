"""`stockbank attach`, `attachments` and `attachment get/remove/gc` on real SQLite files, in text
and --json: the bytes come back exactly, every refusal exits 1 with `error [code]: message` (or a
JSON error) and changes nothing the listing, the audit log or the files folder can show."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.model.attachments import MAX_ATTACHMENT_BYTES
from storage import open_store
from tests.integration.conftest import STOCKBANK
from tests.integration.cli_helpers import ok_json, ok_text, one_parser, run  # noqa: F401 (one_parser: autouse)

pytestmark = pytest.mark.usefixtures("no_user_database")

SKU = "HAM-1"
CONTENT = bytes(range(256)) * 100


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "shop.db"
    store = open_store(f"sqlite:///{path}")
    sim = Simulator(store, actor="setup", tenant="default", clock=FixedClock())
    sim.catalog.add_product(sku=SKU, name="Hammer", price="12.50")
    sim.catalog.add_product(sku="SAW-1", name="Saw", price="20.00")
    store.close()
    yield f"sqlite:///{path}"


@pytest.fixture
def upload(tmp_path: Path) -> Path:
    path = tmp_path / "Hammer datasheet.pdf"
    path.write_bytes(CONTENT)
    return path











def state(capsys: pytest.CaptureFixture[str], db: str) -> dict[str, Any]:
    folder = Path(db.removeprefix("sqlite:///") + ".files")
    return {
        "lists": {sku: ok_json(capsys, db, "attachments", sku)["attachments"] for sku in (SKU, "SAW-1")},
        "audit": ok_json(capsys, db, "audit", "list", "--limit", "1000")["entries"],
        "files": sorted(str(p) for p in folder.rglob("*")) if folder.exists() else [],
    }


def refused(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> str:
    """The command exits 1 in text and in --json with the same code, and changes nothing."""
    before = state(capsys, db)
    code, out, err = run(capsys, db, *argv)
    assert code == 1, (argv, out, err)
    assert out == "" and err.startswith("error [") and err.count("\n") == 1, err
    text_code = err[len("error ["):err.index("]")]
    code, out, err = run(capsys, db, "--json", *argv)
    assert code == 1 and err == "", (argv, out, err)
    data = json.loads(out)
    assert data["ok"] is False and data["error"]["code"] == text_code and data["error"]["message"]
    assert state(capsys, db) == before, f"refused {argv} must change nothing"
    return text_code


# -- round trips ------------------------------------------------------------------------------------


def test_attach_list_get_remove_round_trip_in_text(capsys, db: str, upload: Path, tmp_path: Path) -> None:
    sha = hashlib.sha256(CONTENT).hexdigest()
    out = ok_text(capsys, db, "attach", SKU, str(upload))
    assert out == (f"attachment 1: Hammer datasheet.pdf (application/pdf, 25.0 KiB) attached to product 1, "
                   f"sha256 {sha}\n")
    listing = ok_text(capsys, db, "attachments", SKU).splitlines()
    assert listing[0].split() == ["id", "name", "type", "bytes", "storage", "added", "(UTC)", "sha256"]
    assert "Hammer datasheet.pdf" in listing[1] and "25,600" in listing[1] and sha[:12] in listing[1]
    target = tmp_path / "out" / "copy.pdf"
    target.parent.mkdir()
    out = ok_text(capsys, db, "attachment", "get", "1", "--out", str(target))
    assert out == f"saved attachment 1 (Hammer datasheet.pdf, 25.0 KiB, sha256 verified) to {target}\n"
    assert target.read_bytes() == CONTENT
    assert [p.name for p in target.parent.iterdir()] == ["copy.pdf"]  # no temp file left behind
    assert ok_text(capsys, db, "attachment", "remove", "1") == "removed attachment 1 (Hammer datasheet.pdf) of product 1\n"
    assert ok_text(capsys, db, "attachments", SKU) == f"no attachments for {SKU}\n"
    assert ok_text(capsys, db, "attachment", "gc") == "deleted 1 unused attachment files (25.0 KiB)\n"


def test_attach_and_list_in_json_with_a_name_and_a_type(capsys, db: str, upload: Path) -> None:
    made = ok_json(capsys, db, "attach", "1", str(upload), "--name", "spec.bin", "--type", "Application/X-Spec")
    a = made["attachment"]
    assert a == {"id": 1, "product_id": 1, "name": "spec.bin", "media_type": "application/x-spec",
                 "size_bytes": len(CONTENT), "sha256": hashlib.sha256(CONTENT).hexdigest(), "storage": "file",
                 "actor": "clerk", "created_at": a["created_at"]}
    assert ok_json(capsys, db, "attachments", SKU)["attachments"] == [a]
    entry = ok_json(capsys, db, "audit", "list", "--limit", "1")["entries"][0]
    assert (entry["entity"], entry["entity_id"], entry["action"], entry["after"]) == ("attachment", "1", "create", a)
    removed = ok_json(capsys, db, "attachment", "remove", "1")
    assert removed["attachment"] == a


def test_get_in_json_names_the_file_written(capsys, db: str, upload: Path, tmp_path: Path) -> None:
    ok_json(capsys, db, "attach", SKU, str(upload))
    target = tmp_path / "copy.bin"
    target.write_bytes(b"old contents are replaced whole")
    data = ok_json(capsys, db, "attachment", "get", "1", "--out", str(target))
    assert data["file"] == str(target) and data["attachment"]["id"] == 1
    assert target.read_bytes() == CONTENT


def test_blob_mode_through_the_url(capsys, db: str, upload: Path) -> None:
    blob_db = db + "?attachments=blob"
    assert ok_json(capsys, blob_db, "attach", SKU, str(upload))["attachment"]["storage"] == "blob"
    assert ok_json(capsys, blob_db, "attachment", "gc") == {"ok": True, "files": 0, "bytes": 0}


def test_the_installed_console_script_attaches_and_gets(db: str, upload: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.pdf"
    for argv in (["attach", SKU, str(upload)], ["attachment", "get", "1", "--out", str(target)]):
        done = subprocess.run([STOCKBANK, "--db", db, "--actor", "clerk", "--json", *argv], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["ok"] is True
    assert target.read_bytes() == CONTENT


# -- refusals ---------------------------------------------------------------------------------------


def test_refusals_exit_1_and_change_nothing(capsys, db: str, upload: Path, tmp_path: Path) -> None:
    ok_json(capsys, db, "attach", SKU, str(upload))
    assert refused(capsys, db, "attach", "NOPE-1", str(upload)) == "not_found"
    assert refused(capsys, db, "attach", SKU, str(tmp_path / "missing.pdf")) == "not_found"
    assert refused(capsys, db, "attach", SKU, str(tmp_path)) == "storage"
    assert refused(capsys, db, "attach", SKU, str(upload), "--name", "../etc/passwd") == "validation"
    assert refused(capsys, db, "attach", SKU, str(upload), "--type", "pdf") == "validation"
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert refused(capsys, db, "attach", SKU, str(empty)) == "validation"
    assert refused(capsys, db, "attachments", "NOPE-1") == "not_found"
    assert refused(capsys, db, "attachment", "get", "99", "--out", str(tmp_path / "x")) == "not_found"
    assert refused(capsys, db, "attachment", "get", "one", "--out", str(tmp_path / "x")) == "validation"
    assert refused(capsys, db, "attachment", "remove", "99") == "not_found"
    assert not (tmp_path / "x").exists()


def test_an_oversized_file_is_refused_before_it_is_read(capsys, db: str, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:  # sparse: the size is checked, the bytes are never read
        fh.truncate(MAX_ATTACHMENT_BYTES + 1)
    assert refused(capsys, db, "attach", SKU, str(big)) == "too_large"


def test_a_tampered_file_is_corrupt_and_nothing_is_written_out(capsys, db: str, upload: Path, tmp_path: Path) -> None:
    a = ok_json(capsys, db, "attach", SKU, str(upload))["attachment"]
    stored = Path(db.removeprefix("sqlite:///") + ".files") / a["sha256"][:2] / a["sha256"]
    stored.write_bytes(CONTENT[:-1] + b"?")
    target = tmp_path / "copy.pdf"
    assert refused(capsys, db, "attachment", "get", "1", "--out", str(target)) == "corrupt"
    assert not target.exists()


def test_get_into_a_missing_folder_is_a_storage_error(capsys, db: str, upload: Path, tmp_path: Path) -> None:
    ok_json(capsys, db, "attach", SKU, str(upload))
    assert refused(capsys, db, "attachment", "get", "1", "--out", str(tmp_path / "nope" / "x.pdf")) == "storage"
