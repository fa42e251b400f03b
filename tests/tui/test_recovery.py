"""The start-up check and the recovery screen (Pilot): a database that cannot be opened, or that
fails quick_check after the first frame, gets a screen naming the problem and the newest good
backup; Restore brings it back and the main app opens on it; without a backup the screen says how
to get out. `launch_tui` is driven for real, each app run headless with a pilot script."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.app import App
from textual.widgets import Button, Static

from domain.clock import FixedClock
from domain.errors import Busy
from storage.sqlite import backup
from tests.tui.conftest import settle
from tui_app.app import StockbankApp
from tui_app.bootstrap import open_backend
from tui_app.recovery import RESTORED, Recovery, RecoveryApp, RecoveryScreen, launch_tui
from tui_app.screens.products import ProductsScreen
from tests.integration.damage import damage_an_index

Script = Callable[[object], Awaitable[None]]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A demo database (never the user's: XDG and HOME point into tmp_path)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = tmp_path / "shop.db"
    open_backend(f"sqlite:///{path}", actor="tester", clock=FixedClock()).close()
    return path


def driver(scripts: dict[type, list[Script]], seen: list[str]) -> Callable[[App], object]:
    """A `run` for launch_tui: each app runs headless with the next script for its class."""

    def run(app: App) -> object:
        seen.append(type(app).__name__)
        script = scripts[type(app)].pop(0)
        return app.run(headless=True, size=(120, 40), auto_pilot=script)

    return run


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def until_exit(app: App, seconds: float = 20) -> None:
    """The screen ends the app itself after a restore (in a thread worker)."""
    for _ in range(int(seconds / 0.05)):
        if app.return_value is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the app did not exit; status: {text_of(app.screen, '#recovery-status')!r}")


async def products_open(pilot) -> None:
    await settle(pilot)
    assert isinstance(pilot.app.screen, ProductsScreen)
    assert pilot.app.screen.query_one("#products").row_count > 0
    pilot.app.exit()


def garble(path: Path) -> bytes:
    data = b"garbage!" * 512
    path.write_bytes(data)
    return data


def test_a_database_that_cannot_be_opened_is_restored_from_the_screen_and_the_app_opens(db: Path) -> None:
    good = backup.create_backup(str(db))
    garble(db)

    async def restore(pilot) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, RecoveryScreen)
        assert "not a database" in text_of(screen, "#recovery-problem")
        assert good.name in text_of(screen, "#recovery-backup")
        assert not screen.query_one("#restore", Button).disabled
        await pilot.press("r")
        await until_exit(pilot.app)

    seen: list[str] = []
    code = launch_tui(f"sqlite:///{db}", run=driver({RecoveryApp: [restore], StockbankApp: [products_open]}, seen))
    assert code == 0 and seen == ["RecoveryApp", "StockbankApp"]
    assert [p.name for p in db.parent.iterdir() if ".damaged-" in p.name]  # the garbage is kept
    assert backup.check_database(str(db)) is None


def test_without_a_good_backup_the_screen_says_so_and_quits_leaving_the_file(
        db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = backup.create_backup(str(db))
    Path(bad.path).write_bytes(b"changed")  # its checksum no longer matches: not offered
    garbage = garble(db)

    async def look_and_quit(pilot) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        said = text_of(screen, "#recovery-backup")
        assert "No good backup was found" in said and str(db) in said
        assert screen.query_one("#restore", Button).disabled
        await pilot.press("r")  # nothing to restore: ignored
        await pilot.press("q")

    seen: list[str] = []
    code = launch_tui(f"sqlite:///{db}", run=driver({RecoveryApp: [look_and_quit]}, seen))
    assert code == 1 and seen == ["RecoveryApp"]
    assert db.read_bytes() == garbage
    assert "was left as it is" in capsys.readouterr().err


def test_damage_found_by_quick_check_after_the_first_frame_offers_the_restore(db: Path) -> None:
    backup.create_backup(str(db))
    damage_an_index(db)  # the file opens; only quick_check sees it

    async def restore_over_the_app(pilot) -> None:
        for _ in range(200):
            if isinstance(pilot.app.screen, RecoveryScreen):
                break
            await asyncio.sleep(0.05)
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, RecoveryScreen)
        assert "quick_check" in text_of(screen, "#recovery-problem")
        await pilot.press("2")  # the app's screen keys cannot leave it
        assert pilot.app.screen is screen
        await pilot.press("r")
        await until_exit(pilot.app)

    async def healthy_now(pilot) -> None:
        await settle(pilot)  # the startup check's worker included
        assert not isinstance(pilot.app.screen, RecoveryScreen)
        await products_open(pilot)

    seen: list[str] = []
    code = launch_tui(f"sqlite:///{db}", run=driver({StockbankApp: [restore_over_the_app, healthy_now]}, seen))
    assert code == 0 and seen == ["StockbankApp", "StockbankApp"]
    assert backup.check_database(str(db)) is None


def test_a_healthy_database_shows_no_recovery_screen(db: Path) -> None:
    async def healthy(pilot) -> None:
        await settle(pilot)
        assert not isinstance(pilot.app.screen, RecoveryScreen)
        await products_open(pilot)

    seen: list[str] = []
    assert launch_tui(f"sqlite:///{db}", run=driver({StockbankApp: [healthy]}, seen)) == 0


# -- the screen alone, with what it is handed ---------------------------------------------------


FOUND = SimpleNamespace(name="shop-20260101-090000.db", created_at="2026-01-01T09:00:00Z", revision="0005",
                        path="/srv/shop/shop.db.backups/shop-20260101-090000.db")


def fake_recovery(*, found=FOUND, restore=None, in_app: bool = False) -> Recovery:
    return Recovery("/srv/shop/shop.db", "It cannot be opened: file is not a database", lambda: found,
                    restore or (lambda b: None), in_app)


async def test_a_refused_restore_is_shown_and_can_be_retried() -> None:
    calls = []

    def restore(found):
        calls.append(found)
        if len(calls) == 1:
            raise Busy("the database is busy with another writer; nothing was restored, try again")

    app = RecoveryApp(fake_recovery(restore=restore))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.click("#restore")
        await settle(pilot)
        assert "Restore refused [busy]" in text_of(app.screen, "#recovery-status")
        assert not app.screen.query_one("#restore", Button).disabled
        await pilot.press("r")
        await settle(pilot)
    assert app.return_value == RESTORED and calls == [FOUND, FOUND]


async def test_continue_anyway_is_offered_only_over_a_running_app() -> None:
    app = RecoveryApp(fake_recovery())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert not app.screen.query("#continue")
        await pilot.press("escape")
        assert isinstance(app.screen, RecoveryScreen)

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(RecoveryScreen(fake_recovery(in_app=True)))

    host = Host()
    async with host.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        assert not isinstance(host.screen, RecoveryScreen)


@pytest.mark.skipif(os.name != "posix", reason="paths in the message")
async def test_a_search_that_fails_says_so_instead_of_a_traceback() -> None:
    def broken():
        raise PermissionError("backups folder unreadable")

    recovery = Recovery("/srv/shop/shop.db", "It cannot be opened", broken, lambda b: None)
    app = RecoveryApp(recovery)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "Looking for backups failed: backups folder unreadable" in text_of(app.screen, "#recovery-backup")
        await pilot.press("q")
    assert app.return_value == "quit"
