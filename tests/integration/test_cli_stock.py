"""The inventory half of the `stockbank` CLI on real SQLite files: `stock list/locations/
add-location/receive/move/scrap/count/arrive/cancel/transit/sell/buy/history/value/plan` and
`simulate`. Every action is checked in text and --json, and against the state the other commands
then report; every refusal exits 1 with `error [code]: message` (or a JSON error) and changes
nothing that `stock list`, `stock history`, `stock transit`, `stock locations` or `account list`
can see."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import STOCKBANK
from tests.integration.cli_helpers import ACTOR, ok_json, ok_text, one_parser, refused_by, run, usage_error  # noqa: F401 (one_parser: autouse)
from tui_app.__main__ import main

pytestmark = pytest.mark.usefixtures("no_user_database")

# `demo --products 5` (seed 7): five stocked products, listed in name order. The demo also opens Shop,
# Acme Supplies (supplier), Alice, Bob and Carol (customers), adds a Shop floor next to the Warehouse,
# moves 5 units of four products there and leaves 3 of the fifth (POW-0000001) in transit there.
DEMO_SKUS = ("KIT-0000003", "GAR-0000002", "HAN-0000005", "POW-0000001", "OFF-0000004")
KIT = "KIT-0000003"  # Blue Colander: 111 in the Warehouse, 5 on the Shop floor
POW = "POW-0000001"  # Heavy-duty Sander: its 3 units on the way to the Shop floor are the demo's transit
SUPPLIER = "Acme Supplies"
STOCK_ACTIONS = ("list", "locations", "add-location", "receive", "move", "scrap", "count", "arrive", "cancel",
                 "transit", "sell", "buy", "history", "value", "plan")


# -- running the CLI ------------------------------------------------------------------------------














def state(capsys: pytest.CaptureFixture[str] | None, db: str) -> dict[str, Any]:
    """Everything the CLI shows about stock and money: every product's levels and history, goods in
    transit, locations and accounts."""
    rows = ok_json(capsys, db, "stock", "list", "--limit", "10000")["rows"]
    return {
        "stock": rows,
        "history": {r["sku"]: history(capsys, db, r["sku"]) for r in rows},
        "transit": ok_json(capsys, db, "stock", "transit")["moves"],
        "locations": ok_json(capsys, db, "stock", "locations")["locations"],
        "accounts": ok_json(capsys, db, "account", "list")["accounts"],
    }


def refused(capsys: pytest.CaptureFixture[str], db: str, *argv: str, before: dict | None = None) -> str:
    return refused_by(state, capsys, db, *argv, before=before)


# -- reading what the CLI shows -------------------------------------------------------------------


def dec(text: str) -> Decimal:
    return Decimal(text)


def row(capsys: pytest.CaptureFixture[str], db: str, sku: str) -> dict:
    [found] = [r for r in ok_json(capsys, db, "stock", "list", "--filter", sku)["rows"] if r["sku"] == sku]
    return found


def balance(capsys: pytest.CaptureFixture[str], db: str, ref: str) -> Decimal:
    return dec(ok_json(capsys, db, "account", "show", ref)["account"]["balance"])


def location_units(capsys: pytest.CaptureFixture[str], db: str) -> dict[str, int]:
    return {loc["name"]: loc["quantity"] for loc in ok_json(capsys, db, "stock", "locations")["locations"]}


def location_ids(capsys: pytest.CaptureFixture[str], db: str) -> dict[str, int]:
    return {loc["name"]: loc["id"] for loc in ok_json(capsys, db, "stock", "locations")["locations"]}


def history(capsys: pytest.CaptureFixture[str], db: str, sku: str) -> list[dict]:
    return ok_json(capsys, db, "stock", "history", sku, "--limit", "10000")["moves"]


def prices(capsys: pytest.CaptureFixture[str], db: str) -> dict[str, Decimal]:
    """Unit prices per SKU (`stock list` does not show them; `export products` does)."""
    out = ok_text(capsys, db, "export", "products")
    return {r["sku"]: dec(r["price"]) for r in csv.DictReader(io.StringIO(out))}


MOVE_FIELDS = {"id", "kind", "reason", "product_id", "from_location_id", "to_location_id", "quantity", "pending_id",
               "transfer_id", "due_day", "day", "memo", "idempotency_key", "actor", "created_at", "from_after",
               "to_after"}
ROW_FIELDS = {"product_id", "sku", "name", "category", "on_hand", "incoming", "reorder_level", "cost", "value", "low"}


# -- databases ------------------------------------------------------------------------------------


def copy_db(template: Path, target: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{template}{suffix}")
        if src.exists():
            shutil.copyfile(src, f"{target}{suffix}")
    return f"sqlite:///{target}"


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory, quiet_env: None) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    code, out, err = run(None, f"sqlite:///{path}", "demo", "--products", "5")
    assert code == 0 and "5 demo products" in out, (out, err)
    return path


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A database that does not exist yet."""
    return f"sqlite:///{tmp_path / 'stock.db'}"


@pytest.fixture
def demo_db(demo_template: Path, tmp_path: Path) -> str:
    """A fresh copy of the `demo --products 5` database."""
    return copy_db(demo_template, tmp_path / "demo.db")


@pytest.fixture(scope="module")
def refusals_template(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """The demo plus: Dave (frozen, with money), an empty Back room, a keyed sale, a purchase in
    transit that arrived (with a key) and one that was cancelled. Returns the file, its state and
    the ids that the refusal cases refer to."""
    path = tmp_path_factory.mktemp("refusals") / "refusals.db"
    url = copy_db(demo_template, path)
    ok_json(None, url, "account", "open", "Dave", "--opening-balance", "100.00")
    ok_json(None, url, "account", "freeze", "Dave")
    ok_json(None, url, "stock", "add-location", "Back room")
    sale = ok_json(None, url, "stock", "sell", KIT, "1", "Alice", "--key", "sale-1")
    arriving = ok_json(None, url, "stock", "buy", KIT, "2", SUPPLIER, "--lead-days", "2", "--key", "buy-1")
    arrived = ok_json(None, url, "stock", "arrive", str(arriving["move_id"]), "--key", "arrive-1")
    cancelling = ok_json(None, url, "stock", "buy", KIT, "2", SUPPLIER, "--lead-days", "2")
    ok_json(None, url, "stock", "cancel", str(cancelling["move_id"]))
    [transit] = ok_json(None, url, "stock", "transit")["moves"]
    ids = {
        "posted": sale["move_id"], "received": arriving["move_id"], "arrival": arrived["move_id"],
        "cancelled": cancelling["move_id"], "transit": transit["id"],
        "warehouse": location_ids(None, url)["Warehouse"],
    }
    return path, state(None, url), ids


@pytest.fixture
def refusals(refusals_template: tuple[Path, dict, dict], tmp_path: Path) -> tuple[str, dict, dict]:
    path, before, ids = refusals_template
    return copy_db(path, tmp_path / "refusals.db"), before, ids


# -- help and usage -------------------------------------------------------------------------------


def test_stock_help_lists_every_action() -> None:
    done = subprocess.run([STOCKBANK, "stock", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for action in STOCK_ACTIONS:
        assert f"    {action} " in done.stdout or f"    {action}\n" in done.stdout, (action, done.stdout)
    assert done.stdout.startswith("usage: stockbank stock ")


def test_top_level_help_lists_stock_and_simulate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "    stock " in out and "    simulate " in out
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "--days N" in out and "--seed S" in out


@pytest.mark.parametrize(
    "argv",
    [
        ("stock",),
        ("stock", "frobnicate"),
        ("stock", "sell", KIT, "1"),  # no customer
        ("stock", "move", KIT, "1", "Warehouse"),  # no target
        ("stock", "value", "--by", "supplier"),
        ("stock", "list", "--bogus"),
        ("simulate", "3"),
    ],
)
def test_usage_errors_exit_2(demo_db: str, capsys: pytest.CaptureFixture[str], argv: tuple) -> None:
    before = state(capsys, demo_db)
    assert "usage:" in usage_error(capsys, demo_db, *argv)
    assert state(capsys, demo_db) == before


# -- an empty database, then accounts and an import -----------------------------------------------


def test_an_empty_database_says_there_is_nothing(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert ok_text(capsys, db, "stock", "list").strip() == "no products yet"
    assert ok_text(capsys, db, "stock", "list", "--low").strip() == "no products are low on stock"
    assert "no locations yet" in ok_text(capsys, db, "stock", "locations")
    assert ok_text(capsys, db, "stock", "transit").strip() == "nothing in transit"
    assert ok_json(capsys, db, "stock", "list")["rows"] == []
    assert ok_json(capsys, db, "stock", "locations")["locations"] == []
    assert ok_json(capsys, db, "stock", "transit")["moves"] == []
    value = ok_json(capsys, db, "stock", "value")
    assert value == {"ok": True, "by": "category", "groups": [], "total": "0.00"}
    assert refused(capsys, db, "stock", "receive", "WID-1", "1") == "not_found"


def test_set_up_with_account_open_and_a_product_import(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok_json(capsys, db, "account", "open", "Alice", "--opening-balance", "50.00")
    catalog = tmp_path / "products.csv"
    catalog.write_text("sku,name,category,price,quantity\nWID-1,Widget,,2.50,10\nGAD-1,Gadget,,10.00,0\n",
                       encoding="utf-8")
    imported = ok_json(capsys, db, "import", "products", str(catalog))
    assert (imported["rows"], imported["inserted"]) == (2, 2)
    rows = {r["sku"]: r for r in ok_json(capsys, db, "stock", "list")["rows"]}
    assert set(rows["WID-1"]) == ROW_FIELDS
    assert (rows["WID-1"]["on_hand"], rows["WID-1"]["cost"], rows["WID-1"]["value"]) == (10, "0.00", "0.00")
    assert rows["GAD-1"]["on_hand"] == 0 and rows["GAD-1"]["low"] is False  # reorder level 0: never low
    assert location_units(capsys, db) == {"Warehouse": 10}  # the import's quantity landed in the Warehouse
    [adjust] = history(capsys, db, "WID-1")
    assert (adjust["reason"], adjust["quantity"], adjust["to_after"]) == ("adjust", 10, 10)
    assert "no moves yet" in ok_text(capsys, db, "stock", "history", "GAD-1")

    # a sale needs an account of kind shop to pay into
    assert refused(capsys, db, "stock", "sell", "WID-1", "2", "Alice") == "not_found"
    ok_json(capsys, db, "account", "open", "Shop", "--kind", "shop", "--opening-balance", "20.00")
    ok_json(capsys, db, "account", "open", "Parts Ltd", "--kind", "supplier")
    sale = ok_json(capsys, db, "stock", "sell", "WID-1", "2", "Alice")
    assert sale["amount"] == "5.00"
    assert balance(capsys, db, "Alice") == dec("45.00") and balance(capsys, db, "Shop") == dec("25.00")
    # a purchase at the product's cost needs a cost
    assert refused(capsys, db, "stock", "buy", "GAD-1", "1", "Parts Ltd") == "validation"
    ok_json(capsys, db, "stock", "plan", "GAD-1", "--cost", "4.00", "--reorder-level", "1")
    bought = ok_json(capsys, db, "stock", "buy", "GAD-1", "3", "Parts Ltd")
    assert bought["amount"] == "12.00" and bought["move"]["kind"] == "posted"
    assert balance(capsys, db, "Shop") == dec("13.00") and balance(capsys, db, "Parts Ltd") == dec("12.00")
    assert refused(capsys, db, "stock", "buy", "GAD-1", "4", "Parts Ltd") == "insufficient_funds"  # 16.00 > 13.00
    rows = {r["sku"]: r for r in ok_json(capsys, db, "stock", "list")["rows"]}
    assert (rows["WID-1"]["on_hand"], rows["GAD-1"]["on_hand"], rows["GAD-1"]["value"]) == (8, 3, "12.00")
    assert ok_json(capsys, db, "check")["problems"] == []


# -- list, locations, value, plan -----------------------------------------------------------------


def test_list_in_text_and_json(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ok_json(capsys, demo_db, "stock", "list")["rows"]
    assert [r["sku"] for r in rows] == list(DEMO_SKUS)
    assert [r["name"] for r in rows] == sorted(r["name"] for r in rows)
    for r in rows:
        assert set(r) == ROW_FIELDS
        assert dec(r["value"]) == r["on_hand"] * dec(r["cost"])
        assert r["low"] == (r["reorder_level"] > 0 and r["on_hand"] <= r["reorder_level"])
    assert [r["incoming"] for r in rows if r["sku"] == POW] == [3]
    lines = ok_text(capsys, demo_db, "stock", "list").splitlines()
    assert lines[0].split() == ["sku", "name", "on", "hand", "in", "transit", "reorder", "at", "value"]
    assert [line.split()[0] for line in lines[1:]] == list(DEMO_SKUS)
    for line, r in zip(lines[1:], rows):
        assert line.endswith("LOW") == r["low"]
        assert r["value"] in line and f" {r['on_hand']} " in line

    low = ok_json(capsys, demo_db, "stock", "list", "--low")["rows"]
    assert low and low == [r for r in rows if r["low"]]
    low_text = ok_text(capsys, demo_db, "stock", "list", "--low").splitlines()
    assert [line.split()[0] for line in low_text[1:]] == [r["sku"] for r in low]

    assert ok_json(capsys, demo_db, "stock", "list", "--filter", "kit-")["rows"] == rows[:1]  # SKU, any case
    assert ok_json(capsys, demo_db, "stock", "list", "--filter", "sander")["rows"] == [rows[3]]  # name
    assert ok_json(capsys, demo_db, "stock", "list", "--limit", "2")["rows"] == rows[:2]
    assert ok_json(capsys, demo_db, "stock", "list", "--filter", "zzz")["rows"] == []
    assert ok_json(capsys, demo_db, "stock", "list", "--filter", "%")["rows"] == []  # not a LIKE wildcard
    assert ok_json(capsys, demo_db, "stock", "list", "--filter", "_")["rows"] == []


def test_locations_and_add_location(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    locations = ok_json(capsys, demo_db, "stock", "locations")["locations"]
    assert [loc["name"] for loc in locations] == ["Warehouse", "Shop floor"]
    rows = ok_json(capsys, demo_db, "stock", "list")["rows"]
    assert sum(loc["quantity"] for loc in locations) == sum(r["on_hand"] for r in rows)
    assert locations[1]["quantity"] == 20  # 5 of four products; the sanders are still in transit
    lines = ok_text(capsys, demo_db, "stock", "locations").splitlines()
    assert lines[0].split() == ["id", "name", "units", "value"]
    assert "Warehouse" in lines[1] and "Shop floor" in lines[2] and locations[1]["value"] in lines[2]

    out = ok_text(capsys, demo_db, "stock", "add-location", "Back room")
    assert out.startswith("location ") and out.strip().endswith("Back room created")
    made = ok_json(capsys, demo_db, "stock", "add-location", "Van")["location"]
    assert made["name"] == "Van" and isinstance(made["id"], int)
    after = ok_json(capsys, demo_db, "stock", "locations")["locations"]
    assert [(loc["name"], loc["quantity"], loc["value"]) for loc in after[2:]] == [("Back room", 0, "0.00"),
                                                                                    ("Van", 0, "0.00")]
    assert after[-1]["id"] == made["id"]
    ok_json(capsys, demo_db, "stock", "receive", KIT, "4", "--location", str(made["id"]))  # a location by id
    assert location_units(capsys, demo_db)["Van"] == 4


def test_value_by_location_and_category_add_up_to_on_hand_times_cost(
    demo_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ok_json(capsys, demo_db, "stock", "add-location", "Back room")
    ok_json(capsys, demo_db, "stock", "move", KIT, "7", "Warehouse", "Back room")
    ok_json(capsys, demo_db, "stock", "scrap", "GAR-0000002", "2", "--location", "Warehouse")
    rows = ok_json(capsys, demo_db, "stock", "list")["rows"]
    expected = sum(r["on_hand"] * dec(r["cost"]) for r in rows)
    units = sum(r["on_hand"] for r in rows)
    by_location = ok_json(capsys, demo_db, "stock", "value", "--by", "location")
    assert by_location["by"] == "location"
    assert [g["name"] for g in by_location["groups"]] == ["Warehouse", "Shop floor", "Back room"]
    assert dec(by_location["total"]) == expected == sum(dec(g["value"]) for g in by_location["groups"])
    assert sum(g["quantity"] for g in by_location["groups"]) == units
    kit_cost = dec(row(capsys, demo_db, KIT)["cost"])
    back_room = [g for g in by_location["groups"] if g["name"] == "Back room"][0]
    assert (back_room["quantity"], dec(back_room["value"])) == (7, 7 * kit_cost)
    locations = ok_json(capsys, demo_db, "stock", "locations")["locations"]
    assert {g["name"]: (g["quantity"], g["value"]) for g in by_location["groups"]} == {
        loc["name"]: (loc["quantity"], loc["value"]) for loc in locations
    }
    by_category = ok_json(capsys, demo_db, "stock", "value")
    assert by_category["by"] == "category" and dec(by_category["total"]) == expected
    assert {g["name"] for g in by_category["groups"]} == {r["category"] for r in rows}
    for group in by_category["groups"]:
        mine = [r for r in rows if r["category"] == group["name"]]
        assert group["quantity"] == sum(r["on_hand"] for r in mine)
        assert dec(group["value"]) == sum(r["on_hand"] * dec(r["cost"]) for r in mine)
    lines = ok_text(capsys, demo_db, "stock", "value", "--by", "location").splitlines()
    assert lines[0].split() == ["location", "units", "value", "at", "cost"]
    assert lines[-1].split() == ["total", str(units), f"{expected:.2f}"]


def test_plan_sets_cost_and_reorder_level(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = row(capsys, demo_db, KIT)
    assert before["low"] is False
    out = ok_text(capsys, demo_db, "stock", "plan", KIT, "--cost", "2.50", "--reorder-level", "500")
    assert out.strip() == f"{KIT}: cost 2.50, reorder at 500 (on hand {before['on_hand']})"
    planned = ok_json(capsys, demo_db, "stock", "plan", KIT)["row"]  # nothing given: nothing changes
    assert set(planned) == ROW_FIELDS
    assert (planned["cost"], planned["reorder_level"], planned["low"]) == ("2.50", 500, True)
    assert dec(planned["value"]) == before["on_hand"] * dec("2.50")
    assert row(capsys, demo_db, KIT) == planned
    assert KIT in [r["sku"] for r in ok_json(capsys, demo_db, "stock", "list", "--low")["rows"]]
    planned = ok_json(capsys, demo_db, "stock", "plan", KIT, "--reorder-level", "0")["row"]
    assert (planned["cost"], planned["reorder_level"], planned["low"]) == ("2.50", 0, False)
    assert row(capsys, demo_db, KIT) == planned


# -- moves ----------------------------------------------------------------------------------------


def test_receive_in_text_and_json(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    start = row(capsys, demo_db, KIT)
    units = location_units(capsys, demo_db)
    out = ok_text(capsys, demo_db, "stock", "receive", KIT, "4")
    [newest] = history(capsys, demo_db, KIT)[:1]
    assert out.strip() == (
        f"move {newest['id']} posted receive: 4 x product {start['product_id']} Suppliers -> Warehouse")
    data = ok_json(capsys, demo_db, "stock", "receive", KIT, "6", "--location", "shop floor", "--memo", "delivery 12")
    move = data["move"]
    assert set(move) == MOVE_FIELDS and data["move_id"] == move["id"] > newest["id"]
    assert (move["kind"], move["reason"], move["quantity"], move["memo"], move["actor"]) == (
        "posted", "receive", 6, "delivery 12", ACTOR)
    assert move["to_location_id"] == location_ids(capsys, demo_db)["Shop floor"]
    assert (move["from_after"], move["to_after"], move["transfer_id"]) == (None, 5 + 6, None)
    assert move["created_at"].endswith("Z") and move["idempotency_key"]
    assert row(capsys, demo_db, KIT)["on_hand"] == start["on_hand"] + 10
    after = location_units(capsys, demo_db)
    assert (after["Warehouse"], after["Shop floor"]) == (units["Warehouse"] + 4, units["Shop floor"] + 6)
    assert history(capsys, demo_db, KIT)[0] == move
    exported = csv.DictReader(io.StringIO(ok_text(capsys, demo_db, "export", "products")))
    assert [int(r["quantity"]) for r in exported if r["sku"] == KIT] == [start["on_hand"] + 10]  # the catalog agrees


def test_move_posted_then_pending_then_arrive(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    start = row(capsys, demo_db, KIT)
    units = location_units(capsys, demo_db)
    ids = location_ids(capsys, demo_db)
    out = ok_text(capsys, demo_db, "stock", "move", KIT, "10", "Warehouse", "Shop floor")
    assert " posted move: 10 x " in out and "Warehouse -> Shop floor" in out
    after = location_units(capsys, demo_db)
    assert (after["Warehouse"], after["Shop floor"]) == (units["Warehouse"] - 10, units["Shop floor"] + 10)
    assert row(capsys, demo_db, KIT) == start  # moving within the shop changes no total

    data = ok_json(capsys, demo_db, "stock", "move", KIT, "4", str(ids["Shop floor"]), "Warehouse", "--pending",
                   "--memo", "back")
    pending = data["move"]
    assert (pending["kind"], pending["reason"], pending["quantity"]) == ("pending", "move", 4)
    assert (pending["from_location_id"], pending["to_location_id"]) == (ids["Shop floor"], ids["Warehouse"])
    assert location_units(capsys, demo_db) == after  # in transit: still on hand at the source
    assert row(capsys, demo_db, KIT)["incoming"] == 4
    transit = ok_json(capsys, demo_db, "stock", "transit")["moves"]
    assert pending in transit and [m["id"] for m in transit] == sorted(m["id"] for m in transit)  # oldest first
    assert f"move {pending['id']} pending move: 4 x " in ok_text(capsys, demo_db, "stock", "transit")
    # reserved for the transit: only 15 - 4 = 11 can still leave the shop floor
    assert refused(capsys, demo_db, "stock", "move", KIT, "12", "Shop floor", "Warehouse") == "insufficient_stock"
    assert refused(capsys, demo_db, "stock", "count", KIT, "3", "--location", "Shop floor") == "insufficient_stock"

    out = ok_text(capsys, demo_db, "stock", "arrive", str(pending["id"]))
    assert " received move: 4 x " in out and "Shop floor -> Warehouse" in out
    received = history(capsys, demo_db, KIT)[0]
    assert (received["kind"], received["pending_id"], received["quantity"]) == ("received", pending["id"], 4)
    final = location_units(capsys, demo_db)
    assert (final["Warehouse"], final["Shop floor"]) == (after["Warehouse"] + 4, after["Shop floor"] - 4)
    assert row(capsys, demo_db, KIT) == start
    assert pending["id"] not in [m["id"] for m in ok_json(capsys, demo_db, "stock", "transit")["moves"]]


def test_arrive_the_demo_delivery_in_json(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    [transit] = ok_json(capsys, demo_db, "stock", "transit")["moves"]
    units = location_units(capsys, demo_db)
    data = ok_json(capsys, demo_db, "stock", "arrive", str(transit["id"]))
    move = data["move"]
    assert set(move) == MOVE_FIELDS and data["move_id"] == move["id"]
    assert (move["kind"], move["reason"], move["pending_id"]) == ("received", "move", transit["id"])
    assert move["quantity"] == 3
    assert row(capsys, demo_db, POW)["incoming"] == 0
    after = location_units(capsys, demo_db)
    assert (after["Warehouse"], after["Shop floor"]) == (units["Warehouse"] - 3, units["Shop floor"] + 3)
    assert ok_json(capsys, demo_db, "stock", "transit")["moves"] == []
    assert ok_text(capsys, demo_db, "stock", "transit").strip() == "nothing in transit"
    assert refused(capsys, demo_db, "stock", "arrive", str(transit["id"])) == "already_received"


def test_cancel_a_pending_move_releases_the_stock(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    [transit] = ok_json(capsys, demo_db, "stock", "transit")["moves"]
    units = location_units(capsys, demo_db)
    accounts = ok_json(capsys, demo_db, "account", "list")["accounts"]
    out = ok_text(capsys, demo_db, "stock", "cancel", str(transit["id"]))
    assert " cancelled move: 3 x " in out
    cancelled = history(capsys, demo_db, POW)[0]
    assert (cancelled["kind"], cancelled["pending_id"], cancelled["transfer_id"]) == ("cancelled", transit["id"], None)
    assert location_units(capsys, demo_db) == units and row(capsys, demo_db, POW)["incoming"] == 0
    assert ok_json(capsys, demo_db, "account", "list")["accounts"] == accounts  # no money involved
    # the released units can leave again: all of the sanders in the Warehouse can be scrapped
    on_hand = row(capsys, demo_db, POW)["on_hand"]
    ok_json(capsys, demo_db, "stock", "scrap", POW, str(on_hand))
    assert row(capsys, demo_db, POW)["on_hand"] == 0
    assert refused(capsys, demo_db, "stock", "cancel", str(transit["id"])) == "already_cancelled"
    assert refused(capsys, demo_db, "stock", "arrive", str(transit["id"])) == "already_cancelled"


def test_scrap_in_text_and_json(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    start = row(capsys, demo_db, KIT)
    units = location_units(capsys, demo_db)
    out = ok_text(capsys, demo_db, "stock", "scrap", KIT, "2", "--memo", "dropped")
    assert " posted scrap: 2 x " in out and "Warehouse -> Scrap" in out
    data = ok_json(capsys, demo_db, "stock", "scrap", KIT, "1", "--location", "Shop floor")
    assert (data["move"]["reason"], data["move"]["from_after"], data["move"]["to_after"]) == ("scrap", 4, None)
    assert row(capsys, demo_db, KIT)["on_hand"] == start["on_hand"] - 3
    after = location_units(capsys, demo_db)
    assert (after["Warehouse"], after["Shop floor"]) == (units["Warehouse"] - 2, units["Shop floor"] - 1)
    assert [m["memo"] for m in history(capsys, demo_db, KIT)[:2]] == ["", "dropped"]
    assert refused(capsys, demo_db, "stock", "scrap", KIT, "5", "--location", "Shop floor") == "insufficient_stock"
    ok_json(capsys, demo_db, "stock", "scrap", KIT, "4", "--location", "Shop floor")  # all of it is fine
    assert location_units(capsys, demo_db)["Shop floor"] == units["Shop floor"] - 5


def test_count_posts_the_difference_as_an_adjustment(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    start = row(capsys, demo_db, KIT)
    warehouse = location_units(capsys, demo_db)["Warehouse"]
    kit_in_warehouse = start["on_hand"] - 5
    out = ok_text(capsys, demo_db, "stock", "count", KIT, str(kit_in_warehouse + 3))
    assert " posted adjust: 3 x " in out and "Inventory adjustment -> Warehouse" in out
    data = ok_json(capsys, demo_db, "stock", "count", KIT, "100", "--memo", "shelf B")
    move = data["move"]
    assert (move["reason"], move["quantity"], move["to_after"], move["from_after"]) == (
        "adjust", kit_in_warehouse + 3 - 100, None, 100)
    assert move["memo"] == f"counted 100 (was {kit_in_warehouse + 3}) by {ACTOR}, day 0; shelf B"
    assert row(capsys, demo_db, KIT)["on_hand"] == 100 + 5
    assert location_units(capsys, demo_db)["Warehouse"] == warehouse - kit_in_warehouse + 100
    moves = len(history(capsys, demo_db, KIT))
    assert ok_text(capsys, demo_db, "stock", "count", KIT, "100").strip() == (
        "the count matches what is recorded; nothing to adjust")
    assert ok_json(capsys, demo_db, "stock", "count", KIT, "100") == {"ok": True, "move": None}
    assert len(history(capsys, demo_db, KIT)) == moves
    ok_json(capsys, demo_db, "stock", "count", KIT, "0", "--location", "Shop floor")  # zero is a valid count
    assert row(capsys, demo_db, KIT)["on_hand"] == 100
    assert ok_json(capsys, demo_db, "check")["problems"] == []


def test_history_newest_first_with_limit(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    made = [ok_json(capsys, demo_db, "stock", "receive", KIT, str(n), "--memo", f"m{n}")["move_id"] for n in (1, 2, 3)]
    moves = history(capsys, demo_db, KIT)
    assert [m["id"] for m in moves[:3]] == made[::-1]
    assert [m["id"] for m in moves] == sorted((m["id"] for m in moves), reverse=True)
    assert all(set(m) == MOVE_FIELDS for m in moves)
    assert ok_json(capsys, demo_db, "stock", "history", KIT, "--limit", "2")["moves"] == moves[:2]
    lines = ok_text(capsys, demo_db, "stock", "history", KIT, "--limit", "3").splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("day    0  move ") and lines[0].endswith("m3") and f"move {made[2]} " in lines[0]
    assert ok_json(capsys, demo_db, "stock", "history", KIT.lower())["moves"][:3] == moves[:3]  # SKU in any case


# -- sales and purchases --------------------------------------------------------------------------


def test_sell_in_text_and_json(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    price = prices(capsys, demo_db)[KIT]
    start = row(capsys, demo_db, KIT)
    alice, shop = balance(capsys, demo_db, "Alice"), balance(capsys, demo_db, "Shop")
    out = ok_text(capsys, demo_db, "stock", "sell", KIT, "2", "Alice")
    assert " posted sell: 2 x " in out and "Warehouse -> Customers" in out
    assert out.strip().endswith(f"; paid {2 * price:.2f} EUR") and ", transfer " in out
    assert balance(capsys, demo_db, "Alice") == alice - 2 * price
    assert balance(capsys, demo_db, "Shop") == shop + 2 * price

    data = ok_json(capsys, demo_db, "stock", "sell", KIT, "3", "Bob", "--price", "1.10", "--location", "Shop floor")
    assert set(data) == {"ok", "move_id", "transfer_id", "move", "amount"}
    move = data["move"]
    assert data["amount"] == "3.30" and move["transfer_id"] == data["transfer_id"] and data["move_id"] == move["id"]
    assert (move["reason"], move["quantity"], move["from_after"], move["memo"]) == ("sell", 3, 2, f"sale {KIT} x3")
    assert row(capsys, demo_db, KIT)["on_hand"] == start["on_hand"] - 5
    assert balance(capsys, demo_db, "Shop") == shop + 2 * price + dec("3.30")
    statement = ok_json(capsys, demo_db, "account", "statement", "Bob", "--limit", "1")["lines"]
    assert (statement[0]["transfer_id"], statement[0]["amount"], statement[0]["counterparty"]) == (
        data["transfer_id"], "-3.30", "Shop")
    customer_ids = {a["name"]: a["id"] for a in ok_json(capsys, demo_db, "account", "list")["accounts"]}
    by_id = ok_json(capsys, demo_db, "stock", "sell", KIT, "1", str(customer_ids["Carol"]), "--price", "1.00")
    assert by_id["amount"] == "1.00"
    assert ok_json(capsys, demo_db, "check")["problems"] == []


def test_sell_more_than_the_customer_can_pay_is_refused(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, demo_db, "stock", "sell", KIT, "100", "Bob", "--price", "100.00") == "insufficient_funds"


def test_buy_now_and_with_lead_days(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    start = row(capsys, demo_db, KIT)
    cost = dec(start["cost"])
    shop, acme = balance(capsys, demo_db, "Shop"), balance(capsys, demo_db, SUPPLIER)
    out = ok_text(capsys, demo_db, "stock", "buy", KIT, "2", SUPPLIER)
    assert " posted purchase: 2 x " in out and "Suppliers -> Warehouse" in out
    assert out.strip().endswith(f"; paid {2 * cost:.2f} EUR")
    assert row(capsys, demo_db, KIT)["on_hand"] == start["on_hand"] + 2
    assert balance(capsys, demo_db, "Shop") == shop - 2 * cost
    assert balance(capsys, demo_db, SUPPLIER) == acme + 2 * cost

    data = ok_json(capsys, demo_db, "stock", "buy", KIT, "5", SUPPLIER, "--cost", "1.00", "--lead-days", "3",
                   "--location", "Shop floor")
    move = data["move"]
    assert data["amount"] == "5.00" and move["transfer_id"] == data["transfer_id"]
    assert (move["kind"], move["reason"], move["quantity"], move["due_day"], move["day"]) == (
        "pending", "purchase", 5, 3, 0)
    assert balance(capsys, demo_db, "Shop") == shop - 2 * cost - 5  # paid now
    after = row(capsys, demo_db, KIT)
    assert (after["on_hand"], after["incoming"]) == (start["on_hand"] + 2, 5)  # not here yet
    assert move in ok_json(capsys, demo_db, "stock", "transit")["moves"]
    assert f"due day 3, transfer {data['transfer_id']}" in ok_text(capsys, demo_db, "stock", "transit")
    ok_json(capsys, demo_db, "stock", "arrive", str(move["id"]))
    after = row(capsys, demo_db, KIT)
    assert (after["on_hand"], after["incoming"]) == (start["on_hand"] + 7, 0)
    assert location_units(capsys, demo_db)["Shop floor"] == 20 + 5
    assert balance(capsys, demo_db, "Shop") == shop - 2 * cost - 5  # arriving costs nothing more


def test_cancel_a_pending_purchase_refunds_the_shop(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    shop, acme = balance(capsys, demo_db, "Shop"), balance(capsys, demo_db, SUPPLIER)
    bought = ok_json(capsys, demo_db, "stock", "buy", KIT, "4", SUPPLIER, "--cost", "2.00", "--lead-days", "1")
    assert balance(capsys, demo_db, "Shop") == shop - 8
    data = ok_json(capsys, demo_db, "stock", "cancel", str(bought["move_id"]))
    move = data["move"]
    assert (move["kind"], move["pending_id"], move["reason"]) == ("cancelled", bought["move_id"], "purchase")
    assert move["transfer_id"] is not None and move["transfer_id"] != bought["transfer_id"]  # the refund
    assert (balance(capsys, demo_db, "Shop"), balance(capsys, demo_db, SUPPLIER)) == (shop, acme)
    refund = ok_json(capsys, demo_db, "account", "statement", "Shop", "--limit", "1")["lines"][0]
    assert (refund["transfer_id"], refund["amount"]) == (move["transfer_id"], "8.00")
    assert row(capsys, demo_db, KIT)["incoming"] == 0
    assert refused(capsys, demo_db, "stock", "arrive", str(bought["move_id"])) == "already_cancelled"
    assert ok_json(capsys, demo_db, "check")["problems"] == []


def test_a_frozen_supplier_cannot_be_paid(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok_json(capsys, demo_db, "account", "freeze", SUPPLIER)
    assert refused(capsys, demo_db, "stock", "buy", KIT, "1", SUPPLIER) == "account_frozen"


def test_a_supplier_that_cannot_refund_blocks_the_cancel(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    bought = ok_json(capsys, demo_db, "stock", "buy", KIT, "4", SUPPLIER, "--cost", "2.00", "--lead-days", "1")
    acme = balance(capsys, demo_db, SUPPLIER)
    ok_json(capsys, demo_db, "withdraw", SUPPLIER, f"{acme:.2f}")
    assert refused(capsys, demo_db, "stock", "cancel", str(bought["move_id"])) == "insufficient_funds"
    ok_json(capsys, demo_db, "stock", "arrive", str(bought["move_id"]))  # it can still arrive


# -- idempotency ----------------------------------------------------------------------------------


def test_a_retried_sale_with_the_same_key_is_written_once(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    start = row(capsys, demo_db, KIT)
    alice = balance(capsys, demo_db, "Alice")
    first = ok_json(capsys, demo_db, "stock", "sell", KIT, "2", "Alice", "--key", "order-1")
    moves = history(capsys, demo_db, KIT)
    accounts = ok_json(capsys, demo_db, "account", "list")["accounts"]
    again = ok_json(capsys, demo_db, "stock", "sell", KIT, "2", "Alice", "--key", "order-1")
    assert again == first
    assert history(capsys, demo_db, KIT) == moves
    assert ok_json(capsys, demo_db, "account", "list")["accounts"] == accounts
    assert row(capsys, demo_db, KIT)["on_hand"] == start["on_hand"] - 2
    assert balance(capsys, demo_db, "Alice") == alice - dec(first["amount"])
    assert [m["idempotency_key"] for m in moves if m["reason"] == "sell"] == ["order-1"]
    # a retry is answered even once the stock is gone
    ok_json(capsys, demo_db, "stock", "scrap", KIT, str(start["on_hand"] - 2 - 5))
    assert ok_json(capsys, demo_db, "stock", "sell", KIT, "2", "Alice", "--key", "order-1") == first
    out = ok_text(capsys, demo_db, "stock", "sell", KIT, "2", "Alice", "--key", "order-1")
    assert out.startswith(f"move {first['move_id']} ")
    # the same key for another request is a conflict, and changes nothing
    assert refused(capsys, demo_db, "stock", "sell", KIT, "3", "Alice", "--key", "order-1") == "idempotency_conflict"
    assert refused(capsys, demo_db, "stock", "sell", KIT, "2", "Bob", "--key", "order-1") == "idempotency_conflict"
    code, _, err = run(capsys, demo_db, "stock", "sell", KIT, "3", "Alice", "--key", "order-1")
    assert code == 1 and "order-1" in err and str(first["move_id"]) in err


@pytest.mark.parametrize(
    ("argv", "other"),
    [
        (("stock", "receive", KIT, "3"), ("stock", "receive", KIT, "4")),
        (("stock", "receive", KIT, "3"), ("stock", "receive", KIT, "3", "--location", "Shop floor")),
        (("stock", "move", KIT, "3", "Warehouse", "Shop floor"),
         ("stock", "move", KIT, "3", "Shop floor", "Warehouse")),
        (("stock", "move", KIT, "3", "Warehouse", "Shop floor"),
         ("stock", "move", KIT, "3", "Warehouse", "Shop floor", "--pending")),
        (("stock", "scrap", KIT, "3"), ("stock", "scrap", "GAR-0000002", "3")),
        (("stock", "buy", KIT, "3", SUPPLIER), ("stock", "buy", KIT, "3", SUPPLIER, "--cost", "0.01")),
        (("stock", "receive", KIT, "3"), ("stock", "scrap", KIT, "3")),  # keys are shared by every action
    ],
)
def test_keyed_moves_are_written_once_and_conflict_when_changed(
    demo_db: str, capsys: pytest.CaptureFixture[str], argv: tuple, other: tuple
) -> None:
    first = ok_json(capsys, demo_db, *argv, "--key", "k-1")
    before = state(capsys, demo_db)
    assert ok_json(capsys, demo_db, *argv, "--key", "k-1") == first
    assert state(capsys, demo_db) == before
    assert refused(capsys, demo_db, *other, "--key", "k-1", before=before) == "idempotency_conflict"


def test_keyed_arrive_replays_and_a_cancel_with_that_key_conflicts(
    demo_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    [transit] = ok_json(capsys, demo_db, "stock", "transit")["moves"]
    first = ok_json(capsys, demo_db, "stock", "arrive", str(transit["id"]), "--key", "a-1")
    before = state(capsys, demo_db)
    assert ok_json(capsys, demo_db, "stock", "arrive", str(transit["id"]), "--key", "a-1") == first
    assert state(capsys, demo_db) == before
    assert refused(capsys, demo_db, "stock", "cancel", str(transit["id"]), "--key", "a-1", before=before) == (
        "idempotency_conflict")
    assert refused(capsys, demo_db, "stock", "arrive", str(transit["id"]), before=before) == "already_received"


# -- refusals -------------------------------------------------------------------------------------

_QTY_ACTIONS = {
    "receive": ("stock", "receive", KIT, "{q}"),
    "move": ("stock", "move", KIT, "{q}", "Warehouse", "Shop floor"),
    "scrap": ("stock", "scrap", KIT, "{q}"),
    "sell": ("stock", "sell", KIT, "{q}", "Alice"),
    "buy": ("stock", "buy", KIT, "{q}", SUPPLIER),
}
_BAD_QUANTITIES = [
    pytest.param(tuple(a.replace("{q}", q) for a in argv), "validation", id=f"{name}-{q}")
    for name, argv in _QTY_ACTIONS.items()
    for q in ("0", "-1", "1.5", "abc")
] + [
    pytest.param(("stock", "count", KIT, q), "validation", id=f"count-{q}") for q in ("-1", "1.5", "abc")
] + [
    pytest.param(("stock", "receive", KIT, q), "validation", id=f"receive-{q or 'empty'}")
    for q in ("", " ", "1e3", "١", "+1", "1000000001")  # Arabic-Indic digits are not ASCII; at most 10**9 a move
]

_REFUSALS = [
    # unknown product, location, account, move
    (("stock", "receive", "NOPE-1", "1"), "not_found"),
    (("stock", "move", "NOPE-1", "1", "Warehouse", "Shop floor"), "not_found"),
    (("stock", "scrap", "NOPE-1", "1"), "not_found"),
    (("stock", "count", "NOPE-1", "3"), "not_found"),
    (("stock", "sell", "NOPE-1", "1", "Alice"), "not_found"),
    (("stock", "buy", "NOPE-1", "1", SUPPLIER), "not_found"),
    (("stock", "history", "NOPE-1"), "not_found"),
    (("stock", "plan", "NOPE-1", "--cost", "1.00"), "not_found"),
    (("stock", "receive", KIT, "1", "--location", "Nowhere"), "not_found"),
    (("stock", "receive", KIT, "1", "--location", "424242"), "not_found"),
    (("stock", "scrap", KIT, "1", "--location", "Nowhere"), "not_found"),
    (("stock", "count", KIT, "1", "--location", "Nowhere"), "not_found"),
    (("stock", "move", KIT, "1", "Warehouse", "Nowhere"), "not_found"),
    (("stock", "move", KIT, "1", "Nowhere", "Warehouse"), "not_found"),
    (("stock", "move", KIT, "1", "Warehouse", "424242"), "not_found"),
    (("stock", "sell", KIT, "1", "Nobody"), "not_found"),
    (("stock", "sell", KIT, "1", "424242"), "not_found"),
    (("stock", "sell", KIT, "1", "Alice", "--location", "Nowhere"), "not_found"),
    (("stock", "buy", KIT, "1", "Nobody"), "not_found"),
    (("stock", "arrive", "424242"), "not_found"),
    (("stock", "cancel", "424242"), "not_found"),
    # the same place twice
    (("stock", "move", KIT, "1", "Warehouse", "Warehouse"), "same_location"),
    (("stock", "move", KIT, "1", "Warehouse", "WAREHOUSE"), "same_location"),
    (("stock", "move", KIT, "1", "{warehouse}", "Warehouse"), "same_location"),
    # more than there is
    (("stock", "scrap", KIT, "100000"), "insufficient_stock"),
    (("stock", "sell", KIT, "100000", "Alice", "--price", "0.01"), "insufficient_stock"),
    (("stock", "move", KIT, "100000", "Warehouse", "Shop floor"), "insufficient_stock"),
    (("stock", "move", KIT, "1", "Back room", "Warehouse"), "insufficient_stock"),
    (("stock", "scrap", KIT, "1", "--location", "Back room"), "insufficient_stock"),
    (("stock", "move", POW, "1", "Shop floor", "Warehouse", "--pending"), "insufficient_stock"),  # incoming != on hand
    (("stock", "count", POW, "2"), "insufficient_stock"),  # 3 are reserved for the transit
    # money
    (("stock", "sell", KIT, "1", "Dave"), "account_frozen"),
    (("stock", "sell", KIT, "1", "Shop"), "validation"),  # the shop is not a customer account
    (("stock", "buy", KIT, "100000", SUPPLIER), "insufficient_funds"),
    # idempotency keys already used
    (("stock", "sell", KIT, "2", "Alice", "--key", "sale-1"), "idempotency_conflict"),
    (("stock", "sell", KIT, "1", "Bob", "--key", "sale-1"), "idempotency_conflict"),
    (("stock", "sell", KIT, "1", "Alice", "--price", "0.50", "--key", "sale-1"), "idempotency_conflict"),
    (("stock", "receive", KIT, "1", "--key", "sale-1"), "idempotency_conflict"),
    (("stock", "buy", KIT, "3", SUPPLIER, "--lead-days", "2", "--key", "buy-1"), "idempotency_conflict"),
    (("stock", "cancel", "{received}", "--key", "arrive-1"), "idempotency_conflict"),
    # resolving what is not in transit
    (("stock", "arrive", "{posted}"), "not_pending"),
    (("stock", "cancel", "{posted}"), "not_pending"),
    (("stock", "arrive", "{arrival}"), "not_pending"),
    (("stock", "arrive", "{received}"), "already_received"),
    (("stock", "cancel", "{received}"), "already_received"),
    (("stock", "arrive", "{cancelled}"), "already_cancelled"),
    (("stock", "cancel", "{cancelled}"), "already_cancelled"),
    # other bad values
    (("stock", "arrive", "abc"), "validation"),
    (("stock", "arrive", "-1"), "validation"),
    (("stock", "cancel", "1.5"), "validation"),
    (("stock", "arrive", "99999999999999999999999"), "validation"),
    (("stock", "list", "--limit", "0"), "validation"),
    (("stock", "list", "--limit", "10001"), "validation"),
    (("stock", "list", "--limit", "ten"), "validation"),
    (("stock", "history", KIT, "--limit", "0"), "validation"),
    (("stock", "history", KIT, "--limit", "x"), "validation"),
    (("stock", "move", KIT, "1", "Warehouse", "Scrap"), "not_found"),  # virtual locations are not addressable
    (("stock", "receive", KIT, "1", "--key", "has space"), "validation"),
    (("stock", "receive", KIT, "1", "--memo", "line\nbreak"), "validation"),
    (("stock", "sell", KIT, "1", "Alice", "--price", "abc"), "validation"),
    (("stock", "sell", KIT, "1", "Alice", "--price", "0"), "validation"),
    (("stock", "sell", KIT, "1", "Alice", "--price", "1.001"), "validation"),
    (("stock", "buy", KIT, "1", SUPPLIER, "--lead-days", "abc"), "validation"),
    (("stock", "buy", KIT, "1", SUPPLIER, "--lead-days", "-1"), "validation"),
    (("stock", "buy", KIT, "1", SUPPLIER, "--lead-days", "366"), "validation"),
    (("stock", "buy", KIT, "1", SUPPLIER, "--cost", "-1"), "validation"),
    (("stock", "plan", KIT, "--cost", "abc"), "validation"),
    (("stock", "plan", KIT, "--cost", "-1.00"), "validation"),
    (("stock", "plan", KIT, "--reorder-level", "-1"), "validation"),
    (("stock", "plan", KIT, "--reorder-level", "1.5"), "validation"),
    (("stock", "add-location", ""), "validation"),
    (("stock", "add-location", "   "), "validation"),
    (("stock", "add-location", "Scrap"), "validation"),  # reserved for a virtual location
    (("stock", "add-location", "warehouse"), "already_exists"),
    (("stock", "add-location", "BACK ROOM"), "already_exists"),
    # the simulation
    (("simulate", "--days", "0"), "validation"),
    (("simulate", "--days", "abc"), "validation"),
    (("simulate", "--days", "-1"), "validation"),
    (("simulate", "--days", "1.5"), "validation"),
    (("simulate", "--days", "3651"), "validation"),
    (("simulate", "--seed", "-1"), "validation"),
    (("simulate", "--seed", "x"), "validation"),
]


@pytest.mark.parametrize(
    ("argv", "code"), [*_BAD_QUANTITIES, *(pytest.param(argv, code, id=" ".join(argv)) for argv, code in _REFUSALS)]
)
def test_bad_stock_commands_are_refused_and_change_nothing(
    refusals: tuple[str, dict, dict], capsys: pytest.CaptureFixture[str], argv: tuple, code: str
) -> None:
    url, before, ids = refusals
    argv = tuple(a.format(**ids) for a in argv)
    assert refused(capsys, url, *argv, before=before) == code


def test_refusal_messages_name_what_is_wrong(
    refusals: tuple[str, dict, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, ids = refusals
    cases = [
        (("stock", "receive", KIT, "0"), "error [validation]: quantity"),
        (("stock", "receive", "NOPE-1", "1"), "error [not_found]: product: no product 'NOPE-1'"),
        (("stock", "move", KIT, "1", "Warehouse", "Nowhere"), "error [not_found]: target: no location 'Nowhere'"),
        (("stock", "sell", KIT, "1", "Nobody"), "error [not_found]: customer: no account 'Nobody'"),
        (("stock", "sell", KIT, "1", "Dave"), "error [account_frozen]: customer: Dave is frozen"),
        (("stock", "scrap", KIT, "100000"), "error [insufficient_stock]: quantity: Warehouse has "),
        (("stock", "arrive", str(ids["posted"])), f"error [not_pending]: stock move {ids['posted']} is not in transit"),
        (("simulate", "--days", "0"), "error [validation]: days"),
        (("simulate", "--seed", "-1"), "error [validation]: seed"),
    ]
    for argv, start in cases:
        code, out, err = run(capsys, url, *argv)
        assert code == 1 and out == "" and err.startswith(start), (argv, err)


# -- the simulation -------------------------------------------------------------------------------


def test_simulate_in_text_and_json_then_check(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = state(capsys, demo_db)
    out = ok_text(capsys, demo_db, "simulate", "--days", "3", "--seed", "11")
    assert out.startswith("simulated 3 day(s), now day 3: ") and "ledger rows" in out
    data = ok_json(capsys, demo_db, "simulate", "--days", "4")  # continues from the stored generator
    assert (data["day"], data["seed"]) == (7, 11)
    assert [d["day"] for d in data["days"]] == [4, 5, 6, 7]
    assert set(data["totals"]) == {"sales", "revenue_minor", "lost_sales", "refused_sales", "orders", "spent_minor",
                                   "arrivals", "ledger_rows"}
    for key, total in data["totals"].items():
        assert total == sum(d[key] for d in data["days"])
    assert data["days"][-1]["wages"] == 3  # day 7 is payday for the customers: Alice, Bob and Carol
    assert state(capsys, demo_db) != before
    code, out, err = run(capsys, demo_db, "check")
    assert code == 0, (out, err)
    assert out.startswith("ok:")
    assert ok_json(capsys, demo_db, "check")["problems"] == []
    # what the simulation sold left the books consistent: value = on hand x cost still
    rows = ok_json(capsys, demo_db, "stock", "list")["rows"]
    assert dec(ok_json(capsys, demo_db, "stock", "value", "--by", "location")["total"]) == sum(
        r["on_hand"] * dec(r["cost"]) for r in rows)


def test_simulate_is_deterministic_across_processes(
    demo_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    here = copy_db(demo_template, tmp_path / "here.db")
    there = copy_db(demo_template, tmp_path / "there.db")
    assert state(capsys, here) == state(capsys, there)
    mine = ok_json(capsys, here, "simulate", "--days", "5", "--seed", "3")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # another process, another hash order
    done = subprocess.run(
        [STOCKBANK, "--db", there, "--actor", ACTOR, "--json", "simulate", "--days", "5", "--seed", "3"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert done.returncode == 0, done.stderr
    theirs = json.loads(done.stdout)
    assert theirs == mine
    assert mine["totals"]["sales"] > 0 and mine["totals"]["ledger_rows"] > 0, "the run should do something"
    for argv in (("stock", "list", "--limit", "10000"), ("account", "list")):
        ours = run(capsys, here, "--json", *argv)
        done = subprocess.run([STOCKBANK, "--db", there, "--json", *argv], capture_output=True, text=True, timeout=60,
                              env=env)
        assert done.returncode == 0, done.stderr
        assert ours[0] == 0 and ours[1] == done.stdout, argv


def test_simulate_a_fresh_database_with_nothing_in_it(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = ok_json(capsys, db, "simulate", "--days", "2", "--seed", "0")
    assert (data["day"], data["seed"]) == (2, 0)
    assert data["totals"]["sales"] == 0 and data["totals"]["ledger_rows"] == 0
    assert ok_json(capsys, db, "check")["problems"] == []


# -- regressions (bugs found while writing this suite) ----------------------------------------------


def test_an_empty_count_is_refused(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, demo_db, "stock", "count", KIT, "") == "validation"


def test_a_purchase_key_reused_with_other_lead_days_conflicts(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok_json(capsys, demo_db, "stock", "buy", KIT, "1", SUPPLIER, "--lead-days", "2", "--key", "po-1")
    assert refused(capsys, demo_db, "stock", "buy", KIT, "1", SUPPLIER, "--key", "po-1") == "idempotency_conflict"


def test_a_sale_never_reuses_an_earlier_transfer_as_its_payment(
    demo_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    paid = ok_json(capsys, demo_db, "transfer", "Alice", "Shop", "1.00", "--key", "order-17", "--memo", "order 17")
    alice = balance(capsys, demo_db, "Alice")
    code, out, err = run(capsys, demo_db, "--json", "stock", "sell", KIT, "1", "Alice", "--price", "1.00",
                         "--key", "order-17", "--memo", "order 17")
    if code == 1:
        assert json.loads(out)["error"]["code"] == "idempotency_conflict"
        return
    assert code == 0, err
    sale = json.loads(out)
    assert sale["transfer_id"] != paid["transfer_id"], "the sale's payment is the earlier transfer"
    assert balance(capsys, demo_db, "Alice") == alice - 1


def test_a_user_key_cannot_jam_the_simulation(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    customers = [a["id"] for a in ok_json(capsys, demo_db, "account", "list")["accounts"] if a["kind"] == "customer"]
    for customer in customers:
        ok_json(capsys, demo_db, "stock", "sell", "OFF-0000004", "1", str(customer), "--price", "0.01",
                "--key", f"sim-sale-1-{customer}")
    code, out, err = run(capsys, demo_db, "simulate", "--days", "1", "--seed", "1")
    assert code == 0, err


# -- the installed script -------------------------------------------------------------------------


def test_installed_script_exit_codes_and_error_line(demo_db: str) -> None:
    base = [STOCKBANK, "--db", demo_db, "--actor", ACTOR]
    done = subprocess.run([*base, "stock", "sell", KIT, "1", "Alice"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("move ") and "sell" in done.stdout and done.stderr == ""
    done = subprocess.run([*base, "stock", "sell", KIT, "1.5", "Alice"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error [validation]: quantity")
    done = subprocess.run([*base, "stock", "sell", KIT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, "a missing argument is a usage error"
