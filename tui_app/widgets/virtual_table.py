"""A table that pages from the store: it knows how many rows there are, renders only the visible
ones (Textual's Line API) and keeps a bounded window of rows around the viewport in memory.

Where DataTable holds every row in the widget (about 10 s to first paint at 100,000 rows) and
textual-fastdatatable loads the whole table into Arrow first, this asks its RowSource for one page
at a time in a worker thread: the page after or before a row it already has (keyset pagination),
the first or the last page, or, for a jump into the middle (a scrollbar drag), a page at an offset.
So first paint, the jump to the end and memory stay the same at 1,000,000 rows as at 100.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

R = TypeVar("R")

PAGE = 100  # rows per store query
KEEP = 1_000  # rows kept in memory at most (the ones nearest the viewport)
MARGIN = 50  # rows fetched ahead of the viewport in the direction of travel


class RowSource(Protocol[R]):
    """What a VirtualTable pages from. Every call runs in a worker thread; each returns rows in
    display order."""

    def count(self) -> int: ...

    def first(self, limit: int) -> list[R]: ...

    def last(self, limit: int) -> list[R]: ...

    def after(self, row: R, limit: int) -> list[R]: ...

    def before(self, row: R, limit: int) -> list[R]: ...

    def skip(self, offset: int, limit: int) -> list[R]: ...


class PagedRows(Generic[R]):
    """A RowSource over one keyset-paged list: a subclass says how to read a page (after a row, or
    before it when backward, or at an offset) and how to count; the five moves are the same for all."""

    def page(self, after: R | None, limit: int, *, backward: bool = False, skip: int = 0) -> list[R]:
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    def first(self, limit: int) -> list[R]:
        return self.page(None, limit)

    def last(self, limit: int) -> list[R]:
        return self.page(None, limit, backward=True)

    def after(self, row: R, limit: int) -> list[R]:
        return self.page(row, limit)

    def before(self, row: R, limit: int) -> list[R]:
        return self.page(row, limit, backward=True)

    def skip(self, offset: int, limit: int) -> list[R]:
        return self.page(None, limit, skip=offset)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    justify: str = "left"  # or "right"


class VirtualTable(ScrollView, Generic[R], can_focus=True):
    """Rows come from a RowSource; `cells(row)` turns one into the texts of its columns."""

    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False, id="table.up"),
        Binding("down", "cursor_down", "Down", show=False, id="table.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down"),
        Binding("home", "first", "First", show=False, id="table.first"),
        Binding("end", "last", "Last", show=False, id="table.last"),
        Binding("enter", "select", "Select", show=False, id="table.select"),
    ]
    COMPONENT_CLASSES = {"virtual-table--header", "virtual-table--cursor", "virtual-table--even-row",
                         "virtual-table--loading"}
    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        &:focus {
            background-tint: $foreground 5%;
            & > .virtual-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        & > .virtual-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .virtual-table--even-row { background: $surface-lighten-1 50%; }
        &:dark > .virtual-table--even-row { background: $surface-darken-1 40%; }
        & > .virtual-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .virtual-table--loading { color: $text-muted; }
    }
    """

    cursor_row: reactive[int] = reactive(0, init=False)

    class RowHighlighted(Message):
        def __init__(self, table: VirtualTable[Any], row: Any) -> None:
            super().__init__()
            self.table, self.row = table, row

        @property
        def control(self) -> VirtualTable[Any]:
            return self.table

    class RowSelected(RowHighlighted):
        """Enter (or a click on the row under the cursor)."""

    class HeaderSelected(Message):
        """A click on a column's header (a screen may sort by that column; the table sorts nothing)."""

        def __init__(self, table: VirtualTable[Any], column: Column) -> None:
            super().__init__()
            self.table, self.column = table, column

        @property
        def control(self) -> VirtualTable[Any]:
            return self.table

    class Changed(Message):
        """The rows known, or their count, changed: a screen updates its status line."""

        def __init__(self, table: VirtualTable[Any]) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> VirtualTable[Any]:
            return self.table

    def __init__(self, columns: Sequence[Column], cells: Callable[[R], Sequence[str | Text]],
                 *, key: Callable[[R], Any] = lambda row: row, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = list(columns)
        self._cells = cells
        self._key = key
        self._source: RowSource[R] | None = None
        self._generation = 0
        self._rows: dict[int, R] = {}
        self._total: int | None = None  # None until counted
        self._end: int | None = None  # where the rows were found to end before the count came
        self._fetching = False
        self._want_last = False  # End pressed before the count came
        self._tail_asked = -1  # the generation whose last page was prefetched (once per source)
        self._focus_key: Any = None
        self._scroll_back: int | None = None  # keep_position's top row, scrolled back to once rows are there
        self._width = sum(c.width for c in self.columns) + len(self.columns) - 1
        self._strips: dict[tuple[int, bool, int], Strip] = {}
        self._styles: dict[str, Style] = {}
        self._sort: tuple[str, bool] | None = None  # (column key, descending): the arrow in the header

    # -- what screens and tests read ------------------------------------------------------------------

    @property
    def total(self) -> int | None:
        """How many rows the source has (None while counting)."""
        return self._total

    @property
    def known_rows(self) -> int:
        """How many rows are in memory now (at most KEEP)."""
        return len(self._rows)

    @property
    def row_count(self) -> int:
        """Rows to scroll through: the count once known, else the rows found so far."""
        if self._total is not None:
            return self._total
        if self._end is not None:
            return self._end
        return max(self._rows, default=-1) + 1

    def count_text(self, one: str, many: str) -> str:
        """"1 move", "12,345 moves", or "1,200+ moves · counting…" while the count is on its way."""
        if self._total is None:
            return f"{self.row_count:,}+ {many} · counting…"
        return f"{self._total:,} {one if self._total == 1 else many}"

    @property
    def current_row(self) -> R | None:
        return self._rows.get(self.cursor_row)

    def row_at(self, offset: int) -> R | None:
        return self._rows.get(offset)

    def loaded_rows(self) -> list[R]:
        """Every row in memory, in list order (a window of at most KEEP rows)."""
        return [self._rows[i] for i in sorted(self._rows)]

    def visible_rows(self) -> list[R]:
        """The rows on screen now, top to bottom (those already fetched)."""
        top = round(self.scroll_y)
        rows = (self._rows.get(i) for i in range(top, min(top + self._body_height, self.row_count)))
        return [r for r in rows if r is not None]

    # -- loading ----------------------------------------------------------------------------------------

    def set_source(self, source: RowSource[R], *, keep_position: bool = False, focus: Any = None) -> None:
        """Show another query's rows (or the same again after a write). keep_position stays at the same
        offset (refetching it); focus puts the cursor on the row with that key if it comes into view."""
        self._generation += 1
        self._source = source
        offset = self.cursor_row if keep_position else 0
        top = round(self.scroll_y) if keep_position else 0
        self._rows.clear()
        self._strips.clear()
        self._total = None
        self._end = None
        self._fetching = True  # the fetch below: no scroll on the way may start another (and count twice)
        self._want_last = False
        self._focus_key = focus
        self._scroll_back = top or None  # the emptied table cannot hold the scroll offset: restore it
        self.cursor_row = offset
        if not keep_position:
            self.scroll_to(y=0, animate=False, immediate=True)
        self._update_size()
        self._fetch(self._generation, "skip" if top else "first", top, None)

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Other columns (a screen whose columns follow its data: one per location, a past view's
        fewer); `cells` must give texts for these from now on."""
        self.columns = list(columns)
        self._width = sum(c.width for c in self.columns) + len(self.columns) - 1
        self._strips.clear()
        self._update_size()

    def set_sort(self, key: str | None, descending: bool = False) -> None:
        """Show the order the source's rows are in with an arrow on that column's header (▲ ascending,
        ▼ descending); None shows none. Only the header: the source decides the order."""
        self._sort = None if key is None else (key, descending)
        self.refresh()

    @property
    def sort(self) -> tuple[str, bool] | None:
        """(column key, descending) as shown in the header, or None."""
        return self._sort

    def _update_size(self) -> None:
        self.virtual_size = Size(self._width, self.row_count + 1)  # + the header line
        self.refresh()
        self.post_message(self.Changed(self))

    @property
    def _body_height(self) -> int:
        return max(self.size.height - 1, 1)

    def _need(self) -> None:
        """Start fetching the first missing rows of the viewport (plus a margin), if any."""
        if self._source is None or self._fetching:
            return
        count = self.row_count
        top = round(self.scroll_y)
        start, stop = max(top - MARGIN, 0), top + self._body_height + MARGIN
        if self._total is not None:
            stop = min(stop, self._total)
        elif self._end is not None:
            stop = min(stop, self._end)
        else:
            stop = min(stop, count + PAGE)  # beyond the rows found so far: the next page, if there is one
        visible = range(top, min(top + self._body_height, stop))
        missing = [i for i in range(start, stop) if i not in self._rows]
        if not missing:
            return
        # The viewport first, then the margin.
        first_missing = next((i for i in visible if i not in self._rows), missing[0])
        generation = self._generation
        if first_missing - 1 in self._rows:
            self._fetch(generation, "after", first_missing, self._rows[first_missing - 1])
            return
        following = next((i for i in range(first_missing, stop) if i in self._rows), None)
        if following is not None and following - first_missing <= PAGE:
            self._fetch(generation, "before", following, self._rows[following])
        elif first_missing == 0:
            self._fetch(generation, "first", 0, None)
        elif self._total is not None and self._total - first_missing <= PAGE:
            self._fetch(generation, "last", self._total, None)
        else:
            self._fetch(generation, "skip", first_missing, None)

    def _fetch(self, generation: int, how: str, at: int, row: R | None) -> None:
        source = self._source
        if source is None:
            return
        self._fetching = True
        count_too = self._total is None and how in ("first", "skip") and not self._rows

        def work() -> None:
            try:
                if how == "after":
                    rows = source.after(row, PAGE)
                elif how == "before":
                    rows = source.before(row, PAGE)
                elif how == "last":
                    rows = source.last(PAGE)
                elif how == "first":
                    rows = source.first(PAGE)
                else:
                    rows = source.skip(at, PAGE)
            except BaseException:  # reported by the screen (the worker fails); scrolling may ask again
                self.app.call_from_thread(self._failed, generation)
                raise
            self.app.call_from_thread(self._fetched, generation, how, at, rows)
            if count_too:  # show the page first, then count (the count reads every matching row)
                total = source.count()
                self.app.call_from_thread(self._counted, generation, total)

        self.run_worker(work, thread=True, group=f"virtual-table-{id(self)}", exit_on_error=False)

    def _failed(self, generation: int) -> None:
        if generation == self._generation:
            self._fetching = False

    def _fetched(self, generation: int, how: str, at: int, rows: list[R]) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        if how in ("after", "first", "skip"):
            start = at
            if len(rows) < PAGE and self._total is None:
                self._end = start + len(rows)
        elif how == "before":
            start = at - len(rows)
        else:  # last
            start = (self._total or len(rows)) - len(rows)
        for i, row in enumerate(rows):
            self._rows[start + i] = row
        self._forget_far_rows()
        if self._scroll_back is not None:
            self._update_size()
            top, self._scroll_back = self._scroll_back, None
            self.scroll_to(y=top, animate=False, immediate=True, force=True)  # its scrollbar comes on the next layout
        if self._focus_key is not None:
            found = next((i for i, r in self._rows.items() if self._key(r) == self._focus_key), None)
            if found is not None:
                self._focus_key = None
                self.move_cursor(found)
        if self._want_last and self._total is not None:
            self._want_last = False
            self.move_cursor(self._total - 1)
        self._update_size()
        self._clamp_cursor()
        self._highlight()
        self._need()
        self._prefetch_tail()

    def _prefetch_tail(self) -> None:
        """Once counted, the last page too (one reversed query), when nothing else is being fetched: `end`,
        the commonest jump, then lands on rows already in memory and takes one frame instead of two."""
        total = self._total
        if total is None or self._fetching or self._source is None or self._tail_asked == self._generation:
            return
        self._tail_asked = self._generation
        if total > 0 and (total - 1) not in self._rows:
            self._fetch(self._generation, "last", total, None)

    def _counted(self, generation: int, total: int) -> None:
        if generation != self._generation:
            return
        self._total = total
        self._end = None
        for offset in [i for i in self._rows if i >= total]:
            del self._rows[offset]
        self._update_size()
        self._clamp_cursor()
        if self._want_last:
            self._want_last = False
            self.move_cursor(max(total - 1, 0))
        self._need()
        self._prefetch_tail()

    def _forget_far_rows(self) -> None:
        if len(self._rows) <= KEEP:
            return
        middle = round(self.scroll_y) + self._body_height // 2
        tail = (self._total or 0) - PAGE  # the prefetched last page stays (see _prefetch_tail)
        for offset in sorted(self._rows, key=lambda i: 0 if i >= tail >= 0 else abs(i - middle) + 1)[KEEP:]:
            del self._rows[offset]
        self._strips.clear()

    # -- cursor and scrolling ---------------------------------------------------------------------

    def move_cursor(self, offset: int) -> None:
        count = self.row_count
        self.cursor_row = max(0, min(offset, count - 1)) if count else 0
        self._scroll_to_cursor()

    def _clamp_cursor(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count:
            self.cursor_row = self.row_count - 1

    def _scroll_to_cursor(self) -> None:
        # force: right after the rows were counted the scrollbar may not be laid out yet, and without it
        # Textual refuses to scroll (a jump deep into a freshly counted list stayed at the top).
        top, height = round(self.scroll_y), self._body_height
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True, force=True)
        elif self.cursor_row >= top + height:
            self.scroll_to(y=self.cursor_row - height + 1, animate=False, immediate=True, force=True)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.refresh()
        self._highlight()

    def _highlight(self) -> None:
        row = self.current_row
        if row is not None:
            self.post_message(self.RowHighlighted(self, row))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._need()

    def on_resize(self, _event: events.Resize) -> None:
        self._need()

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.scroll_to(y=max(round(self.scroll_y) - self._body_height, 0), animate=False, immediate=True)
        self.move_cursor(self.cursor_row - self._body_height)

    def action_page_down(self) -> None:
        self.scroll_to(y=round(self.scroll_y) + self._body_height, animate=False, immediate=True)
        self.move_cursor(self.cursor_row + self._body_height)

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        """The last row: straight there once counted (its page is asked for by a reversed query)."""
        if self._total is None and self._end is None:
            self._want_last = True
            return
        self.move_cursor(self.row_count - 1)

    def action_select(self) -> None:
        row = self.current_row
        if row is not None:
            self.post_message(self.RowSelected(self, row))

    def column_at(self, x: int) -> Column | None:
        """The column under x (in the table's own coordinates, scrolled), a separator counting for
        the column on its left."""
        start = 0
        for column in self.columns:
            start += column.width + 1
            if x < start:
                return column
        return None

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            column = self.column_at(round(self.scroll_x) + event.x)
            if column is not None:
                self.post_message(self.HeaderSelected(self, column))
            return
        offset = round(self.scroll_y) + event.y - 1
        if offset < self.row_count:
            if offset == self.cursor_row and event.chain > 1:
                self.action_select()
            self.move_cursor(offset)

    # -- rendering ----------------------------------------------------------------------------------------

    def _line(self, texts: Sequence[str | Text], style: Style, cursor: Style | None = None) -> Strip:
        """One line of cells; the cursor's style goes over the cells' own (a dim inactive row too)."""
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        for n, (column, cell) in enumerate(zip(self.columns, texts)):
            text = cell.copy() if isinstance(cell, Text) else Text(str(cell))
            text.no_wrap = True
            text.truncate(column.width, overflow="ellipsis", pad=True)
            if column.justify == "right" and text.cell_len <= column.width:
                text.rstrip()
                text.pad_left(column.width - text.cell_len)
            if n:
                line.append(" ")
            line.append_text(text)
        segments = list(line.render(self.app.console))
        return Strip(Segment.apply_style(segments, style, cursor), line.cell_len)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_lines(self, crop):
        """Styles are looked up once a frame, not once a line."""
        self._styles = {name: self.get_component_rich_style(f"virtual-table--{name}")
                        for name in ("header", "even-row", "cursor", "loading")}
        return super().render_lines(crop)

    def _row_strip(self, offset: int) -> Strip:
        """A row's whole line, cached while the row, its stripe and the cursor on it stay the same."""
        row = self._rows.get(offset)
        cursor = offset == self.cursor_row
        key = (offset, cursor, id(row))
        strip = self._strips.get(key)
        if strip is not None:
            return strip
        styles = self._styles
        style = self.rich_style
        if offset % 2:
            style += styles["even-row"]
        over = styles["cursor"] if cursor else None
        if row is None:
            strip = self._line(["…"] + [""] * (len(self.columns) - 1), style + styles["loading"], over)
        else:
            strip = self._line(self._cells(row), style, over)
        strip = strip.extend_cell_length(max(self._width, self.size.width) + 1, style + over if over else style)
        if len(self._strips) > 4 * max(self.size.height, 1):
            self._strips.clear()
        self._strips[key] = strip
        return strip

    def _header_labels(self) -> list[Text]:
        """The column labels, the sorted column's with its arrow (on the side its cells are aligned to,
        its label shortened if the column is too narrow for both)."""
        labels = []
        for column in self.columns:
            label = Text(column.label)
            if self._sort is not None and self._sort[0] == column.key:
                arrow = "▼" if self._sort[1] else "▲"
                label.truncate(max(column.width - 2, 1), overflow="ellipsis")
                label = Text(f"{arrow} {label.plain}" if column.justify == "right" else f"{label.plain} {arrow}")
            labels.append(label)
        return labels

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = round(self.scroll_x)
        if y == 0:
            style = self.rich_style + self._styles["header"]
            strip = self._line(self._header_labels(), style)
            strip = strip.extend_cell_length(scroll_x + width, style)
        else:
            offset = round(self.scroll_y) + y - 1
            if offset >= self.row_count:
                return Strip.blank(width, self.rich_style)
            strip = self._row_strip(offset)
        return strip.crop(scroll_x, scroll_x + width)


__all__ = ["Column", "PagedRows", "RowSource", "VirtualTable", "PAGE", "KEEP"]
