"""Audit screen (key 5): the tamper-evident log newest first on a virtual table that pages from the
store both ways (keyset pages, an offset for jumps; a million entries are never loaded at once, and
the filters and the count run in the store), a detail pane with the selected entry's before/after
diff, filters, CSV export, undo of a transfer or stock move, and a check of the hash chain that puts
the cursor on the first broken link wherever it is."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Header, Static

from domain.model import AuditEntry, AuditQuery, ChainReport
from domain.money import format_grouped
from domain.services.audit import entry_changes
from tui_app.widgets.base import AppScreen
from tui_app.widgets.dialogs import ConfirmDialog
from tui_app.widgets.footer import KeyFooter
from tui_app.widgets.virtual_table import Column, PagedRows, VirtualTable

BROKEN = "bold white on dark_red"
COLUMNS = (
    Column("id", "#", 9, "right"),  # a million entries, and the ✗ of a broken one
    Column("at", "When (UTC)", 19),
    Column("actor", "Actor", 10),
    Column("entity", "Entity", 11),
    Column("entity_id", "Entity id", 9),
    Column("action", "Action", 14),
)


class AuditRows(PagedRows[AuditEntry]):
    """One query's entries as the table pages them: keyset pages both ways from an entry it has, the
    newest or the oldest page, or a page at an offset (every call runs in the table's worker thread)."""

    def __init__(self, audit, query: AuditQuery):
        self._audit, self._query = audit, query
        self.newest: int | None = None  # the newest entry's id when counted: coming back compares it

    def count(self) -> int:
        total = self._audit.count_entries(self._query)
        top = self.first(1)
        self.newest = top[0].id if top else None
        return total

    def page(self, after: AuditEntry | None, limit: int, *, backward: bool = False,
             skip: int = 0) -> list[AuditEntry]:
        return self._audit.entries(self._query, after.id if after is not None else None, limit,
                                   backward=backward, skip=skip)


class AuditTable(VirtualTable[AuditEntry]):
    """`marked` is the entry a chain check found broken: its row is drawn in BROKEN, and its id with a
    ✗ that still shows under the cursor (whose colours go over the row's)."""

    BINDINGS = [
        Binding("home", "first", "Newest", id="audit.top", show=False),
        Binding("end", "last", "Oldest", id="audit.bottom", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(COLUMNS, self.entry_cells, key=lambda e: e.id, **kwargs)
        self.marked: int | None = None

    def entry_cells(self, e: AuditEntry) -> tuple[Text, ...]:
        broken = e.id == self.marked
        style = BROKEN if broken else ""
        return (Text(f"✗ {e.id}" if broken else str(e.id), style=style), Text(_when(e.at), style=style), Text(e.actor, style=style),
                Text(e.entity, style=style), Text(e.entity_id, style=style), Text(e.action, style=style))


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
        self._source: AuditRows | None = None
        self._jump: int | None = None  # the offset to put the cursor on once the new list is counted
        self._verifying = False
        self._report: ChainReport | None = None
        self._shown_id: int | None = None

    @property
    def audit(self):
        return self.app.backend.sim.audit  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="audit-alert")
        with Horizontal(id="audit-body"):
            with Vertical(id="audit-list"):
                yield AuditTable(id="audit-log")
                yield Static("", id="audit-status")
            with VerticalScroll(id="audit-detail"):
                yield Static("", id="audit-detail-body")
        with Horizontal(id="audit-bar"):
            yield Static("", id="audit-summary")
            yield Button("Verify chain", id="audit-verify-button")
            yield Button("Export CSV", id="audit-export-button", variant="primary")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(AuditTable).focus()
        self._show_summary()
        self.reload(keep_position=False)

    def on_screen_resume(self) -> None:
        """Other screens write entries: coming back shows them, unless the list is where it was."""
        source = self._source
        if source is not None and self.query_one(AuditTable).total is not None:
            self._check_newer(source, self._generation)

    # -- loading ----------------------------------------------------------------------------

    def reload(self, *, keep_position: bool = True, focus_id: int | None = None) -> None:
        """Show the entries as stored now, at the same place in the list (keep_position) or from the
        newest; `focus_id` puts the cursor on that entry when it comes into view."""
        self._generation += 1
        self._jump = None
        self._shown_id = None
        self._source = AuditRows(self.audit, self._query)
        self.query_one(AuditTable).set_source(self._source, keep_position=keep_position, focus=focus_id)

    @work(thread=True, exclusive=True, group="audit-newer", exit_on_error=False)
    def _check_newer(self, source: AuditRows, generation: int) -> None:
        newest = source.first(1)
        if (newest[0].id if newest else None) != source.newest:
            self.app.call_from_thread(self._reload_if_current, generation)

    def _reload_if_current(self, generation: int) -> None:
        if generation == self._generation:
            current = self._current()
            self.reload(focus_id=current.id if current else None)

    @on(AuditTable.Changed, "#audit-log")
    def _table_changed(self) -> None:
        table = self.query_one(AuditTable)
        if self._jump is not None and table.total is not None:
            offset, self._jump = self._jump, None
            table.move_cursor(offset)
        self._show_status()
        if table.total == 0:
            self._show_detail()

    def _show_status(self) -> None:
        table = self.query_one(AuditTable)
        total = table.total
        if total == 0:
            filtered = self._query != AuditQuery()
            message = "No entries match the filter (/ changes it)" if filtered else "No audit entries yet"
            self.query_one("#audit-status", Static).update(Text(message))
            return
        shown = table.count_text("entry", "entries")
        self.query_one("#audit-status", Static).update(Text(" · ".join((shown, filter_summary(self._query)))))

    @on(AuditTable.RowHighlighted, "#audit-log")
    def _highlighted(self) -> None:
        self._show_detail()

    def _current(self) -> AuditEntry | None:
        return self.query_one(AuditTable).current_row

    def _show_detail(self) -> None:
        """Cheap: the entry is in memory and its diff is a small JSON parse, so no debounce."""
        entry = self._current()
        body = self.query_one("#audit-detail-body", Static)
        if entry is None:
            if self.query_one(AuditTable).total == 0:  # else its page is on its way
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
            self.reload(keep_position=False)

    def action_refresh(self) -> None:
        current = self._current()
        self.reload(focus_id=current.id if current else None)
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
        except BaseException:
            self.app.call_from_thread(self._verify_failed)
            raise
        self.app.call_from_thread(self._verified, report)

    def _verify_failed(self) -> None:
        self._verifying = False
        self._show_summary()

    def _verified(self, report: ChainReport) -> None:
        self._verifying = False
        self._report = report
        self.query_one(AuditTable).marked = report.broken_id
        self._show_summary()
        alert = self.query_one("#audit-alert", Static)
        if report.ok:
            alert.update("")
            alert.remove_class("-shown")
            current = self._current()
            self.reload(focus_id=current.id if current else None)  # unmark, and show the entries as stored now
            self.notify(f"Audit chain ok: {report.checked:,} entries verified", title="Verify chain", timeout=5)
            return
        alert.update(Text(f"✗ Audit chain BROKEN at entry #{report.broken_id}: {report.problem} "
                          f"({report.checked:,} entries before it verified)"))
        alert.add_class("-shown")
        self.notify(f"Chain broken at entry #{report.broken_id}: {report.problem}", title="Verify chain",
                    severity="error", timeout=10)
        self.jump_to(report.broken_id)  # type: ignore[arg-type]

    def jump_to(self, entry_id: int) -> None:
        """Put the cursor on an entry, wherever it is in the list, with the entries read again as stored
        now; the filter is cleared if it hides the entry."""
        self._generation += 1
        self._locate(self._query, entry_id, self._generation)

    @work(thread=True, exclusive=True, group="audit-locate", exit_on_error=False)
    def _locate(self, query: AuditQuery, entry_id: int, generation: int) -> None:
        at = self.audit.entries(query, entry_id + 1, 1)  # the entry itself, if the filter shows it
        if not at or at[0].id != entry_id:
            query = AuditQuery()
        offset = self.audit.count_entries(query) - self.audit.count_entries(query, entry_id + 1)
        self.app.call_from_thread(self._jump_to, query, entry_id, offset, generation)

    def _jump_to(self, query: AuditQuery, entry_id: int, offset: int, generation: int) -> None:
        if generation != self._generation:
            return  # the list changed meanwhile (a filter, a refresh)
        self._query = query
        self.reload(keep_position=False, focus_id=entry_id)
        self._jump = offset

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
            self.app.call_from_thread(lambda: self.reload(focus_id=entry_id))
            raise
        self.app.call_from_thread(lambda: self.reload(keep_position=False))  # the reversal's entries on top
        self.app.call_from_thread(self.notify, f"Undid entry #{entry_id}: {undone(done)}", title="Undo", timeout=5)

    @on(Button.Pressed, "#audit-export-button")
    def action_export(self) -> None:
        query, backend = self._query, self.app.backend  # type: ignore[attr-defined]
        self.app.export_csv("audit", lambda out: backend.export_audit(query, out))  # type: ignore[attr-defined]


__all__ = ["AuditRows", "AuditScreen", "AuditTable", "detail_text"]
