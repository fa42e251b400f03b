"""Saves modal: name a save and pick its format. The slots check the name; a bad one shows under
its field and nothing is written."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Select, Static

from domain.model.saves import SAVE_FORMATS
from tui_app.widgets.forms import FormModal

FORMAT_HINTS = {
    "json": "JSON: readable, diffable; checksummed",
    "yaml": "YAML: readable; loaded with safe_load and size/depth limits",
    "pickle": "pickle: fast; signed with this installation's key, refused anywhere else",
}


class SaveForm(FormModal):
    """Closes with the SlotInfo of the written save, or None on cancel."""

    FIELDS = ("name", "format")

    def __init__(self, suggested_name: str, fmt: str = "json", taken: tuple[str, ...] = ()):
        super().__init__()
        self._suggested = suggested_name
        self._format = fmt
        self._taken = {t.casefold() for t in taken}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box form-box"):
            yield Label("Save the game", classes="dialog-title")
            yield Static(Text("The whole game: catalog, accounts, transfers, stock, moves, day and random "
                              "generator. Users' secrets are never written."), classes="dialog-text")
            yield from self.field_row("name", "Name", Input(self._suggested, id="name", compact=True,
                                                            placeholder="letters, digits, space, _ - ."))
            yield from self.field_row("format", "Format", Select([(FORMAT_HINTS[f], f) for f in SAVE_FORMATS],
                                                                 value=self._format, allow_blank=False,
                                                                 id="format", compact=True))
            yield Static("", classes="dialog-hint", id="save-overwrite")
            yield from self.buttons("Save")

    def on_input_changed(self, event: Input.Changed) -> None:
        taken = event.value.strip().casefold() in self._taken
        self.query_one("#save-overwrite", Static).update("A save of that name exists: it will be replaced." if taken else "")

    def save(self) -> None:
        name = self.query_one("#name", Input).value
        fmt = str(self.query_one("#format", Select).value)
        saves = self.app.backend.sim.saves  # type: ignore[attr-defined]
        self.run_save(lambda: saves.save(name, fmt))
