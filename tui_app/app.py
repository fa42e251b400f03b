"""The Textual app: modes for the screens, global keys, one error handler for every worker,
every action in the command palette, and delivery of exported files."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from textual import events, on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from domain.errors import DomainError
from tui_app.screens.products import ProductsScreen
from tui_app.widgets.dialogs import HelpScreen, own_bindings

if TYPE_CHECKING:
    from tui_app.bootstrap import Backend
    from tui_app.config import Settings


def _bank_screen() -> Screen:
    """Imported when first shown: start-up only pays for the first screen."""
    from tui_app.screens.bank import BankScreen

    return BankScreen()


def _unused_name(folder: Path, filename: str) -> str:
    """`stock-…-090000.csv`, or `…-090000-2.csv` when an export in the same second took that name:
    delivery opens the file with mode "w" and would silently replace the first."""
    stem, dot, suffix = filename.rpartition(".")
    candidate, n = filename, 1
    while (folder / candidate).exists():
        n += 1
        candidate = f"{stem}-{n}{dot}{suffix}"
    return candidate


def _inventory_screen() -> Screen:
    from tui_app.screens.inventory import InventoryScreen

    return InventoryScreen()


def _saves_screen() -> Screen:
    from tui_app.screens.saves import SavesScreen

    return SavesScreen()


def _audit_screen() -> Screen:
    from tui_app.screens.audit import AuditScreen

    return AuditScreen()


def _dashboard_screen() -> Screen:
    from tui_app.screens.dashboard import DashboardScreen

    return DashboardScreen()


def binding_ids() -> set[str]:
    """Every key binding id of the app, its screens and widgets: what a config file may remap."""
    import importlib
    import inspect
    import pkgutil

    import tui_app.screens
    import tui_app.widgets

    ids = {b.id for b in StockbankApp.BINDINGS if isinstance(b, Binding) and b.id}
    for package in (tui_app.screens, tui_app.widgets):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for _, cls in inspect.getmembers(module, inspect.isclass):
                ids |= {b.id for b in vars(cls).get("BINDINGS", ()) if isinstance(b, Binding) and b.id}
    return ids


class StockbankApp(App[None]):
    TITLE = "stockbank"
    CSS_PATH = "app.tcss"
    DEFAULT_MODE = "products"
    MODES = {"products": ProductsScreen, "bank": lambda: _bank_screen(), "inventory": lambda: _inventory_screen(),
             "saves": lambda: _saves_screen(), "audit": lambda: _audit_screen(),
             "dashboard": lambda: _dashboard_screen()}
    # One footer entry for the six screens ("1 2 3 4 5 6 Screens"): the screen's own keys keep the room.
    SCREENS_GROUP = Binding.Group("Screens")
    BINDINGS = [
        Binding("1", "switch_mode('products')", "Products", id="app.products", group=SCREENS_GROUP),
        Binding("2", "switch_mode('bank')", "Bank", id="app.bank", group=SCREENS_GROUP),
        Binding("3", "switch_mode('inventory')", "Inventory", id="app.inventory", group=SCREENS_GROUP),
        Binding("4", "switch_mode('saves')", "Saves", id="app.saves", group=SCREENS_GROUP),
        Binding("5", "switch_mode('audit')", "Audit", id="app.audit", group=SCREENS_GROUP),
        Binding("6", "switch_mode('dashboard')", "Dashboard", id="app.dashboard", group=SCREENS_GROUP),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, backend: Backend, *, export_dir: Path | None = None,
                 startup_check: Callable[[], Callable[[], Screen] | None] | None = None,
                 settings: Settings | None = None):
        super().__init__()
        self.backend = backend
        self.settings = settings  # the user's config file (tui_app/config.py); None: defaults, nothing saved
        if settings is not None:
            if settings.theme:
                self.theme = settings.theme
            if settings.keys:
                self.set_keymap(settings.keys)
        self.export_dir = export_dir
        self._startup_check = startup_check  # see _check_at_startup
        self._place = f"{backend.sim.tenant} · {getattr(backend, 'display_url', backend.url)}"
        self.sub_title = self._place
        self._exports: dict[str, tuple[int, Path]] = {}
        self.low_stock_alerts = True  # a toast when products fall to their reorder level

    def on_mount(self) -> None:
        if self.settings is not None and self.settings.path is not None:
            self.theme_changed_signal.subscribe(self, self._save_theme)
        if self.backend.demo_loaded:
            self.notify(
                f"New database: added demo data ({self.backend.demo_loaded} products, a few accounts and transfers). "
                "Delete them or start over with another --db.",
                title="Welcome",
                timeout=8,
            )
        if self._startup_check is not None:
            self.call_after_refresh(self._check_at_startup)
        if self._cache_stats() is not None:
            self._show_cache_ratio()
            self.set_interval(2.0, self._show_cache_ratio)

    def _save_theme(self, theme) -> None:
        """The theme picked in the palette is kept for the next start (in the config file)."""
        from tui_app.config import save_theme

        settings = self.settings
        if settings is None or settings.path is None or theme.name == settings.theme:
            return
        try:
            save_theme(settings.path, theme.name)
            settings.theme = theme.name
        except (OSError, DomainError) as e:
            self.notify(f"The theme is not saved: {e}", severity="warning", timeout=6)

    def _cache_stats(self) -> dict | None:
        stats = getattr(self.backend, "cache_stats", None)  # a Backend handed in without a cache has none
        return stats() if stats is not None else None

    def _show_cache_ratio(self) -> None:
        """The read cache's hit ratio in this process (--cache), in the header next to the database."""
        stats = self._cache_stats()
        if stats is None:
            return
        lookups = stats["hits"] + stats["misses"]
        ratio = f"{stats['ratio']:.0%} hits of {lookups:,}" if lookups else "no reads yet"
        self.sub_title = f"{self._place} · cache {stats['backend'].split(':')[0]} {ratio}"

    def _check_at_startup(self) -> None:
        """After the first frame, so a health check (e.g. a quick_check of the whole file) never
        delays it: the check runs in a thread and returns None, or a factory for the screen that
        says what is wrong (the screen decides how the app goes on)."""
        check = self._startup_check
        assert check is not None

        def run() -> None:
            make_screen = check()
            if make_screen is not None:
                self.call_from_thread(lambda: self.push_screen(make_screen()))

        self.run_worker(run, thread=True, group="startup-check", exit_on_error=False)

    def books_replaced(self) -> None:
        """After a load every other screen holds rows of the old books: they are rebuilt on their next visit."""
        for mode, factory in self.MODES.items():
            if mode != self.current_mode:
                self.remove_mode(mode)
                self.add_mode(mode, factory)

    def notify(self, message: str, *, markup: bool = False, **kwargs):  # type: ignore[override]
        """Toasts show names users typed: plain text unless a caller opts into markup (screens
        and modals get the same default from tui_app.widgets.base)."""
        return super().notify(message, markup=markup, **kwargs)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def report_error(self, error: BaseException | None) -> None:
        """The one place a failed worker ends up: a refusal is a toast with its code; anything
        else is logged and shown without a traceback taking over the screen."""
        if isinstance(error, DomainError):
            self.notify(error.message, title=f"Refused · {error.code}", severity="error", timeout=6)
        elif error is not None:
            self.log.error(repr(error))
            self.notify(f"{type(error).__name__}: {error}", title="Unexpected error", severity="error", timeout=10)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key binding of the screen and the app, searchable by name in ctrl+p."""
        yield from super().get_system_commands(screen)
        for node, b, _where in own_bindings(screen):
            yield SystemCommand(
                f"{screen.title or ''}: {b.description}".lstrip(": "),
                f"key {self.get_key_display(b)}",
                partial(node.run_action, b.action),
            )
        yield SystemCommand("Simulate N days…", "customers buy, the shop reorders, deliveries arrive", self._simulate_days)
        for days in (7, 30, 365):
            yield SystemCommand(f"Simulate {days} days", "on the Inventory screen", partial(self._simulate_days, days))
        yield SystemCommand("Verify audit chain", "recompute every hash on the Audit screen",
                            partial(self._on_audit_screen, "action_verify"))
        yield SystemCommand("Export audit CSV", "the Audit screen's entries, as filtered there",
                            partial(self._on_audit_screen, "action_export"))
        state = "on" if self.low_stock_alerts else "off"
        yield SystemCommand("Toggle low-stock alerts", f"currently {state}", self._toggle_low_stock_alerts)

    def _simulate_days(self, days: int | None = None) -> None:
        """Show the Inventory screen and run the simulation there (it refreshes when done)."""
        self.switch_mode("inventory")

        def start() -> None:
            screen = self.screen
            if days is None:
                screen.action_simulate()  # type: ignore[attr-defined]
            else:
                screen.simulate(days)  # type: ignore[attr-defined]

        self.call_after_refresh(start)

    def _on_audit_screen(self, action: str) -> None:
        """Show the Audit screen and run one of its actions there."""
        self.switch_mode("audit")
        self.call_after_refresh(lambda: getattr(self.screen, action)())

    def _toggle_low_stock_alerts(self) -> None:
        self.low_stock_alerts = not self.low_stock_alerts
        self.notify(f"Low-stock alerts {'on' if self.low_stock_alerts else 'off'}", timeout=3)

    # -- exports ----------------------------------------------------------------------------

    def export_csv(self, prefix: str, write: Callable[[TextIO], int]) -> None:
        """Export any view: `write(out)` streams the CSV and returns the row count. Runs in a
        thread worker; the file then goes through deliver_text and a toast says where it is."""
        self.run_worker(partial(self._write_export, prefix, write), thread=True, group="export", exit_on_error=False)

    def _write_export(self, prefix: str, write: Callable[[TextIO], int]) -> None:
        filename = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}.csv"
        fd, tmp = tempfile.mkstemp(prefix="stockbank-", suffix=".csv")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                count = write(out)
        except BaseException:
            os.unlink(tmp)
            raise
        self.call_from_thread(self.deliver_export, Path(tmp), filename, count)

    @on(Worker.StateChanged)
    def _app_worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.report_error(event.worker.error)

    def deliver_export(self, temp_path: Path, filename: str, rows: int) -> None:
        """Hand a finished export to Textual's delivery: into the downloads folder, or (`stockbank serve`) to
        the browser, which saves it itself (no folder on the server is involved)."""
        folder = None
        if not self.is_web:
            folder = self.export_dir
            if folder is None:
                from platformdirs import user_downloads_path

                folder = user_downloads_path()
            try:
                folder.mkdir(parents=True, exist_ok=True)  # Textual does not create a missing downloads folder
            except OSError as e:
                temp_path.unlink(missing_ok=True)
                self.notify(f"Cannot create {folder}: {e.strerror}", title="Export failed", severity="error")
                return
            filename = _unused_name(folder, filename)
        # A text file object, not the path: Textual's driver picks the write mode with
        # isinstance(f, typing.BinaryIO), which is never true for a real file.
        source = open(temp_path, encoding="utf-8", newline="")  # noqa: SIM115 - closed by the driver
        key = self.deliver_text(source, save_filename=filename, save_directory=folder, name="export")
        if key is None:  # no driver (should not happen while running)
            source.close()
            os.unlink(temp_path)
            return
        self._exports[key] = (rows, temp_path)
        if self.is_web:  # the page opens the download in a new window, allowed only soon after a key press
            self.notify(f"Your browser is downloading {filename}; if nothing appears, allow pop-ups for this site.",
                        title="Export CSV", timeout=8)

    def on_unmount(self) -> None:
        """Exports the browser never fetched (a blocked pop-up, a closed tab) leave no temp file behind."""
        for _rows, temp in self._exports.values():
            temp.unlink(missing_ok=True)
        self._exports.clear()

    def _finish_export(self, key: str) -> int:
        rows, temp = self._exports.pop(key, (0, None))
        if temp is not None:
            temp.unlink(missing_ok=True)
        return rows

    @on(events.DeliveryComplete)
    def _export_delivered(self, event: events.DeliveryComplete) -> None:
        if event.name != "export":
            return
        rows = self._finish_export(event.key)
        where = str(event.path) if event.path else "your browser's downloads"
        self.notify(f"Exported {rows:,} rows to {where}", title="Export CSV", timeout=8)

    @on(events.DeliveryFailed)
    def _export_failed(self, event: events.DeliveryFailed) -> None:
        if event.name != "export":
            return
        self._finish_export(event.key)
        self.notify(f"Export failed: {event.exception}", severity="error", timeout=10)
