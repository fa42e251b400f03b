"""Saves screen (key 4): the tenant's save slots with their checksum status, a diff of the
highlighted slot against the live books, and save / load / delete. A load asks first, showing
what it will replace; a refused load (bad checksum, tampered, newer format) changes nothing and
says why, with its code."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Header, Static

from domain.errors import DomainError
from domain.model.saves import SaveDiff, SlotInfo
from domain.money import format_grouped
from tui_app.widgets.base import AppScreen
from tui_app.widgets.dialogs import ConfirmDialog
from tui_app.widgets.footer import KeyFooter

MAX_STOCK_LINES = 40


@dataclass
class SlotsLoaded(Message):
    slots: list[SlotInfo]
    focus: str | None


@dataclass
class DiffReady(Message):
    """The diff of `name` against live, or the refusal reading it gave."""

    name: str
    diff: SaveDiff | None
    error: DomainError | None


def _when(at: str) -> str:
    return at[:19].replace("T", " ")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def diff_text(name: str, diff: SaveDiff) -> Text:
    """The detail pane: how the slot differs from the live books (live -> slot)."""
    text = Text()
    text.append(f"{name}", style="bold")
    text.append("  against the live books (live → save)\n", style="dim")
    if diff.same:
        text.append("\nSame books: loading it would change nothing you can see.", style="green")
        return text
    live_day, slot_day = diff.day
    text.append("\nDay ", style="bold")
    text.append(f"{live_day} → {slot_day}", style="" if live_day == slot_day else "yellow")
    text.append("\n\nCounts\n", style="bold underline")
    for kind, (live, slot) in diff.counts.items():
        style = "" if live == slot else "yellow"
        text.append(f"  {kind.replace('_', ' '):<12} {live:>8,} → {slot:<8,}\n", style=style)
    text.append("\nBalances that differ\n", style="bold underline")
    if not diff.balances:
        text.append("  none\n", style="dim")
    _changes(text, diff.balances, format_grouped)
    text.append("\nStock on hand that differs\n", style="bold underline")
    if not diff.stock:
        text.append("  none\n", style="dim")
    _changes(text, diff.stock[:MAX_STOCK_LINES], lambda n: f"{n:,}")
    if len(diff.stock) > MAX_STOCK_LINES:
        text.append(f"  … and {len(diff.stock) - MAX_STOCK_LINES:,} more\n", style="dim")
    return text


def _changes(text: Text, rows: list[tuple[str, int | None, int | None]], fmt) -> None:
    """`name  live → slot` lines, both values right-aligned so the columns line up."""
    shown = [(name, "—" if live is None else fmt(live), "—" if slot is None else fmt(slot)) for name, live, slot in rows]
    live_w = max((len(live) for _n, live, _s in shown), default=0)
    slot_w = max((len(slot) for _n, _l, slot in shown), default=0)
    for name, live, slot in shown:
        text.append(Text(f"  {name:<16.16} "))
        text.append(live.rjust(live_w), style="red")
        text.append(" → ", style="dim")
        text.append(slot.rjust(slot_w), style="green")
        text.append("\n")


def refusal_text(name: str, error: DomainError) -> Text:
    text = Text()
    text.append(f" ✗ {name} cannot be loaded · {error.code} ", style="bold white on dark_red")
    text.append("\n\n")
    text.append(Text(error.message))
    text.append("\n\nNothing was changed. Delete the slot with d, or load another one.", style="dim")
    return text


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def replace_question(slot: SlotInfo, diff: SaveDiff) -> str:
    """What the confirmation says: what goes, what comes."""
    live = ", ".join(f"{live:,} {kind.replace('_', ' ')}" for kind, (live, _s) in diff.counts.items())
    saved = ", ".join(f"{s:,} {kind.replace('_', ' ')}" for kind, (_l, s) in diff.counts.items())
    changed = f"{_count(len(diff.balances), 'balance')} and {_count(len(diff.stock), 'stock level')} change."
    return (f"Replace the live books (day {diff.day[0]}: {live})\n\nwith save “{slot.name}” "
            f"(day {diff.day[1]}, {slot.codec}, saved {_when(slot.created_at)}: {saved})?\n\n{changed} "
            "The audit log keeps everything up to now and records the load.")


class SavesScreen(AppScreen):
    TITLE = "Saves"
    CSS_PATH = "saves.tcss"
    BINDINGS = [
        Binding("s", "save", "Save", id="saves.save"),
        Binding("l", "load", "Load", id="saves.load"),
        Binding("d", "delete", "Delete", id="saves.delete"),
        Binding("r", "refresh", "Refresh", id="saves.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._slots: list[SlotInfo] = []
        self._diffs: dict[str, SaveDiff | DomainError] = {}  # per slot, for the books as they were when computed
        self._busy = False
        self._want: str | None = None  # the slot to put the cursor on once the list is back (a new save)

    @property
    def saves(self):
        return self.app.backend.sim.saves  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="saves-body"):
            yield DataTable(id="saves-list", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="saves-detail"):
                yield Static("", id="saves-detail-body")
        with Horizontal(id="saves-bar"):
            yield Static("", id="saves-summary")
            yield Button("Save (s)", id="saves-save-button", variant="primary")
            yield Button("Load (l)", id="saves-load-button")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#saves-list", DataTable)
        table.add_column("Name", key="name", width=16)
        table.add_column("Format", key="format", width=6)
        table.add_column(Text("Day", justify="right"), key="day", width=5)
        table.add_column(Text("Size", justify="right"), key="size", width=8)
        table.add_column("Saved (UTC)", key="at", width=16)
        table.add_column("Checksum", key="ok", width=11)
        table.focus()
        self.reload()

    def on_screen_resume(self) -> None:
        self._diffs.clear()  # other screens changed the books: the diffs are stale
        self.reload(self._current_name())

    # -- loading -----------------------------------------------------------------------------

    def reload(self, focus: str | None = None) -> None:
        self._load_slots(focus)

    @work(thread=True, exclusive=True, group="saves-list", exit_on_error=False)
    def _load_slots(self, focus: str | None) -> None:
        self.post_message(SlotsLoaded(self.saves.slots(), focus))

    @on(SlotsLoaded)
    def _show_slots(self, message: SlotsLoaded) -> None:
        self._slots = message.slots
        table = self.query_one("#saves-list", DataTable)
        table.clear()
        for s in self._slots:
            ok = Text("✓ ok", style="green") if s.ok else Text(f"✗ {s.problem}", style="bold red")
            table.add_row(Text(s.name), s.codec, Text("" if s.day is None else str(s.day), justify="right"),
                          Text(_size(s.size), justify="right"), _when(s.created_at)[:16], ok, key=s.name)
        focus = self._want or message.focus  # a modal closing also resumes the screen: both reloads agree
        self._want = None
        if focus:
            index = next((i for i, s in enumerate(self._slots) if s.name == focus), None)
            if index is not None:
                table.move_cursor(row=index)
        folder = self.saves.location
        n = len(self._slots)
        summary = f"{n} save{'s' if n != 1 else ''} in {folder}" if n else f"No saves yet: s saves the game (into {folder})"
        self.query_one("#saves-summary", Static).update(Text(summary))
        self._show_detail()

    def _current(self) -> SlotInfo | None:
        table = self.query_one("#saves-list", DataTable)
        if not self._slots or not 0 <= table.cursor_row < len(self._slots):
            return None
        return self._slots[table.cursor_row]

    def _current_name(self) -> str | None:
        slot = self._current()
        return slot.name if slot else None

    @on(DataTable.RowHighlighted, "#saves-list")
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        body = self.query_one("#saves-detail-body", Static)
        slot = self._current()
        if slot is None:
            body.update(Text("Save the game with s: every slot is listed here with a diff against the live books.",
                             style="dim"))
            return
        known = self._diffs.get(slot.name)
        if known is None:
            body.update(Text(f"Comparing {slot.name} with the live books…", style="dim"))
            self._diff(slot.name, False)
        elif isinstance(known, DomainError):
            body.update(refusal_text(slot.name, known))
        else:
            body.update(diff_text(slot.name, known))

    @work(thread=True, exclusive=True, group="saves-diff", exit_on_error=False)
    def _diff(self, name: str, then_load: bool) -> None:
        try:
            diff, error = self.saves.diff(name), None
        except DomainError as e:
            diff, error = None, e
        self.post_message(DiffReady(name, diff, error))
        if then_load:
            self.app.call_from_thread(self._ask_load, name)

    @on(DiffReady)
    def _diff_ready(self, message: DiffReady) -> None:
        self._diffs[message.name] = message.diff if message.error is None else message.error
        if self._current_name() == message.name:
            self._show_detail()

    # -- actions -----------------------------------------------------------------------------

    @on(Button.Pressed, "#saves-save-button")
    def action_save(self) -> None:
        current = self._current()
        fmt = current.codec if current and current.codec in ("json", "yaml", "pickle") else "json"
        taken = tuple(s.name for s in self._slots)

        def saved(info: SlotInfo | None) -> None:
            if info is not None:
                self.notify(f"Saved day {info.day} to {info.name} ({info.codec}, {_size(info.size)})", title="Saved")
                self._diffs.pop(info.name, None)
                self._want = info.name
                self.reload(info.name)

        self._open_save_form(fmt, taken, saved)

    @work(thread=True, exclusive=True, group="saves-form", exit_on_error=False)
    def _open_save_form(self, fmt: str, taken: tuple[str, ...], saved) -> None:
        """The form suggests `day-N` (reading the day is a storage call: not on the UI thread)."""
        from tui_app.widgets.save_forms import SaveForm

        day = self.app.backend.sim.simulation.state().day  # type: ignore[attr-defined]
        name = f"day-{day}"
        n = 1
        while name.casefold() in {t.casefold() for t in taken}:
            n += 1
            name = f"day-{day}-{n}"
        self.app.call_from_thread(self.app.push_screen, SaveForm(name, fmt, taken), saved)

    @on(Button.Pressed, "#saves-load-button")
    def action_load(self) -> None:
        slot = self._current()
        if slot is None:
            self.notify("No save to load: s saves the game first", severity="warning")
            return
        if self._busy:
            return
        known = self._diffs.get(slot.name)
        if isinstance(known, DomainError):
            self._refuse(slot.name, known)
        elif known is None:
            self._diff(slot.name, True)  # compute, then ask
        else:
            self._ask_load(slot.name)

    def _ask_load(self, name: str) -> None:
        slot = next((s for s in self._slots if s.name == name), None)
        known = self._diffs.get(name)
        if slot is None or known is None:
            return
        if isinstance(known, DomainError):
            self._refuse(name, known)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._busy = True
                self._load(name)

        self.app.push_screen(ConfirmDialog("Load this save?", replace_question(slot, known), confirm_label="Load"),
                             answered)

    def _refuse(self, name: str, error: DomainError) -> None:
        self.query_one("#saves-detail-body", Static).update(refusal_text(name, error))
        self.notify(error.message, title=f"Refused · {error.code}", severity="error", timeout=6)

    @work(thread=True, exclusive=True, group="saves-load", exit_on_error=False)
    def _load(self, name: str) -> None:
        try:
            report = self.saves.load(name)
        except DomainError as e:
            self.app.call_from_thread(self._load_refused, name, e)
            return
        except Exception:  # reported by the app as unexpected; `l` must not stay locked out
            self.app.call_from_thread(setattr, self, "_busy", False)
            raise
        self.app.call_from_thread(self._loaded, report)

    def _load_refused(self, name: str, error: DomainError) -> None:
        self._busy = False
        self._diffs[name] = error
        self._refuse(name, error)

    def _loaded(self, report) -> None:
        self._busy = False
        self._diffs.clear()
        upgraded = f", upgraded from format v{report.upgraded_from}" if report.upgraded_from else ""
        self.notify(f"Loaded {report.slot.name} (day {report.slot.day}{upgraded})", title="Loaded")
        self.app.books_replaced()  # type: ignore[attr-defined]
        self.reload(report.slot.name)

    def action_delete(self) -> None:
        slot = self._current()
        if slot is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(slot.name)

        self.app.push_screen(ConfirmDialog("Delete this save?", f"Delete save “{slot.name}” ({slot.codec}, day "
                                           f"{slot.day}, {_size(slot.size)})? The file is removed for good."),
                             answered)

    @work(thread=True, exclusive=True, group="saves-delete", exit_on_error=False)
    def _delete(self, name: str) -> None:
        info = self.saves.delete(name)
        self.app.call_from_thread(self.notify, f"Deleted save {info.name}", title="Deleted")
        self._diffs.pop(name, None)
        self.app.call_from_thread(self.reload)

    def action_refresh(self) -> None:
        self._diffs.clear()
        self.reload(self._current_name())
