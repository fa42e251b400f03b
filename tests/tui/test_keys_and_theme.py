"""Remapped keys and the saved theme (issue #9), driven through the app as a user would."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from tests.tui.conftest import settle
from tui_app.app import StockbankApp
from tui_app.bootstrap import open_backend
from tui_app.config import Settings, load_settings
from tui_app.recovery import launch_tui
from tui_app.widgets.forms import ProductForm


def app_with(settings: Settings) -> StockbankApp:
    return StockbankApp(open_backend("memory://", actor="tester", demo_if_empty=True), settings=settings)


async def test_a_remapped_key_does_the_action_and_the_old_key_no_longer_does(tmp_path: Path) -> None:
    app = app_with(Settings(keys={"products.new": "ctrl+n", "table.last": "G"}, path=tmp_path / "c.yaml"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert not isinstance(app.screen, ProductForm)
        await pilot.press("G")
        await settle(pilot)
        table = app.screen.query_one("#products")
        assert table.cursor_row == table.total - 1
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ProductForm)
    app.backend.close()


async def test_help_shows_the_keys_as_remapped(tmp_path: Path) -> None:
    app = app_with(Settings(keys={"products.new": "ctrl+n"}, path=tmp_path / "c.yaml"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        help_keys = app.screen.query_one("#help-keys", DataTable)
        rows = {str(help_keys.get_row_at(i)[1]): str(help_keys.get_row_at(i)[0]) for i in range(help_keys.row_count)}
        assert rows["New"] == "^n"
    app.backend.close()


async def test_the_theme_chosen_in_the_app_is_saved_with_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("keys:\n  products.new: ctrl+n\n", encoding="utf-8")
    app = app_with(load_settings(path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.theme = "gruvbox"
        await settle(pilot)
    app.backend.close()
    saved = load_settings(path)
    assert (saved.theme, saved.keys) == ("gruvbox", {"products.new": "ctrl+n"})
    again = app_with(saved)
    async with again.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert again.theme == "gruvbox"
    again.backend.close()


def test_a_bad_config_file_stops_the_start_with_the_reason(tmp_path: Path, capsys) -> None:
    path = tmp_path / "config.yaml"
    ran: list[object] = []
    for text, says in (("keys:\n  products.neww: n\n", "did you mean products.new"),
                       ("theme: no-such-theme\n", "no theme named"), ("keys: {a: [\n", "not valid YAML")):
        path.write_text(text, encoding="utf-8")
        code = launch_tui(f"sqlite:///{tmp_path / 'shop.db'}", config=str(path), run=ran.append)
        assert code == 1 and ran == []
        err = capsys.readouterr().err
        assert f"error [validation]: config file {path}" in err and says in err
    assert not (tmp_path / "shop.db").exists()  # nothing was opened, nothing created
