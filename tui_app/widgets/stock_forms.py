"""Inventory modals: move, stocktake, receive/purchase, sell, simulate N days. Each dialog makes
its idempotency key when it opens, so a double Enter or a retry never moves stock twice."""

from __future__ import annotations

import uuid
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Checkbox, Input, Label, Select, Static

from domain.errors import DomainError, ValidationError
from domain.model import parse_ref
from domain.model.bank import Account
from domain.model.stock import Location, StockLevel, StockRow
from tui_app.widgets.forms import FormModal


class StockForm(FormModal):
    """What the stock forms share: the product field, location pickers, a per-dialog key."""

    def __init__(self, row: StockRow | None, skus: list[str], locations: list[Location]):
        super().__init__()
        self._row = row
        self._skus = skus
        self._locations = locations
        self.idempotency_key = f"tui-{uuid.uuid4()}"

    @property
    def inventory(self):
        return self.app.backend.sim.inventory  # type: ignore[attr-defined]

    def product_field(self) -> ComposeResult:
        yield from self.field_row("product", "Product", Input(
            self._row.sku if self._row else "", id="product", compact=True,
            suggester=SuggestFromList(self._skus, case_sensitive=False), placeholder="SKU (tab completes)",
        ))
        if self._row is not None:
            yield Static(Text(f"{self._row.name} · {self._row.on_hand} on hand"), classes="dialog-hint")

    def location_field(self, name: str, label: str, default: int | None = None) -> ComposeResult:
        options = [(loc.name, loc.id) for loc in self._locations]
        value = default if default is not None else (options[0][1] if options else Select.NULL)
        yield from self.field_row(name, label, Select(options, id=name, value=value, allow_blank=not options, compact=True))

    def value(self, name: str) -> str:
        return self.query_one(f"#{name}", Input).value

    def location(self, name: str) -> int | None:
        chosen = self.query_one(f"#{name}", Select).value
        return None if chosen is Select.NULL else chosen  # type: ignore[return-value]

    def on_refused(self, error: DomainError) -> None:
        if error.code == "idempotency_conflict":  # this dialog sent something else before: start afresh
            self.idempotency_key = f"tui-{uuid.uuid4()}"
        self.show_error(error)


class MoveForm(StockForm):
    FIELDS = ("product", "quantity", "source", "target", "pending", "memo")

    def compose(self) -> ComposeResult:
        second = self._locations[1].id if len(self._locations) > 1 else None
        with Vertical(classes="dialog-box form-box"):
            yield Label("Move stock", classes="dialog-title")
            yield from self.product_field()
            yield from self.field_row("quantity", "Quantity", Input(id="quantity", compact=True, placeholder="units"))
            yield from self.location_field("source", "From")
            yield from self.location_field("target", "To", second)
            yield from self.field_row("pending", "Transit", Checkbox("in transit until received", False, id="pending",
                                                                     compact=True))
            yield from self.field_row("memo", "Memo", Input(id="memo", compact=True))
            yield from self.buttons("Move")

    def save(self) -> None:
        product, quantity, memo = self.value("product"), self.value("quantity"), self.value("memo")
        source, target = self.location("source"), self.location("target")
        pending, key, inventory = self.query_one("#pending", Checkbox).value, self.idempotency_key, self.inventory
        self.run_save(lambda: inventory.move_stock(product, quantity, source, target, pending=pending, memo=memo,
                                                   idempotency_key=key))


class CountForm(StockForm):
    """A stocktake: the counted quantity replaces the recorded one; the difference is an adjustment."""

    FIELDS = ("product", "location", "quantity", "memo")

    def __init__(self, row: StockRow | None, skus: list[str], locations: list[Location], levels: list[StockLevel]):
        super().__init__(row, skus, locations)
        self._levels = {lv.location_id: lv.on_hand for lv in levels}

    def compose(self) -> ComposeResult:
        first = self._locations[0].id if self._locations else None
        with Vertical(classes="dialog-box form-box"):
            yield Label("Stocktake", classes="dialog-title")
            yield from self.product_field()
            yield from self.location_field("location", "Location")
            yield from self.field_row("quantity", "Counted", Input(
                str(self._levels.get(first, 0)) if self._row and first is not None else "", id="quantity", compact=True,
            ))
            yield from self.field_row("memo", "Memo", Input(id="memo", compact=True, placeholder="optional note"))
            yield from self.buttons("Record count")

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "location" and self._row is not None and event.value is not Select.NULL:
            self.query_one("#quantity", Input).value = str(self._levels.get(event.value, 0))  # type: ignore[arg-type]

    def save(self) -> None:
        product, counted, memo, location = self.value("product"), self.value("quantity"), self.value("memo"), self.location("location")
        inventory = self.inventory
        self.run_save(lambda: inventory.count_stock(product, counted, location=location, memo=memo) or "unchanged")


class ReceiveForm(StockForm):
    """Goods in: from a supplier account it is a purchase (paid now, arriving after the lead time);
    without one, a plain receipt."""

    FIELDS = ("product", "quantity", "location", "supplier", "unit_price", "lead_days", "memo")

    def __init__(self, row: StockRow | None, skus: list[str], locations: list[Location], suppliers: list[Account]):
        super().__init__(row, skus, locations)
        self._suppliers = [a.name for a in suppliers]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box form-box"):
            yield Label("Receive stock", classes="dialog-title")
            yield from self.product_field()
            yield from self.field_row("quantity", "Quantity", Input(id="quantity", compact=True, placeholder="units"))
            yield from self.location_field("location", "Into")
            yield from self.field_row("supplier", "Supplier", Input(
                id="supplier", compact=True, suggester=SuggestFromList(self._suppliers, case_sensitive=False),
                placeholder="blank: no payment; a supplier: buy and pay now",
            ))
            yield from self.field_row("unit_price", "Unit cost", Input(id="unit_price", compact=True,
                                                                       placeholder="blank: the product's cost"))
            yield from self.field_row("lead_days", "Lead days", Input("0", id="lead_days", compact=True))
            yield from self.field_row("memo", "Memo", Input(id="memo", compact=True))
            yield from self.buttons("Receive")

    def save(self) -> None:
        product, quantity, memo, location = self.value("product"), self.value("quantity"), self.value("memo"), self.location("location")
        supplier, cost, lead = self.value("supplier").strip(), self.value("unit_price").strip() or None, self.value("lead_days")
        key, inventory = self.idempotency_key, self.inventory
        if not supplier:
            if lead.strip() not in ("", "0"):
                self.show_error(ValidationError("lead_days: only a purchase from a supplier arrives later; name the "
                                                "supplier or set 0", field="lead_days"))
                return
            if cost is not None:
                self.show_error(ValidationError("unit_price: a cost is paid only in a purchase; name the supplier "
                                                "or leave it blank", field="unit_price"))
                return
            self.run_save(lambda: inventory.receive(product, quantity, location=location, memo=memo, idempotency_key=key))
            return
        lead_days: Any = int(lead) if lead.strip().isdigit() else lead
        self.run_save(lambda: inventory.purchase(product, quantity, parse_ref(supplier), location=location, unit_cost=cost,
                                                 lead_days=lead_days, memo=memo, idempotency_key=key))


class SellForm(StockForm):
    FIELDS = ("product", "quantity", "customer", "location", "unit_price", "memo")

    def __init__(self, row: StockRow | None, skus: list[str], locations: list[Location], customers: list[Account]):
        super().__init__(row, skus, locations)
        self._customers = [a.name for a in customers]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box form-box"):
            yield Label("Sell", classes="dialog-title")
            yield from self.product_field()
            yield from self.field_row("quantity", "Quantity", Input("1", id="quantity", compact=True))
            yield from self.field_row("customer", "Customer", Input(
                id="customer", compact=True, suggester=SuggestFromList(self._customers, case_sensitive=False),
                placeholder="paying account (tab completes)",
            ))
            yield from self.location_field("location", "From")
            yield from self.field_row("unit_price", "Unit price", Input(id="unit_price", compact=True,
                                                                        placeholder="blank: the product's price"))
            yield from self.field_row("memo", "Memo", Input(id="memo", compact=True))
            yield from self.buttons("Sell")

    def save(self) -> None:
        product, quantity, memo, location = self.value("product"), self.value("quantity"), self.value("memo"), self.location("location")
        customer, price = parse_ref(self.value("customer")), self.value("unit_price").strip() or None
        key, inventory = self.idempotency_key, self.inventory
        self.run_save(lambda: inventory.sell(product, quantity, customer, location=location, unit_price=price, memo=memo,
                                             idempotency_key=key))


class SimulateForm(FormModal):
    """Simulate N days in one go; closes with the day reports."""

    FIELDS = ("days",)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box form-box"):
            yield Label("Simulate days", classes="dialog-title")
            yield Static("Customers buy, the shop reorders below the reorder level, deliveries arrive. "
                         "Each day is one transaction.", classes="dialog-text")
            yield from self.field_row("days", "Days", Input("7", id="days", compact=True))
            yield from self.buttons("Simulate")

    def save(self) -> None:
        days: Any = self.query_one("#days", Input).value.strip()
        days = int(days) if days.isascii() and days.isdigit() else days  # anything else: the service says why
        simulation = self.app.backend.sim.simulation  # type: ignore[attr-defined]
        self.run_save(lambda: simulation.advance(days))
