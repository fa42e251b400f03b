"""Products screen (key 1): the catalog list, a category tree, value summary, CRUD, filter,
CSV export and import. All store work runs in thread workers; results come back as messages."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Static, Tree

from domain.model import Category, CategoryValue, Product, ProductListing, ProductQuery
from domain.model.catalog import ProductCursor, subtree_ids
from domain.money import format_grouped
from domain.services.catalog import ImportResult
from tui_app.messages import ProductsLoaded
from tui_app.widgets.base import AppScreen
from tui_app.widgets.filter_box import FilterBox
from tui_app.widgets.dialogs import ConfirmDialog

PAGE_SIZE = 200
PREFETCH_MARGIN = 40  # load the next page when the cursor gets this close to the end


class ProductTable(DataTable):
    BINDINGS = [Binding("enter", "select_cursor", "Edit", id="products.edit")]


class CategoryTree(Tree[int | None]):
    BINDINGS = [
        Binding("enter", "select_cursor", "Filter", id="categories.select"),
        Binding("e", "screen.edit_category", "Edit category", id="categories.edit"),
    ]


class ProductsScreen(AppScreen):
    TITLE = "Products"
    CSS_PATH = "products.tcss"
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
    ]

    def __init__(self) -> None:
        super().__init__()
        self._query = ProductQuery()
        self._last_deleted: int | None = None  # what `u` restores in the live list
        self._generation = 0
        self._rows: list[ProductListing] = []
        self._total: int | None = 0  # None while the count of a new query is on its way
        self._loading_more = False
        self._categories: list[Category] = []
        self._selected_category: int | None = None
        self._focus_product: int | None = None

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
                table = ProductTable(id="products", cursor_type="row", zebra_stripes=True)
                yield table
                yield Static("", id="status")
        with Horizontal(id="summary-bar"):
            yield Static("", id="summary")
            yield Button("Export CSV", id="export-button", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(ProductTable)
        table.add_column("SKU", key="sku", width=12)
        table.add_column("Name", key="name", width=28)
        table.add_column("Category", key="category", width=12)
        table.add_column(Text("Price", justify="right"), key="price", width=10)
        table.add_column(Text("On hand", justify="right"), key="quantity", width=7)
        table.add_column(Text("Value", justify="right"), key="value", width=12)
        table.focus()
        self.reload(categories=True)

    # -- loading ----------------------------------------------------------------------------

    def reload(self, *, categories: bool = False, focus_product: int | None = None, summary: bool = True) -> None:
        """Fetch the first page again (after any write, so no view is stale). The value summary
        does not depend on the filter: a new filter passes summary=False."""
        self._generation += 1
        self._focus_product = focus_product
        if categories:
            self._load_categories()
        self._load_page(self._query, None, self._generation, append=False, summary=summary)

    @work(thread=True, exclusive=True, group="products-load", exit_on_error=False)
    def _load_page(
        self, query: ProductQuery, after: ProductCursor | None, generation: int, append: bool, summary: bool = False
    ) -> None:
        rows = self.catalog.find_products(query, after, PAGE_SIZE)
        self.post_message(ProductsLoaded(generation, rows, append))
        if not append:  # totals scan every matching row: show the page first, then them
            total = self.catalog.count_products(query)
            values = self.catalog.value_by_category() if summary else None
            self.post_message(ProductsLoaded(generation, [], True, total, values))

    @work(thread=True, exclusive=True, group="categories-load", exit_on_error=False)
    def _load_categories(self) -> None:
        categories = self.catalog.categories()
        self.app.call_from_thread(self._show_categories, categories)

    @on(ProductsLoaded)
    def _show_rows(self, message: ProductsLoaded) -> None:
        if message.generation != self._generation:
            return  # an older query's answer
        table = self.query_one(ProductTable)
        self._loading_more = False
        if not message.append:
            self._rows = []
            self._total = None
            table.clear()
        self._rows.extend(message.rows)
        for row in message.rows:
            style = "" if row.active else "dim"
            table.add_row(
                Text(row.sku, style=style),
                Text(row.name, style=style),
                Text(row.category or "—", style=style),
                Text(format_grouped(row.price_minor), justify="right", style=style),
                Text(f"{row.quantity:,}", justify="right", style=style),
                Text(format_grouped(row.value_minor), justify="right", style=style),
                key=str(row.id),
            )
        if message.total is not None:
            self._total = message.total
        if message.summary is not None:
            self._show_summary(message.summary)
        if self._focus_product is not None:
            index = next((i for i, r in enumerate(self._rows) if r.id == self._focus_product), None)
            if index is not None:
                table.move_cursor(row=index)
            self._focus_product = None
        self._show_status()

    def _show_status(self) -> None:
        filtered = bool(self._query.text.strip()) or self._selected_category is not None
        if self._total is None:
            self.query_one("#status", Static).update(Text(f"{len(self._rows):,}{'+' if self._has_more() else ''} products · counting…"))
            return
        if self._query.deleted:
            self.query_one("#status", Static).update(Text(
                f"Deleted products: {self._total:,} · u restores · d purges for good · t back to the list"
            ))
            return
        if self._total == 0 and not filtered and not self._query.include_inactive:
            self.query_one("#status", Static).update(
                Text("No products yet: n adds one, c adds a category, i imports a CSV, a shows inactive ones")
            )
            return
        parts = [f"{self._total:,} products" if self._total != 1 else "1 product"]
        if len(self._rows) < self._total:
            parts.append(f"{len(self._rows):,} loaded (scroll for more)")
        if self._query.text.strip():
            parts.append(f"filter “{self._query.text.strip()}”")
        if self._selected_category is not None:
            name = next((c.name for c in self._categories if c.id == self._selected_category), "?")
            parts.append(f"in {name}")
        parts.append("inactive shown" if self._query.include_inactive else "active only (a: show inactive)")
        self.query_one("#status", Static).update(Text(" · ".join(parts)))

    def _has_more(self) -> bool:
        if self._total is None:  # not counted yet: a full page means there may be more
            return len(self._rows) > 0 and len(self._rows) % PAGE_SIZE == 0
        return len(self._rows) < self._total

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

    @on(DataTable.RowHighlighted, "#products")
    def _maybe_load_more(self, event: DataTable.RowHighlighted) -> None:
        if (
            not self._loading_more
            and self._has_more()
            and event.cursor_row >= len(self._rows) - PREFETCH_MARGIN
        ):
            self._loading_more = True
            self._load_page(self._query, ProductCursor.after(self._rows[-1]), self._generation, append=True)

    # -- filter -----------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    @on(FilterBox.Applied)
    def _apply_filter(self, event: FilterBox.Applied) -> None:
        self._query = replace(self._query, text=event.text)
        self.reload(summary=False)

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
            self.reload(summary=False)

    def action_toggle_inactive(self) -> None:
        self._query = replace(self._query, include_inactive=not self._query.include_inactive)
        self.reload(summary=False)

    def action_toggle_deleted(self) -> None:
        """The deleted view: soft-deleted products, where `u` restores and `d` purges for good."""
        self._query = replace(self._query, deleted=not self._query.deleted, include_inactive=not self._query.deleted)
        self.reload(summary=False)

    def action_refresh(self) -> None:
        self.reload(categories=True)
        self.notify("Refreshed", timeout=1.5)

    # -- create / edit / delete -------------------------------------------------------------

    def _current_row(self) -> ProductListing | None:
        table = self.query_one(ProductTable)
        if not self._rows or table.cursor_row < 0 or table.cursor_row >= len(self._rows):
            return None
        return self._rows[table.cursor_row]

    def action_new_product(self) -> None:
        from tui_app.widgets.forms import ProductForm  # forms load on first use, not at start-up

        self.app.push_screen(ProductForm(self._categories), self._after_product_saved)

    @on(DataTable.RowSelected, "#products")
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
