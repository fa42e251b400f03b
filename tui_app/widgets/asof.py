"""The "as of" control the Bank and Inventory screens share (time travel): a key and a small modal
asking WHEN, a banner while the screen shows the past, and the read-only guard for its writes.

The modal reads the moment once (`sim.lifecycle.moment`), so a bad WHEN is an inline error and the
screen never leaves the live view for nothing; the screen then reads the past at that moment in its
own workers (`AsOf.text` only refills the modal).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from domain.services.lifecycle import Moment
from tui_app.widgets.forms import FormModal

_DATE_LABEL = re.compile(r"^\d{4}-\d{2}-\d{2} UTC$")


class AsOf(NamedTuple):
    """A past moment chosen on a screen: the text to read it with, and the moment it names."""

    text: str
    moment: Moment

    @property
    def live(self) -> bool:
        """`now` means: back to the live view."""
        return self.moment.label == "now"

    @property
    def label(self) -> str:
        """In words, for the banner: `end of day 3`, `end of 2026-01-01 UTC`, `2026-01-01 12:00 UTC`."""
        label = self.moment.label
        return f"end of {label}" if _DATE_LABEL.match(label) else label

    def includes(self, stamp: str | None) -> bool:
        """Whether something that happened at `stamp` (a stored timestamp) had happened by then."""
        if stamp is None:
            return False
        return stamp <= self.moment.at if self.moment.inclusive else stamp < self.moment.at


def asof_bindings(prefix: str) -> list[Binding]:
    """The keys of a screen that can show the past: `A` asks WHEN, escape comes back to now."""
    return [
        Binding("A", "as_of", "As of", id=f"{prefix}.asof"),
        Binding("escape", "back_to_now", "Back to now", id=f"{prefix}.now"),
    ]


class AsOfBanner(Static):
    """One bold line saying the screen shows the past; hidden in the live view."""

    DEFAULT_CSS = """
    AsOfBanner {
        display: none;
        height: 1;
        padding: 0 1;
        background: $warning;
        color: $text;
        text-style: bold;
    }
    AsOfBanner.-shown {
        display: block;
    }
    """

    def show(self, as_of: AsOf | None) -> None:
        self.set_class(as_of is not None, "-shown")
        if as_of is not None:
            self.update(Text(f"As of {as_of.label} — read-only · esc: back to now · A: another moment"))


class AsOfForm(FormModal):
    """Asks WHEN; a moment that cannot be read (bad text, a day still to come) shows inline."""

    FIELDS = ("when",)

    def __init__(self, current: str = ""):
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box form-box"):
            yield Label("Show as of…", classes="dialog-title")
            yield Static(
                "A simulated day (day 3: its end), a date (2026-01-01: its end, UTC), a time "
                "(2026-01-01 12:00, UTC), or now. The past is read-only.", classes="dialog-text",
            )
            yield from self.field_row("when", "When", Input(self._current, id="when", compact=True,
                                                            placeholder="day 3 · 2026-01-01 · now"))
            yield from self.buttons("Show")

    def save(self) -> None:
        text = self.query_one("#when", Input).value.strip()
        lifecycle = self.app.backend.sim.lifecycle  # type: ignore[attr-defined]
        self.run_save(lambda: AsOf(text, lifecycle.moment(text)))


class TimeTravel:
    """Mixin for an AppScreen that can show the past: `as_of` is None in the live view. The screen
    provides `reload()` (which reads `as_of`) and `show_as_of()` (titles, columns, banner)."""

    as_of: AsOf | None = None

    def action_as_of(self) -> None:
        self.app.push_screen(AsOfForm(self.as_of.text if self.as_of else ""), self._as_of_chosen)  # type: ignore[attr-defined]

    def _as_of_chosen(self, chosen: AsOf | None) -> None:
        if chosen is None:
            return
        self._travel(None if chosen.live else chosen)

    def action_back_to_now(self) -> None:
        if self.as_of is not None:
            self._travel(None)

    def _travel(self, as_of: AsOf | None) -> None:
        self.as_of = as_of
        self.show_as_of()
        self.refresh_bindings()  # type: ignore[attr-defined]
        if self.app.screen is self:  # type: ignore[attr-defined]
            self.reload()  # else the screen reloads when the dialog over it closes (on_screen_resume)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back_to_now":  # bound only while in the past, and not over a text box's own escape
            return self.as_of is not None and not isinstance(self.focused, Input)  # type: ignore[attr-defined]
        return True

    def read_only(self) -> bool:
        """True (and a toast) when the screen shows the past: call it first in every write."""
        if self.as_of is None:
            return False
        self.notify(  # type: ignore[attr-defined]
            f"Showing {self.as_of.label}: the past is read-only. Press escape to go back to now.",
            title="Read-only", severity="warning", timeout=4,
        )
        return True

    def show_as_of(self) -> None:
        raise NotImplementedError

    def reload(self) -> None:
        raise NotImplementedError
