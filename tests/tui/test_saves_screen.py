"""Pilot tests: the Saves screen (key 4) — the empty state, `s` saving (suggested `day-N`, a bad
name refused inline, pickle chosen in the Select), the diff pane against changed books, `l` loading
after a confirmation (and the other screens rebuilt from the loaded books), a cancelled load, a
corrupted slot listed as such and refused with its code, `d` deleting, and the audit entries.
What matters is checked on disk and through the service, not only on screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import DataTable, Input, Select, Static

from domain.model import AuditQuery
from tests.tui.conftest import settle
from tests.tui.test_inventory_screen import keep_toasts, toasts
from tui_app.screens.bank import BankScreen
from tui_app.screens.saves import SavesScreen
from tui_app.widgets.dialogs import ConfirmDialog
from tui_app.widgets.save_forms import SaveForm

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pickle saves are signed: with a key of this test's own, never the user's."""
    monkeypatch.setenv("STOCKBANK_SAVE_KEY_FILE", str(tmp_path / "save-signing.key"))


@pytest.fixture
def saves_app(app_factory, tmp_path: Path):
    """The demo app on memory://, its save slots in this test's temp folder, toasts recorded."""
    app = app_factory()
    app.backend.sim.store._saves_folder = str(tmp_path / "saves")  # before the first use of sim.saves
    assert Path(app.backend.sim.saves.location) == tmp_path / "saves" / "default"
    return keep_toasts(app)


# -- helpers -------------------------------------------------------------------------------------


def folder(app) -> Path:
    return Path(app.backend.sim.saves._slots.folder)


def files(app) -> list[str]:
    return sorted(p.name for p in folder(app).iterdir()) if folder(app).is_dir() else []


async def open_saves(pilot) -> SavesScreen:
    await settle(pilot)
    await pilot.press("4")
    await settle(pilot)
    assert isinstance(pilot.app.screen, SavesScreen)
    return pilot.app.screen


def rows(app) -> list[list[str]]:
    screen = next(s for s in reversed(app.screen_stack) if isinstance(s, SavesScreen))
    table = screen.query_one("#saves-list", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def detail(app) -> str:
    content = app.screen.query_one("#saves-detail-body", Static).content
    return content.plain if isinstance(content, Text) else str(content)


def summary(app) -> str:
    return str(app.screen.query_one("#saves-summary", Static).render())


def books(app) -> dict:
    """The live books as the service reads them: what a load must restore, or a refusal must keep."""
    world = app.backend.sim.saves.world()
    return {"day": world.day, "counts": world.counts(), "balances": world.balances(), "stock": world.stock()}


def save_actions(app) -> list[tuple[str, str]]:
    """(action, slot) of the audit entries about saves, oldest first."""
    entries = app.backend.sim.audit.entries(AuditQuery(entity="save"))
    return [(e.action, e.entity_id) for e in reversed(entries)]


async def open_form(pilot) -> SaveForm:
    await pilot.press("s")
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, SaveForm)
    return form


async def save_from_form(pilot, name: str | None = None) -> None:
    form = await open_form(pilot)
    if name is not None:
        form.query_one("#name", Input).value = name
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, SavesScreen), "the form closes once saved"


def flip_a_payload_byte(path: Path) -> None:
    """Damage the payload (line 2 on), not the header: the checksum no longer matches."""
    data = bytearray(path.read_bytes())
    at = data.index(b"\n") + 50
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def pay(app, amount: str = "12.50") -> None:
    """Change the live books behind the screen's back: Alice pays the Shop."""
    app.backend.sim.bank.transfer("Alice", "Shop", amount, memo="after the save")


def product_skus_shown(app) -> list[str]:
    return [row.sku for row in app.screen.query_one("#products").loaded_rows()]


def bank_balance_shown(app, name: str) -> str:
    table = app.screen.query_one("#accounts", DataTable)
    found = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
    (row,) = [r for r in found if r[0] == name]
    return row[2]


# -- list and save -------------------------------------------------------------------------------


async def test_key_4_opens_the_saves_screen_with_an_empty_state(saves_app):
    app = saves_app
    async with app.run_test(size=SIZE) as pilot:
        await open_saves(pilot)
        assert rows(app) == []
        assert summary(app).startswith("No saves yet: s saves the game")
        assert str(folder(app)) in summary(app)  # says where the files will go
        assert "Save the game with s" in detail(app)
        assert files(app) == []


async def test_s_suggests_day_n_and_enter_saves_a_slot_listed_ok(saves_app):
    app = saves_app
    app.backend.sim.simulation.advance(2, seed=7)
    async with app.run_test(size=SIZE) as pilot:
        await open_saves(pilot)
        form = await open_form(pilot)
        assert form.query_one("#name", Input).value == "day-2"
        assert form.query_one("#format", Select).value == "json"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SavesScreen)
        assert files(app) == ["day-2.json"]
        [row] = rows(app)
        assert row[:3] == ["day-2", "json", "2"] and row[5] == "✓ ok"
        assert summary(app).startswith("1 save in ")
        assert toasts(app, "Saved") == [f"Saved day 2 to day-2 (json, {row[3]})"]
        assert "Same books" in detail(app)  # just saved: nothing to load differs
        info = app.backend.sim.saves.slot("day-2")
        assert (info.ok, info.day, info.codec) == (True, 2, "json")

        form = await open_form(pilot)  # the name is taken now: the next suggestion is another one
        assert form.query_one("#name", Input).value == "day-2-2"
        form.query_one("#name", Input).value = "day-2"
        await pilot.pause()
        assert "will be replaced" in str(form.query_one("#save-overwrite", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert files(app) == ["day-2.json"]


async def test_a_bad_name_shows_inline_under_the_field_and_writes_nothing(saves_app):
    app = saves_app
    async with app.run_test(size=SIZE) as pilot:
        await open_saves(pilot)
        form = await open_form(pilot)
        form.query_one("#name", Input).value = "../x"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is form, "a refused save keeps the form open"
        error = str(form.query_one("#error-name", Static).render())
        assert "name:" in error and "[validation]" in error
        assert form.query_one("#name", Input).has_class("-invalid")
        assert str(form.query_one("#error-form", Static).render()) == ""
        assert files(app) == [] and not (folder(app).parent / "x.json").exists()
        assert app.backend.sim.saves.slots() == []
        assert save_actions(app) == []

        form.query_one("#name", Input).value = "good one"  # fixed: the same form saves
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SavesScreen)
        assert files(app) == ["good one.json"]


async def test_pickle_chosen_in_the_select_writes_a_signed_pickle_file(saves_app):
    app = saves_app
    async with app.run_test(size=SIZE) as pilot:
        await open_saves(pilot)
        form = await open_form(pilot)
        form.query_one("#name", Input).value = "pickled"
        select = form.query_one("#format", Select)
        select.focus()
        await pilot.press("enter")  # open the list: json, yaml, pickle
        await pilot.pause()
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert select.value == "pickle"
        form.query_one("#name", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SavesScreen)
        assert files(app) == ["pickled.pickle"]
        [row] = rows(app)
        assert row[:2] == ["pickled", "pickle"] and row[5] == "✓ ok"
        assert (folder(app) / "pickled.pickle").read_bytes().startswith(b"#stockbank-save ")

        form = await open_form(pilot)  # the highlighted slot's format is the next suggestion
        assert form.query_one("#format", Select).value == "pickle"
        await pilot.press("escape")
        await settle(pilot)


# -- diff and load -------------------------------------------------------------------------------


async def test_the_detail_pane_shows_what_changed_since_the_save(saves_app):
    app = saves_app
    async with app.run_test(size=SIZE) as pilot:
        await open_saves(pilot)
        await save_from_form(pilot, "before")
        alice, shop = (app.backend.sim.bank.get_account(n).balance for n in ("Alice", "Shop"))
        assert "Same books" in detail(app)
        pay(app)
        app.backend.sim.simulation.advance(1, seed=3)
        await pilot.press("r")
        await settle(pilot)
        pane = detail(app)
        assert "Same books" not in pane
        assert "Day 1 → 0" in pane
        live_alice = app.backend.sim.bank.get_account("Alice").balance
        assert live_alice != alice
        (line,) = [ln for ln in pane.splitlines() if ln.strip().startswith("Alice")]
        assert line.split()[1:] == [f"{live_alice / 100:,.2f}", "→", f"{alice / 100:,.2f}"]
        assert any(ln.strip().startswith("Shop") for ln in pane.splitlines())
        assert "Balances that differ" in pane and "transfers" in pane


async def test_l_then_y_loads_the_save_and_the_other_screens_show_the_loaded_books(saves_app):
    app = saves_app
    sim = app.backend.sim
    sim.saves.save("checkpoint")
    saved = books(app)
    pay(app, "30.00")  # then the books move on, before the app starts: every screen shows them
    sim.catalog.add_product(sku="AAA-NEW", name="Added after the save", price="1.00", quantity=3)
    changed = books(app)
    assert changed != saved
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "AAA-NEW" in product_skus_shown(app)
        await pilot.press("2")
        await settle(pilot)
        bank = app.screen
        assert isinstance(bank, BankScreen)
        stale = bank_balance_shown(app, "Alice")
        assert stale == f"{changed['balances']['Alice'] / 100:,.2f}"

        await open_saves(pilot)
        await pilot.press("l")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        question = str(dialog.query_one(".dialog-text", Static).render())
        assert "checkpoint" in question and "Replace the live books" in question
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, SavesScreen)
        assert books(app) == saved
        assert toasts(app, "Loaded") == ["Loaded checkpoint (day 0)"]
        assert "Same books" in detail(app)

        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, BankScreen) and app.screen is not bank, "rebuilt from the loaded books"
        shown = bank_balance_shown(app, "Alice")
        assert shown == f"{saved['balances']['Alice'] / 100:,.2f}" and shown != stale
        await pilot.press("1")  # the Products screen does not reload by itself: it was rebuilt
        await settle(pilot)
        assert "AAA-NEW" not in product_skus_shown(app) and product_skus_shown(app)
        assert sim.check().ok


async def test_l_then_n_cancels_and_changes_nothing(saves_app):
    app = saves_app
    async with app.run_test(size=SIZE) as pilot:
        await open_saves(pilot)
        await save_from_form(pilot, "keep")
        pay(app)
        before = books(app)
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, SavesScreen)
        assert books(app) == before
        assert toasts(app, "Loaded") == []
        assert [a for a, _ in save_actions(app)] == ["save"]
        assert files(app) == ["keep.json"]


async def test_a_corrupted_slot_is_listed_as_corrupt_and_its_load_is_refused(saves_app):
    app = saves_app
    async with app.run_test(size=SIZE) as pilot:
        await open_saves(pilot)
        await save_from_form(pilot, "broken")
        pay(app)  # a load would change the books, if it were allowed
        flip_a_payload_byte(folder(app) / "broken.json")
        await pilot.press("r")
        await settle(pilot)
        [row] = rows(app)
        assert row[0] == "broken" and row[5] == "✗ corrupt"
        before = books(app)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, SavesScreen), "no confirmation for a file that cannot load"
        pane = detail(app)
        assert "✗ broken cannot be loaded · corrupt" in pane and "Nothing was changed" in pane
        assert toasts(app, "Refused · corrupt")
        assert books(app) == before
        assert [a for a, _ in save_actions(app)] == ["save"]
        assert app.backend.sim.check().ok


async def test_a_pickle_signed_elsewhere_is_refused_as_tampered(saves_app, tmp_path: Path, monkeypatch):
    app = saves_app
    async with app.run_test(size=SIZE) as pilot:
        await open_saves(pilot)
        form = await open_form(pilot)
        form.query_one("#name", Input).value = "foreign"
        form.query_one("#format", Select).value = "pickle"
        await pilot.press("enter")
        await settle(pilot)
        assert files(app) == ["foreign.pickle"]
        pay(app)
        before = books(app)
        # The same file read by another installation: its key does not match the signature.
        other = tmp_path / "other.key"
        other.write_bytes(b"k" * 32)
        app.backend.sim.saves._slots._key_file = str(other)
        app.backend.sim.saves._slots.__dict__.pop("_key", None)
        await pilot.press("r")
        await settle(pilot)
        assert rows(app)[0][5] == "✗ tampered"
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, SavesScreen)
        assert "cannot be loaded · tampered" in detail(app)
        assert toasts(app, "Refused · tampered")
        assert books(app) == before


async def test_an_unexpected_failure_during_a_load_is_reported_and_l_works_again(saves_app):
    app = saves_app
    saves = app.backend.sim.saves
    saves.save("flaky")
    pay(app)
    before = books(app)
    load = saves.load
    calls: list[str] = []

    def fails_once(name):
        calls.append(name)
        if len(calls) == 1:
            raise RuntimeError("disk went away")
        return load(name)

    saves.load = fails_once
    async with app.run_test(size=SIZE) as pilot:
        await open_saves(pilot)
        await pilot.press("l")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, SavesScreen)
        assert toasts(app, "Unexpected error") == ["RuntimeError: disk went away"]
        assert books(app) == before
        await pilot.press("l")  # not stuck "busy" after the failure
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert calls == ["flaky", "flaky"]
        assert toasts(app, "Loaded") == ["Loaded flaky (day 0)"]
        assert books(app) != before


# -- delete and audit ----------------------------------------------------------------------------


async def test_d_then_y_deletes_the_file_and_n_keeps_it(saves_app):
    app = saves_app
    async with app.run_test(size=SIZE) as pilot:
        await open_saves(pilot)
        await save_from_form(pilot, "doomed")
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await settle(pilot)
        assert files(app) == ["doomed.json"] and len(rows(app)) == 1
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert "doomed" in str(app.screen.query_one(".dialog-text", Static).render())
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, SavesScreen)
        assert files(app) == [] and rows(app) == []
        assert toasts(app, "Deleted") == ["Deleted save doomed"]
        assert summary(app).startswith("No saves yet")


async def test_deleting_a_slot_whose_file_went_away_says_so_and_refreshes_the_list(saves_app):
    app = saves_app
    app.backend.sim.saves.save("gone")
    async with app.run_test(size=SIZE) as pilot:
        await open_saves(pilot)
        assert [r[0] for r in rows(app)] == ["gone"]
        (folder(app) / "gone.json").unlink()  # removed behind the app's back
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, SavesScreen)
        assert toasts(app, "Refused · not_found")
        assert rows(app) == [] and summary(app).startswith("No saves yet")


async def test_save_load_and_delete_are_in_the_audit_log(saves_app):
    app = saves_app
    async with app.run_test(size=SIZE) as pilot:
        await open_saves(pilot)
        await save_from_form(pilot, "audited")
        pay(app)
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert files(app) == []
    assert save_actions(app) == [("save", "audited"), ("load", "audited"), ("delete", "audited")]
    entries = app.backend.sim.audit.entries(AuditQuery(entity="save"))
    assert {e.actor for e in entries} == {"tester"}
    assert app.backend.sim.audit.verify().ok
