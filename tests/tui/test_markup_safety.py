"""Names users type are shown as typed, never run as Rich/Textual markup (`[/]` used to crash
the app, `[@click=...]` became an action link)."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Tree

from tests.tui.conftest import settle

EVIL = "[/]x [b]y[/b] [@click=app.quit]z"


async def test_markup_in_every_user_name_is_shown_literally_everywhere(app_factory):
    app = app_factory()
    sim = app.backend.sim
    cat = sim.catalog.add_category("[/]Bad")
    sim.catalog.add_product("EV-1", EVIL, "1.00", category=cat.id)
    sim.bank.open_account("[/]Evil", opening_balance="5.00")
    sim.bank.transfer("[/]Evil", "Shop", "1.00", pending=True, memo=EVIL)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        tree = app.screen.query_one("#categories", Tree)
        assert "[/]Bad" in [str(n.label) for n in tree.root.children]
        await pilot.press("slash")
        app.screen.query_one("#filter", Input).value = "EV-1"
        await pilot.pause(0.3)
        await settle(pilot)
        app.screen.query_one("#products").focus()
        await pilot.press("enter")  # edit form: the category Select lists "[/]Bad"
        await settle(pilot)
        app.screen.query_one("#price", Input).value = "2.00"
        await pilot.press("ctrl+s")  # toast "Saved EV-1 · <evil name>"
        await settle(pilot)
        assert sim.catalog.get_product_by_sku("EV-1").price_minor == 200
        await pilot.press("2")
        await settle(pilot)
        pending = app.screen.query_one("#pending-transfers", DataTable)
        evil_row = next(i for i in range(pending.row_count) if str(pending.get_row_at(i)[1]) == "[/]Evil")
        accounts = app.screen.query_one("#accounts", DataTable)
        accounts.move_cursor(row=next(i for i, a in enumerate(sim.bank.accounts()) if a.name == "[/]Evil"))
        await pilot.press("enter")  # statement titled with the name
        await settle(pilot)
        await pilot.press("question_mark")  # help titled with it too
        await settle(pilot)
        await pilot.press("escape", "escape")
        await settle(pilot)
        pending = app.screen.query_one("#pending-transfers", DataTable)
        pending.focus()
        pending.move_cursor(row=evil_row)
        await pilot.press("v")
        await settle(pilot)
        await pilot.press("y")  # toast naming the accounts
        await settle(pilot)
        assert all(t.memo != EVIL for t in sim.bank.pending_transfers())
    assert app.return_code in (None, 0)
    assert not [n for n in app._notifications if "Unexpected error" in str(n.title)]
