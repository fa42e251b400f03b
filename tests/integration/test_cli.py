"""The `stockbank` CLI on real SQLite files: demo, import, export, migrate, check, --json,
exit codes and error output. Driven in-process through `main(argv)`, plus one real subprocess."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from domain.model import ProductQuery
from storage import migrations, open_store
from tests.integration.conftest import STOCKBANK
from tui_app.__main__ import main

HEADER = ["sku", "name", "category", "price", "quantity", "value"]


pytestmark = pytest.mark.usefixtures("no_user_database")


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shop.db'}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def product_state(db: str, tenant: str = "default") -> tuple[list[tuple], int]:
    """(every product as (sku, name, price_minor, quantity, version), number of audit entries)."""
    path = db.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    try:
        products = conn.execute(
            "SELECT sku, name, price_minor, quantity, version FROM products WHERE tenant_id = ? ORDER BY sku", (tenant,)
        ).fetchall()
        audits = conn.execute("SELECT count(*) FROM audit_log WHERE tenant_id = ?", (tenant,)).fetchone()[0]
    finally:
        conn.close()
    return products, audits


@pytest.fixture
def demo_db(db: str, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run(capsys, "--db", db, "demo", "--products", "100")
    assert code == 0, err
    assert "100" in out
    return db


# -- help ---------------------------------------------------------------------------------------

COMMANDS = ("demo", "import", "export", "migrate", "check")


def test_help_from_the_installed_script_lists_every_command() -> None:
    done = subprocess.run([STOCKBANK, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage: stockbank" in done.stdout
    for command in COMMANDS:
        assert command in done.stdout
    assert "--db" in done.stdout and "--json" in done.stdout


def test_help_in_process_exits_zero_and_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str], db: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--db", db, "frobnicate"])
    assert exited.value.code == 2


# -- demo and export ----------------------------------------------------------------------------


def test_demo_then_export_writes_a_header_and_every_product(
    demo_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "products.csv"
    code, out, err = run(capsys, "--db", demo_db, "export", "products", "--out", str(out_file))
    assert code == 0, err
    rows = read_csv(out_file)
    assert rows[0] == HEADER
    assert len(rows) == 101
    assert len({r[0] for r in rows[1:]}) == 100
    for sku, name, category, price, quantity, value in rows[1:]:
        assert sku and name and category
        assert round(float(price) * int(quantity), 2) == float(value)
    assert "100" in out and str(out_file) in out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")], "temp file left behind"


def test_demo_is_repeatable_without_duplicates(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = product_state(demo_db)[0]
    code, _, err = run(capsys, "--db", demo_db, "demo", "--products", "100")
    assert code == 0, err
    assert product_state(demo_db)[0] == before


def test_export_to_stdout_prints_the_csv(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--db", demo_db, "export", "products")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == HEADER
    assert len(rows) == 101


def test_export_with_filter_keeps_exactly_the_matching_rows(
    demo_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    everything, filtered = tmp_path / "all.csv", tmp_path / "hammers.csv"
    assert run(capsys, "--db", demo_db, "export", "products", "--out", str(everything))[0] == 0
    code, _, err = run(capsys, "--db", demo_db, "export", "products", "--filter", "HAMMER", "--out", str(filtered))
    assert code == 0, err
    expected = [r for r in read_csv(everything)[1:] if "hammer" in r[1].lower() or "hammer" in r[0].lower()]
    assert expected, "the demo data should contain hammers"
    assert read_csv(filtered)[1:] == expected


def test_export_with_category_includes_its_subcategories(
    demo_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    everything, tools = tmp_path / "all.csv", tmp_path / "tools.csv"
    assert run(capsys, "--db", demo_db, "export", "products", "--out", str(everything))[0] == 0
    code, _, err = run(capsys, "--db", demo_db, "export", "products", "--category", "tools", "--out", str(tools))
    assert code == 0, err
    expected = [r for r in read_csv(everything)[1:] if r[2] in {"Tools", "Hand tools", "Power tools"}]
    assert {r[2] for r in expected} == {"Hand tools", "Power tools"}
    assert read_csv(tools)[1:] == expected


def test_export_combining_filter_and_category(demo_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "x.csv"
    code, _, err = run(
        capsys, "--db", demo_db, "export", "products", "--category", "Garden", "--filter", "rake", "--out", str(out_file)
    )
    assert code == 0, err
    rows = read_csv(out_file)[1:]
    assert rows and all(r[2] == "Garden" and "rake" in r[1].lower() for r in rows)


def test_export_of_an_empty_view_writes_only_the_header(
    demo_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "none.csv"
    code, out, err = run(capsys, "--db", demo_db, "export", "products", "--filter", "no such thing", "--out", str(out_file))
    assert code == 0, err
    assert out_file.read_text(encoding="utf-8") == ",".join(HEADER) + "\n"
    assert "0" in out


def test_export_sorted_by_a_column_each_way(demo_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    by_value, by_value_desc = tmp_path / "value.csv", tmp_path / "value-desc.csv"
    assert run(capsys, "--db", demo_db, "export", "products", "--sort", "value", "--out", str(by_value))[0] == 0
    code, _, err = run(capsys, "--db", demo_db, "export", "products", "--sort", "value", "--desc",
                       "--out", str(by_value_desc))
    assert code == 0, err
    up = read_csv(by_value)[1:]
    assert len(up) == 100
    assert [Decimal(r[5]) for r in up] == sorted(Decimal(r[5]) for r in up)
    assert read_csv(by_value_desc)[1:] == up[::-1]  # the whole order reversed, ties included


def test_export_sorted_by_an_unknown_column_is_refused(demo_db: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "x.csv"
    code, _, err = run(capsys, "--db", demo_db, "export", "products", "--sort", "colour", "--out", str(out_file))
    assert code == 1
    assert "error [validation]" in err and "sort" in err
    assert not out_file.exists()


def test_export_of_an_unknown_category_is_not_found(demo_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "x.csv"
    code, _, err = run(capsys, "--db", demo_db, "export", "products", "--category", "Spaceships", "--out", str(out_file))
    assert code == 1
    assert "error [not_found]" in err and "Spaceships" in err
    assert not out_file.exists()


def test_export_without_all_skips_inactive_products(demo_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_in = write_csv(tmp_path / "in.csv", "sku,name,price,active\nOLD-1,Retired widget,1.00,no\n")
    assert run(capsys, "--db", demo_db, "import", "products", str(csv_in))[0] == 0
    active, every = tmp_path / "active.csv", tmp_path / "every.csv"
    assert run(capsys, "--db", demo_db, "export", "products", "--out", str(active))[0] == 0
    assert run(capsys, "--db", demo_db, "export", "products", "--all", "--out", str(every))[0] == 0
    assert "OLD-1" not in {r[0] for r in read_csv(active)}
    assert "OLD-1" in {r[0] for r in read_csv(every)}
    assert len(read_csv(every)) == len(read_csv(active)) + 1


def test_tenants_do_not_see_each_others_products(demo_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "other.csv"
    code, _, err = run(capsys, "--db", demo_db, "--tenant", "other", "export", "products", "--out", str(out_file))
    assert code == 0, err
    assert read_csv(out_file) == [HEADER]


# -- --json -------------------------------------------------------------------------------------


def test_json_output_of_every_command_parses(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "p.csv"
    results = {}
    for name, argv in {
        "demo": ["demo", "--products", "20"],
        "export": ["export", "products", "--out", str(out_file)],
        "import": ["import", "products", str(out_file)],
        "migrate": ["migrate"],
        "check": ["check"],
    }.items():
        code, out, err = run(capsys, "--db", db, "--json", *argv)
        assert code == 0, (name, err)
        results[name] = json.loads(out)
        assert results[name]["ok"] is True, (name, out)
    assert results["demo"]["products"] == 20
    assert results["export"]["rows"] == 20
    assert results["import"] == {"ok": True, "rows": 20, "inserted": 0, "updated": 0, "unchanged": 20}
    assert results["migrate"]["revision"] == migrations.HEAD
    assert results["check"]["checked"]["products"] == 20


def test_json_error_is_machine_readable(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--db", db, "--json", "import", "products", str(tmp_path / "missing.csv"))
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False
    assert data["error"]["code"] == "validation"
    assert data["error"]["field"] == "file"


# -- import ---------------------------------------------------------------------------------------

GOOD = (
    "sku,name,category,price,quantity\n"
    "HAM-1,Claw hammer,Hand tools,12.50,4\n"
    "SAW-1,Hand saw,Hand tools,19.99,2\n"
    "RAKE-1,Leaf rake,Garden,7.00,0\n"
)


@pytest.fixture
def categories_db(db: str, capsys: pytest.CaptureFixture[str]) -> str:
    code, _, err = run(capsys, "--db", db, "demo", "--products", "0")
    assert code == 0, err
    return db


def test_import_of_a_valid_csv_adds_every_row(categories_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "good.csv", GOOD)
    code, out, err = run(capsys, "--db", categories_db, "import", "products", str(path))
    assert code == 0, err
    assert "3 new" in out
    products, _ = product_state(categories_db)
    assert products == [
        ("HAM-1", "Claw hammer", 1250, 4, 1),
        ("RAKE-1", "Leaf rake", 700, 0, 1),
        ("SAW-1", "Hand saw", 1999, 2, 1),
    ]
    store = open_store(categories_db)
    try:
        with store.unit_of_work("default") as uow:
            assert uow.categories.get(uow.products.get_by_sku("HAM-1").category_id).name == "Hand tools"
    finally:
        store.close()


def test_importing_the_same_csv_twice_changes_nothing(
    categories_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "good.csv", GOOD)
    assert run(capsys, "--db", categories_db, "import", "products", str(path))[0] == 0
    before = product_state(categories_db)[0]
    code, out, err = run(capsys, "--db", categories_db, "import", "products", str(path))
    assert code == 0, err
    assert "0 new, 0 updated, 3 unchanged" in out
    assert product_state(categories_db)[0] == before, "versions must not move on an identical import"


def test_import_updates_changed_rows_only(categories_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--db", categories_db, "import", "products", str(write_csv(tmp_path / "a.csv", GOOD)))[0] == 0
    changed = GOOD.replace("Hand saw,Hand tools,19.99,2", "Hand saw,Hand tools,21.00,2") + "NEW-1,Trowel,Garden,3.00,1\n"
    code, out, err = run(capsys, "--db", categories_db, "--json", "import", "products", str(write_csv(tmp_path / "b.csv", changed)))
    assert code == 0, err
    assert json.loads(out) == {"ok": True, "rows": 4, "inserted": 1, "updated": 1, "unchanged": 2}
    products = {p[0]: p for p in product_state(categories_db)[0]}
    assert products["SAW-1"][2:] == (2100, 2, 2)
    assert products["HAM-1"][4] == 1


def test_export_then_reimport_round_trips_unchanged(demo_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "p.csv"
    assert run(capsys, "--db", demo_db, "export", "products", "--out", str(out_file))[0] == 0
    before = product_state(demo_db)[0]
    code, out, err = run(capsys, "--db", demo_db, "import", "products", str(out_file))
    assert code == 0, err
    assert "0 new, 0 updated, 100 unchanged" in out
    assert product_state(demo_db)[0] == before


def test_bad_row_in_the_middle_refuses_the_whole_import(
    categories_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "--db", categories_db, "import", "products", str(write_csv(tmp_path / "a.csv", GOOD)))[0] == 0
    before = product_state(categories_db)
    rows = ["sku,name,category,price,quantity"]
    rows += [f"NEW-{n},Thing {n},Garden,1.00,1" for n in range(1, 5)]
    rows += ["BAD-5,Broken,Garden,twelve,1"]
    rows += [f"NEW-{n},Thing {n},Garden,1.00,1" for n in range(6, 10)]
    rows += ["HAM-1,Renamed hammer,Hand tools,99.00,9"]
    path = write_csv(tmp_path / "bad.csv", "\n".join(rows) + "\n")
    code, out, err = run(capsys, "--db", categories_db, "import", "products", str(path))
    assert code == 1
    assert out == ""
    assert "error [validation]" in err
    assert "row 5" in err and "price" in err
    assert product_state(categories_db) == before, "nothing written, not even an audit entry"


def test_unknown_category_in_a_row_is_not_found_and_names_the_row(
    categories_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "c.csv", GOOD + "ZAP-1,Ray gun,Spaceships,1.00,1\n")
    code, _, err = run(capsys, "--db", categories_db, "import", "products", str(path))
    assert code == 1
    assert "error [not_found]" in err and "row 4" in err
    assert product_state(categories_db)[0] == []


def test_import_with_a_missing_column_is_refused(categories_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "m.csv", "sku,name,quantity\nHAM-1,Hammer,3\n")
    code, _, err = run(capsys, "--db", categories_db, "import", "products", str(path))
    assert code == 1
    assert "error [validation]" in err and "missing column" in err and "price" in err
    assert product_state(categories_db)[0] == []


def test_import_of_a_non_utf8_file_is_refused(categories_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "latin1.csv", "sku,name,price\nCAF-1,Café crème,2.50\n", encoding="latin-1")
    code, _, err = run(capsys, "--db", categories_db, "import", "products", str(path))
    assert code == 1
    assert "error [validation]" in err and "UTF-8" in err
    assert product_state(categories_db)[0] == []


def test_import_accepts_utf8_with_a_byte_order_mark(categories_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "bom.csv", "\ufeffsku,name,price\nCAF-1,Café crème,2.50\n")
    code, _, err = run(capsys, "--db", categories_db, "import", "products", str(path))
    assert code == 0, err
    assert product_state(categories_db)[0] == [("CAF-1", "Café crème", 250, 0, 1)]


def test_import_of_a_missing_file_is_refused(categories_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--db", categories_db, "import", "products", str(tmp_path / "nope.csv"))
    assert code == 1
    assert "error [validation]" in err and "nope.csv" in err
    assert out == ""


def test_import_of_an_empty_file_is_refused(categories_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--db", categories_db, "import", "products", str(write_csv(tmp_path / "e.csv", "")))
    assert code == 1
    assert "error [validation]" in err and "empty" in err


# -- check and migrate ----------------------------------------------------------------------------


def test_check_passes_on_a_healthy_database(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--db", demo_db, "check")
    assert code == 0, err
    assert out.startswith("ok:") and "100 products" in out
    code, out, _ = run(capsys, "--db", demo_db, "--json", "check")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True and data["problems"] == []
    assert data["checked"] == {"categories": 6, "products": 100, "accounts": 6, "transfers": 8, "stock_moves": 108,
                               "cash_brought_in_minor": 127_000}


def test_check_fails_when_an_invariant_is_broken_behind_its_back(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    conn = sqlite3.connect(demo_db.removeprefix("sqlite:///"))
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("UPDATE categories SET parent_id = 999 WHERE name = 'Hand tools'")
    conn.commit()
    conn.close()
    code, out, _ = run(capsys, "--db", demo_db, "--json", "check")
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False
    assert any("Hand tools" in p for p in data["problems"])


def test_check_finds_a_product_total_changed_behind_its_back_deleted_products_included(
        demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--db", demo_db, "--json", "product", "delete", "POW-0000001")  # its total and levels stay
    assert code == 0, err
    conn = sqlite3.connect(demo_db.removeprefix("sqlite:///"))
    conn.execute("UPDATE products SET quantity = quantity + 1 WHERE sku IN ('POW-0000001', 'GAR-0000002')")
    conn.commit()
    conn.close()
    code, out, _ = run(capsys, "--db", demo_db, "--json", "check")
    assert code == 1
    problems = json.loads(out)["problems"]
    drifted = [p for p in problems if "total on hand" in p]
    assert len(drifted) == 2 and len(problems) == 2, problems


def test_check_holds_each_stock_level_against_its_moves_whichever_side_is_missing(
        demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each product's total is kept in step below, so the only problems are the levels': one off, one
    gone (its moves stay), one with no moves at all, one below zero."""
    conn = sqlite3.connect(demo_db.removeprefix("sqlite:///"))
    warehouse, floor = (conn.execute("SELECT id FROM locations WHERE name = ?", (name,)).fetchone()[0]
                        for name in ("Warehouse", "Shop floor"))
    (off, off_qty), (gone, gone_qty), (below, below_qty), (elsewhere, _) = conn.execute(
        "SELECT product_id, on_hand FROM stock_levels WHERE location_id = ? AND on_hand > 5 AND outgoing = 0"
        " AND product_id NOT IN (SELECT product_id FROM stock_moves WHERE ? IN (from_location_id, to_location_id))"
        " ORDER BY product_id LIMIT 4", (warehouse, floor)).fetchall()
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.executescript(f"""
        UPDATE stock_levels SET on_hand = on_hand + 2 WHERE product_id = {off} AND location_id = {warehouse};
        UPDATE products SET quantity = quantity + 2 WHERE id = {off};
        DELETE FROM stock_levels WHERE product_id = {gone} AND location_id = {warehouse};
        UPDATE products SET quantity = quantity - {gone_qty} WHERE id = {gone};
        INSERT INTO stock_levels (tenant_id, product_id, location_id, on_hand, incoming, outgoing)
            VALUES ('default', {elsewhere}, {floor}, 5, 0, 0);
        UPDATE products SET quantity = quantity + 5 WHERE id = {elsewhere};
        UPDATE stock_levels SET outgoing = on_hand + 1 WHERE product_id = {below} AND location_id = {warehouse};
    """)
    conn.commit()
    conn.close()
    code, out, _ = run(capsys, "--db", demo_db, "--json", "check")
    assert code == 1
    problems = json.loads(out)["problems"]
    assert sorted(problems) == sorted([
        f"product {off} at location {warehouse}: level [{off_qty + 2}, 0, 0] but its moves add up to [{off_qty}, 0, 0]",
        f"product {gone} at location {warehouse}: level [0, 0, 0] but its moves add up to [{gone_qty}, 0, 0]",
        f"product {elsewhere} at location {floor}: level [5, 0, 0] but its moves add up to [0, 0, 0]",
        f"product {below} at location {warehouse}: level [{below_qty}, 0, {below_qty + 1}] but its moves add up to"
        f" [{below_qty}, 0, 0]",
        f"product {below} at location {warehouse} is below zero ([{below_qty}, 0, {below_qty + 1}])",
    ]), problems


def test_migrate_reports_the_head_revision(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--db", db, "migrate")
    assert code == 0, err
    assert migrations.HEAD in out and "head" in out


def test_migrate_upgrades_an_old_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "old.db"
    migrations.upgrade(f"sqlite:///{path}", "0001")
    code, out, err = run(capsys, "--db", f"sqlite:///{path}", "--json", "migrate")
    assert code == 0, err
    assert json.loads(out)["revision"] == migrations.HEAD
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (migrations.HEAD,)
    conn.close()
    assert list(tmp_path.glob("old.db.pre-*.bak"))


def test_migrate_status_only_looks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "old.db"
    migrations.upgrade(f"sqlite:///{path}", "0001")
    code, out, err = run(capsys, "--db", f"sqlite:///{path}", "--json", "migrate", "--status")
    assert code == 0, err
    assert json.loads(out)["revision"] == "0001"
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    conn.close()
    assert not list(tmp_path.glob("*.bak"))


def test_migrate_refuses_a_database_from_the_future(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_store(db).close()
    conn = sqlite3.connect(tmp_path / "shop.db")
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    code, _, err = run(capsys, "--db", db, "migrate")
    assert code == 1
    assert "error [unsupported_version]" in err


# -- choosing the database ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code_name"),
    [
        ("mysql://localhost/shop", "validation"),
        ("sqlite:///{tmp}/shop.db?colour=blue", "validation"),
        ("sqlite:///{tmp}/no/such/folder/shop.db", "storage"),
    ],
)
def test_bad_db_url_exits_1_with_an_error_code(
    url: str, code_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--db", url.format(tmp=tmp_path), "check")
    assert code == 1
    assert f"error [{code_name}]" in err
    assert out == ""


def test_corrupt_database_exits_1_with_corrupt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"\x00\xffnot sqlite at all" * 500)
    code, _, err = run(capsys, "--db", f"sqlite:///{path}", "check")
    assert code == 1
    assert "error [corrupt]" in err


def test_stockbank_db_environment_variable_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "from-env.db"
    monkeypatch.setenv("STOCKBANK_DB", f"sqlite:///{path}")
    code, _, err = run(capsys, "demo", "--products", "7")
    assert code == 0, err
    assert path.exists()
    store = open_store(f"sqlite:///{path}")
    try:
        with store.unit_of_work("default") as uow:
            assert uow.products.count(ProductQuery()) == 7
    finally:
        store.close()
    assert not (tmp_path / "xdg-data").exists(), "the default database must not be used"


def test_db_option_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env_path, arg_path = tmp_path / "env.db", tmp_path / "arg.db"
    monkeypatch.setenv("STOCKBANK_DB", f"sqlite:///{env_path}")
    code, _, err = run(capsys, "--db", f"sqlite:///{arg_path}", "demo", "--products", "3")
    assert code == 0, err
    assert arg_path.exists() and not env_path.exists()


def test_memory_store_works_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--db", "memory://", "--json", "demo", "--products", "5")
    assert code == 0, err
    assert json.loads(out)["products"] == 5
