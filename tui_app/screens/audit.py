"""Audit screen (key 5): the tamper-evident log newest first, paged from the store as the cursor
nears the end (a million entries are never counted or loaded at once), a detail pane with the
selected entry's before/after diff, filters, CSV export, undo of a transfer or stock move, and a
check of the hash chain that points at the first broken link."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Footer, Header, Static

from domain.errors import NotFound
from domain.model import AuditEntry, AuditQuery, ChainReport
from domain.money import format_grouped
from domain.services.audit import entry_changes
from tui_app.widgets.base import AppScreen
from tui_app.widgets.dialogs import ConfirmDialog

PAGE_SIZE = 200
PREFETCH_MARGIN = 40  # load the next page when the cursor gets this close to the end
AROUND = 10  # when jumping to an entry that is not loaded: show up to this many newer ones above it
BROKEN = "bold white on dark_red"


@dataclass
class AuditLoaded(Message):
    """A page of entries for the query of `generation`; `focus_id` puts the cursor on that entry."""

    generation: int
    rows: list[AuditEntry]
    append: bool
    focus_id: int | None = None


class AuditTable(DataTable):
    BINDINGS = [
        Binding("home", "scroll_top", "First (newest)", id="audit.top", show=False),
        Binding("end", "scroll_bottom", "Last loaded (fetches more)", id="audit.bottom", show=False),
    ]


def _when(at: str) -> str:
    return at[:19].replace("T", " ")


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def detail_text(entry: AuditEntry, problem: str = "") -> Text:
    """The detail pane: who did what when, its request key and hash, then the diff, one line per
    field: `field: before -> after` (removed red, added green). `problem` marks a broken link."""
    text = Text()
    if problem:
        text.append(f" ✗ chain broken here: {problem} ", style=BROKEN)
        text.append("\n\n")
    text.append(f"#{entry.id}  ", style="bold")
    text.append(Text(f"{entry.entity} {entry.entity_id} · {entry.action}", style="bold"))
    for label, value in (
        ("when", entry.at.replace("T", " ")),
        ("who", entry.actor),
        ("request", entry.request_key or "—"),
        ("hash", f"{entry.hash[:20]}…" if entry.hash else "— (not chained)"),
        ("prev", f"{entry.prev_hash[:20]}…" if entry.prev_hash else "—"),
    ):
        text.append(f"\n{label:<7} ", style="dim")
        text.append(Text(value))
    changes = entry_changes(entry)
    if entry.before is None and entry.after is not None:
        title, mark = "New record", "+"
    elif entry.after is None and entry.before is not None:
        title, mark = "Removed record", "-"
    else:
        title, mark = "Changed fields", ""
    text.append(f"\n\n{title}", style="bold underline")
    if not changes:
        text.append("\n(no field changed)", style="dim")
    for c in changes:
        text.append("\n")
        if mark == "+":
            text.append(Text(f"+ {c.field}: {_value(c.after)}", style="green"))
        elif mark == "-":
            text.append(Text(f"- {c.field}: {_value(c.before)}", style="red"))
        else:
            text.append(Text(f"{c.field}: "))
            text.append(Text(_value(c.before), style="red"))
            text.append(" -> ", style="dim")
            text.append(Text(_value(c.after), style="green"))
    return text


def undone(result: Any) -> str:
    """What undo posted: a reversing transfer or stock move (a void or cancellation if it was pending)."""
    if hasattr(result, "amount_minor"):
        return f"{result.kind} transfer #{result.id}, {format_grouped(result.amount_minor)} {result.currency}"
    if hasattr(result, "quantity"):
        units = "unit" if result.quantity == 1 else "units"
        return f"{result.kind} stock move #{result.id}, {result.quantity:,} {units}"
    return str(result)


def filter_summary(query: AuditQuery) -> str:
    parts = [f"{name} {value}" for name, value in (
        ("actor", query.actor), ("entity", query.entity), ("action", query.action),
        ("since", query.since), ("until", query.until)) if value]
    if query.text:
        parts.append(f"text “{query.text}”")
    if not query.include_archive:
        parts.append("live only")
    return "filter: " + ", ".join(parts) if parts else "all entries (/ filters)"


class AuditScreen(AppScreen):
    TITLE = "Audit"
    CSS_PATH = "audit.tcss"
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="audit.filter"),
        Binding("v", "verify", "Verify chain", id="audit.verify"),
        Binding("z", "undo", "Undo", id="audit.undo"),
        Binding("x", "export", "Export CSV", id="audit.export"),
        Binding("r", "refresh", "Refresh", id="audit.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._query = AuditQuery()
        self._generation = 0
        self._rows: list[AuditEntry] = []
        self._more = False
        self._loading_more = False
        self._anchor: int | None = None  # showing entries before this id instead of the newest
        self._verifying = False
        self._report: ChainReport | None = None
        self._shown_id: int | None = None
        self._marked: int | None = None  # the row styled as the broken link

    @property
    def audit(self):
        return self.app.backend.sim.audit  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="audit-alert")
        with Horizontal(id="audit-body"):
            with Vertical(id="audit-list"):
                yield AuditTable(id="audit-log", cursor_type="row", zebra_stripes=True)
                yield Static("", id="audit-status")
            with VerticalScroll(id="audit-detail"):
                yield Static("", id="audit-detail-body")
        with Horizontal(id="audit-bar"):
            yield Static("", id="audit-summary")
            yield Button("Verify chain", id="audit-verify-button")
            yield Button("Export CSV", id="audit-export-button", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(AuditTable)
        table.add_column(Text("#", justify="right"), key="id", width=7)
        table.add_column("When (UTC)", key="at", width=19)
        table.add_column("Actor", key="actor", width=8)
        table.add_column("Entity", key="entity", width=10)
        table.add_column("Entity id", key="entity_id", width=9)
        table.add_column("Action", key="action", width=12)
        table.focus()
        self._show_summary()
        self.reload()

    def on_screen_resume(self) -> None:
        """Other screens write entries: coming back shows them, unless the list is where it was."""
        if self._rows and self._anchor is None:
            self._check_newer(self._query, self._rows[0].id, self._generation)

    # -- loading ----------------------------------------------------------------------------

    def reload(self, *, anchor: int | None = None, focus_id: int | None = None) -> None:
        """Fetch the first page again: the newest entries, or those before `anchor`."""
        self._generation += 1
        self._anchor = anchor
        self._load(self._query, anchor, self._generation, False, focus_id)

    @work(thread=True, exclusive=True, group="audit-load", exit_on_error=False)
    def _load(self, query: AuditQuery, before_id: int | None, generation: int, append: bool,
              focus_id: int | None = None) -> None:
        rows = self.audit.entries(query, before_id, PAGE_SIZE)
        self.post_message(AuditLoaded(generation, rows, append, focus_id))

    @work(thread=True, exclusive=True, group="audit-newer", exit_on_error=False)
    def _check_newer(self, query: AuditQuery, top_id: int, generation: int) -> None:
        newest = self.audit.entries(query, None, 1)
        if newest and newest[0].id != top_id:
            self.app.call_from_thread(self._reload_if_current, generation)

    def _reload_if_current(self, generation: int) -> None:
        if generation == self._generation:
            current = self._current()
            self.reload(focus_id=current.id if current else None)

    @on(AuditLoaded)
    def _show(self, message: AuditLoaded) -> None:
        if message.generation != self._generation:
            return  # an older query's answer
        table = self.query_one(AuditTable)
        self._loading_more = False
        if not message.append:
            self._rows = []
            table.clear()
        self._rows.extend(message.rows)
        self._more = len(message.rows) == PAGE_SIZE
        for e in message.rows:
            table.add_row(*self._cells(e, BROKEN if e.id == self._marked else ""), key=str(e.id))
        if message.focus_id is not None:
            index = next((i for i, e in enumerate(self._rows) if e.id == message.focus_id), None)
            if index is not None:
                table.move_cursor(row=index, scroll=True)
        self._show_detail()
        self._show_status()

    @staticmethod
    def _cells(e: AuditEntry, style: str = "") -> list[Text]:
        return [
            Text(str(e.id), justify="right", style=style), Text(_when(e.at), style=style),
            Text(e.actor, style=style), Text(e.entity, style=style), Text(e.entity_id, style=style),
            Text(e.action, style=style),
        ]

    def _show_status(self) -> None:
        n = len(self._rows)
        if n == 0:
            filtered = self._query != AuditQuery()
            message = "No entries match the filter (/ changes it)" if filtered else "No audit entries yet"
            self.query_one("#audit-status", Static).update(Text(message))
            return
        parts = [f"{n:,}{'+' if self._more else ''} entr{'y' if n == 1 else 'ies'} loaded"
                 + (" (scroll for more)" if self._more else "")]
        if self._anchor is not None:
            parts.append(f"from #{self._rows[0].id} down (r: newest first)")
        parts.append(filter_summary(self._query))
        self.query_one("#audit-status", Static).update(Text(" · ".join(parts)))

    @on(DataTable.RowHighlighted, "#audit-log")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()
        if self._more and not self._loading_more and event.cursor_row >= len(self._rows) - PREFETCH_MARGIN:
            self._loading_more = True
            self._load(self._query, self._rows[-1].id, self._generation, True)

    def _current(self) -> AuditEntry | None:
        table = self.query_one(AuditTable)
        if not self._rows or not 0 <= table.cursor_row < len(self._rows):
            return None
        return self._rows[table.cursor_row]

    def _show_detail(self) -> None:
        """Cheap: the entry is in memory and its diff is a small JSON parse, so no debounce."""
        entry = self._current()
        body = self.query_one("#audit-detail-body", Static)
        if entry is None:
            self._shown_id = None
            body.update(Text("Select an entry to see what it changed.", style="dim"))
            return
        report = self._report
        problem = report.problem if report is not None and report.broken_id == entry.id else ""
        if entry.id == self._shown_id and not problem:
            return
        self._shown_id = entry.id
        body.update(detail_text(entry, problem))
        self.query_one("#audit-detail", VerticalScroll).scroll_home(animate=False)

    # -- filter, refresh --------------------------------------------------------------------

    def action_filter(self) -> None:
        from tui_app.widgets.audit_forms import AuditFilterForm  # forms load on first use

        self.app.push_screen(AuditFilterForm(self._query), self._filtered)

    def _filtered(self, query: AuditQuery | None) -> None:
        if query is not None:
            self._query = query
            self.reload()

    def action_refresh(self) -> None:
        self.reload()
        self.notify("Refreshed", timeout=1.5)

    # -- verify -----------------------------------------------------------------------------

    @on(Button.Pressed, "#audit-verify-button")
    def action_verify(self) -> None:
        if self._verifying:
            self.notify("Already verifying the chain…", timeout=2)
            return
        self._verifying = True
        self._show_summary()
        self._verify()

    @work(thread=True, exclusive=True, group="audit-verify", exit_on_error=False)
    def _verify(self) -> None:
        try:
            report = self.audit.verify(progress=lambda n: self.app.call_from_thread(self._show_summary, n))
            # the broken entry (and one found before) as stored now: the list may hold what was there
            # before someone edited the file
            stored = []
            for entry_id in {report.broken_id, self._marked} - {None}:
                try:
                    stored.append(self.audit.entry(entry_id))
                except NotFound:
                    pass  # removed from the file
        except BaseException:
            self.app.call_from_thread(self._verify_failed)
            raise
        self.app.call_from_thread(self._verified, report, stored)

    def _verify_failed(self) -> None:
        self._verifying = False
        self._show_summary()

    def _verified(self, report: ChainReport, stored: list[AuditEntry]) -> None:
        self._verifying = False
        self._report = report
        fresh = {e.id: e for e in stored}
        self._rows = [fresh.get(e.id, e) for e in self._rows]  # type: ignore[arg-type]
        self._show_summary()
        alert = self.query_one("#audit-alert", Static)
        if report.ok:
            alert.update("")
            alert.remove_class("-shown")
            self._restyle_rows()
            self.notify(f"Audit chain ok: {report.checked:,} entries verified", title="Verify chain", timeout=5)
            return
        alert.update(Text(f"✗ Audit chain BROKEN at entry #{report.broken_id}: {report.problem} "
                          f"({report.checked:,} entries before it verified)"))
        alert.add_class("-shown")
        self.notify(f"Chain broken at entry #{report.broken_id}: {report.problem}", title="Verify chain",
                    severity="error", timeout=10)
        self._restyle_rows()
        self.jump_to(report.broken_id)  # type: ignore[arg-type]

    def _restyle_rows(self) -> None:
        """Mark the broken entry (and unmark the one a previous check found) where it is loaded."""
        broken = self._report.broken_id if self._report is not None else None
        loaded = {e.id: e for e in self._rows}
        table = self.query_one(AuditTable)
        for entry_id, style in ((self._marked, ""), (broken, BROKEN)):
            if entry_id is not None and entry_id in loaded:
                for column, cell in zip(("id", "at", "actor", "entity", "entity_id", "action"),
                                        self._cells(loaded[entry_id], style)):
                    table.update_cell(str(entry_id), column, cell)
        self._marked = broken
        self._shown_id = None
        self._show_detail()

    def jump_to(self, entry_id: int) -> None:
        """Put the cursor on an entry: at once if it is loaded, else load the entries around it
        (without the filter, which might hide it)."""
        index = next((i for i, e in enumerate(self._rows) if e.id == entry_id), None)
        if index is not None:
            self.query_one(AuditTable).move_cursor(row=index, scroll=True)
            return
        self._query = AuditQuery()
        self.reload(anchor=entry_id + 1 + AROUND, focus_id=entry_id)

    def _show_summary(self, progress: int | None = None) -> None:
        summary = self.query_one("#audit-summary", Static)
        if self._verifying:
            done = f"… {progress:,} entries so far" if progress else "…"
            summary.update(Text(f"Verifying the hash chain{done}", style="bold"))
            return
        report = self._report
        if report is None:
            summary.update(Text.assemble(("Chain ", "bold"), "not verified yet (v checks every link)"))
        elif report.ok:
            summary.update(Text.assemble(
                ("✓ Chain ok: ", "bold green"), f"{report.checked:,} entries verified, every link intact"))
        else:
            summary.update(Text.assemble(
                (f" ✗ Chain broken at entry #{report.broken_id} ", BROKEN),
                f"  {report.checked:,} entries before it verified"))

    # -- undo, export -----------------------------------------------------------------------

    def action_undo(self) -> None:
        entry = self._current()
        if entry is None:
            self.notify("No entry selected", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._undo(entry.id)  # type: ignore[arg-type]

        self.app.push_screen(ConfirmDialog(
            "Undo entry",
            f"Undo entry #{entry.id}: {entry.action} {entry.entity} {entry.entity_id}?\n"
            "A compensating entry is posted; the original stays in the ledger and the log.",
            "Undo",
        ), confirmed)

    @work(thread=True, exclusive=True, group="audit-undo", exit_on_error=False)
    def _undo(self, entry_id: int) -> None:
        try:
            done = self.audit.undo(entry_id)
        except BaseException:  # refused: show what is stored now, the cursor staying on the entry
            self.app.call_from_thread(lambda: self.reload(anchor=self._anchor, focus_id=entry_id))
            raise
        self.app.call_from_thread(self.reload)  # the reversal's entries on top
        self.app.call_from_thread(self.notify, f"Undid entry #{entry_id}: {undone(done)}", title="Undo", timeout=5)

    @on(Button.Pressed, "#audit-export-button")
    def action_export(self) -> None:
        query, backend = self._query, self.app.backend  # type: ignore[attr-defined]
        self.app.export_csv("audit", lambda out: backend.export_audit(query, out))  # type: ignore[attr-defined]


__all__ = ["AuditScreen", "detail_text"]
