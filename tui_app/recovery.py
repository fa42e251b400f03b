"""A damaged database at start-up gets a screen, not a traceback: it says what is wrong and offers
the newest good backup (checksum and integrity_check ok), with Restore / Quit.

Two ways in: the database cannot be opened at all (open_backend raises Corrupt) -> a small
RecoveryApp runs instead of the main app; or it opens but fails `PRAGMA quick_check`, which runs
in a thread after the main app's first frame (so cold start stays fast) -> the same screen is
pushed there. After a restore the main app starts again on the restored file (`launch_tui`).

The screen only calls what it is handed (a `Recovery`); this module's launcher wires it to
storage/sqlite/backup.py, the way the CLI does: the app and screens never import storage.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Label, Static

from domain.errors import Corrupt, DomainError
from tui_app.widgets.footer import KeyFooter

if TYPE_CHECKING:
    from tui_app.bootstrap import Backend

RESTORED = "restored"  # what the apps exit with when the main app should start again
QUIT = "quit"


@dataclass(frozen=True)
class Recovery:
    """What the recovery screen needs: what is wrong, where, and two calls (both run in a thread)."""

    db_path: str
    problem: str
    find_backup: Callable[[], Any]  # -> a backup (.path .name .created_at .revision .size) or None
    restore: Callable[[Any], Any]  # backup -> report (.method .safety_copy .moved_aside); raises DomainError
    in_app: bool = False  # pushed over the running app: "continue anyway" is offered


def _when(created_at: str) -> str:
    return created_at.replace("T", " ").replace("Z", " UTC") if created_at else "unknown date"


class RecoveryScreen(ModalScreen[None]):
    """Modal, so the app's screen keys (1-6) cannot leave it; it ends the app itself (exit with
    RESTORED or QUIT) or, over a running app, may be dismissed to continue anyway."""

    DEFAULT_CSS = """
    RecoveryScreen { align: center middle; background: $background; }
    #recovery-box { width: 90; max-width: 100%; height: auto; border: thick $error; padding: 1 2; background: $surface; }
    #recovery-title { text-style: bold; color: $error; margin-bottom: 1; }
    #recovery-problem, #recovery-backup, #recovery-status { margin-bottom: 1; }
    #recovery-status { color: $warning; display: none; }
    #recovery-buttons { height: auto; }
    #recovery-buttons Button { margin-right: 2; }
    """
    BINDINGS = [
        Binding("r", "restore", "Restore", id="recovery.restore"),
        Binding("q", "quit_app", "Quit", id="recovery.quit"),
        Binding("escape", "continue_anyway", "Continue anyway", id="recovery.continue"),
    ]

    def __init__(self, recovery: Recovery):
        super().__init__()
        self.recovery = recovery
        self.backup: Any = None
        self._busy = True  # until the search for a backup is done

    def compose(self) -> ComposeResult:
        r = self.recovery
        with Vertical(id="recovery-box"):
            yield Label("The database needs attention", id="recovery-title")
            yield Static(Text(f"{r.db_path}\n{r.problem}"), id="recovery-problem")
            yield Static("Looking for a good backup (checksum and integrity_check)…", id="recovery-backup")
            yield Static("", id="recovery-status")
            with Horizontal(id="recovery-buttons"):
                yield Button("Restore (r)", id="restore", variant="success", disabled=True)
                yield Button("Quit (q)", id="quit", variant="error")
                if r.in_app:
                    yield Button("Continue anyway (esc)", id="continue")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#quit", Button).focus()
        self.run_worker(self._find, thread=True, group="recovery", exit_on_error=False)

    def _find(self) -> None:
        try:
            found = self.recovery.find_backup()
        except Exception as e:  # noqa: BLE001 - shown on the screen, never a traceback
            self.app.call_from_thread(self._show_backup, None, f"Looking for backups failed: {e}")
            return
        self.app.call_from_thread(self._show_backup, found, "")

    def _show_backup(self, backup: Any, error: str) -> None:
        self.backup, self._busy = backup, False
        info = self.query_one("#recovery-backup", Static)
        if backup is not None:
            info.update(Text(
                f"Newest good backup: {backup.name}, made {_when(backup.created_at)} "
                f"(schema revision {backup.revision}).\nRestore replaces the database with it; what is there now is "
                "kept (moved aside if damaged)."))
            button = self.query_one("#restore", Button)
            button.disabled = False
            button.focus()
        else:
            self.query_one("#restore", Button).display = False
            info.update(Text(
                (error + "\n" if error else "No good backup was found.\n")
                + f"Quit (q), then move the damaged file aside (e.g. mv {self.recovery.db_path} "
                f"{self.recovery.db_path}.broken) to start afresh, or restore a backup you have with "
                "`stockbank restore FILE`."))
        self.refresh_bindings()

    def action_restore(self) -> None:
        if self._busy or self.backup is None:
            return
        self._busy = True
        self.query_one("#restore", Button).disabled = True
        self._status(f"Restoring {self.backup.name}…")
        self.run_worker(self._restore, thread=True, group="recovery", exit_on_error=False)

    def _restore(self) -> None:
        try:
            self.recovery.restore(self.backup)
        except DomainError as e:
            self.app.call_from_thread(self._restore_failed, f"Restore refused [{e.code}]: {e.message}")
            return
        except Exception as e:  # noqa: BLE001
            self.app.call_from_thread(self._restore_failed, f"Restore failed: {type(e).__name__}: {e}")
            return
        self.app.call_from_thread(self.app.exit, RESTORED)

    def _restore_failed(self, message: str) -> None:
        self._busy = False
        self._status(message)
        self.query_one("#restore", Button).disabled = False

    def _status(self, message: str) -> None:
        status = self.query_one("#recovery-status", Static)
        status.update(Text(message))
        status.display = bool(message)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "continue_anyway":
            return self.recovery.in_app  # the footer offers it only over a running app
        if action == "restore":
            return self._busy or self.backup is not None  # hidden once no backup was found
        return True

    def action_quit_app(self) -> None:
        self.app.exit(QUIT)

    def action_continue_anyway(self) -> None:
        if self.recovery.in_app and not self._busy:
            self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        {"restore": self.action_restore, "quit": self.action_quit_app,
         "continue": self.action_continue_anyway}[event.button.id or "quit"]()


class RecoveryApp(App[str]):
    """Runs instead of the main app when the database cannot even be opened."""

    TITLE = "stockbank — recovery"

    def __init__(self, recovery: Recovery):
        super().__init__()
        self.recovery = recovery

    def on_mount(self) -> None:
        self.push_screen(RecoveryScreen(self.recovery))


# -- wiring (storage is imported here, when needed; never by the app or its screens) ----------


def sqlite_file(url: str) -> str | None:
    """The database file a sqlite:/// URL names, else None (other stores have no file to check)."""
    if not url.startswith("sqlite:///"):
        return None
    from storage.sqlite.store import parse_url

    try:
        return parse_url(url).path
    except DomainError:
        return None


def recovery_for(db_path: str, problem: str, *, in_app: bool = False,
                 before_restore: Callable[[], None] | None = None) -> Recovery:
    from storage.sqlite import backup

    def restore(found: Any) -> Any:
        copy = backup.verify_copy(found.path)  # again: the file may have changed since it was found
        if before_restore is not None:
            before_restore()
        return backup.restore_copy(db_path, copy)

    return Recovery(db_path, problem, lambda: backup.newest_good_backup(db_path), restore, in_app)


def startup_check(db_path: str, backend: Backend) -> Callable[[], Callable[[], Screen] | None]:
    """For StockbankApp(startup_check=...): quick_check in a thread after the first frame; on
    damage, a recovery screen whose restore first closes the app's store."""

    def check() -> Callable[[], Screen] | None:
        from storage.sqlite.backup import check_database

        problem = check_database(db_path)
        if problem is None:
            return None
        recovery = recovery_for(db_path, f"PRAGMA quick_check found damage: {problem}", in_app=True,
                                before_restore=backend.close)
        return lambda: RecoveryScreen(recovery)

    return check


def launch_tui(url: str | None, *, tenant: str = "default", actor: str | None = None, rate_limit: str | None = None,
               run: Callable[[App], Any] | None = None, cache: str | None = None, config: str | None = None) -> int:
    """The TUI with its start-up check: the main app, or the recovery app when the database cannot
    be opened; after a restore, the main app again. `run` runs an app (tests drive it headless).
    A bad config file (keys, theme) is refused before anything opens."""
    from tui_app.app import StockbankApp, binding_ids
    from tui_app.bootstrap import open_backend, resolve_db_url
    from textual.theme import BUILTIN_THEMES

    from tui_app.config import check_settings, config_path, load_settings

    try:
        settings = load_settings(config_path(config))
        if settings.keys or settings.theme:
            check_settings(settings, binding_ids(), set(BUILTIN_THEMES))
    except DomainError as e:
        print(f"error [{e.code}]: {e.message}", file=sys.stderr)
        return 1

    resolved = resolve_db_url(url)
    path = sqlite_file(resolved)
    run_app = run or (lambda app: app.run())
    restored = False
    while True:
        try:
            backend = open_backend(resolved, tenant=tenant, actor=actor, rate_limit=rate_limit, cache=cache)
        except Corrupt as e:
            if path is None:
                print(f"error [{e.code}]: {e.message}", file=sys.stderr)
                return 1
            if run_app(RecoveryApp(recovery_for(path, f"It cannot be opened: {e.message}"))) == RESTORED:
                restored = True
                continue
            print(f"error [{e.code}]: {e.message}\nthe database {path} was left as it is; move it aside to start "
                  "afresh, or restore a backup with `stockbank restore FILE`", file=sys.stderr)
            return 1
        except DomainError as e:
            print(f"error [{e.code}]: {e.message}", file=sys.stderr)
            return 1
        if restored:  # the file was replaced outside any unit of work: a shared cache forgets its rows
            backend.forget_cached_rows()
        try:
            app = StockbankApp(backend, startup_check=startup_check(path, backend) if path else None, settings=settings)
            outcome = run_app(app)
        finally:
            backend.close()
        if outcome != RESTORED:
            return 0
        restored = True
