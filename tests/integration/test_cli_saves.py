"""`stockbank save`, `load` and `saves list|show|diff|delete` on real SQLite files, in text and
--json: a save in each format listed ok; `load` and `saves delete` refused without --yes; a load
restoring the books; the diff; bad names, missing slots; a corrupted, a tampered and a too-new
file refused with their codes, changing nothing; and the committed v1 fixtures loading upgraded.
Exit codes: 0 ok, 1 refused (`error [code]: message`, or one JSON error), 2 bad usage."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from storage.savefiles import container, schema
from tests.integration import cli_helpers
from tests.integration.cli_helpers import ACTOR, ok_json, ok_text, refused_by, run, usage_error

one_parser = cli_helpers.one_parser  # the autouse fixture: one argument parser for the module

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "saves"
FIXTURE_KEY = FIXTURES / "fixture-signing.key"


# -- databases ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory, quiet_env: None) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    code, out, err = run(None, f"sqlite:///{path}", "demo", "--products", "5")
    assert code == 0, (out, err)
    return path


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the demo database (5 products, Shop, Acme Supplies, Alice, Bob, Carol), no saves yet;
    pickles are signed with this test's own key."""
    monkeypatch.setenv("STOCKBANK_SAVE_KEY_FILE", str(tmp_path / "save-signing.key"))
    target = tmp_path / "shop.db"
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{demo_template}{suffix}")
        if src.exists():
            shutil.copyfile(src, f"{target}{suffix}")
    return f"sqlite:///{target}"


def saves_folder(db: str) -> Path:
    return Path(db[len("sqlite:///"):] + ".saves") / "default"


def files(db: str) -> list[str]:
    folder = saves_folder(db)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def balances(capsys: pytest.CaptureFixture[str], db: str) -> dict[str, int]:
    """By name: ids are renumbered by a load."""
    return {a["name"]: a["balance_minor"] for a in ok_json(capsys, db, "account", "list")["accounts"]}


def state(capsys: pytest.CaptureFixture[str], db: str) -> dict[str, Any]:
    """Everything these commands can change, as the CLI shows it (and the files on disk)."""
    return {
        "balances": balances(capsys, db),
        "stock": {r["sku"]: r["on_hand"] for r in ok_json(capsys, db, "stock", "list", "--limit", "10000")["rows"]},
        "check": ok_json(capsys, db, "check")["checked"],
        "audit": [e["id"] for e in ok_json(capsys, db, "audit", "list", "--limit", "10000")["entries"]],
        "slots": ok_json(capsys, db, "saves")["slots"],
        "files": {name: (saves_folder(db) / name).read_bytes() for name in files(db)},
    }


def refused(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> str:
    return refused_by(state, capsys, db, *argv)


def pay(capsys: pytest.CaptureFixture[str], db: str, amount: str = "10.00") -> None:
    ok_text(capsys, db, "transfer", "Alice", "Shop", amount)


def damage(path: Path) -> None:
    """Flip one byte of the payload (after the header line): the checksum no longer matches."""
    data = bytearray(path.read_bytes())
    data[data.index(b"\n") + 30] ^= 0x01
    path.write_bytes(bytes(data))


def save_entries(capsys: pytest.CaptureFixture[str], db: str) -> list[tuple[str, str]]:
    """(action, slot) of the audit entries about saves, oldest first."""
    entries = ok_json(capsys, db, "audit", "list", "--entity", "save", "--limit", "1000")["entries"]
    return [(e["action"], e["entity_id"]) for e in reversed(entries)]


# -- save and list --------------------------------------------------------------------------------


def test_a_save_in_each_format_is_listed_ok(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    assert ok_text(capsys, demo, "saves").strip() == "no saves yet (make one with `stockbank save NAME`)"
    assert ok_json(capsys, demo, "saves", "list")["slots"] == []
    out = ok_text(capsys, demo, "save", "first")
    assert out.startswith("saved day 0 to 'first' (json, ") and out.strip().endswith(str(saves_folder(demo) / "first.json"))
    yaml_slot = ok_json(capsys, demo, "save", "second", "--format", "yaml")["slot"]
    assert (yaml_slot["name"], yaml_slot["format"], yaml_slot["ok"], yaml_slot["day"]) == ("second", "yaml", True, 0)
    ok_text(capsys, demo, "save", "third", "--format", "pickle")
    assert files(demo) == ["first.json", "second.yaml", "third.pickle"]

    slots = ok_json(capsys, demo, "saves")["slots"]
    assert [(s["name"], s["format"], s["ok"], s["problem"], s["day"]) for s in slots] == [
        ("third", "pickle", True, None, 0), ("second", "yaml", True, None, 0), ("first", "json", True, None, 0)]
    assert all(s["format_version"] == schema.CURRENT_VERSION and s["size"] > 0 for s in slots)
    assert {s["path"] for s in slots} == {str(saves_folder(demo) / f) for f in files(demo)}
    table = ok_text(capsys, demo, "saves", "list").splitlines()
    assert table[0].split() == ["name", "format", "day", "bytes", "saved", "checksum"]
    assert [(line.split()[0], line.split()[1], line.split()[-1]) for line in table[1:]] == [
        ("third", "pickle", "ok"), ("second", "yaml", "ok"), ("first", "json", "ok")]

    shown = ok_json(capsys, demo, "saves", "show", "second")["slot"]
    assert shown == next(s for s in slots if s["name"] == "second")
    assert "format: yaml" in ok_text(capsys, demo, "saves", "show", "second").splitlines()

    ok_json(capsys, demo, "save", "first", "--format", "yaml")  # same name, other format: one file
    assert files(demo) == ["first.yaml", "second.yaml", "third.pickle"]
    assert save_entries(capsys, demo) == [("save", "first"), ("save", "second"), ("save", "third"), ("save", "first")]
    assert [e["actor"] for e in ok_json(capsys, demo, "audit", "list", "--entity", "save")["entries"]] == [ACTOR] * 4


def test_bad_names_are_validation_and_missing_slots_not_found(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    for bad in ("../x", "", " ", "a/b", ".hidden", "x" * 65, "dot."):
        assert refused(capsys, demo, "save", bad) == "validation", bad
    assert files(demo) == [] and not saves_folder(demo).exists()
    assert not (saves_folder(demo).parent / "x.json").exists()
    assert "invalid choice: 'xml'" in usage_error(capsys, demo, "save", "x", "--format", "xml")
    for argv in (("load", "nope", "--yes"), ("saves", "show", "nope"), ("saves", "diff", "nope"),
                 ("saves", "delete", "nope", "--yes"), ("load", str(FIXTURES / "absent.json"), "--yes")):
        assert refused(capsys, demo, *argv) == "not_found", argv
    assert refused(capsys, demo, "load", "../x", "--yes") == "validation"


# -- load -----------------------------------------------------------------------------------------


def test_load_without_yes_is_refused_and_changes_nothing(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    ok_text(capsys, demo, "save", "before")
    pay(capsys, demo)
    assert refused(capsys, demo, "load", "before") == "validation"
    code, out, err = run(capsys, demo, "load", "before")
    assert "--yes" in err
    assert [a for a, _ in save_entries(capsys, demo)] == ["save"]


def test_load_on_a_terminal_asks_first(capsys: pytest.CaptureFixture[str], demo: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ok_text(capsys, demo, "save", "asked")
    pay(capsys, demo)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    code, out, err = run(capsys, demo, "load", "asked")
    assert code == 1 and out == "" and "will be replaced by 'asked'" in err and "cancelled" in err
    assert [a for a, _ in save_entries(capsys, demo)] == ["save"]
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    code, out, err = run(capsys, demo, "load", "asked")
    assert code == 0 and out.startswith("loaded 'asked'")
    assert [a for a, _ in save_entries(capsys, demo)] == ["save", "load"]


@pytest.mark.parametrize("fmt", ["json", "yaml", "pickle"])
def test_load_yes_restores_the_books(capsys: pytest.CaptureFixture[str], demo: str, fmt: str) -> None:
    ok_json(capsys, demo, "save", "checkpoint", "--format", fmt)
    saved = state(capsys, demo)
    pay(capsys, demo, "25.00")
    ok_text(capsys, demo, "stock", "receive", next(iter(saved["stock"])), "7")
    changed = state(capsys, demo)
    assert changed["balances"] != saved["balances"] and changed["stock"] != saved["stock"]

    data = ok_json(capsys, demo, "load", "checkpoint", "--yes")
    assert data["slot"]["name"] == "checkpoint" and data["slot"]["format"] == fmt and data["upgraded_from"] is None
    assert data["before"]["transfers"] == changed["check"]["transfers"]
    assert data["after"]["transfers"] == saved["check"]["transfers"]
    after = state(capsys, demo)
    assert after["balances"] == saved["balances"] and after["stock"] == saved["stock"]
    assert after["check"] == saved["check"]
    assert ok_json(capsys, demo, "check")["problems"] == []
    assert save_entries(capsys, demo) == [("save", "checkpoint"), ("load", "checkpoint")]
    out = ok_text(capsys, demo, "load", "checkpoint", "--yes")  # again, in text: nothing left to change
    assert out.startswith("loaded 'checkpoint' (day 0): ") and "upgraded" not in out
    assert f"transfers {saved['check']['transfers']} -> {saved['check']['transfers']}" in out


def test_saves_diff_in_text_and_json(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    ok_text(capsys, demo, "save", "base")
    assert ok_text(capsys, demo, "saves", "diff", "base").strip() == "'base' holds the same books as the live game"
    same = ok_json(capsys, demo, "saves", "diff", "base")
    assert same["same"] is True and same["balances"] == [] and same["stock"] == [] and same["day"] == [0, 0]
    alice, shop = (balances(capsys, demo)[n] for n in ("Alice", "Shop"))
    sku, on_hand = next(iter(state(capsys, demo)["stock"].items()))
    pay(capsys, demo, "10.00")
    ok_text(capsys, demo, "stock", "receive", sku, "7")

    data = ok_json(capsys, demo, "saves", "diff", "base")
    assert data["same"] is False and data["day"] == [0, 0]
    assert data["balances"] == [["Alice", alice - 1000, alice], ["Shop", shop + 1000, shop]]
    assert data["stock"] == [[sku, on_hand + 7, on_hand]]
    live, slot = data["counts"]["transfers"]
    moves_live, moves_slot = data["counts"]["stock_moves"]
    assert live == slot + 1 and moves_live == moves_slot + 1
    assert data["counts"]["products"][0] == data["counts"]["products"][1]
    text = ok_text(capsys, demo, "saves", "diff", "base").splitlines()
    assert text == [
        "day: live 0, save 0",
        *(f"{kind.replace('_', ' ')}: live {a}, save {b}" for kind, (a, b) in data["counts"].items() if a != b),
        "balances (live -> save):",
        f"  Alice: {(alice - 1000) / 100:.2f} -> {alice / 100:.2f}",
        f"  Shop: {(shop + 1000) / 100:.2f} -> {shop / 100:.2f}",
        "stock on hand (live -> save):",
        f"  {sku}: {on_hand + 7} -> {on_hand}",
    ]
    assert [a for a, _ in save_entries(capsys, demo)] == ["save"]  # a diff writes nothing


# -- delete ---------------------------------------------------------------------------------------


def test_saves_delete_needs_yes(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    ok_text(capsys, demo, "save", "doomed", "--format", "yaml")
    assert refused(capsys, demo, "saves", "delete", "doomed") == "validation"
    assert files(demo) == ["doomed.yaml"]
    data = ok_json(capsys, demo, "saves", "delete", "doomed", "--yes")
    assert (data["slot"]["name"], data["slot"]["format"]) == ("doomed", "yaml")
    assert files(demo) == [] and ok_json(capsys, demo, "saves")["slots"] == []
    ok_text(capsys, demo, "save", "doomed")
    out = ok_text(capsys, demo, "saves", "delete", "doomed", "--yes")
    assert out.strip() == f"deleted save 'doomed' ({saves_folder(demo) / 'doomed.json'})"
    assert save_entries(capsys, demo) == [("save", "doomed"), ("delete", "doomed"), ("save", "doomed"),
                                          ("delete", "doomed")]


# -- hostile and damaged files --------------------------------------------------------------------


def test_a_corrupted_file_is_listed_bad_and_refused_as_corrupt(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    ok_text(capsys, demo, "save", "broken")
    pay(capsys, demo)
    damage(saves_folder(demo) / "broken.json")
    [slot] = ok_json(capsys, demo, "saves")["slots"]
    assert (slot["ok"], slot["problem"], slot["day"]) == (False, "corrupt", 0)
    assert ok_text(capsys, demo, "saves").splitlines()[1].split()[-2:] == ["BAD", "(corrupt)"]
    assert refused(capsys, demo, "load", "broken", "--yes") == "corrupt"
    assert refused(capsys, demo, "saves", "diff", "broken") == "corrupt"
    code, out, err = run(capsys, demo, "--json", "load", "broken", "--yes")
    assert code == 1 and err == "" and '"code": "corrupt"' in out
    assert [a for a, _ in save_entries(capsys, demo)] == ["save"]
    ok_text(capsys, demo, "saves", "delete", "broken", "--yes")  # a bad slot can still be deleted
    assert files(demo) == []


def test_a_truncated_file_is_refused_as_corrupt(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    ok_text(capsys, demo, "save", "short", "--format", "yaml")
    path = saves_folder(demo) / "short.yaml"
    path.write_bytes(path.read_bytes()[:-100])
    assert ok_json(capsys, demo, "saves")["slots"][0]["problem"] == "corrupt"
    assert refused(capsys, demo, "load", "short", "--yes") == "corrupt"


def test_a_pickle_signed_by_another_key_is_refused_as_tampered(capsys: pytest.CaptureFixture[str], demo: str,
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok_text(capsys, demo, "save", "signed", "--format", "pickle")
    pay(capsys, demo)
    other = tmp_path / "other.key"
    other.write_bytes(b"o" * 32)
    monkeypatch.setenv("STOCKBANK_SAVE_KEY_FILE", str(other))  # another installation reading the file
    [slot] = ok_json(capsys, demo, "saves")["slots"]
    assert (slot["ok"], slot["problem"]) == (False, "tampered")
    assert refused(capsys, demo, "load", "signed", "--yes") == "tampered"
    assert refused(capsys, demo, "load", str(FIXTURES / "shop.v1.pickle"), "--yes") == "tampered"


def test_a_file_from_a_newer_format_is_refused_as_unsupported_version(capsys: pytest.CaptureFixture[str],
                                                                       demo: str) -> None:
    ok_text(capsys, demo, "save", "today")
    path = saves_folder(demo) / "today.json"
    data = path.read_bytes()
    body = data[data.index(b"\n") + 1:]
    future = container.frame(body, codec="json", format_version=schema.CURRENT_VERSION + 1, app_version="9.0.0",
                             created_at="2030-01-01T00:00:00.000000Z", day=0)  # a valid checksum, a newer format
    (saves_folder(demo) / "future.json").write_bytes(future)
    pay(capsys, demo)
    assert refused(capsys, demo, "load", "future", "--yes") == "unsupported_version"
    assert refused(capsys, demo, "saves", "diff", "future") == "unsupported_version"


# -- committed v1 fixtures ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "yaml", "pickle"])
def test_loading_a_v1_fixture_by_path_upgrades_it(capsys: pytest.CaptureFixture[str], demo: str, fmt: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if fmt == "pickle":
        monkeypatch.setenv("STOCKBANK_SAVE_KEY_FILE", str(FIXTURE_KEY))  # the key the fixture was signed with
    fixture = FIXTURES / f"shop.v1.{fmt}"
    original = fixture.read_bytes()
    out = ok_text(capsys, demo, "load", str(fixture), "--yes")
    assert out.startswith("loaded 'shop.v1' (day 3) (upgraded from format v1): ")
    data = ok_json(capsys, demo, "load", str(fixture), "--yes")
    assert data["upgraded_from"] == 1
    assert (data["slot"]["format"], data["slot"]["format_version"], data["slot"]["day"]) == (fmt, 1, 3)
    assert data["after"]["products"] == 12 and data["before"] == data["after"]
    assert ok_json(capsys, demo, "check")["problems"] == []
    assert len(ok_json(capsys, demo, "stock", "list", "--limit", "100")["rows"]) == 12
    assert fixture.read_bytes() == original  # loading never rewrites the file
    assert files(demo) == []  # nor copies it into the slots
    assert save_entries(capsys, demo) == [("load", "shop.v1"), ("load", "shop.v1")]
