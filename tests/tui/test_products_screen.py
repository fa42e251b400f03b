"""Pilot tests: the Products screen driven with the keyboard, checked against the store."""

from __future__ import annotations

import csv
from pathlib import Path

from domain.model import ProductQuery
from tests.tui.conftest import settle
from textual.widgets import DataTable, Input, Static, Tree

from tui_app.app import StockbankApp, binding_ids
from tui_app.bootstrap import open_backend
from tui_app.config import Settings
from tui_app.screens.products import COLUMNS, SORT_COLUMNS, ProductTable
from tui_app.widgets.forms import ProductForm
from tui_app.widgets.virtual_table import PAGE

ALL = ProductQuery(include_inactive=True)


async def type_text(pilot, text: str) -> None:
    for ch in text:
        await pilot.press(ch if ch != " " else "space")


async def type_new_product(pilot, sku: str, name: str, price: str) -> None:
    """Open the new-product form and type SKU, name and price with the keyboard (tab skips category)."""
    await pilot.press("n")
    await settle(pilot)
    await type_text(pilot, sku)
    await pilot.press("tab")
    await type_text(pilot, name)
    await pilot.press("tab", "tab")
    await type_text(pilot, price)


def product_table(app) -> ProductTable:
    return app.screen.query_one("#products", ProductTable)


def visible_skus(app) -> list[str]:
    """The SKUs of the rows the table has loaded, in list order."""
    return [row.sku for row in product_table(app).loaded_rows()]


async def test_new_product_with_the_keyboard_is_saved_and_listed(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        before = app.backend.sim.catalog.count_products(ALL)
        await type_new_product(pilot, "ham-9", "Claw hammer", "12.50")
        await pilot.press("tab")
        await pilot.press("backspace")
        await type_text(pilot, "4")
        await pilot.press("enter")
        await settle(pilot)
        product = app.backend.sim.catalog.get_product_by_sku("HAM-9")
        assert (product.name, product.price_minor, product.quantity) == ("Claw hammer", 1250, 4)
        assert app.backend.sim.catalog.count_products(ALL) == before + 1
        assert "HAM-9" in visible_skus(app)


async def test_bad_price_shows_inline_error_and_writes_nothing(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        before = app.backend.sim.catalog.count_products(ALL)
        await type_new_product(pilot, "bad-1", "Bad price", "12.345")
        await pilot.press("enter")
        await settle(pilot)
        error = app.screen.query_one("#error-price", Static)
        assert "at most 2 decimals" in str(error.render())
        assert app.screen.query_one("#price", Input).has_focus
        assert app.backend.sim.catalog.count_products(ALL) == before
        await pilot.press("escape")
        await settle(pilot)
        assert app.backend.sim.catalog.count_products(ALL) == before


async def test_double_enter_on_new_product_saves_once(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_new_product(pilot, "twice", "Pressed twice", "1")
        await pilot.press("enter", "enter")
        await settle(pilot)
        with app.backend.sim.ctx.reading() as uow:
            creates = [e for e in uow.audit.latest(50) if e.entity == "product" and e.action == "create"]
        assert len(creates) == 1
        # The second Enter either hit the busy form (ignored) or, if the save had already
        # finished, the list (where Enter opens the *edit* form): never a second create.
        if isinstance(app.screen, ProductForm):
            assert app.screen._product is not None
            assert not app.screen.query(".-shown")
            await pilot.press("escape")
            await settle(pilot)
        assert "TWICE" in visible_skus(app)


async def test_edit_changes_the_product_and_keeps_the_cursor_on_it(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        first_sku = visible_skus(app)[0]
        await pilot.press("enter")
        await settle(pilot)
        name_input = app.screen.query_one("#name", Input)
        name_input.value = "Renamed by test"
        await pilot.press("enter")
        await settle(pilot)
        product = app.backend.sim.catalog.get_product_by_sku(first_sku)
        assert product.name == "Renamed by test"
        assert product.version == 2
        assert product_table(app).current_row.sku == first_sku


async def test_stale_edit_is_refused_with_version_conflict_and_reload_offers_latest(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        sku = visible_skus(app)[0]
        await pilot.press("enter")
        await settle(pilot)
        product = app.backend.sim.catalog.get_product_by_sku(sku)
        app.backend.sim.catalog.update_product(product.id, product.version, name="Changed elsewhere")
        app.screen.query_one("#price", Input).value = "99.99"
        await pilot.press("ctrl+s")
        await settle(pilot)
        message = str(app.screen.query_one("#error-form", Static).render())
        assert "version_conflict" in message
        assert app.backend.sim.catalog.get_product(product.id).price_minor == product.price_minor
        reload_button = app.screen.query_one("#reload")
        assert not reload_button.has_class("hidden")
        await pilot.click("#reload")
        await settle(pilot)
        assert app.screen.query_one("#name", Input).value == "Changed elsewhere"
        app.screen.query_one("#price", Input).value = "99.99"
        await pilot.press("ctrl+s")
        await settle(pilot)
        saved = app.backend.sim.catalog.get_product(product.id)
        assert (saved.name, saved.price_minor, saved.version) == ("Changed elsewhere", 9999, 3)


async def test_delete_asks_first_and_cancel_keeps_the_product(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        sku = visible_skus(app)[0]
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert app.backend.sim.catalog.get_product_by_sku(sku)
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert sku not in visible_skus(app)
        assert app.backend.sim.catalog.count_products(ProductQuery(text=sku, include_inactive=True)) == 0


async def test_deleted_product_is_restored_with_u_in_the_list_and_in_the_deleted_view(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        catalog = app.backend.sim.catalog
        sku = visible_skus(app)[0]
        before = catalog.get_product_by_sku(sku)
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert sku not in visible_skus(app)
        assert catalog.get_product_by_sku(sku).deleted_at is not None
        await pilot.press("u")  # right after the delete: brings back the one just deleted
        await settle(pilot)
        assert sku in visible_skus(app)
        restored = catalog.get_product_by_sku(sku)
        assert (restored.deleted_at, restored.quantity) == (None, before.quantity)

        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        await pilot.press("t")  # the deleted view lists it; u there restores the selected one
        await settle(pilot)
        assert visible_skus(app) == [sku]
        assert "Deleted products: 1" in str(app.screen.query_one("#status", Static).render())
        await pilot.press("u")
        await settle(pilot)
        assert visible_skus(app) == []
        await pilot.press("t")
        await settle(pilot)
        assert sku in visible_skus(app)


async def test_purge_in_the_deleted_view_asks_first_and_removes_the_product_for_good(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        catalog = app.backend.sim.catalog
        sku = visible_skus(app)[0]
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert "Purge product" in str(app.screen.query_one(".dialog-title").render())
        await pilot.press("n")  # cancelled: still deleted, still restorable
        await settle(pilot)
        assert catalog.get_product_by_sku(sku).deleted_at is not None
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert visible_skus(app) == []
        assert catalog.count_products(ProductQuery(text=sku, include_inactive=True, deleted=None)) == 0
        assert app.backend.sim.check().ok
        tombstone = app.backend.sim.audit.entries(limit=1)[0]
        assert (tombstone.entity, tombstone.action) == ("product", "purge")


async def test_filter_is_case_insensitive_on_name_and_sku_and_escape_clears_it(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        total = len(visible_skus(app))
        await pilot.press("slash")
        await type_text(pilot, "HAMMER")
        await pilot.pause(0.3)
        await settle(pilot)
        names = [row.name for row in product_table(app).loaded_rows()]
        assert names and all("hammer" in n.lower() for n in names)
        await pilot.press("escape")
        await pilot.pause(0.3)
        await settle(pilot)
        assert len(visible_skus(app)) == total
        await pilot.press("slash")
        await type_text(pilot, "kit-")
        await pilot.pause(0.3)
        await settle(pilot)
        assert visible_skus(app) and all(s.startswith("KIT-") for s in visible_skus(app))


async def test_selecting_a_category_in_the_tree_filters_its_subtree(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one("#categories", Tree)
        tools = next(n for n in tree.root.children if str(n.label) == "Tools")
        tree.focus()
        tree.move_cursor(tools)
        await pilot.press("enter")
        await settle(pilot)
        skus = visible_skus(app)
        assert skus and {s[:3] for s in skus} == {"HAN", "POW"}


async def test_new_category_with_c_appears_in_the_tree(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        await type_text(pilot, "Paint")
        await pilot.press("enter")
        await settle(pilot)
        assert any(c.name == "Paint" for c in app.backend.sim.catalog.categories())
        tree = app.screen.query_one("#categories", Tree)
        assert "Paint" in [str(n.label) for n in tree.root.children]


async def test_export_writes_the_current_view_to_a_csv_file(app_factory, tmp_path: Path):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await type_text(pilot, "hammer")
        await pilot.pause(0.3)
        await settle(pilot)
        expected = visible_skus(app)
        product_table(app).focus()
        await pilot.press("x")
        await settle(pilot)
        await pilot.pause(0.3)
        files = list((tmp_path / "downloads").glob("products-*.csv"))
        assert len(files) == 1
        with files[0].open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == ["sku", "name", "category", "price", "quantity", "value"]
        assert [r[0] for r in rows[1:]] == expected
        assert any("Exported" in str(n.message) for n in app._notifications)


async def test_export_button_on_empty_view_writes_header_only(app_factory, tmp_path: Path):
    app = app_factory(demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.click("#export-button")
        await settle(pilot)
        await pilot.pause(0.3)
        (file,) = (tmp_path / "downloads").glob("products-*.csv")
        assert file.read_text(encoding="utf-8") == "sku,name,category,price,quantity,value\n"


async def test_import_dialog_imports_a_good_file_and_refuses_a_bad_one_whole(app_factory, tmp_path: Path):
    good = tmp_path / "good.csv"
    good.write_text("sku,name,price,category,quantity\nIMP-1,Imported one,3.00,Garden,2\nIMP-2,Imported two,4.00,,1\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name,price\nIMP-3,Fine,1.00\nIMP-4,Broken,-5\n")
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        before = app.backend.sim.catalog.count_products(ALL)
        await pilot.press("i")
        await settle(pilot)
        app.screen.query_one("#file", Input).value = str(bad)
        await pilot.press("enter")
        await settle(pilot)
        message = str(app.screen.query_one("#error-form", Static).render())
        assert "Nothing was imported" in message and "row 2" in message
        assert app.backend.sim.catalog.count_products(ALL) == before
        app.screen.query_one("#file", Input).value = str(good)
        await pilot.press("enter")
        await settle(pilot)
        assert app.backend.sim.catalog.count_products(ALL) == before + 2
        assert {"IMP-1", "IMP-2"} <= set(visible_skus(app))


async def test_the_list_pages_from_the_store_both_ways_and_jumps_to_either_end(app_factory):
    app = app_factory(demo=False)
    from tui_app.bootstrap import seed_demo

    seed_demo(app.backend.sim, products=450)
    in_order = [r.sku for r in app.backend.sim.catalog.find_products(limit=1000)]
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = product_table(app)
        assert table.total == 450
        # one page asked for at each end (the last one ahead of `end`), not the whole list
        assert visible_skus(app) == in_order[:PAGE] + in_order[-PAGE:]
        await pilot.press("end")
        await settle(pilot)
        assert table.cursor_row == 449 and table.current_row.sku == in_order[-1]
        assert [r.sku for r in table.visible_rows()] == in_order[-len(table.visible_rows()):]
        for _ in range(3):  # back up from the end: keyset pages before the rows it has
            await pilot.press("pageup")
            await settle(pilot)
        assert table.current_row.sku == in_order[table.cursor_row]
        await pilot.press("home")
        await settle(pilot)
        assert table.current_row.sku == in_order[0]
        table.scroll_to(y=220, animate=False, immediate=True)  # a scrollbar drag into the middle
        await settle(pilot)
        shown = [r.sku for r in table.visible_rows()]
        assert shown and shown == in_order[220:220 + len(shown)]
        await pilot.press("down")
        await settle(pilot)
        assert table.current_row.sku == in_order[table.cursor_row]


def header_x(key: str) -> int:
    """Where a column's header is, in the table (one past its left edge)."""
    x = 0
    for column in COLUMNS:
        if column.key == key:
            return x + 1
        x += column.width + 1
    raise KeyError(key)


def header_text(app) -> str:
    return product_table(app).render_line(0).text


def skus_sorted(app, sort: str, descending: bool = False) -> list[str]:
    query = ProductQuery(sort=sort, descending=descending)
    return [r.sku for r in app.backend.sim.catalog.find_products(query, limit=1000)]


async def test_a_header_click_sorts_by_that_column_and_a_second_click_reverses_it(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = product_table(app)
        assert table.sort == ("name", False) and "Name ▲" in header_text(app)
        await pilot.click("#products", offset=(header_x("price"), 0))
        await settle(pilot)
        assert table.sort == ("price", False) and "▲ Price" in header_text(app) and "Name ▲" not in header_text(app)
        assert visible_skus(app) == skus_sorted(app, "price")
        prices = [r.price_minor for r in table.loaded_rows()]
        assert prices == sorted(prices)
        await pilot.click("#products", offset=(header_x("price"), 0))
        await settle(pilot)
        assert table.sort == ("price", True) and "▼ Price" in header_text(app)
        assert visible_skus(app) == skus_sorted(app, "price", descending=True)
        await pilot.click("#products", offset=(header_x("category"), 0))  # not a sort: nothing changes
        await settle(pilot)
        assert table.sort == ("price", True)
        assert visible_skus(app) == skus_sorted(app, "price", descending=True)


async def test_s_cycles_the_sort_column_S_reverses_it_and_export_follows(app_factory, tmp_path: Path):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = product_table(app)
        seen = []
        for _ in SORT_COLUMNS:
            await pilot.press("s")
            await settle(pilot)
            seen.append(table.sort)
            assert visible_skus(app) == skus_sorted(app, table.sort[0])
        assert seen == [("price", False), ("quantity", False), ("value", False), ("sku", False), ("name", False)]
        await pilot.press("s", "s", "s")  # value
        await pilot.press("S")
        await settle(pilot)
        assert table.sort == ("value", True) and "▼ Value" in header_text(app)
        assert visible_skus(app) == skus_sorted(app, "value", descending=True)
        await pilot.press("x")
        await settle(pilot)
        await pilot.pause(0.3)
        (exported,) = (tmp_path / "downloads").glob("products-*.csv")
        with exported.open(newline="", encoding="utf-8") as fh:
            assert [r[0] for r in list(csv.reader(fh))[1:]] == skus_sorted(app, "value", descending=True)


async def test_the_sort_keys_have_ids_and_can_be_remapped(tmp_path: Path):
    assert {"products.sort", "products.sort_reverse"} <= binding_ids()
    backend = open_backend("memory://", actor="tester", demo_if_empty=True)
    app = StockbankApp(backend, settings=Settings(keys={"products.sort": "o", "products.sort_reverse": "O"},
                                                  path=tmp_path / "c.yaml"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("o", "O")
        await settle(pilot)
        assert product_table(app).sort == ("price", True)
    backend.close()


async def test_help_lists_the_screen_keys_and_escape_closes_it(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        table = app.screen.query_one("#help-keys", DataTable)
        actions = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert {"New", "Delete", "Filter", "Export CSV", "Edit", "Help", "Quit", "Sort by next column",
                "Reverse the sort"} <= actions
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.query("#products")


async def test_palette_offers_every_screen_action(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Products: New", "Products: Delete", "Products: Export CSV", "Products: Import"} <= titles


async def test_first_launch_on_an_empty_database_says_demo_data_was_added(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert any("demo data" in str(n.message) for n in app._notifications)
        assert len(visible_skus(app)) == 50


async def test_names_with_markup_characters_are_shown_literally(app_factory):
    app = app_factory(demo=False)
    app.backend.sim.catalog.add_product(sku="MK-1", name="[b]Bold[/b] tool", price="1.00")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        question = str(app.screen.query_one(".dialog-text", Static).render())
        assert "[b]Bold[/b] tool" in question
        await pilot.press("y")
        await settle(pilot)
        assert any("MK-1" in str(n.message) for n in app._notifications)
