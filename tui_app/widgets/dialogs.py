"""Small modals: confirm (y/n), help (every key of the current screen)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Label, Static

from tui_app.widgets.base import AppModal


class ConfirmDialog(AppModal[bool]):
    """Yes/no question; `y`/enter confirm, `n`/escape cancel."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, question: str, confirm_label: str = "Delete"):
        super().__init__(classes="dialog")
        self._title = title
        self._question = question
        self._confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box confirm-box"):
            yield Label(Text(self._title), classes="dialog-title")
            yield Static(Text(self._question), classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self._confirm_label} (y)", variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


GENERAL_KEYS = (
    ("tab / shift+tab", "Move between panes and form fields", "everywhere"),
    ("enter", "Submit a form", "forms"),
    ("escape", "Cancel a form; clear the filter", "forms, filter"),
    ("ctrl+p", "Command palette: every action by name", "everywhere"),
)


def own_bindings(screen: Screen):
    """(node, binding, where) for every binding of ours (they all carry an id) on the screen, its
    lists and the app: what help shows and what the command palette offers."""
    seen: set[str] = set()
    sources = [("this screen", screen), *((f"in {w.id or 'list'}", w) for w in screen.query("DataTable, VirtualTable, Tree"))]
    sources.append(("everywhere", screen.app))
    keymap = getattr(screen.app, "_keymap", None)  # the keys remapped in the config file, as Textual applies them
    for where, node in sources:
        bindings_map = node._bindings.copy()  # noqa: SLF001 - no public lister
        if keymap:
            bindings_map.apply_keymap(keymap)
        for bindings in bindings_map.key_to_bindings.values():
            for b in bindings:
                if b.id and b.id not in seen:
                    seen.add(b.id)
                    yield node, b, where


def help_rows(screen: Screen) -> list[tuple[str, str, str]]:
    rows = [(screen.app.get_key_display(b), b.description, where) for _node, b, where in own_bindings(screen)]
    return rows + list(GENERAL_KEYS)


class HelpScreen(AppModal[None]):
    """Every key that works on the screen it was opened from, app-wide keys included."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss_help", "Close", id="help.close")]

    def __init__(self, origin: Screen):
        super().__init__(classes="dialog")
        self._origin = origin

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box help-box"):
            yield Label(Text(f"Keys — {self._origin.title or self.app.title}"), classes="dialog-title")
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Static("escape closes · ctrl+p opens the command palette with every action", classes="dialog-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Key", "Action", "Where")
        for key, description, where in help_rows(self._origin):
            table.add_row(Text(key, style="bold"), description, where)
        table.focus()

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
