"""Pilot tests: the Audit screen (key 5) — the log newest first on a virtual table paged from the
store both ways (End and Home over a few hundred entries), the detail pane's diff, the filter (and a bad date refused inline), the CSV export of
what the filter shows, the chain check (ok, and broken after editing the sqlite file behind the
app's back), and undo of a transfer. Checks that matter are made against the store or the file."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from rich.text import Text
from textual.widgets import Checkbox, DataTable, Input, Static

from domain import Simulator
from domain.clock import FixedClock
from domain.model import AuditQuery
from tests.tui.conftest import settle, until
from tests.tui.test_inventory_screen import palette, toasts
from tui_app.screens.audit import BROKEN, AuditScreen, AuditTable, filter_summary
from tui_app.widgets.audit_forms import AuditFilterForm
from tui_app.widgets.dialogs import ConfirmDialog, HelpScreen
from tui_app.widgets.virtual_table import KEEP, PAGE

SIZE = (120, 40)
DEMO_ENTRIES = 83  # what the demo data writes to the log


# -- helpers -------------------------------------------------------------------------------------


async def open_audit(pilot) -> AuditScreen:
    await settle(pilot)
    await pilot.press("5")
    await settle(pilot)
    assert isinstance(pilot.app.screen, AuditScreen)
    return pilot.app.screen


def table(app) -> AuditTable:
    screen = next(s for s in reversed(app.screen_stack) if isinstance(s, AuditScreen))
    return screen.query_one("#audit-log", AuditTable)


def shown_ids(app) -> list[int]:
    """The ids of the entries the table has loaded, in list order."""
    return [e.id for e in table(app).loaded_rows()]


def cells(app, offset: int) -> list[Text]:
    """The cells of the row at `offset` as the table draws them."""
    t = table(app)
    return list(t.entry_cells(t.row_at(offset)))


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def detail(app) -> Text:
    content = app.screen.query_one("#audit-detail-body", Static).content
    assert isinstance(content, Text)
    return content


def styled(content: Text, style: str) -> list[str]:
    """The pieces of the detail pane drawn in one colour."""
    return [content.plain[s.start:s.end] for s in content.spans if str(s.style) == style]


def store_ids(app, query: AuditQuery = AuditQuery(), limit: int = 10_000) -> list[int]:
    """What the store holds, newest first (through the class: past a test's spy on the instance)."""
    audit = app.backend.sim.audit
    return [e.id for e in type(audit).entries(audit, query, None, limit)]


def second_user(app, name: str) -> Simulator:
    """Another user writing to the same store (later clock: times stay increasing anyway)."""
    return Simulator(app.backend.sim.store, actor=name,
                     clock=FixedClock(datetime(2026, 1, 2, 9, 0, tzinfo=timezone.utc)))


async def set_filter(pilot, **values: str) -> AuditFilterForm:
    await pilot.press("slash")
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, AuditFilterForm)
    for name, value in values.items():
        form.query_one(f"#{name}", Input).value = value
    await pilot.press("ctrl+s")
    await settle(pilot)
    return form


def read_csv(folder: Path) -> list[dict[str, str]]:
    (file,) = folder.glob("audit-*.csv")
    with file.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# -- list and paging -----------------------------------------------------------------------------


async def test_key_5_shows_the_log_newest_first_with_the_top_entry_in_the_detail_pane(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await open_audit(pilot)
        assert shown_ids(app) == store_ids(app) and len(shown_ids(app)) == DEMO_ENTRIES
        assert shown_ids(app) == sorted(shown_ids(app), reverse=True)
        top = app.backend.sim.audit.entry(shown_ids(app)[0])
        row = [str(c) for c in cells(app, 0)]
        assert row == [str(top.id), top.at[:19].replace("T", " "), top.actor, top.entity, top.entity_id, top.action]
        assert table(app).total == DEMO_ENTRIES and table(app).current_row == top
        pane = detail(app).plain
        assert f"#{top.id}" in pane and top.request_key in pane and top.hash[:20] in pane
        assert text(app, "#audit-status") == f"{DEMO_ENTRIES} entries · all entries (/ filters)"
        assert "not verified yet" in text(app, "#audit-summary")
        await pilot.press("down")
        await pilot.pause()
        assert f"#{shown_ids(app)[1]}" in detail(app).plain  # the pane follows the cursor


async def test_end_and_home_page_from_the_store_both_ways_in_the_stores_order(app_factory):
    app = app_factory()
    sim = app.backend.sim
    for i in range(350):
        sim.catalog.add_category(f"Shelf {i:03}")
    total = DEMO_ENTRIES + 350
    calls: list[dict] = []
    entries = sim.audit.entries

    def spy(query=AuditQuery(), before_id=None, limit=200, **options):
        calls.append({"before_id": before_id, "limit": limit, **options})
        return entries(query, before_id, limit, **options)

    sim.audit.entries = spy
    in_order = store_ids(app)
    async with app.run_test(size=SIZE) as pilot:
        await open_audit(pilot)
        t = table(app)
        assert t.total == total and text(app, "#audit-status").startswith(f"{total} entries ·")
        loaded = shown_ids(app)  # a page or two at the top, and the last page ahead of `end`
        assert loaded[:-PAGE] == in_order[:len(loaded) - PAGE] and loaded[-PAGE:] == in_order[-PAGE:]
        assert len(loaded) < total
        await pilot.press("end")  # the oldest page, by a reversed query: nothing in between is read
        await settle(pilot)
        assert t.cursor_row == total - 1 and t.current_row.id == in_order[-1] == 1
        assert [e.id for e in t.visible_rows()] == in_order[-len(t.visible_rows()):]
        assert f"#{in_order[-1]}" in detail(app).plain
        assert {"before_id": None, "limit": PAGE, "backward": True, "skip": 0} in calls
        for _ in range(3):  # back up from the end: keyset pages of the newer entries
            await pilot.press("pageup")
            await settle(pilot)
        assert t.current_row.id == in_order[t.cursor_row]
        assert [e.id for e in t.visible_rows()] == in_order[round(t.scroll_y):round(t.scroll_y) + len(t.visible_rows())]
        await pilot.press("home")
        await settle(pilot)
        assert t.cursor_row == 0 and t.current_row.id == in_order[0]
        assert [e.id for e in t.visible_rows()] == in_order[:len(t.visible_rows())]
        loaded = t.loaded_rows()
        assert len(loaded) <= KEEP and [e.id for e in loaded] == sorted((e.id for e in loaded), reverse=True)
    assert calls and all(c["limit"] in (1, PAGE) for c in calls)  # never everything at once


async def test_other_screens_writes_show_when_coming_back(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await open_audit(pilot)
        await pilot.press("1")
        await settle(pilot)
        app.backend.sim.catalog.add_category("Fresh")
        await open_audit(pilot)
        assert shown_ids(app)[0] == store_ids(app)[0] and table(app).row_count == DEMO_ENTRIES + 1
        assert "category" in [str(c) for c in cells(app, 0)]


# -- detail pane ---------------------------------------------------------------------------------


async def test_detail_pane_shows_an_updates_before_and_after_in_red_and_green(app_factory):
    app = app_factory()
    catalog = app.backend.sim.catalog
    chisel = catalog.get_product_by_sku("HAN-0000030")
    catalog.update_product(chisel.id, chisel.version, price="19.99", name="Red Chisel")
    async with app.run_test(size=SIZE) as pilot:
        await open_audit(pilot)
        pane = detail(app)
        assert "#84  product 30 · update" in pane.plain
        assert 'name: "Blue Chisel" -> "Red Chisel"' in pane.plain
        assert "price_minor: 22421 -> 1999" in pane.plain
        assert "version: 1 -> 2" in pane.plain
        assert "sku" not in pane.plain  # an update shows only the fields it changed
        assert styled(pane, "red") == ['"Blue Chisel"', "22421", "1"]
        assert styled(pane, "green") == ['"Red Chisel"', "1999", "2"]
        await pilot.press("down")  # the entry before: a stock move was created, every field is new
        await pilot.pause()
        pane = detail(app)
        assert "New record" in pane.plain and '+ memo: "to the shop floor"' in pane.plain
        assert '+ memo: "to the shop floor"' in styled(pane, "green")


async def test_markup_in_user_data_is_shown_literally(app_factory):
    app = app_factory()
    evil = "[/]x [b]y[/b] [@click=app.quit]z"
    app.backend.sim.catalog.add_category(evil)
    second_user(app, "[b]mallory[/b]").catalog.add_category("ok")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_audit(pilot)
        assert str(cells(app, 0)[2]) == "[b]mallory[/b]"
        assert "who     [b]mallory[/b]" in detail(app).plain
        await pilot.press("down")
        await pilot.pause()
        assert f'+ name: "{evil}"' in detail(app).plain
    assert app.return_code in (None, 0)
    assert not [n for n in app._notifications if "Unexpected error" in str(n.title)]


# -- filter --------------------------------------------------------------------------------------


async def test_filter_by_actor_entity_action_and_text(app_factory):
    app = app_factory()
    alice = second_user(app, "alice")
    alice.catalog.add_category("Alice's garden")
    alice.catalog.add_category("Alice's tools")
    async with app.run_test(size=SIZE) as pilot:
        await open_audit(pilot)
        await set_filter(pilot, actor="alice")
        assert isinstance(app.screen, AuditScreen)
        assert shown_ids(app) == store_ids(app, AuditQuery(actor="alice")) and len(shown_ids(app)) == 2
        assert "filter: actor alice" in text(app, "#audit-status")
        await set_filter(pilot, actor="", entity="transfer", action="posted")
        assert shown_ids(app) == store_ids(app, AuditQuery(entity="transfer", action="posted"))
        assert {e.action for e in table(app).loaded_rows()} == {"posted"} and table(app).total == 7
        assert len(shown_ids(app)) == 7
        await set_filter(pilot, entity="", action="", text="demo-stock-3")
        (only,) = shown_ids(app)
        assert app.backend.sim.audit.entry(only).request_key == "demo-stock-3"
        assert "text “demo-stock-3”" in text(app, "#audit-status")
        await set_filter(pilot, text="no such thing anywhere")
        assert shown_ids(app) == []
        assert text(app, "#audit-status") == "No entries match the filter (/ changes it)"
        assert "Select an entry" in detail(app).plain
        await pilot.press("slash")
        await settle(pilot)
        await pilot.click("#audit-filter-clear")
        await settle(pilot)
        assert len(shown_ids(app)) == DEMO_ENTRIES + 2
        assert "all entries" in text(app, "#audit-status")


async def test_a_date_range_filters_and_a_bad_date_is_refused_inline_keeping_the_list(app_factory):
    app = app_factory()
    second_user(app, "alice").catalog.add_category("Next day")  # 2026-01-02; the demo is on 2026-01-01
    async with app.run_test(size=SIZE) as pilot:
        await open_audit(pilot)
        await set_filter(pilot, since="2026-01-02")
        assert len(shown_ids(app)) == 1
        await set_filter(pilot, since="", until="2026-01-01")
        assert len(shown_ids(app)) == DEMO_ENTRIES
        before = shown_ids(app)
        form = await set_filter(pilot, until="", since="yesterday")
        assert app.screen is form  # still open, saying what is wrong
        error = str(form.query_one("#error-since", Static).render())
        assert "since: 'yesterday' is not a date or time" in error and "[validation]" in error
        assert form.query_one("#since", Input).has_class("-invalid")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        assert shown_ids(app) == before and "until 2026-01-01" in text(app, "#audit-status")


async def test_live_only_leaves_out_nothing_when_nothing_is_archived(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await open_audit(pilot)
        await pilot.press("slash")
        await settle(pilot)
        app.screen.query_one("#archive", Checkbox).value = False
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert len(shown_ids(app)) == DEMO_ENTRIES and "live only" in text(app, "#audit-status")


# -- export --------------------------------------------------------------------------------------


async def test_export_writes_the_filtered_entries_to_csv(app_factory, tmp_path: Path):
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_audit(pilot)
        await set_filter(pilot, entity="transfer")
        await pilot.press("x")
        await settle(pilot)
        await pilot.pause(0.2)
        await settle(pilot)
        rows = read_csv(tmp_path / "downloads")
        assert [int(r["id"]) for r in rows] == store_ids(app, AuditQuery(entity="transfer")) == shown_ids(app)
        assert {r["entity"] for r in rows} == {"transfer"} and all(len(r["hash"]) == 64 for r in rows)
        assert any(t.startswith(f"Exported {len(rows)} rows to ") for t in toasts(app, "Export CSV"))


async def test_the_export_button_and_the_palette_export_too(app_factory, tmp_path: Path):
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_audit(pilot)
        app.clear_notifications()  # the welcome toast lies over the button
        await pilot.pause()
        assert await pilot.click("#audit-export-button")
        await settle(pilot)
        await pilot.pause(0.2)
        await pilot.press("1")
        await settle(pilot)
        await palette(pilot, "Export audit CSV")
        await pilot.pause(0.2)
        await settle(pilot)
        files = sorted((tmp_path / "downloads").glob("audit-*.csv"))
        assert len(files) == 2
        for file in files:
            with file.open(newline="", encoding="utf-8") as fh:
                assert len(list(csv.DictReader(fh))) == DEMO_ENTRIES


# -- verify --------------------------------------------------------------------------------------


async def test_verify_reports_every_entry_checked(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_audit(pilot)
        await pilot.press("v")
        await settle(pilot)
        assert text(app, "#audit-summary").startswith(f"✓ Chain ok: {DEMO_ENTRIES} entries verified")
        assert f"Audit chain ok: {DEMO_ENTRIES} entries verified" in toasts(app, "Verify chain")
        assert not app.screen.query_one("#audit-alert").has_class("-shown")


async def test_verify_from_the_palette_opens_the_audit_screen(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await palette(pilot, "Verify audit chain")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        assert "✓ Chain ok" in text(app, "#audit-summary")


def tamper(db: Path, sql: str) -> None:
    """Edit the file behind the app's back, as someone with sqlite3 on the command line would."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(sql)
    conn.close()


async def test_verify_after_editing_the_sqlite_file_points_at_the_broken_entry(app_factory, tmp_path: Path):
    db = tmp_path / "shop.db"
    app = app_factory(url=f"sqlite:///{db}")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_audit(pilot)
        victim = store_ids(app)[10]
        tamper(db, f"UPDATE audit_log SET actor = 'mallory' WHERE id = {victim}")
        await pilot.press("v")
        await settle(pilot)
        alert = text(app, "#audit-alert")
        assert alert.startswith(f"✗ Audit chain BROKEN at entry #{victim}: the entry was changed after it was written")
        assert app.screen.query_one("#audit-alert").has_class("-shown")
        assert text(app, "#audit-summary").startswith(f" ✗ Chain broken at entry #{victim}")
        assert any(f"entry #{victim}" in t for t in toasts(app, "Verify chain"))
        assert table(app).cursor_row == 10 and table(app).current_row.id == victim  # the cursor jumped to it
        assert detail(app).plain.startswith(" ✗ chain broken here: the entry was changed")
        assert str(cells(app, 10)[0].style) == BROKEN
        assert not str(cells(app, 9)[0].style)
        assert str(cells(app, 10)[2]) == "mallory"  # the entry as the file now holds it
        assert "who     mallory" in detail(app).plain
        tamper(db, f"UPDATE audit_log SET actor = 'tester' WHERE id = {victim}")  # put back: whole again
        await pilot.press("v")
        await settle(pilot)
        assert text(app, "#audit-summary").startswith("✓ Chain ok")
        assert not app.screen.query_one("#audit-alert").has_class("-shown")
        assert not str(cells(app, 10)[0].style)
        assert str(cells(app, 10)[2]) == "tester"
        assert table(app).current_row.id == victim  # still on it


async def test_a_broken_entry_far_down_the_list_gets_the_cursor_and_a_filter_hiding_it_is_cleared(app_factory,
                                                                                                 tmp_path: Path):
    db = tmp_path / "shop.db"
    app = app_factory(url=f"sqlite:///{db}")
    sim = app.backend.sim
    for i in range(3 * PAGE + 20):
        sim.catalog.add_category(f"Shelf {i:03}")
    # a category's entry far beyond the first pages and before the last one (which the table prefetches)
    victim = store_ids(app, AuditQuery(entity="category"))[2 * PAGE + 10]
    tamper(db, f"DELETE FROM audit_log WHERE id = {victim - 1}")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_audit(pilot)
        t = table(app)
        for shown, query in ((AuditQuery(entity="category"), AuditQuery(entity="category")),  # kept: it shows it
                             (AuditQuery(entity="product"), AuditQuery())):  # cleared: it hides it
            await set_filter(pilot, entity=shown.entity)
            assert victim not in shown_ids(app)
            await pilot.press("v")
            # verify, locate, the list from the top and counted, then the page of the entry
            await until(pilot, lambda: t.current_row is not None and t.current_row.id == victim, "the cursor")
            assert f"BROKEN at entry #{victim}: the link to the previous entry is broken" in text(app, "#audit-alert")
            in_order = store_ids(app, query)
            assert t.current_row.id == victim and t.cursor_row == in_order.index(victim) > 2 * PAGE
            top = round(t.scroll_y)
            assert [e.id for e in t.visible_rows()] == in_order[top:top + len(t.visible_rows())]
            assert str(cells(app, t.cursor_row)[0].style) == BROKEN
            assert detail(app).plain.startswith(" ✗ chain broken here")
            assert filter_summary(query) in text(app, "#audit-status")
        assert "all entries" in text(app, "#audit-status")
        await pilot.press("home")
        await settle(pilot)
        assert shown_ids(app)[0] == store_ids(app)[0] and t.current_row.id == store_ids(app)[0]


# -- undo ----------------------------------------------------------------------------------------


async def test_undo_of_a_transfer_entry_posts_the_reversal(app_factory):
    app = app_factory()
    bank = app.backend.sim.bank
    paid = bank.transfer("Alice", "Shop", "12.50", idempotency_key="undo-me", memo="by mistake")
    alice, shop = bank.get_account("Alice").balance, bank.get_account("Shop").balance
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_audit(pilot)
        entry = app.backend.sim.audit.entry(shown_ids(app)[0])
        assert (entry.entity, entry.entity_id) == ("transfer", str(paid.id))
        await pilot.press("z")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        assert any(f"Undid entry #{entry.id}" in t for t in toasts(app, "Undo"))
        newest = store_ids(app)[0]
        assert newest > entry.id and shown_ids(app)[0] == newest  # the list shows the reversal at once
        assert app.backend.sim.audit.entry(newest).entity == "transfer"
    assert bank.get_account("Alice").balance == alice + paid.amount_minor
    assert bank.get_account("Shop").balance == shop - paid.amount_minor


async def test_undo_of_a_stock_move_entry_moves_the_goods_back(app_factory):
    app = app_factory()
    inventory = app.backend.sim.inventory
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_audit(pilot)
        await set_filter(pilot, entity="stock_move", action="move")
        entry = app.backend.sim.audit.entry(shown_ids(app)[0])
        move = json.loads(entry.after)
        await pilot.press("z")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert any(f"Undid entry #{entry.id}: posted stock move #" in t for t in toasts(app, "Undo"))
        assert shown_ids(app)[0] == store_ids(app, AuditQuery(entity="stock_move", action="move"))[0] > entry.id
    back = inventory.history(move["product_id"], None, 1)[0]
    assert (back.reverses_id, back.quantity) == (move["id"], move["quantity"])
    assert (back.from_location_id, back.to_location_id) == (move["to_location_id"], move["from_location_id"])


async def test_undo_of_a_product_entry_is_refused_with_a_toast(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_audit(pilot)
        await set_filter(pilot, entity="product")
        count = len(store_ids(app))
        await pilot.press("z")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert [n for n in app._notifications if str(n.title).startswith("Refused")]
        assert len(store_ids(app)) == count


async def test_undo_cancelled_changes_nothing(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await open_audit(pilot)
        count = len(store_ids(app))
        await pilot.press("z")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen) and len(store_ids(app)) == count


# -- keys ----------------------------------------------------------------------------------------


async def test_help_lists_the_audit_keys_and_key_5(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await open_audit(pilot)
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        keys = app.screen.query_one(DataTable)
        rows = {(str(keys.get_row_at(i)[0]), str(keys.get_row_at(i)[1])) for i in range(keys.row_count)}
        assert {("/", "Filter"), ("v", "Verify chain"), ("z", "Undo"), ("x", "Export CSV"), ("r", "Refresh"),
                ("5", "Audit")} <= rows
