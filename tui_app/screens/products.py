"""Products screen (key 1): the catalog list, a category tree, value summary, CRUD, filter, sort
(in the store: a header click or s / S), CSV export and import. All store work runs in thread workers;
results come back as messages."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Header, Input, Label, Static, Tree

from domain.model import Category, CategoryValue, Product, ProductListing, ProductQuery
from domain.model.catalog import PRODUCT_SORTS, subtree_ids
from domain.money import format_grouped
from domain.services.catalog import ImportResult
from tui_app.messages import ValueSummaryLoaded
from tui_app.widgets.base import AppScreen
from tui_app.widgets.dialogs import ConfirmDialog
from tui_app.widgets.filter_box import FilterBox
from tui_app.widgets.footer import KeyFooter
from tui_app.widgets.virtual_table import Column, PagedRows, VirtualTable

COLUMNS = (
    Column("sku", "SKU", 12),
    Column("name", "Name", 28),
    Column("category", "Category", 12),
    Column("price", "Price", 10, "right"),
    Column("quantity", "On hand", 9, "right"),  # room for the sort arrow: "▲ On hand"
    Column("value", "Value", 12, "right"),
)
# The columns the list sorts by, in the order `s` cycles through them (their keys are the sort keys).
SORT_COLUMNS = tuple(c.key for c in COLUMNS if c.key in PRODUCT_SORTS)


def product_cells(row: ProductListing) -> tuple[Text, ...]:
    style = "" if row.active else "dim"
    return (
        Text(row.sku, style=style),
        Text(row.name, style=style),
        Text(row.category or "—", style=style),
        Text(format_grouped(row.price_minor), style=style),
        Text(f"{row.quantity:,}", style=style),
        Text(format_grouped(row.value_minor), style=style),
    )


class ProductRows(PagedRows[ProductListing]):
    """One query's products as the table pages them (every call runs in the table's worker thread)."""

    def __init__(self, catalog, query: ProductQuery):
        self._catalog, self._query = catalog, query

    def count(self) -> int:
        return self._catalog.count_products(self._query)

    def page(self, after: ProductListing | None, limit: int, *, backward: bool = False,
             skip: int = 0) -> list[ProductListing]:
        cursor = self._query.cursor_after(after) if after is not None else None
        return self._catalog.find_products(self._query, cursor, limit, backward=backward, skip=skip)


class ProductTable(VirtualTable[ProductListing]):
    BINDINGS = [Binding("enter", "select", "Edit", id="products.edit")]

    def __init__(self, **kwargs) -> None:
        super().__init__(COLUMNS, product_cells, key=lambda row: row.id, **kwargs)


class CategoryTree(Tree[int | None]):
    BINDINGS = [
        Binding("enter", "select_cursor", "Filter", id="categories.select"),
        Binding("e", "screen.edit_category", "Edit category", id="categories.edit"),
    ]


class ProductsScreen(AppScreen):
    TITLE = "Products"
    CSS_PATH = "products.tcss"
    AUTO_FOCUS = "#products"  # not the category tree (the first focusable): the footer is composed once
    BINDINGS = [
        Binding("n", "new_product", "New", id="products.new"),
        Binding("d", "delete", "Delete", id="products.delete"),
        Binding("c", "new_category", "Category", id="products.new_category"),
        Binding("slash", "filter", "Filter", id="products.filter"),
        Binding("x", "export", "Export CSV", id="products.export"),
        Binding("i", "import_csv", "Import", id="products.import"),
        Binding("a", "toggle_inactive", "Inactive", id="products.toggle_inactive"),
        Binding("t", "toggle_deleted", "Deleted", id="products.toggle_deleted"),
        Binding("u", "restore", "Restore", id="products.restore"),
        Binding("r", "refresh", "Refresh", id="products.refresh"),
        Binding("s", "sort_next", "Sort by next column", show=False, id="products.sort"),
        Binding("S", "sort_reverse", "Reverse the sort", show=False, id="products.sort_reverse"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._query = ProductQuery()
        self._last_deleted: int | None = None  # what `u` restores in the live list
        self._generation = 0
        self._categories: list[Category] = []
        self._selected_category: int | None = None

    @property
    def catalog(self):
        return self.app.backend.sim.catalog  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield Label("Categories", classes="pane-title")
                tree = CategoryTree("All products", data=None, id="categories")
                tree.show_root = True
                yield tree
            with Vertical(id="main"):
                yield FilterBox(placeholder="Filter by name or SKU  ( / )", id="filter")
                yield ProductTable(id="products")
                yield Static("", id="status")
        with Horizontal(id="summary-bar"):
            yield Static("", id="summary")
            yield Button("Export CSV", id="export-button", variant="primary")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(ProductTable)
        table.set_sort(self._query.sort, self._query.descending)
        table.focus()
        self.reload(categories=True)

    # -- loading ----------------------------------------------------------------------------

    def reload(self, *, categories: bool = False, focus_product: int | None = None, summary: bool = True,
               keep_position: bool = True) -> None:
        """Show the rows as stored now (after any write, so no view is stale), at the same place in the
        list; a new query starts at the top. The value summary does not depend on the filter: a new
        filter passes summary=False."""
        self._generation += 1
        if categories:
            self._load_categories()
        self.query_one(ProductTable).set_source(ProductRows(self.catalog, self._query), keep_position=keep_position,
                                                focus=focus_product)
        if summary:
            self._load_summary(self._generation)

    @work(thread=True, exclusive=True, group="products-summary", exit_on_error=False)
    def _load_summary(self, generation: int) -> None:
        self.post_message(ValueSummaryLoaded(generation, self.catalog.value_by_category()))

    @work(thread=True, exclusive=True, group="categories-load", exit_on_error=False)
    def _load_categories(self) -> None:
        categories = self.catalog.categories()
        self.app.call_from_thread(self._show_categories, categories)

    @on(ValueSummaryLoaded)
    def _show_loaded_summary(self, message: ValueSummaryLoaded) -> None:
        if message.generation == self._generation:
            self._show_summary(message.summary)

    @on(VirtualTable.Changed, "#products")
    def _show_status(self) -> None:
        table = self.query_one(ProductTable)
        total = table.total
        filtered = bool(self._query.text.strip()) or self._selected_category is not None
        if total is None:
            self.query_one("#status", Static).update(Text(table.count_text("product", "products")))
            return
        if self._query.deleted:
            self.query_one("#status", Static).update(Text(
                f"Deleted products: {total:,} · u restores · d purges for good · t back to the list"
            ))
            return
        if total == 0 and not filtered and not self._query.include_inactive:
            self.query_one("#status", Static).update(
                Text("No products yet: n adds one, c adds a category, i imports a CSV, a shows inactive ones")
            )
            return
        parts = [table.count_text("product", "products")]
        if self._query.text.strip():
            parts.append(f"filter “{self._query.text.strip()}”")
        if self._selected_category is not None:
            name = next((c.name for c in self._categories if c.id == self._selected_category), "?")
            parts.append(f"in {name}")
        parts.append("inactive shown" if self._query.include_inactive else "active only (a: show inactive)")
        self.query_one("#status", Static).update(Text(" · ".join(parts)))

    def _show_summary(self, values: list[CategoryValue]) -> None:
        total = sum(v.value_minor for v in values)
        summary = Text.assemble(("Value at price ", "bold"), format_grouped(total))
        for v in values:
            summary.append(f"  ·  {v.category or 'Uncategorised'} {format_grouped(v.value_minor)}")
        self.query_one("#summary", Static).update(summary)

    def _show_categories(self, categories: list[Category]) -> None:
        self._categories = categories
        self._apply_category()  # a new or moved subcategory joins the selected branch
        tree = self.query_one(CategoryTree)
        tree.clear()
        children: dict[int | None, list[Category]] = {}
        ids = {c.id for c in categories}
        for c in categories:
            children.setdefault(c.parent_id if c.parent_id in ids else None, []).append(c)

        def add(node, parent_id: int | None) -> None:
            for c in children.get(parent_id, []):
                kids = children.get(c.id)
                label = Text(c.name)  # a Text, not a str: names are not markup
                child = node.add(label, data=c.id, expand=True) if kids else node.add_leaf(label, data=c.id)
                if kids:
                    add(child, c.id)

        add(tree.root, None)
        tree.root.expand()

    # -- filter -----------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    @on(FilterBox.Applied)
    def _apply_filter(self, event: FilterBox.Applied) -> None:
        self._query = replace(self._query, text=event.text)
        self.reload(summary=False, keep_position=False)

    @on(FilterBox.Done)
    def _filter_done(self) -> None:
        self.query_one(ProductTable).focus()

    @on(Tree.NodeSelected, "#categories")
    def _category_selected(self, event: Tree.NodeSelected) -> None:
        self._selected_category = event.node.data
        self._apply_category()

    def _apply_category(self) -> None:
        """Filter by the selected branch as the tree now stands."""
        if self._selected_category is not None and all(c.id != self._selected_category for c in self._categories):
            self._selected_category = None  # deleted meanwhile
        ids = subtree_ids(self._categories, self._selected_category) if self._selected_category is not None else ()
        if ids != self._query.category_ids:
            self._query = replace(self._query, category_ids=ids)
            self.reload(summary=False, keep_position=False)

    def action_toggle_inactive(self) -> None:
        self._query = replace(self._query, include_inactive=not self._query.include_inactive)
        self.reload(summary=False, keep_position=False)

    def action_toggle_deleted(self) -> None:
        """The deleted view: soft-deleted products, where `u` restores and `d` purges for good."""
        self._query = replace(self._query, deleted=not self._query.deleted, include_inactive=not self._query.deleted)
        self.reload(summary=False, keep_position=False)

    # -- sort (in the store, on an index: the table only shows the arrow) ---------------------

    def action_sort_next(self) -> None:
        """`s`: sort by the next sortable column, ascending."""
        following = SORT_COLUMNS[(SORT_COLUMNS.index(self._query.sort) + 1) % len(SORT_COLUMNS)]
        self._sort_by(following, descending=False)

    def action_sort_reverse(self) -> None:
        """`S`: the same column the other way."""
        self._sort_by(self._query.sort, descending=not self._query.descending)

    @on(VirtualTable.HeaderSelected, "#products")
    def _header_clicked(self, event: VirtualTable.HeaderSelected) -> None:
        """A click sorts by that column; a second click on it reverses the order."""
        key = event.column.key
        if key not in PRODUCT_SORTS:
            self.notify(f"The list does not sort by {event.column.label.lower()}", timeout=2)
        elif key == self._query.sort:
            self.action_sort_reverse()
        else:
            self._sort_by(key, descending=False)

    def _sort_by(self, sort: str, *, descending: bool) -> None:
        self._query = replace(self._query, sort=sort, descending=descending)
        self.query_one(ProductTable).set_sort(sort, descending)
        self.reload(summary=False, keep_position=False)

    def action_refresh(self) -> None:
        self.reload(categories=True)
        self.notify("Refreshed", timeout=1.5)

    # -- create / edit / delete -------------------------------------------------------------

    def _current_row(self) -> ProductListing | None:
        return self.query_one(ProductTable).current_row

    def action_new_product(self) -> None:
        from tui_app.widgets.forms import ProductForm  # forms load on first use, not at start-up

        self.app.push_screen(ProductForm(self._categories), self._after_product_saved)

    @on(VirtualTable.RowSelected, "#products")
    def _edit_selected(self) -> None:
        row = self._current_row()
        if row is not None and self._query.deleted:
            self.notify(f"{row.sku} is deleted: u restores it first", severity="warning")
        elif row is not None:
            self._open_editor(row.id)

    @work(thread=True, exclusive=True, group="open-editor", exit_on_error=False)
    def _open_editor(self, product_id: int) -> None:
        from tui_app.widgets.forms import ProductForm

        product = self.catalog.get_product(product_id)
        self.app.call_from_thread(self.app.push_screen, ProductForm(self._categories, product), self._after_product_saved)

    def _after_product_saved(self, product: Product | None) -> None:
        if product is not None:
            self.notify(f"Saved {product.sku} · {product.name}", timeout=3)
            self.reload(focus_product=product.id)

    def action_delete(self) -> None:
        if self.query_one(CategoryTree).has_focus:
            self._delete_category()
            return
        row = self._current_row()
        if row is None:
            self.notify("No product selected", severity="warning")
            return

        purge = bool(self._query.deleted)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._delete_product(row.id, row.version, row.sku, purge)

        if purge:
            dialog = ConfirmDialog(
                "Purge product",
                f"Purge {row.sku} · {row.name} for good?\nIts stock is written off to Scrap and its row is removed; "
                "the audit log keeps only a tombstone. This cannot be undone.", confirm_label="Purge",
            )
        else:
            dialog = ConfirmDialog(
                "Delete product",
                f"Delete {row.sku} · {row.name}?\nIt is hidden from every list; its stock and history stay. "
                "u restores it (t shows deleted products).",
            )
        self.app.push_screen(dialog, confirmed)

    @work(thread=True, exclusive=True, group="delete", exit_on_error=False)
    def _delete_product(self, product_id: int, version: int, sku: str, purge: bool = False) -> None:
        try:
            if purge:
                self.catalog.purge_product(product_id, version)
            else:
                self.catalog.delete_product(product_id, version)
                self._last_deleted = product_id
        finally:  # refused (changed or gone meanwhile) or not: show what is stored now
            self.app.call_from_thread(self.reload)
        done = f"Purged {sku} for good" if purge else f"Deleted {sku} · u restores it"
        self.app.call_from_thread(self.notify, done, timeout=4)

    def action_restore(self) -> None:
        """In the deleted view, the selected product; in the list, the one just deleted here."""
        row = self._current_row() if self._query.deleted else None
        product_id = row.id if row is not None else None if self._query.deleted else self._last_deleted
        if product_id is None:
            self.notify("Nothing to restore: t shows the deleted products", severity="warning")
            return
        self._restore_product(product_id)

    @work(thread=True, exclusive=True, group="delete", exit_on_error=False)
    def _restore_product(self, product_id: int) -> None:
        try:
            product = self.catalog.restore_product(product_id)
        finally:
            self.app.call_from_thread(self.reload)
        if product_id == self._last_deleted:
            self._last_deleted = None
        self.app.call_from_thread(self.notify, f"Restored {product.sku} · {product.name}", timeout=3)

    def _tree_category(self) -> Category | None:
        node = self.query_one(CategoryTree).cursor_node
        if node is None or node.data is None:
            return None
        return next((c for c in self._categories if c.id == node.data), None)

    def _delete_category(self) -> None:
        category = self._tree_category()
        if category is None:
            self.notify("Select a category in the tree to delete it", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._run_delete_category(category)

        self.app.push_screen(ConfirmDialog("Delete category", f"Delete category {category.name}?"), confirmed)

    @work(thread=True, exclusive=True, group="delete", exit_on_error=False)
    def _run_delete_category(self, category: Category) -> None:
        try:
            self.catalog.delete_category(category.id)
        finally:
            self.app.call_from_thread(self.reload, categories=True)  # the filter follows in _show_categories
        self.app.call_from_thread(self.notify, f"Deleted category {category.name}", timeout=3)

    def action_new_category(self) -> None:
        from tui_app.widgets.forms import CategoryForm

        parent = self._tree_category()
        self.app.push_screen(
            CategoryForm(self._categories, parent_id=parent.id if parent else None), self._after_category_saved
        )

    def action_edit_category(self) -> None:
        category = self._tree_category()
        if category is None:
            self.notify("Select a category in the tree to edit it", severity="warning")
            return
        from tui_app.widgets.forms import CategoryForm

        self.app.push_screen(CategoryForm(self._categories, category), self._after_category_saved)

    def _after_category_saved(self, category: Category | None) -> None:
        if category is not None:
            self.notify(f"Saved category {category.name}", timeout=3)
            self.reload(categories=True)

    # -- CSV --------------------------------------------------------------------------------

    @on(Button.Pressed, "#export-button")
    def action_export(self) -> None:
        query, backend = self._query, self.app.backend  # type: ignore[attr-defined]
        self.app.export_csv("products", lambda out: backend.export_products(query, out))  # type: ignore[attr-defined]

    def action_import_csv(self) -> None:
        from tui_app.widgets.forms import ImportDialog

        self.app.push_screen(ImportDialog(), self._after_import)

    def _after_import(self, result: ImportResult | None) -> None:
        if result is not None:
            self.notify(
                f"Imported {result.rows:,} rows: {result.inserted:,} new, {result.updated:,} updated, "
                f"{result.unchanged:,} unchanged",
                timeout=5,
            )
            self.reload(categories=True)


__all__ = ["ProductsScreen"]
