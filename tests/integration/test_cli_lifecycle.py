"""The audit-log and data-lifecycle half of the `stockbank` CLI on real SQLite files:
`audit list|show|verify|export|undo`, `product delete|restore|purge|deleted`,
`account delete|restore|purge` and `account list --deleted`, `archive --before` and
`asof WHEN [--stock]`. Every command is checked in text and --json; exit codes are 0 ok, 1 refused
(`error [code]: message` on stderr, or one JSON error; nothing changed) and 2 bad usage; `audit
verify` exits 1 naming the first broken entry after the file was tampered with."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from domain.services.audit import EXPORT_HEADER
from tests.integration.cli_helpers import ACTOR, ok_json, ok_text, one_parser, refused_by, run, usage_error  # noqa: F401 (one_parser: autouse)

pytestmark = pytest.mark.usefixtures("no_user_database")

KIT = "KIT-0000003"  # a demo product with stock in the Warehouse and on the Shop floor
POW = "POW-0000001"  # the demo product with goods in transit


# -- running the CLI ------------------------------------------------------------------------------














def state(capsys: pytest.CaptureFixture[str], db: str) -> dict[str, Any]:
    """Everything these commands can change, as the CLI shows it."""
    return {
        "accounts": ok_json(capsys, db, "account", "list", "--deleted")["accounts"],
        "stock": ok_json(capsys, db, "stock", "list", "--limit", "10000")["rows"],
        "deleted": ok_json(capsys, db, "product", "deleted")["products"],
        "transit": ok_json(capsys, db, "stock", "transit")["moves"],
        "audit": ok_json(capsys, db, "audit", "list", "--limit", "10000")["entries"],
    }


def refused(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> str:
    return refused_by(state, capsys, db, *argv)


def path_of(db: str) -> str:
    return db[len("sqlite:///"):]


def now_stamp() -> str:
    """The current UTC time as a full timestamp (later writes are after it)."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    time.sleep(0.002)
    return stamp


# -- databases ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory, quiet_env: None) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    db = f"sqlite:///{path}"
    code, out, err = run(None, db, "demo", "--products", "5")
    assert code == 0, (out, err)
    code, out, err = run(None, db, "account", "open", "Zed")  # empty: can be deleted
    assert code == 0, (out, err)
    return path


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> str:
    """A copy of the demo database: 5 products, Shop, Acme Supplies, Alice, Bob, Carol and the empty Zed."""
    target = tmp_path / "shop.db"
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{demo_template}{suffix}")
        if src.exists():
            shutil.copyfile(src, f"{target}{suffix}")
    return f"sqlite:///{target}"


def entries(capsys: pytest.CaptureFixture[str], db: str, *filters: str) -> list[dict]:
    return ok_json(capsys, db, "audit", "list", "--limit", "10000", *filters)["entries"]


def account(capsys: pytest.CaptureFixture[str], db: str, name: str) -> dict:
    [found] = [a for a in ok_json(capsys, db, "account", "list", "--deleted")["accounts"] if a["name"] == name]
    return found


# -- product delete / restore / purge / deleted ---------------------------------------------------


def test_product_delete_restore_and_deleted_in_text_and_json(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    assert ok_text(capsys, demo, "product", "deleted").strip() == "no deleted products"
    out = ok_text(capsys, demo, "product", "delete", KIT)
    assert out.startswith("product ") and KIT in out and "deleted (restore with `product restore`)" in out
    assert KIT not in [r["sku"] for r in ok_json(capsys, demo, "stock", "list")["rows"]]
    listing = ok_text(capsys, demo, "product", "deleted")
    assert listing.splitlines()[0].split() == ["id", "sku", "name", "on", "hand"] and KIT in listing
    [gone] = ok_json(capsys, demo, "product", "deleted")["products"]
    assert gone["sku"] == KIT
    assert refused(capsys, demo, "product", "delete", KIT) == "not_found"
    assert refused(capsys, demo, "stock", "receive", KIT, "1") == "not_found"
    data = ok_json(capsys, demo, "product", "restore", KIT)
    assert data["product"]["sku"] == KIT and data["product"]["deleted_at"] is None
    assert KIT in [r["sku"] for r in ok_json(capsys, demo, "stock", "list")["rows"]]
    assert refused(capsys, demo, "product", "restore", KIT) == "validation"
    data = ok_json(capsys, demo, "product", "delete", KIT)
    assert data["product"]["deleted_at"] is not None
    [latest] = entries(capsys, demo, "--entity", "product", "--action", "delete")[:1]
    assert (latest["entity_id"], latest["actor"]) == (str(data["product"]["id"]), ACTOR)


def test_product_purge_needs_yes_and_a_deleted_product(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    assert refused(capsys, demo, "product", "purge", KIT) == "validation"  # no --yes
    assert refused(capsys, demo, "product", "purge", KIT, "--yes") == "validation"  # not deleted
    ok_text(capsys, demo, "product", "delete", KIT)
    assert refused(capsys, demo, "product", "purge", KIT) == "validation"  # still no --yes
    out = ok_text(capsys, demo, "product", "purge", KIT, "--yes")
    assert KIT in out and out.rstrip().endswith("is purged")
    assert ok_json(capsys, demo, "product", "deleted")["products"] == []
    assert refused(capsys, demo, "product", "purge", KIT, "--yes") == "not_found"
    assert refused(capsys, demo, "product", "restore", KIT) == "not_found"
    [tomb] = entries(capsys, demo, "--action", "purge")
    assert tomb["before"] == {"id": int(tomb["entity_id"]), "sku": KIT} and tomb["after"] is None
    assert ok_json(capsys, demo, "check") is not None


def test_a_product_with_goods_in_transit_is_not_purged(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    ok_text(capsys, demo, "product", "delete", POW)
    assert refused(capsys, demo, "product", "purge", POW, "--yes") == "in_use"


def test_product_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    usage_error(capsys, demo, "product")
    usage_error(capsys, demo, "product", "delete")
    usage_error(capsys, demo, "product", "erase", KIT)
    usage_error(capsys, demo, "product", "delete", KIT, "--yes")  # only purge takes --yes


# -- account delete / restore / purge / list --deleted --------------------------------------------


def test_account_delete_restore_and_list_deleted(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    out = ok_text(capsys, demo, "account", "delete", "Zed")
    assert "Zed is deleted (restore with `account restore`)" in out
    assert "Zed" not in [a["name"] for a in ok_json(capsys, demo, "account", "list")["accounts"]]
    assert "Zed" not in ok_text(capsys, demo, "account", "list")
    assert "Zed" in ok_text(capsys, demo, "account", "list", "--deleted")
    zed = account(capsys, demo, "Zed")
    assert zed["deleted_at"] is not None
    assert all(a["deleted_at"] is None for a in ok_json(capsys, demo, "account", "list")["accounts"])
    assert refused(capsys, demo, "account", "delete", "Zed") == "not_found"
    assert refused(capsys, demo, "deposit", "Zed", "1.00") == "account_closed"
    assert refused(capsys, demo, "transfer", "Alice", "Zed", "1.00") == "account_closed"
    data = ok_json(capsys, demo, "account", "restore", "Zed")
    assert data["account"]["name"] == "Zed" and data["account"]["deleted_at"] is None
    assert refused(capsys, demo, "account", "restore", "Zed") == "validation"
    ok_text(capsys, demo, "deposit", "Zed", "1.00")
    assert refused(capsys, demo, "account", "delete", "Zed") == "validation"  # it holds money now


def test_account_purge_needs_yes_a_deleted_account_and_no_transfers(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    assert refused(capsys, demo, "account", "purge", "Zed") == "validation"  # no --yes
    assert refused(capsys, demo, "account", "purge", "Zed", "--yes") == "validation"  # not deleted
    zed_id = account(capsys, demo, "Zed")["id"]
    ok_json(capsys, demo, "account", "delete", str(zed_id))  # by id
    data = ok_json(capsys, demo, "account", "purge", "Zed", "--yes")
    assert data["account"]["id"] == zed_id
    assert "Zed" not in [a["name"] for a in ok_json(capsys, demo, "account", "list", "--deleted")["accounts"]]
    assert refused(capsys, demo, "account", "purge", "Zed", "--yes") == "not_found"
    # an account with history: deleted (hidden) yes, purged no
    ok_text(capsys, demo, "account", "open", "Yan", "--opening-balance", "2.00")
    ok_text(capsys, demo, "withdraw", "Yan", "2.00")
    ok_text(capsys, demo, "account", "delete", "Yan")
    assert refused(capsys, demo, "account", "purge", "Yan", "--yes") == "in_use"


# -- audit list / show / export -------------------------------------------------------------------


def test_audit_list_pages_newest_first_with_filters_in_text_and_json(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    every = entries(capsys, demo)
    assert [e["id"] for e in every] == sorted((e["id"] for e in every), reverse=True)
    assert {"id", "at", "actor", "entity", "entity_id", "action", "before", "after", "request_key", "prev_hash",
            "hash"} == set(every[0])
    three = ok_json(capsys, demo, "audit", "list", "--limit", "3")["entries"]
    assert three == every[:3]
    text = ok_text(capsys, demo, "audit", "list", "--limit", "3").splitlines()
    assert text[0].split()[:3] == ["id", "at", "(UTC)"] and len(text) == 4
    assert text[1].split()[0] == str(every[0]["id"])
    transfers = entries(capsys, demo, "--entity", "transfer")
    assert transfers and all(e["entity"] == "transfer" for e in transfers)
    assert transfers == [e for e in every if e["entity"] == "transfer"]
    by_clerk = entries(capsys, demo, "--actor", ACTOR, "--action", "open")
    assert [e["entity_id"] for e in by_clerk] and all(e["actor"] == ACTOR and e["action"] == "open" for e in by_clerk)
    today = every[0]["at"][:10]
    assert entries(capsys, demo, "--since", today, "--until", today) == every
    assert entries(capsys, demo, "--until", "2000-01-01") == []
    assert ok_text(capsys, demo, "audit", "list", "--since", "2999-01-01").strip() == "no entries match"
    memo = entries(capsys, demo, "--text", "WATERING can")  # the demo's transfer memo, any case
    assert memo and all("watering can" in json.dumps(e["after"]).lower() for e in memo)
    assert entries(capsys, demo, "--live-only") == every  # nothing archived yet


@pytest.mark.parametrize("argv", [("--limit", "0"), ("--limit", "abc"), ("--limit", "10001"), ("--since", "yesterday"),
                                  ("--until", "2026-02-30"), ("--text", "x" * 201)])
def test_audit_list_refuses_bad_filters(capsys: pytest.CaptureFixture[str], demo: str, argv: tuple[str, ...]) -> None:
    assert refused(capsys, demo, "audit", "list", *argv) == "validation"


def test_audit_show_prints_the_diff_and_the_hash(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    ok_text(capsys, demo, "account", "open", "Vic")
    vic = account(capsys, demo, "Vic")
    ok_text(capsys, demo, "account", "freeze", "Vic")
    [freeze] = entries(capsys, demo, "--action", "freeze")
    out = ok_text(capsys, demo, "audit", "show", str(freeze["id"])).splitlines()
    assert out[0] == (f"entry {freeze['id']} at {freeze['at']} by {ACTOR}: freeze account {vic['id']}")
    assert '  status: "open" -> "frozen"' in out and "  version: 1 -> 2" in out
    assert out[-1] == f"hash {freeze['hash']} (previous {freeze['prev_hash']})"
    data = ok_json(capsys, demo, "audit", "show", str(freeze["id"]))
    assert data["entry"] == freeze
    assert data["changes"] == [{"field": "status", "before": "open", "after": "frozen"},
                               {"field": "version", "before": 1, "after": 2}]
    assert refused(capsys, demo, "audit", "show", "999999") == "not_found"
    assert refused(capsys, demo, "audit", "show", "abc") == "validation"
    usage_error(capsys, demo, "audit", "show")


def test_audit_export_writes_the_filtered_entries_to_csv(capsys: pytest.CaptureFixture[str], demo: str,
                                                          tmp_path: Path) -> None:
    out_file = tmp_path / "audit.csv"
    data = ok_json(capsys, demo, "audit", "export", "--entity", "transfer", "--out", str(out_file))
    want = entries(capsys, demo, "--entity", "transfer")
    assert data["rows"] == len(want) and data["file"] == str(out_file)
    rows = list(csv.reader(io.StringIO(out_file.read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == EXPORT_HEADER
    assert [int(r[0]) for r in rows[1:]] == [e["id"] for e in want]
    assert all(r[3] == "transfer" and len(r[9]) == 64 for r in rows[1:])
    text = ok_text(capsys, demo, "audit", "export", "--out", str(tmp_path / "all.csv"))
    assert text.startswith(f"exported {len(entries(capsys, demo))} audit entries to ")
    bad = tmp_path / "bad.csv"
    assert refused(capsys, demo, "audit", "export", "--since", "nope", "--out", str(bad)) == "validation"
    assert not bad.exists()
    usage_error(capsys, demo, "audit", "export")  # --out is required


# -- audit verify -----------------------------------------------------------------------------------


def test_audit_verify_is_ok_on_an_untouched_file(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    count = len(entries(capsys, demo))
    out = ok_text(capsys, demo, "audit", "verify")
    assert out.strip() == f"audit chain ok: {count} entries, every link verified"
    assert ok_json(capsys, demo, "audit", "verify") == {"ok": True, "verified": True, "checked": count}


@pytest.mark.parametrize("tamper", ["edit", "delete", "swap"])
def test_audit_verify_exits_1_naming_the_entry_after_tampering(capsys: pytest.CaptureFixture[str], demo: str,
                                                                tamper: str) -> None:
    every = entries(capsys, demo)[::-1]  # oldest first
    target, nxt = every[4], every[5]
    conn = sqlite3.connect(path_of(demo))
    try:
        if tamper == "edit":
            conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = ?", (target["id"],))
            broken = target["id"]
        elif tamper == "delete":
            conn.execute("DELETE FROM audit_log WHERE id = ?", (target["id"],))
            broken = nxt["id"]
        else:
            conn.execute("UPDATE audit_log SET after = (SELECT after FROM audit_log WHERE id = ?) WHERE id = ?",
                         (nxt["id"], target["id"]))
            broken = target["id"]
        conn.commit()
    finally:
        conn.close()
    code, out, err = run(capsys, demo, "audit", "verify")
    assert code == 1 and err == ""
    assert out.startswith(f"audit chain BROKEN at entry {broken}: "), out
    assert "(4 entries before it verified)" in out
    code, out, err = run(capsys, demo, "--json", "audit", "verify")
    assert code == 1 and err == ""
    data = json.loads(out)
    assert data["ok"] is False and data["verified"] is False and data["broken_id"] == broken and data["problem"]
    assert data["checked"] == 4


# -- audit undo -------------------------------------------------------------------------------------


def test_audit_undo_reverses_a_transfer_once(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    paid = ok_json(capsys, demo, "transfer", "Alice", "Shop", "3.00", "--key", "cli-undo")["transfer"]
    before = {a["name"]: a["balance"] for a in ok_json(capsys, demo, "account", "list")["accounts"]}
    [entry] = entries(capsys, demo, "--text", "cli-undo", "--entity", "transfer")
    out = ok_text(capsys, demo, "audit", "undo", str(entry["id"]), "--reason", "wrong amount")
    assert out.strip().startswith("undone: transfer ") and f"(posted) reverses {paid['id']}" in out
    after = {a["name"]: a["balance"] for a in ok_json(capsys, demo, "account", "list")["accounts"]}
    assert after["Alice"] != before["Alice"]
    assert refused(capsys, demo, "audit", "undo", str(entry["id"])) == "already_reversed"
    [latest] = entries(capsys, demo, "--entity", "transfer")[:1]
    assert latest["after"]["reverses_id"] == paid["id"] and latest["after"]["memo"].endswith(": wrong amount")


def test_audit_undo_voids_a_pending_transfer_in_json(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    held = ok_json(capsys, demo, "transfer", "Bob", "Shop", "1.00", "--pending")["transfer"]
    [entry] = [e for e in entries(capsys, demo, "--entity", "transfer", "--action", "pending")
               if e["entity_id"] == str(held["id"])]
    data = ok_json(capsys, demo, "audit", "undo", str(entry["id"]))
    assert data["reversal"] == {"entity": "transfer", "id": data["reversal"]["id"], "kind": "void",
                                "reverses_id": None, "pending_id": held["id"]}


def test_audit_undo_of_a_sale_returns_the_goods_and_the_money(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    before = state(capsys, demo)
    sale = ok_json(capsys, demo, "stock", "sell", KIT, "2", "Alice")
    move_id = sale["move_id"]
    [entry] = [e for e in entries(capsys, demo, "--entity", "stock_move") if e["entity_id"] == str(move_id)]
    data = ok_json(capsys, demo, "audit", "undo", str(entry["id"]), "--reason", "returned")
    assert data["reversal"]["entity"] == "stock_move" and data["reversal"]["reverses_id"] == move_id
    after = state(capsys, demo)
    assert after["stock"] == before["stock"]
    assert [(a["name"], a["balance"]) for a in after["accounts"]] == [(a["name"], a["balance"]) for a in before["accounts"]]


def test_audit_undo_refusals(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    [created] = entries(capsys, demo, "--entity", "account", "--action", "open")[:1]
    assert refused(capsys, demo, "audit", "undo", str(created["id"])) == "validation"
    assert refused(capsys, demo, "audit", "undo", "999999") == "not_found"
    assert refused(capsys, demo, "audit", "undo", "x1") == "validation"
    [paid] = entries(capsys, demo, "--entity", "transfer", "--action", "posted")[:1]
    assert refused(capsys, demo, "audit", "undo", str(paid["id"]), "--reason", "x" * 201) == "validation"
    usage_error(capsys, demo, "audit", "undo")
    usage_error(capsys, demo, "audit")
    usage_error(capsys, demo, "audit", "rewrite")


# -- archive ----------------------------------------------------------------------------------------


def test_archive_moves_old_rows_and_changes_no_balance(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    cut = now_stamp()
    ok_text(capsys, demo, "transfer", "Alice", "Shop", "1.00", "--memo", "after the cut")
    before = state(capsys, demo)
    data = ok_json(capsys, demo, "archive", "--before", cut, "--batch", "2")
    report = data["archive"]
    assert report["before"] == cut and report["transfers"] > 0 and report["audit"] > 0 and report["batches"] > 1
    after = state(capsys, demo)
    assert after["accounts"] == before["accounts"] and after["stock"] == before["stock"]
    assert after["transit"] == before["transit"]
    archived = entries(capsys, demo, "--entity", "archive")
    assert len(archived) == report["batches"] and all(e["actor"] == ACTOR for e in archived)
    live = entries(capsys, demo, "--live-only")
    every = entries(capsys, demo)
    assert len(every) - len(live) == report["audit"]
    assert ok_json(capsys, demo, "audit", "verify")["checked"] == len(every)
    assert ok_json(capsys, demo, "check")["ok"] is True
    text = ok_text(capsys, demo, "archive", "--before", cut)
    assert text.strip() == f"nothing older than {cut} to archive"
    assert ok_json(capsys, demo, "archive", "--before", cut)["archive"]["batches"] == 0


def test_archive_text_report(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    cut = now_stamp()
    out = ok_text(capsys, demo, "archive", "--before", cut)
    assert out.startswith("archived ") and f"older than {cut} in 1 batches" in out


@pytest.mark.parametrize("argv", [
    ("--before", "2999-01-01"),
    ("--before", "tomorrow"),
    ("--before", "2026-02-30"),
    ("--before", "2020-01-01", "--batch", "0"),
    ("--before", "2020-01-01", "--batch", "100001"),
    ("--before", "2020-01-01", "--batch", "many"),
])
def test_archive_refusals(capsys: pytest.CaptureFixture[str], demo: str, argv: tuple[str, ...]) -> None:
    assert refused(capsys, demo, "archive", *argv) == "validation"


def test_archive_a_future_date_names_the_problem(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    future = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d")
    code, out, err = run(capsys, demo, "archive", "--before", future)
    assert code == 1 and err.startswith("error [validation]: before:") and "future" in err
    usage_error(capsys, demo, "archive")  # --before is required


# -- asof -------------------------------------------------------------------------------------------


def test_asof_now_equals_the_account_list(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    accounts = ok_json(capsys, demo, "account", "list")["accounts"]
    data = ok_json(capsys, demo, "asof", "now")
    assert data["as_of"] == "now"
    assert {a["name"]: (a["balance"], a["balance_minor"]) for a in data["accounts"]} == \
        {a["name"]: (a["balance"], a["balance_minor"]) for a in accounts}
    text = ok_text(capsys, demo, "asof", "now").splitlines()
    assert text[0] == "balances as of now"
    assert text[1].split() == ["id", "name", "kind", "balance", "pending", "out", "pending", "in"]


def test_asof_a_past_time_shows_the_balances_then(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    then = {a["name"]: a["balance_minor"] for a in ok_json(capsys, demo, "account", "list")["accounts"]}
    cut = now_stamp()
    ok_text(capsys, demo, "transfer", "Alice", "Shop", "4.00")
    data = ok_json(capsys, demo, "asof", cut)
    assert {a["name"]: a["balance_minor"] for a in data["accounts"]} == then
    assert data["as_of"] == f"{cut.replace('T', ' ')} UTC"
    old = ok_json(capsys, demo, "asof", "2020-01-01")
    assert all(a["balance_minor"] == 0 and a["pending_out_minor"] == 0 for a in old["accounts"])
    assert ok_text(capsys, demo, "asof", "2020-01-01", "--stock").splitlines()[1] == "no stock"


def test_asof_day_1_stock_after_a_simulated_day(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    assert refused(capsys, demo, "asof", "day 1", "--stock") == "validation"  # day 1 has not happened yet
    day0 = ok_json(capsys, demo, "asof", "day 0", "--stock")
    assert day0["as_of"] == "day 0 (today)"
    ok_json(capsys, demo, "simulate", "--days", "1", "--seed", "3")
    rows = ok_json(capsys, demo, "stock", "list", "--limit", "10000")["rows"]
    data = ok_json(capsys, demo, "asof", "day 1", "--stock")
    assert data["as_of"] == "day 1 (today)"
    per_product: dict[int, int] = {}
    for level in data["levels"]:
        assert set(level) == {"product_id", "location_id", "on_hand", "incoming", "outgoing"}
        per_product[level["product_id"]] = per_product.get(level["product_id"], 0) + level["on_hand"]
    assert per_product == {r["product_id"]: r["on_hand"] for r in rows if r["on_hand"]}
    text = ok_text(capsys, demo, "asof", "day 1", "--stock").splitlines()
    assert text[0] == "stock as of day 1 (today)"
    assert text[1].split() == ["sku", "location", "on", "hand", "incoming", "outgoing"]
    assert any(line.startswith(KIT) and "Warehouse" in line for line in text[2:])
    ok_json(capsys, demo, "simulate", "--days", "1")
    assert ok_json(capsys, demo, "asof", "day 1", "--stock") == {**data, "as_of": "end of day 1"}
    assert ok_json(capsys, demo, "asof", "day 0", "--stock")["levels"] == day0["levels"]


@pytest.mark.parametrize("when", ["yesterday", "2026-13-01", "day x", "day 5", ""])
def test_asof_refusals(capsys: pytest.CaptureFixture[str], demo: str, when: str) -> None:
    assert refused(capsys, demo, "asof", when) == "validation"
    assert refused(capsys, demo, "asof", when, "--stock") == "validation"


def test_asof_usage_errors(capsys: pytest.CaptureFixture[str], demo: str) -> None:
    usage_error(capsys, demo, "asof")
    usage_error(capsys, demo, "asof", "now", "--balances")
