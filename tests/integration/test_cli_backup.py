"""`stockbank backup | backups | restore | export-db | import-db` on real SQLite files, in text and
--json: a restore brings the backed-up books back; bad input is refused with a code (exit 1) and
changes nothing; argparse errors exit 2."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.integration import cli_helpers
from tests.integration.cli_helpers import ok_json, ok_text, refused_by, run, usage_error

one_parser = cli_helpers.one_parser  # autouse: one argument parser for the module

pytestmark = pytest.mark.usefixtures("no_user_database")


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    ok_json(capsys, url, "account", "open", "Alice", "--opening-balance", "100.00")
    ok_json(capsys, url, "account", "open", "Shop", "--kind", "shop")
    return url


def path_of(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def state(capsys: pytest.CaptureFixture[str], db: str) -> dict[str, Any]:
    """The books as the CLI shows them, and every file next to the database (backups included)."""
    files = []
    if db.startswith("sqlite:///"):
        folder = path_of(db).parent
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                       if not p.name.endswith(("-wal", "-shm", ".migrate-lock")))
    return {"accounts": ok_json(capsys, db, "account", "list")["accounts"], "files": files}


def balances(capsys: pytest.CaptureFixture[str], db: str) -> dict[str, str]:
    return {a["name"]: a["balance"] for a in ok_json(capsys, db, "account", "list")["accounts"]}


def test_backup_change_restore_round_trip(capsys: pytest.CaptureFixture[str], db: str) -> None:
    made = ok_json(capsys, db, "backup")["backup"]
    assert made["ok"] and made["kind"] == "backup" and Path(made["path"]).parent == Path(f"{path_of(db)}.backups")
    before = balances(capsys, db)
    ok_json(capsys, db, "transfer", "Alice", "Shop", "30.00")
    assert balances(capsys, db) != before

    restored = ok_json(capsys, db, "restore", made["path"], "--yes")["restored"]
    assert restored["method"] == "backup-api" and "pre-restore" in restored["safety_copy"]
    assert balances(capsys, db) == before
    assert "ok: checked" in ok_text(capsys, db, "check")

    listed = ok_json(capsys, db, "backups")["backups"]
    assert [b["kind"] for b in listed] == ["pre-restore", "backup"] and all(b["ok"] for b in listed)


def test_text_output_names_the_files(capsys: pytest.CaptureFixture[str], db: str) -> None:
    out = ok_text(capsys, db, "backup")
    assert out.startswith(f"backed up {path_of(db)} to ") and "revision" in out
    assert "no backups in" in ok_text(capsys, f"sqlite:///{path_of(db).parent / 'other.db'}", "backups")
    table = ok_text(capsys, db, "backups", "--verify")
    assert table.splitlines()[0].split()[:2] == ["file", "created"] and table.splitlines()[1].endswith("ok")


def test_a_damaged_backup_is_listed_bad(capsys: pytest.CaptureFixture[str], db: str) -> None:
    made = ok_json(capsys, db, "backup")["backup"]
    with open(made["path"], "r+b") as fh:
        fh.seek(4096)
        fh.write(b"\0" * 64)
    [listed] = ok_json(capsys, db, "backups")["backups"]
    assert listed["ok"] is False and "checksum mismatch" in listed["problem"]
    assert "BAD: checksum mismatch" in ok_text(capsys, db, "backups")


def test_export_db_then_import_db_on_another_path(capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path) -> None:
    target = tmp_path / "moved" / "copy.db"
    target.parent.mkdir()
    exported = ok_json(capsys, db, "export-db", str(target))["export"]
    assert exported["kind"] == "export" and Path(f"{target}.manifest.json").exists()
    other = f"sqlite:///{tmp_path / 'other' / 'books.db'}"
    (tmp_path / "other").mkdir()
    imported = ok_json(capsys, other, "import-db", str(target), "--yes")["restored"]
    assert imported["method"] == "new-file"
    assert balances(capsys, other) == balances(capsys, db)


def test_import_db_accepts_a_bare_database_file(capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path) -> None:
    bare = tmp_path / "bare.db"
    conn = sqlite3.connect(path_of(db))
    conn.execute("VACUUM INTO ?", (str(bare),))
    conn.close()
    other = f"sqlite:///{tmp_path / 'books.db'}"
    ok_json(capsys, other, "import-db", str(bare), "--yes")
    assert balances(capsys, other) == balances(capsys, db)
    assert refused_by(state, capsys, db, "restore", str(bare), "--yes") == "corrupt"  # restore wants a manifest


# -- refusals -----------------------------------------------------------------------------------


def test_restore_of_a_missing_file_is_not_found(capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path) -> None:
    assert refused_by(state, capsys, db, "restore", str(tmp_path / "none.db"), "--yes") == "not_found"
    assert refused_by(state, capsys, db, "import-db", str(tmp_path / "none.db"), "--yes") == "not_found"


@pytest.mark.parametrize("argv", [("backup",), ("backups",), ("restore", "x.db", "--yes"), ("export-db", "x.db"),
                                  ("import-db", "x.db", "--yes")])
def test_a_store_without_a_file_is_refused(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    assert refused_by(state, capsys, "memory://", *argv) == "validation"
    code, _out, err = run(capsys, "memory://", *argv)
    assert "sqlite:///" in err


def test_restore_without_yes_off_a_terminal_is_refused(capsys: pytest.CaptureFixture[str], db: str) -> None:
    made = ok_json(capsys, db, "backup")["backup"]
    assert refused_by(state, capsys, db, "restore", made["path"]) == "validation"
    code, _out, err = run(capsys, db, "import-db", made["path"])
    assert code == 1 and "--yes" in err


def test_restore_on_a_terminal_asks_first(capsys: pytest.CaptureFixture[str], db: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    made = ok_json(capsys, db, "backup")["backup"]
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    before = state(capsys, db)
    code, out, err = run(capsys, db, "restore", made["path"])
    assert code == 1 and out == "" and "will be replaced by" in err and "cancelled" in err
    assert state(capsys, db) == before
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    code, out, err = run(capsys, db, "restore", made["path"])
    assert code == 0 and out.startswith("restored ") and "will be replaced by" in err


def test_restore_of_a_corrupted_backup_is_refused(capsys: pytest.CaptureFixture[str], db: str) -> None:
    made = ok_json(capsys, db, "backup")["backup"]
    with open(made["path"], "r+b") as fh:
        fh.seek(8192)
        fh.write(b"\xff" * 32)
    assert refused_by(state, capsys, db, "restore", made["path"], "--yes") == "corrupt"


def test_restore_of_a_backup_whose_manifest_was_edited_is_refused(capsys: pytest.CaptureFixture[str], db: str) -> None:
    made = ok_json(capsys, db, "backup")["backup"]
    manifest_path = Path(f"{made['path']}.manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["audit_tails"] = {"default": "0" * 64}
    manifest_path.write_text(json.dumps(manifest))
    assert refused_by(state, capsys, db, "restore", made["path"], "--yes") == "tampered"


def test_import_db_of_a_newer_schema_is_refused(capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    ok_json(capsys, db, "export-db", str(newer))
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    Path(f"{newer}.manifest.json").unlink()
    assert refused_by(state, capsys, db, "import-db", str(newer), "--yes") == "unsupported_version"


def test_export_db_refuses_an_existing_file(capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path) -> None:
    (tmp_path / "taken.db").write_text("mine")
    assert refused_by(state, capsys, db, "export-db", str(tmp_path / "taken.db")) == "already_exists"
    assert (tmp_path / "taken.db").read_text() == "mine"


def test_backup_of_a_missing_database_is_not_found(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, f"sqlite:///{tmp_path / 'none.db'}", "backup")
    assert code == 1 and err.startswith("error [not_found]")


def test_usage_errors(capsys: pytest.CaptureFixture[str], db: str) -> None:
    assert "FILE" in usage_error(capsys, db, "restore")
    assert "FILE" in usage_error(capsys, db, "export-db")
    assert "unrecognized" in usage_error(capsys, db, "backup", "--bogus")
