"""`stockbank import-legacy FILE.db`: legacy SQLite databases of several shapes, built here with raw
sqlite3, reflected, mapped and imported through the CLI; asserted on the store's state, the report,
and `check`. Bad input is refused with a stable code and changes nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from domain import Simulator
from domain.services.catalog_import import CatalogImportService, SourceCategory, SourceRow, plan_categories
from storage import open_store
from tests.integration import cli_helpers
from tests.integration.cli_helpers import ok_json, ok_text, refused_by, run
from tests.integration.conftest import STOCKBANK
from tui_app.__main__ import main

one_parser = cli_helpers.one_parser  # autouse: one argument parser for the module

pytestmark = pytest.mark.usefixtures("no_user_database")

SHOP = """
CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                         parent_id INTEGER REFERENCES categories(id), sort_order INTEGER);
INSERT INTO categories VALUES (1, 'Tools', NULL, 1), (2, 'Hand tools', 1, 2), (3, 'Power tools', 1, 3),
                              (4, 'Garden', 0, 4);
CREATE TABLE products (id INTEGER PRIMARY KEY, code TEXT NOT NULL, title TEXT, unit_price REAL, qty INTEGER,
                       category_id INTEGER REFERENCES categories(id), discontinued INTEGER,
                       supplier TEXT, weight_kg REAL);
INSERT INTO products VALUES
    (1, 'ham-1', 'Hammer', 12.5, 10, 2, 0, 'Acme', 0.6),
    (2, 'DRL-9', 'Drill', 89, 2, 3, 0, 'Bosch', 1.8),
    (3, 'HOSE-25', 'Garden hose', 24.99, 0, 4, 1, NULL, NULL),
    (4, 'TAPE', 'Tape measure', 3.2, 7, NULL, NULL, NULL, NULL);
"""


def make_legacy(path: Path, script: str) -> Path:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(script)
        conn.commit()
    finally:
        conn.close()
    return path


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shop.db'}"


@pytest.fixture
def shop_legacy(tmp_path: Path) -> Path:
    return make_legacy(tmp_path / "legacy.db", SHOP)


def state(db: str, tenant: str = "default") -> dict[str, Any]:
    """Everything an import could touch, read straight from the store's file ({} when there is none)."""
    path = Path(db.removeprefix("sqlite:///"))
    if not path.exists():
        return {}
    conn = sqlite3.connect(path)
    try:
        q = lambda sql: conn.execute(sql, (tenant,)).fetchall()  # noqa: E731
        return {
            "products": q("SELECT p.sku, p.name, p.price_minor, p.quantity, p.active, c.name, p.version FROM products p "
                          "LEFT JOIN categories c ON c.id = p.category_id WHERE p.tenant_id = ? ORDER BY p.sku"),
            "categories": q("SELECT c.name, p.name FROM categories c LEFT JOIN categories p ON p.id = c.parent_id "
                            "WHERE c.tenant_id = ? ORDER BY c.name"),
            "moves": q("SELECT count(*) FROM stock_moves WHERE tenant_id = ?"),
            "audit": q("SELECT count(*) FROM audit_log WHERE tenant_id = ?"),
        }
    finally:
        conn.close()


NOTHING = {"products": [], "categories": [], "moves": [(0,)], "audit": [(0,)]}  # a store opened, nothing written


def products(db: str, tenant: str = "default") -> dict[str, tuple]:
    """sku -> (name, price_minor, quantity, active, category)."""
    return {p[0]: (p[1], p[2], p[3], bool(p[4]), p[5]) for p in state(db, tenant).get("products", [])}


def cli_state(capsys: pytest.CaptureFixture[str], db: str) -> dict[str, Any]:
    return state(db)


def assert_books_ok(capsys: pytest.CaptureFixture[str], db: str) -> None:
    assert ok_text(capsys, db, "check").startswith("ok: checked")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the common shape: codes, titles, decimal prices, a category tree, an inverted flag ------------


def test_a_legacy_shop_is_reflected_mapped_and_imported(
    capsys: pytest.CaptureFixture[str], db: str, shop_legacy: Path
) -> None:
    before = digest(shop_legacy)
    data = ok_json(capsys, db, "import-legacy", str(shop_legacy))

    fields = {f: m["column"] for f, m in data["mapping"]["fields"].items()}
    assert fields == {"sku": "code", "name": "title", "price": "unit_price", "quantity": "qty",
                      "active": "discontinued", "category": "category_id"}
    assert data["mapping"]["price_unit"] == "decimal" and data["mapping"]["category_mode"] == "key"
    assert data["mapping"]["category_fields"]["category.parent"]["column"] == "parent_id"
    assert data["mapping"]["unmapped_columns"] == {"products": ["supplier", "weight_kg"], "categories": ["sort_order"]}
    assert (data["rows"], data["imported"], data["inserted"], data["refused_count"]) == (4, 4, 4, 0)
    assert sorted(data["categories"]["created"]) == ["Garden", "Hand tools", "Power tools", "Tools"]

    assert products(db) == {
        "HAM-1": ("Hammer", 1250, 10, True, "Hand tools"),
        "DRL-9": ("Drill", 8900, 2, True, "Power tools"),
        "HOSE-25": ("Garden hose", 2499, 0, False, "Garden"),
        "TAPE": ("Tape measure", 320, 7, True, None),
    }
    assert state(db)["categories"] == [("Garden", None), ("Hand tools", "Tools"), ("Power tools", "Tools"),
                                       ("Tools", None)]
    stock = {r["sku"]: r["on_hand"] for r in ok_json(capsys, db, "stock", "list")["rows"]}
    assert stock == {"DRL-9": 2, "HAM-1": 10, "TAPE": 7}  # HOSE-25 is inactive and has none
    history = ok_json(capsys, db, "stock", "history", "HAM-1")["moves"]
    assert [(m["reason"], m["quantity"]) for m in history] == [("adjust", 10)]  # opening stock, one adjustment
    assert_books_ok(capsys, db)
    assert digest(shop_legacy) == before, "the legacy file is only read"


def test_the_text_report_shows_the_mapping_and_what_was_left_over(
    capsys: pytest.CaptureFixture[str], db: str, shop_legacy: Path
) -> None:
    out = ok_text(capsys, db, "import-legacy", str(shop_legacy))
    assert "sku             <- code" in out
    assert "price           <- unit_price           decimal amount" in out
    assert "active          <- discontinued         inverted" in out
    assert "not mapped: products.supplier, products.weight_kg, categories.sort_order" in out
    assert "imported 4 of 4 products: 4 new, 0 updated, 0 unchanged" in out


def test_importing_the_same_legacy_database_twice_changes_nothing(
    capsys: pytest.CaptureFixture[str], db: str, shop_legacy: Path
) -> None:
    ok_json(capsys, db, "import-legacy", str(shop_legacy))
    before = state(db)
    again = ok_json(capsys, db, "import-legacy", str(shop_legacy))
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 4)
    assert again["categories"]["created"] == [] and len(again["categories"]["existing"]) == 4
    after = state(db)
    assert after["products"] == before["products"] and after["moves"] == before["moves"]
    assert_books_ok(capsys, db)


def test_a_changed_legacy_quantity_is_posted_as_an_adjustment(
    capsys: pytest.CaptureFixture[str], db: str, shop_legacy: Path
) -> None:
    ok_json(capsys, db, "import-legacy", str(shop_legacy))
    make_legacy(shop_legacy, "UPDATE products SET qty = 4, unit_price = 13 WHERE code = 'ham-1';")
    data = ok_json(capsys, db, "import-legacy", str(shop_legacy))
    assert (data["inserted"], data["updated"]) == (0, 1)
    assert products(db)["HAM-1"][1:3] == (1300, 4)
    history = ok_json(capsys, db, "stock", "history", "HAM-1")["moves"]
    assert sorted(m["quantity"] for m in history) == [6, 10]  # +10 opening, then 6 back out
    assert_books_ok(capsys, db)


def test_import_goes_into_the_chosen_tenant_only(capsys: pytest.CaptureFixture[str], db: str, shop_legacy: Path) -> None:
    ok_json(capsys, db, "--tenant", "north", "import-legacy", str(shop_legacy))
    assert len(products(db, "north")) == 4
    assert products(db, "default") == {}
    assert ok_text(capsys, db, "--tenant", "north", "check").startswith("ok")


def test_a_dry_run_shows_mapping_and_counts_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], db: str, shop_legacy: Path, tmp_path: Path
) -> None:
    ok_json(capsys, db, "import-legacy", str(shop_legacy))
    make_legacy(shop_legacy, "UPDATE products SET qty = 3 WHERE id = 1; "
                             "INSERT INTO products (code, title, unit_price, qty) VALUES ('NEW-1', 'New', 1.5, 1);")
    before = state(db)
    data = ok_json(capsys, db, "import-legacy", str(shop_legacy), "--dry-run")
    assert data["dry_run"] is True and data["aborts"] is False
    assert (data["rows"], data["inserted"], data["updated"], data["unchanged"]) == (5, 1, 1, 3)
    assert state(db) == before
    out = ok_text(capsys, db, "import-legacy", str(shop_legacy), "--dry-run")
    assert "dry run, nothing was written: would import 5 of 5 products: 1 new, 1 updated, 3 unchanged" in out
    assert state(db) == before

    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert ok_json(capsys, fresh, "import-legacy", str(shop_legacy), "--dry-run")["inserted"] == 5
    assert products(fresh) == {}


# -- other shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "declared", "value", "minor", "unit"),
    [
        ("price_cents", "INTEGER", 1250, 1250, "cents"),   # the name says cents
        ("price_cents", "TEXT", "1250", 1250, "cents"),
        ("price", "INTEGER", 1250, 1250, "cents"),         # an INTEGER column holds minor units
        ("price", "REAL", 12.5, 1250, "decimal"),
        ("price", "DECIMAL(10,2)", 12.5, 1250, "decimal"),
        ("price", "NUMERIC", "12.50", 1250, "decimal"),
        ("price", "TEXT", "12.50", 1250, "decimal"),
        ("unit_price", "MONEY", 7, 700, "decimal"),        # an unknown type: a decimal amount
    ],
)
def test_price_is_read_as_cents_or_as_a_decimal_by_name_and_declared_type(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, column: str, declared: str, value: Any, minor: int,
    unit: str,
) -> None:
    legacy = make_legacy(tmp_path / "prices.db", f"CREATE TABLE products (sku TEXT, name TEXT, {column} {declared});")
    conn = sqlite3.connect(legacy)
    conn.execute("INSERT INTO products VALUES ('A-1', 'Thing', ?)", (value,))
    conn.commit()
    conn.close()
    data = ok_json(capsys, db, "import-legacy", str(legacy))
    assert data["mapping"]["price_unit"] == unit
    assert products(db)["A-1"][1] == minor


def test_price_unit_can_be_forced(capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path) -> None:
    legacy = make_legacy(tmp_path / "whole.db", "CREATE TABLE products (sku TEXT, name TEXT, price INTEGER);"
                                                "INSERT INTO products VALUES ('A-1', 'Thing', 12);")
    ok_json(capsys, db, "import-legacy", str(legacy), "--price-unit", "decimal")
    assert products(db)["A-1"][1] == 1200


def test_a_float_price_with_more_than_two_decimals_is_refused_not_rounded(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    legacy = make_legacy(tmp_path / "fine.db", "CREATE TABLE products (sku TEXT, name TEXT, price DECIMAL(10,2));"
                                               "INSERT INTO products VALUES ('A-1', 'Thing', 12.345);"
                                               "INSERT INTO products VALUES ('A-2', 'Other', 1.10);")
    data = ok_json(capsys, db, "import-legacy", str(legacy), "--skip-bad")
    assert [(r["row"], r["field"], r["column"]) for r in data["refused"]] == [(1, "price", "price")]
    assert products(db) == {"A-2": ("Other", 110, 0, True, None)}


def test_category_names_in_the_products_table_become_categories(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    store = open_store(db)
    Simulator(store, actor="clerk").catalog.add_category("Garden")
    store.close()
    legacy = make_legacy(tmp_path / "flat.db", """
        CREATE TABLE products (product_code TEXT, product_name TEXT, sale_price REAL, stock INTEGER,
                               category_name TEXT, enabled TEXT, notes TEXT);
        INSERT INTO products VALUES ('P-1', 'Rake', 15.0, 3, 'garden', 'yes', 'n/a'),
                                    ('P-2', 'Spade', 22.5, 1, 'Tools', 'no', NULL),
                                    ('P-3', 'Nails', 0.05, 500, '', NULL, NULL);
    """)
    data = ok_json(capsys, db, "import-legacy", str(legacy))
    assert data["mapping"]["category_mode"] == "name"
    assert data["mapping"]["fields"]["quantity"]["column"] == "stock"
    assert data["categories"] == {"created": ["Tools"], "existing": ["Garden"]}
    assert data["mapping"]["unmapped_columns"] == {"products": ["notes"]}
    assert products(db) == {
        "P-1": ("Rake", 1500, 3, True, "Garden"),
        "P-2": ("Spade", 2250, 1, False, "Tools"),
        "P-3": ("Nails", 5, 500, True, None),
    }
    assert_books_ok(capsys, db)


def test_explicit_maps_override_and_report_what_they_chose(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    legacy = make_legacy(tmp_path / "odd.db", """
        CREATE TABLE products (item_ref TEXT, label TEXT, amount TEXT, qty INTEGER, hidden INTEGER, code TEXT);
        INSERT INTO products VALUES ('R-1', 'Widget', '4.20', 9, 1, 'ignored-code'), ('R-2', 'Gadget', '1', 2, 0, 'x');
    """)
    data = ok_json(capsys, db, "import-legacy", str(legacy), "--map", "sku=item_ref", "--map", "price=AMOUNT",
                   "--map", "quantity=", "--map", "active=!hidden")
    fields = data["mapping"]["fields"]
    assert fields["sku"] == {"column": "item_ref", "how": "TEXT", "by": "--map"}
    assert fields["price"]["column"] == "amount" and "quantity" not in fields
    assert fields["name"]["column"] == "label" and fields["name"]["by"] == "auto"
    assert data["mapping"]["unmapped_columns"] == {"products": ["qty", "code"]}
    assert products(db) == {"R-1": ("Widget", 420, 0, False, None), "R-2": ("Gadget", 100, 0, True, None)}


def test_fields_the_legacy_database_lacks_keep_the_existing_products_values(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    store = open_store(db)
    sim = Simulator(store, actor="clerk")
    sim.catalog.add_category("Tools")
    sim.catalog.add_product("HAM-1", "Hammer", "12.50", category="Tools", quantity=5, active=False)
    store.close()
    legacy = make_legacy(tmp_path / "prices-only.db", "CREATE TABLE products (sku TEXT, name TEXT, price REAL);"
                                                      "INSERT INTO products VALUES ('ham-1', 'Claw hammer', 14.0);")
    ok_json(capsys, db, "import-legacy", str(legacy))
    assert products(db)["HAM-1"] == ("Claw hammer", 1400, 5, False, "Tools")
    assert_books_ok(capsys, db)


def test_a_category_tree_with_loops_duplicates_and_dangling_parents(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    legacy = make_legacy(tmp_path / "tree.db", """
        CREATE TABLE category (cat_id INTEGER PRIMARY KEY, title TEXT, parent INTEGER);
        INSERT INTO category VALUES (1, 'Home', NULL), (2, 'Kitchen', 1), (3, 'kitchen', 1), (4, 'Loop A', 5),
                                    (5, 'Loop B', 4), (6, 'Orphan', 42), (7, 'Pans', 3);
        CREATE TABLE product (sku TEXT PRIMARY KEY, name TEXT, price REAL, cat_id INTEGER);
        INSERT INTO product VALUES ('K-1', 'Kettle', 30, 2), ('K-2', 'Pan', 20, 7), ('L-1', 'Looped', 1, 4);
    """)
    data = ok_json(capsys, db, "import-legacy", str(legacy), "--skip-bad")
    assert data["mapping"]["tables"] == {"products": "product", "categories": "category"}
    refused = {(r["what"], r["ref"]): r["reason"] for r in data["refused"]}
    assert "loops back" in refused[("category", "category cat_id=4")]
    assert "loops back" in refused[("category", "category cat_id=5")]
    assert "not in the categories table" in refused[("category", "category cat_id=6")]
    assert "was refused" in refused[("product", "sku=L-1")]
    assert any("merged into 'Kitchen'" in n for n in data["notes"])
    assert state(db)["categories"] == [("Home", None), ("Kitchen", "Home"), ("Pans", "Kitchen")]
    assert products(db) == {"K-1": ("Kettle", 3000, 0, True, "Kitchen"), "K-2": ("Pan", 2000, 0, True, "Pans")}
    assert_books_ok(capsys, db)


def test_a_declared_foreign_key_with_text_keys_is_followed_whatever_its_name(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    legacy = make_legacy(tmp_path / "coded.db", """
        CREATE TABLE categories (code TEXT PRIMARY KEY, label TEXT, parent_code TEXT REFERENCES categories(code));
        INSERT INTO categories VALUES ('HW', 'Hardware', NULL), ('FX', 'Fixings', 'HW');
        CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT, price REAL, grp TEXT REFERENCES categories(code));
        INSERT INTO products VALUES ('SCR-1', 'Screws', 4.5, 'FX'), ('NUT-1', 'Nuts', 3, 'ZZ');
    """)
    data = ok_json(capsys, db, "import-legacy", str(legacy), "--skip-bad")
    mapping = data["mapping"]
    assert mapping["fields"]["category"]["column"] == "grp" and mapping["category_mode"] == "key"
    assert {f: m["column"] for f, m in mapping["category_fields"].items()} == {
        "category.key": "code", "category.name": "label", "category.parent": "parent_code"}
    assert [(r["ref"], r["field"]) for r in data["refused"]] == [("sku=NUT-1", "category")]
    assert products(db) == {"SCR-1": ("Screws", 450, 0, True, "Fixings")}
    assert state(db)["categories"] == [("Fixings", "Hardware"), ("Hardware", None)]


def test_numeric_category_ids_without_a_categories_table_are_left_out_with_a_note(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    legacy = make_legacy(tmp_path / "ids.db", "CREATE TABLE products (sku TEXT, name TEXT, price REAL, category INTEGER);"
                                              "INSERT INTO products VALUES ('A-1', 'Thing', 1, 7);")
    data = ok_json(capsys, db, "import-legacy", str(legacy))
    assert "category" not in data["mapping"]["fields"]
    assert data["mapping"]["unmapped_columns"] == {"products": ["category"]}
    assert any("holds numbers" in n for n in data["mapping"]["notes"])
    assert products(db) == {"A-1": ("Thing", 100, 0, True, None)}


def test_integer_skus_and_untyped_columns_are_read_as_text(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    legacy = make_legacy(tmp_path / "untyped.db", "CREATE TABLE products (code, name, price, on_hand);"
                                                  "INSERT INTO products VALUES (1001, 'Bolt', '0.25', 40.0);")
    ok_json(capsys, db, "import-legacy", str(legacy))
    assert products(db) == {"1001": ("Bolt", 25, 40, True, None)}


# -- bad rows: all or nothing by default, --skip-bad imports the rest ------------------------------

BAD_ROWS = SHOP + """
INSERT INTO products VALUES (5, 'BAD SKU!', 'Spaces', 1, 1, NULL, 0, NULL, NULL),
                            (6, 'NEG-1', 'Oversold', 2.5, -3, 1, 0, NULL, NULL),
                            (7, 'GHOST', 'Ghost', 1, 1, 99, 0, NULL, NULL),
                            (8, 'ham-1', 'Hammer again', 1, 1, 2, 0, NULL, NULL),
                            (9, 'NONAME', NULL, 1, 1, 1, 0, NULL, NULL);
"""


def test_bad_rows_refuse_the_whole_import_and_are_all_reported(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    legacy = make_legacy(tmp_path / "bad.db", BAD_ROWS)
    code, out, err = run(capsys, db, "import-legacy", str(legacy))
    assert code == 1 and out == ""
    assert err.splitlines()[-1].startswith("error [validation]: 5 refused")
    for line in ("row 5 (id=5): sku:", "row 6 (id=6): quantity:", "row 7 (id=7): category: category_id=99",
                 "row 8 (id=8): sku: HAM-1 appears again (first on row 1", "row 9 (id=9): name: is required"):
        assert line in err, err
    assert "--skip-bad" in err
    assert state(db) == NOTHING, "nothing written, not even an audit entry"

    code, out, err = run(capsys, db, "--json", "import-legacy", str(legacy))
    assert code == 1 and err == ""
    error = json.loads(out)["error"]
    assert error["code"] == "validation" and error["details"]["refused_count"] == 5
    assert [(r["row"], r["field"], r["column"]) for r in error["details"]["refused"]] == [
        (5, "sku", "code"), (6, "quantity", "qty"), (7, "category", "category_id"), (8, "sku", "code"),
        (9, "name", "title"),
    ]
    assert error["details"]["mapping"]["fields"]["sku"]["column"] == "code"
    assert state(db) == NOTHING


def test_skip_bad_imports_the_good_rows_and_reports_the_rest(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    legacy = make_legacy(tmp_path / "bad.db", BAD_ROWS)
    dry = ok_json(capsys, db, "import-legacy", str(legacy), "--dry-run")
    assert dry["aborts"] is True and dry["refused_count"] == 5 and dry["inserted"] == 4
    assert state(db) == NOTHING

    data = ok_json(capsys, db, "import-legacy", str(legacy), "--skip-bad")
    assert (data["rows"], data["imported"], data["refused_count"], data["aborts"]) == (9, 4, 5, False)
    assert sorted(products(db)) == ["DRL-9", "HAM-1", "HOSE-25", "TAPE"]
    assert products(db)["HAM-1"][0] == "Hammer", "the first row of a repeated SKU is kept"
    out = ok_text(capsys, db, "import-legacy", str(legacy), "--skip-bad")
    assert "refused 5 (skipped):" in out and "0 new, 0 updated, 4 unchanged" in out
    assert_books_ok(capsys, db)


def test_a_sku_of_a_deleted_product_is_refused_with_a_reason(
    capsys: pytest.CaptureFixture[str], db: str, shop_legacy: Path
) -> None:
    ok_json(capsys, db, "import-legacy", str(shop_legacy))
    ok_json(capsys, db, "product", "delete", "TAPE")
    data = ok_json(capsys, db, "import-legacy", str(shop_legacy), "--skip-bad")
    assert [(r["row"], r["field"]) for r in data["refused"]] == [(4, "sku")]
    assert "deleted product" in data["refused"][0]["reason"]


# -- bad input: a clear code, nothing changed --------------------------------------------------------


@pytest.fixture
def stocked_db(db: str, shop_legacy: Path, capsys: pytest.CaptureFixture[str]) -> str:
    ok_json(capsys, db, "import-legacy", str(shop_legacy))
    return db


def test_a_file_that_is_not_sqlite_is_refused_as_corrupt(
    capsys: pytest.CaptureFixture[str], stocked_db: str, tmp_path: Path
) -> None:
    text = tmp_path / "products.csv"
    text.write_text("sku,name,price\nA,B,1\n")
    assert refused_by(cli_state, capsys, stocked_db, "import-legacy", str(text)) == "corrupt"
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert refused_by(cli_state, capsys, stocked_db, "import-legacy", str(empty)) == "corrupt"
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    assert refused_by(cli_state, capsys, stocked_db, "import-legacy", str(damaged)) == "corrupt"


def test_a_missing_file_or_products_table_is_not_found(
    capsys: pytest.CaptureFixture[str], stocked_db: str, tmp_path: Path
) -> None:
    assert refused_by(cli_state, capsys, stocked_db, "import-legacy", str(tmp_path / "nope.db")) == "not_found"
    other = make_legacy(tmp_path / "other.db", "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);")
    assert refused_by(cli_state, capsys, stocked_db, "import-legacy", str(other)) == "not_found"
    code, _, err = run(capsys, stocked_db, "import-legacy", str(other))
    assert "no products table (tables: customers)" in err
    assert refused_by(cli_state, capsys, stocked_db, "import-legacy", str(other), "--products-table", "stuff") == "not_found"


def test_bad_maps_and_missing_required_fields_are_validation_errors(
    capsys: pytest.CaptureFixture[str], stocked_db: str, tmp_path: Path, shop_legacy: Path
) -> None:
    for argv in (["--map", "sku=nonexistent"], ["--map", "colour=code"], ["--map", "sku"],
                 ["--map", "sku=code", "--map", "sku=title"], ["--map", "category.parent=nope"]):
        assert refused_by(cli_state, capsys, stocked_db, "import-legacy", str(shop_legacy), *argv) == "validation"
    code, _, err = run(capsys, stocked_db, "import-legacy", str(shop_legacy), "--map", "sku=nonexistent")
    assert "has no column 'nonexistent'" in err and "code" in err

    no_price = make_legacy(tmp_path / "noprice.db", "CREATE TABLE products (sku TEXT, name TEXT, cost REAL);")
    assert refused_by(cli_state, capsys, stocked_db, "import-legacy", str(no_price)) == "validation"
    code, out, _ = run(capsys, stocked_db, "--json", "import-legacy", str(no_price))
    details = json.loads(out)["error"]["details"]
    assert details == {"missing": ["price"], "unmapped": ["cost"]}
    ok_json(capsys, stocked_db, "import-legacy", str(no_price), "--map", "price=cost", "--dry-run")


def test_importing_the_store_into_itself_is_refused(capsys: pytest.CaptureFixture[str], stocked_db: str) -> None:
    path = stocked_db.removeprefix("sqlite:///")
    assert refused_by(cli_state, capsys, stocked_db, "import-legacy", path) == "validation"


def test_import_legacy_from_the_installed_script(db: str, shop_legacy: Path) -> None:
    done = subprocess.run([STOCKBANK, "--db", db, "--actor", "clerk", "--json", "import-legacy", str(shop_legacy)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["inserted"] == 4
    done = subprocess.run([STOCKBANK, "--db", db, "check"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stdout + done.stderr


def test_help_names_the_command_and_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["import-legacy", "--help"])
    text = capsys.readouterr().out
    for option in ("--map FIELD=COLUMN", "--price-unit", "--skip-bad", "--dry-run", "--products-table"):
        assert option in text


# -- the domain side alone, on the memory store ------------------------------------------------------


def test_the_import_service_on_the_memory_store_rolls_back_a_dry_run() -> None:
    store = open_store("memory://")
    sim = Simulator(store, actor="clerk")
    service = CatalogImportService(sim.ctx, sim.catalog)
    cats = [SourceCategory("1", "Tools"), SourceCategory("2", "Saws", "1")]
    rows = [SourceRow(1, "id=1", {"sku": "s-1", "name": "Saw", "price": "9.50", "quantity": 4, "category_key": "2"})]
    dry = service.import_catalog(cats, rows, dry_run=True)
    assert (dry.inserted, dry.categories_created) == (1, ("Tools", "Saws"))
    assert sim.catalog.categories() == [] and sim.catalog.count_products() == 0 and sim.is_pristine()
    done = service.import_catalog(cats, rows, source="test")
    assert done.inserted == 1 and sim.catalog.get_product_by_sku("S-1").quantity == 4
    assert sim.check().ok
    store.close()


def test_category_plan_puts_parents_first_and_treats_zero_as_no_parent() -> None:
    plan = plan_categories(
        [SourceCategory("3", "Leaf", "2"), SourceCategory("2", "Middle", "1"), SourceCategory("1", "Root", "0"),
         SourceCategory("4", "  ", None), SourceCategory("5", "Named parent", "root")],
        [],
    )
    assert plan.creates == [("Root", None), ("Middle", "Root"), ("Named parent", "Root"), ("Leaf", "Middle")]
    assert list(plan.refused) == ["4"]
