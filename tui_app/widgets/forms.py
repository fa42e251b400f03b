"""Modal forms. The service validates; a refusal shows inline under its field and nothing is
written. The save runs in a thread worker; a second Enter while saving is ignored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Select, Static

from domain.errors import DomainError, VersionConflict
from domain.model import Category, Product
from domain.money import format_minor
from domain.services.catalog import ImportResult
from tui_app.widgets.base import AppModal


def category_options(categories: list[Category]) -> list[tuple[Text, int]]:
    """Select options in tree order, children indented under their parent."""
    children: dict[int | None, list[Category]] = {}
    for c in categories:
        children.setdefault(c.parent_id, []).append(c)
    ids = {c.id for c in categories}
    roots = [c for c in categories if c.parent_id is None or c.parent_id not in ids]
    options: list[tuple[Text, int]] = []

    def walk(nodes: list[Category], depth: int) -> None:
        for c in nodes:
            options.append((Text("  " * depth + c.name), c.id))
            walk(children.get(c.id, []), depth + 1)

    walk(roots, 0)
    return options


class FormModal(AppModal[Any]):
    """Common form behaviour: field errors, submit on enter, escape cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "Save", id="form.save"),
    ]
    FIELDS: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__(classes="dialog")
        self._saving = False

    def field_row(self, name: str, label: str, widget: Any) -> ComposeResult:
        with Horizontal(classes="field", id=f"field-{name}"):
            yield Label(label, classes="field-label")
            yield widget
        yield Static("", classes="field-error", id=f"error-{name}")

    def on_mount(self) -> None:
        first = next(iter(self.query("Input, Select")), None)
        if first is not None:
            first.focus()

    def buttons(self, save_label: str = "Save") -> ComposeResult:
        yield Static("", classes="form-error", id="error-form")
        with Horizontal(classes="dialog-buttons"):
            yield Button(f"{save_label} (enter)", variant="primary", id="save")
            yield Button("Cancel (esc)", id="cancel")

    def clear_errors(self) -> None:
        for error in self.query(".field-error, .form-error").results(Static):
            error.update("")
            error.remove_class("-shown")
        for widget in self.query(".-invalid"):
            widget.remove_class("-invalid")

    def show_error(self, error: DomainError) -> None:
        """Put the message under its field (or at the bottom) and focus that field."""
        self._saving = False
        field = error.field if error.field in self.FIELDS else None
        target = self.query_one(f"#error-{field or 'form'}", Static)
        target.update(Text(f"{error.message}  [{error.code}]"))
        target.add_class("-shown")
        if field:
            widget = self.query_one(f"#{field}")
            widget.add_class("-invalid")
            widget.focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self._saving:  # the save may commit: wait for its answer rather than lose it
            self.notify("Saving… one moment", timeout=1.5)
            return
        self.dismiss(None)

    def action_submit(self) -> None:
        if self._saving:
            return
        self._saving = True
        self.clear_errors()
        self.save()

    def save(self) -> None:
        """Read the fields and call run_save() with the service call."""
        raise NotImplementedError

    def run_save(self, call: Callable[[], Any]) -> None:
        """Run `call` (one service method) in a thread worker: a refusal shows inline, a result
        closes the form with it."""
        self._save_worker(call)

    @work(thread=True, exclusive=True, group="form-save", exit_on_error=False)
    def _save_worker(self, call: Callable[[], Any]) -> None:
        try:
            result = call()
        except DomainError as e:
            self.app.call_from_thread(self.on_refused, e)
            return
        self.app.call_from_thread(self.dismiss, result)

    def on_refused(self, error: DomainError) -> None:
        self.show_error(error)


class ProductForm(FormModal):
    """New product, or edit of one (with optimistic locking on its version)."""

    FIELDS = ("sku", "name", "category", "price", "quantity", "active")

    def __init__(self, categories: list[Category], product: Product | None = None):
        super().__init__()
        self._categories = categories
        self._product = product

    def compose(self) -> ComposeResult:
        p = self._product
        with Vertical(classes="dialog-box form-box"):
            yield Label(f"Edit {p.sku}" if p else "New product", classes="dialog-title")
            yield from self.field_row("sku", "SKU", Input(p.sku if p else "", id="sku", compact=True, placeholder="e.g. HAM-1"))
            yield from self.field_row("name", "Name", Input(p.name if p else "", id="name", compact=True))
            yield from self.field_row(
                "category",
                "Category",
                Select(category_options(self._categories), id="category", prompt="(none)", compact=True,
                       value=p.category_id if p and p.category_id is not None else Select.NULL),
            )
            yield from self.field_row(
                "price", "Price", Input(format_minor(p.price_minor) if p else "", id="price", compact=True, placeholder="12.50")
            )
            yield from self.field_row("quantity", "On hand", Input(str(p.quantity) if p else "0", id="quantity", compact=True))
            yield from self.field_row("active", "Active", Checkbox("shown in lists and valued", p.active if p else True, id="active", compact=True))
            yield from self.buttons()
            yield Button("Reload latest", id="reload", classes="hidden")

    def values(self) -> dict[str, Any]:
        category = self.query_one("#category", Select).value
        return {
            "sku": self.query_one("#sku", Input).value,
            "name": self.query_one("#name", Input).value,
            "category": None if category is Select.NULL else category,
            "price": self.query_one("#price", Input).value,
            "quantity": self.query_one("#quantity", Input).value,
            "active": self.query_one("#active", Checkbox).value,
        }

    def save(self) -> None:
        values, product = self.values(), self._product
        catalog = self.app.backend.sim.catalog  # type: ignore[attr-defined]
        if product is None:
            self.run_save(lambda: catalog.add_product(**values))
        else:
            if values["quantity"].strip() == str(product.quantity):
                # Untouched: stock may have moved since the form opened (sales do not bump the
                # product's version); sending the old count would undo those moves.
                del values["quantity"]
            self.run_save(lambda: catalog.update_product(product.id, product.version, **values))

    def on_refused(self, error: DomainError) -> None:
        self.show_error(error)
        if isinstance(error, VersionConflict):
            self.query_one("#reload").remove_class("hidden")

    @on(Button.Pressed, "#reload")
    def _reload(self) -> None:
        self._load_latest()

    @work(thread=True, exclusive=True, group="form-reload", exit_on_error=False)
    def _load_latest(self) -> None:
        assert self._product is not None
        try:
            latest = self.app.backend.sim.catalog.get_product(self._product.id)  # type: ignore[attr-defined]
        except DomainError as e:
            self.app.call_from_thread(self.show_error, e)
            return
        self.app.call_from_thread(self._fill, latest)

    def _fill(self, product: Product) -> None:
        """Show the stored values and edit on top of the latest version."""
        self._product = product
        self.query_one("#sku", Input).value = product.sku
        self.query_one("#name", Input).value = product.name
        self.query_one("#category", Select).value = product.category_id if product.category_id is not None else Select.NULL
        self.query_one("#price", Input).value = format_minor(product.price_minor)
        self.query_one("#quantity", Input).value = str(product.quantity)
        self.query_one("#active", Checkbox).value = product.active
        self.clear_errors()
        self.query_one("#reload").add_class("hidden")
        self.query_one("#error-form", Static).update(f"Reloaded version {product.version}; make your change again.")
        self.query_one("#error-form", Static).add_class("-shown")
        self.query_one("#name", Input).focus()


class CategoryForm(FormModal):
    """New category (optionally under a parent), or rename/move of one."""

    FIELDS = ("name", "parent")

    def __init__(self, categories: list[Category], category: Category | None = None, parent_id: int | None = None):
        super().__init__()
        self._categories = categories
        self._category = category
        self._parent_id = category.parent_id if category else parent_id

    def compose(self) -> ComposeResult:
        c = self._category
        options = [o for o in category_options(self._categories) if not c or o[1] != c.id]
        with Vertical(classes="dialog-box form-box"):
            yield Label(Text(f"Edit category {c.name}" if c else "New category"), classes="dialog-title")
            yield from self.field_row("name", "Name", Input(c.name if c else "", id="name", compact=True))
            yield from self.field_row(
                "parent", "Inside",
                Select(options, id="parent", prompt="(top level)", compact=True,
                       value=self._parent_id if self._parent_id in {o[1] for o in options} else Select.NULL),
            )
            yield from self.buttons()

    def save(self) -> None:
        selected = self.query_one("#parent", Select).value
        name, parent = self.query_one("#name", Input).value, None if selected is Select.NULL else selected
        catalog, category = self.app.backend.sim.catalog, self._category  # type: ignore[attr-defined]
        if category is None:
            self.run_save(lambda: catalog.add_category(name, parent))
        else:
            self.run_save(lambda: catalog.update_category(category.id, category.version, name=name, parent=parent))


class ImportDialog(FormModal):
    """Import products from a CSV file: all or nothing, with a progress bar."""

    FIELDS = ("file",)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box form-box"):
            yield Label("Import products from CSV", classes="dialog-title")
            yield Static("Columns: sku, name, price (required); category, quantity, active.\n"
                         "Rows are upserted by SKU; one bad row cancels the whole import.", classes="dialog-text")
            yield from self.field_row("file", "File", Input(id="file", placeholder="/path/to/products.csv", compact=True))
            yield ProgressBar(id="progress", show_eta=False, classes="hidden")
            yield from self.buttons("Import")

    def save(self) -> None:
        path = self.query_one("#file", Input).value.strip()
        bar = self.query_one("#progress", ProgressBar)
        bar.remove_class("hidden")
        bar.update(total=None, progress=0)
        self._import(path)

    @work(thread=True, exclusive=True, group="import", exit_on_error=False)
    def _import(self, path: str) -> None:
        backend = self.app.backend  # type: ignore[attr-defined]

        bar = self.app.call_from_thread(self.query_one, "#progress", ProgressBar)
        shown = -1

        def progress(done: int, total: int) -> None:
            nonlocal shown
            percent = done * 100 // total if total else 0
            if percent != shown:  # a UI round trip per percent, not per 8 KiB read
                shown = percent
                self.app.call_from_thread(bar.update, total=total or None, progress=done)

        try:
            if not path:
                from domain.errors import ValidationError

                raise ValidationError("file: type the path of a CSV file", field="file")
            result: ImportResult = backend.import_products(path, progress=progress)
        except DomainError as e:
            self.app.call_from_thread(self.on_refused, e)
            return
        self.app.call_from_thread(self.dismiss, result)

    def on_refused(self, error: DomainError) -> None:
        self.query_one("#progress").add_class("hidden")
        if error.field not in self.FIELDS and error.row is None:
            error.field = "file"
        self.show_error(error)
        if error.row is not None:
            self.query_one("#error-form", Static).update(Text(f"Nothing was imported. {error.message}  [{error.code}]"))
            self.query_one("#error-form", Static).add_class("-shown")
