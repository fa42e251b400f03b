"""Pilot tests: the Bank screen, its forms and the statement, checked against the store."""

from __future__ import annotations

import csv
from pathlib import Path

from textual.widgets import DataTable, Input, Label, Static

from domain.money import format_grouped
from tests.tui.conftest import settle
from tui_app.screens.bank import BankScreen, StatementScreen, StatementTable
from tui_app.widgets.bank_forms import TransferForm
from tui_app.widgets.dialogs import ConfirmDialog
from tui_app.widgets.virtual_table import KEEP, PAGE


async def open_bank(pilot) -> None:
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)


async def fill_transfer(pilot, source: str, target: str, amount: str, memo: str = "") -> TransferForm:
    await pilot.press("t")
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, TransferForm)
    form.query_one("#source", Input).value = source
    form.query_one("#target", Input).value = target
    form.query_one("#amount", Input).value = amount
    form.query_one("#memo", Input).value = memo
    return form


def balance(app, name: str) -> int:
    return app.backend.sim.bank.get_account(name).balance


def transfers_by_memo(app, memo: str) -> list:
    with app.backend.sim.ctx.reading() as uow:
        return [t for t in uow.transfers.stream() if t.memo == memo]


async def test_a_transfer_from_the_form_moves_the_money_and_refreshes_the_accounts(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        alice, shop = balance(app, "Alice"), balance(app, "Shop")
        await fill_transfer(pilot, "Alice", "Shop", "12.50", "pilot")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, BankScreen)
        assert (balance(app, "Alice"), balance(app, "Shop")) == (alice - 1250, shop + 1250)
        (done,) = transfers_by_memo(app, "pilot")
        assert any(f"#{done.id}" in str(n.message) for n in app._notifications)
        table = app.screen.query_one("#accounts", DataTable)
        row = table.get_row(next(str(a.id) for a in app.backend.sim.bank.accounts() if a.name == "Alice"))
        assert str(row[2]) == f"{(alice - 1250) / 100:,.2f}"


async def test_double_enter_on_the_transfer_form_pays_once(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        alice = balance(app, "Alice")
        await fill_transfer(pilot, "Alice", "Shop", "5.00", "twice")
        await pilot.press("enter", "enter")
        await settle(pilot)
        if not isinstance(app.screen, BankScreen):  # the 2nd enter opened the statement: fine
            await pilot.press("escape")
            await settle(pilot)
        assert len(transfers_by_memo(app, "twice")) == 1
        assert balance(app, "Alice") == alice - 500


async def test_a_retry_after_a_lost_answer_returns_the_first_transfer(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        alice = balance(app, "Alice")
        form = await fill_transfer(pilot, "Alice", "Shop", "7.00", "retry")
        # The first submit reached the store, but the answer never came back (a crash, say):
        first = app.backend.sim.bank.transfer("Alice", "Shop", "7.00", memo="retry", idempotency_key=form.idempotency_key)
        await pilot.press("enter")
        await settle(pilot)
        assert transfers_by_memo(app, "retry") == [first]
        assert balance(app, "Alice") == alice - 700


async def test_insufficient_funds_shows_inline_and_writes_nothing(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        before = app.backend.sim.check().checked["transfers"]
        await fill_transfer(pilot, "Bob", "Shop", "100000.00")
        await pilot.press("enter")
        await settle(pilot)
        message = str(app.screen.query_one("#error-amount", Static).render())
        assert "available" in message and "insufficient_funds" in message
        for target, code in (("Bob", "same_account"), ("Nobody", "not_found")):
            app.screen.query_one("#amount", Input).value = "1.00"
            app.screen.query_one("#target", Input).value = target
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert code in str(app.screen.query_one("#error-target", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert app.backend.sim.check().checked["transfers"] == before


async def test_enter_opens_the_statement_and_x_exports_it(app_factory, tmp_path: Path):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        table = app.screen.query_one("#accounts", DataTable)
        alice_row = next(i for i, a in enumerate(app.backend.sim.bank.accounts()) if a.name == "Alice")
        table.move_cursor(row=alice_row)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, StatementScreen)
        lines = app.backend.sim.bank.statement("Alice")
        table = app.screen.query_one("#statement", StatementTable)
        assert table.row_count == table.total == len(lines) and table.loaded_rows() == lines
        assert table.current_row == lines[0]
        status = str(app.screen.query_one("#statement-status", Static).render())
        assert status.startswith(f"{len(lines)} transfers · ")
        await pilot.press("x")
        await settle(pilot)
        await pilot.pause(0.3)
        (file,) = (tmp_path / "downloads").glob("statement-alice-*.csv")
        with file.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == ["transfer", "at", "kind", "counterparty", "memo", "amount", "balance_after"]
        assert [int(r[0]) for r in rows[1:]] == [line.transfer_id for line in lines]
        assert rows[1][5] == f"{lines[0].amount_minor / 100:.2f}"  # a number, never a "'-" text cell
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, BankScreen)


async def open_statement(pilot, name: str) -> StatementTable:
    app = pilot.app
    await open_bank(pilot)
    app.screen.query_one("#accounts", DataTable).move_cursor(
        row=next(i for i, a in enumerate(app.backend.sim.bank.accounts()) if a.name == name))
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, StatementScreen)
    return app.screen.query_one("#statement", StatementTable)


async def test_a_long_statement_pages_from_the_store_to_the_end_and_back_in_the_stores_order(app_factory):
    app = app_factory()
    bank = app.backend.sim.bank
    for i in range(320):
        if i % 5:
            bank.transfer("Alice", "Shop", "0.01", memo=f"n{i}")
        else:
            bank.transfer("Shop", "Alice", "0.02", memo=f"back {i}")
    in_order = [line.transfer_id for line in bank.statement("Alice", limit=10_000)]
    calls: list[dict] = []
    statement = bank.statement

    def spy(ref, before_id=None, limit=100, include_archive=False, **options):
        calls.append({"before_id": before_id, "limit": limit, **options})
        return statement(ref, before_id, limit, include_archive, **options)

    bank.statement = spy
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_statement(pilot, "Alice")
        assert table.total == len(in_order) > 320
        loaded = [line.transfer_id for line in table.loaded_rows()]  # a page or two, and the last page for `end`
        assert loaded[:-PAGE] == in_order[:len(loaded) - PAGE] and loaded[-PAGE:] == in_order[-PAGE:]
        assert table.known_rows < len(in_order)  # not the whole history
        await pilot.press("end")  # the opening deposit, by a reversed query
        await settle(pilot)
        assert table.cursor_row == len(in_order) - 1 and table.current_row.transfer_id == in_order[-1]
        assert table.current_row.memo == "opening balance"
        assert [line.transfer_id for line in table.visible_rows()] == in_order[-len(table.visible_rows()):]
        assert {"before_id": None, "limit": PAGE, "backward": True, "skip": 0} in calls
        for _ in range(3):
            await pilot.press("pageup")
            await settle(pilot)
        top = round(table.scroll_y)
        assert [line.transfer_id for line in table.visible_rows()] == in_order[top:top + len(table.visible_rows())]
        assert table.current_row.transfer_id == in_order[table.cursor_row]
        await pilot.press("home")
        await settle(pilot)
        assert table.cursor_row == 0 and table.current_row.transfer_id == in_order[0]
        assert [line.transfer_id for line in table.visible_rows()] == in_order[:len(table.visible_rows())]
        assert table.current_row.balance_after == bank.get_account("Alice").balance
        assert table.known_rows <= KEEP
    assert calls and all(c["limit"] == PAGE for c in calls)  # never everything at once


async def test_refresh_shows_a_new_transfer_and_keeps_the_cursor_on_its_line(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_statement(pilot, "Alice")
        await pilot.press("down")
        await settle(pilot)
        kept = table.current_row
        count = table.total
        app.backend.sim.bank.transfer("Alice", "Shop", "1.00", memo="while looking")
        await pilot.press("r")
        await settle(pilot)
        assert table.total == count + 1 and table.loaded_rows()[0].memo == "while looking"
        assert table.current_row == kept and table.cursor_row == 2
        head = str(app.screen.query_one("#statement-head", Static).render())
        assert format_grouped(app.backend.sim.bank.get_account("Alice").balance) in head


async def test_pending_transfers_are_posted_in_part_and_voided_from_the_list(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        (demo_pending,) = app.backend.sim.bank.pending_transfers()
        second = app.backend.sim.bank.transfer("Alice", "Shop", "20.00", pending=True, memo="second")
        app.screen.reload()
        await settle(pilot)
        pending_table = app.screen.query_one("#pending-transfers", DataTable)
        pending_table.focus()
        pending_table.move_cursor(row=0)
        await pilot.press("p")
        await settle(pilot)
        app.screen.query_one("#amount", Input).value = "50.00"
        await pilot.press("enter")
        await settle(pilot)
        posted = app.backend.sim.bank.get_account("Carol")
        assert (posted.debits_pending, posted.balance) == (0, 40_000 - 5_000)
        app.screen.query_one("#pending-transfers", DataTable).focus()
        await pilot.press("v")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert app.backend.sim.bank.pending_transfers() == []
        assert app.backend.sim.bank.get_account("Alice").debits_pending == 0
        assert app.screen.query_one("#pending-transfers", DataTable).row_count == 0
        assert demo_pending.id != second.id


async def test_open_account_with_a_deposit(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        await pilot.press("o")
        await settle(pilot)
        app.screen.query_one("#name", Input).value = "Dave"
        app.screen.query_one("#opening_balance", Input).value = "abc"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "opening_balance" in str(app.screen.query_one("#error-opening_balance", Static).render())
        app.screen.query_one("#opening_balance", Input).value = "30.00"
        await pilot.press("ctrl+s")
        await settle(pilot)
        dave = app.backend.sim.bank.get_account("Dave")
        assert (dave.kind, dave.balance) == ("customer", 3000)
        assert app.backend.sim.check().ok


async def test_freeze_then_a_transfer_from_it_is_refused(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        table = app.screen.query_one("#accounts", DataTable)
        table.move_cursor(row=next(i for i, a in enumerate(app.backend.sim.bank.accounts()) if a.name == "Bob"))
        await pilot.press("f")
        await settle(pilot)
        assert app.backend.sim.bank.get_account("Bob").status == "frozen"
        await fill_transfer(pilot, "Bob", "Shop", "1.00")
        await pilot.press("enter")
        await settle(pilot)
        assert "account_frozen" in str(app.screen.query_one("#error-source", Static).render())


# -- as of a past moment (time travel) ----------------------------------------------------------


def row_of(app, name: str) -> list[str]:
    table = app.screen.query_one("#accounts", DataTable)
    account = next(a for a in app.backend.sim.bank.accounts(include_deleted=True) if a.name == name)
    return [str(c) for c in table.get_row(str(account.id))]


def shown_names(app) -> list[str]:
    table = app.screen.query_one("#accounts", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def toasts(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def as_of(pilot, when: str) -> None:
    await pilot.press("A")
    await settle(pilot)
    pilot.app.screen.query_one("#when", Input).value = when
    await pilot.press("enter")
    await settle(pilot)


async def test_as_of_before_a_transfer_shows_the_balances_then_refuses_writes_and_escape_returns_to_now(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        bank = app.backend.sim.bank
        alice, shop = balance(app, "Alice"), balance(app, "Shop")
        with app.backend.sim.ctx.reading() as uow:
            before = max(t.created_at for t in uow.transfers.stream())[:19]  # the second of the last transfer
        bank.transfer("Alice", "Shop", "12.50", memo="after the moment")
        app.screen.reload()
        await settle(pilot)
        assert row_of(app, "Alice")[2] == format_grouped(alice - 1250)
        await as_of(pilot, before.replace("T", " "))
        screen = app.screen
        assert isinstance(screen, BankScreen) and screen.as_of is not None
        assert screen.title == f"Bank — as of {before.replace('T', ' ')} UTC"
        assert "read-only · esc: back to now" in str(screen.query_one("#asof-banner", Static).render())
        assert (row_of(app, "Alice")[2], row_of(app, "Shop")[2]) == (format_grouped(alice), format_grouped(shop))
        assert row_of(app, "Carol")[4] == format_grouped(bank.get_account("Carol").debits_pending)  # reserved then too
        assert screen.query_one("#pending-transfers").has_class("hidden")
        for key in ("t", "o", "f", "d", "u"):
            app.clear_notifications()
            await pilot.press(key)
            await settle(pilot)
            assert app.screen is screen, key  # no form, no confirm dialog
            assert any("the past is read-only" in t for t in toasts(app)), key
        assert len(transfers_by_memo(app, "after the moment")) == 1 and balance(app, "Alice") == alice - 1250
        assert bank.get_account("Bob").status == "open"
        await pilot.press("escape")
        await settle(pilot)
        assert screen.as_of is None and screen.title == "Bank"
        assert row_of(app, "Alice")[2] == format_grouped(alice - 1250)
        assert not screen.query_one("#pending-transfers").has_class("hidden")


async def test_as_of_a_moment_before_a_delete_shows_the_account_and_after_it_hides_it(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        bank = app.backend.sim.bank
        dave = bank.open_account("Dave", kind="customer")
        before = app.backend.sim.ctx.now()[:19]
        bank.delete_account(dave.id, dave.version)
        await as_of(pilot, before.replace("T", " "))
        assert "Dave" in shown_names(app) and row_of(app, "Dave")[5] == ""
        await as_of(pilot, "2026-01-01")  # the end of the day: deleted by then
        assert "Dave" not in shown_names(app)
        await pilot.press("D")
        await settle(pilot)
        assert row_of(app, "Dave")[5] == "deleted"


# -- account lifecycle: delete, restore, purge ---------------------------------------------------


def select(app, name: str) -> None:
    table = app.screen.query_one("#accounts", DataTable)
    account = next(a for a in app.backend.sim.bank.accounts(include_deleted=True) if a.name == name)
    table.move_cursor(row=table.get_row_index(str(account.id)))


async def confirm(pilot, title: str) -> None:
    assert isinstance(pilot.app.screen, ConfirmDialog)
    assert str(pilot.app.screen.query_one(".dialog-title", Label).render()) == title
    await pilot.press("y")
    await settle(pilot)


async def test_an_empty_account_is_deleted_shown_dimmed_restored_then_purged(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        bank = app.backend.sim.bank
        bank.open_account("Dave", kind="customer")  # no deposit: no transfer names it
        app.screen.reload()
        await settle(pilot)
        select(app, "Dave")
        await pilot.press("d")
        await settle(pilot)
        await confirm(pilot, "Delete account")
        assert bank.get_account("Dave").deleted_at is not None
        assert "Dave" not in shown_names(app)
        await pilot.press("D")
        await settle(pilot)
        assert row_of(app, "Dave")[5] == "deleted"
        select(app, "Dave")
        await pilot.press("u")
        await settle(pilot)
        assert bank.get_account("Dave").deleted_at is None
        assert row_of(app, "Dave")[5] == "open"
        await pilot.press("d")
        await settle(pilot)
        await confirm(pilot, "Delete account")
        select(app, "Dave")
        await pilot.press("d")
        await settle(pilot)
        assert "for good" in str(app.screen.query_one(".dialog-text", Static).render())
        await confirm(pilot, "Purge account")
        assert "Dave" not in [a.name for a in bank.accounts(include_deleted=True)]
        assert "Dave" not in shown_names(app)
        assert any("Purged Dave" in t for t in toasts(app))


async def test_an_account_with_money_is_not_deleted_and_one_with_transfers_is_not_purged(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        bank = app.backend.sim.bank
        select(app, "Bob")
        await pilot.press("d")
        await settle(pilot)
        await confirm(pilot, "Delete account")
        assert bank.get_account("Bob").deleted_at is None
        assert any("still holds" in str(n.message) and n.title == "Refused · validation" for n in app._notifications)
        assert "Bob" in shown_names(app)
        bank.transfer("Bob", "Shop", balance(app, "Bob"), memo="emptied")
        app.screen.reload()
        await settle(pilot)
        select(app, "Bob")
        await pilot.press("d")
        await settle(pilot)
        await confirm(pilot, "Delete account")
        assert bank.get_account("Bob").deleted_at is not None
        await pilot.press("D")
        await settle(pilot)
        select(app, "Bob")
        await pilot.press("d")
        await settle(pilot)
        await confirm(pilot, "Purge account")
        assert bank.get_account("Bob").deleted_at is not None  # still there, still deleted
        assert any(n.title == "Refused · in_use" for n in app._notifications)
        assert row_of(app, "Bob")[5] == "deleted"
        assert app.backend.sim.check().ok


async def test_restore_asks_for_a_deleted_account(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        select(app, "Alice")
        await pilot.press("u")
        await settle(pilot)
        assert any("Select a deleted account" in t for t in toasts(app))


async def test_showing_deleted_accounts_keeps_the_cursor_on_the_same_account(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bank(pilot)
        bank = app.backend.sim.bank
        dave = bank.open_account("Dave", kind="customer")
        bank.delete_account(dave.id, dave.version)
        app.screen.reload()
        await settle(pilot)
        select(app, "Shop")  # the row a deleted Dave is shown above
        await pilot.press("D")
        await settle(pilot)
        assert app.screen._selected_account().name == "Shop"
        await pilot.press("D")
        await settle(pilot)
        assert app.screen._selected_account().name == "Shop"
