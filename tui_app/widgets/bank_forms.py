"""Bank modals: transfer (its idempotency key is made when the dialog opens, so a double Enter
or a retry can never pay twice), open account, post a pending transfer."""

from __future__ import annotations

import uuid
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Checkbox, Input, Label, Select, Static

from domain.errors import DomainError
from domain.model import parse_ref
from domain.model.bank import Account, Transfer
from domain.money import format_minor
from tui_app.widgets.forms import FormModal


class TransferForm(FormModal):
    FIELDS = ("source", "target", "amount", "memo", "pending")

    def __init__(self, accounts: list[Account], source: Account | None = None):
        super().__init__()
        self._names = [a.name for a in accounts if a.status == "open"]
        self._source = source
        self.idempotency_key = f"tui-{uuid.uuid4()}"  # one per dialog: every submit of it is the same request

    def compose(self) -> ComposeResult:
        suggest = SuggestFromList(self._names, case_sensitive=False)
        with Vertical(classes="dialog-box form-box"):
            yield Label("New transfer", classes="dialog-title")
            yield from self.field_row(
                "source", "From", Input(self._source.name if self._source else "", id="source", compact=True,
                                        suggester=suggest, placeholder="account name (tab completes)")
            )
            yield from self.field_row(
                "target", "To", Input(id="target", compact=True, suggester=suggest, placeholder="account name")
            )
            yield from self.field_row("amount", "Amount", Input(id="amount", compact=True, placeholder="12.50"))
            yield from self.field_row("memo", "Memo", Input(id="memo", compact=True))
            yield from self.field_row("pending", "Pending", Checkbox("reserve only; post or void later", False,
                                                                      id="pending", compact=True))
            yield from self.buttons("Transfer")

    def save(self) -> None:
        source = parse_ref(self.query_one("#source", Input).value)
        target = parse_ref(self.query_one("#target", Input).value)
        amount, memo = self.query_one("#amount", Input).value, self.query_one("#memo", Input).value
        pending, key = self.query_one("#pending", Checkbox).value, self.idempotency_key
        bank = self.app.backend.sim.bank  # type: ignore[attr-defined]
        self.run_save(lambda: bank.transfer(source, target, amount, memo=memo, pending=pending, idempotency_key=key))

    def on_refused(self, error: DomainError) -> None:
        if error.code == "idempotency_conflict":  # this dialog sent something else before: start afresh
            self.idempotency_key = f"tui-{uuid.uuid4()}"
        self.show_error(error)


class OpenAccountForm(FormModal):
    FIELDS = ("name", "kind", "currency", "opening_balance", "overdraft_limit")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box form-box"):
            yield Label("Open account", classes="dialog-title")
            yield from self.field_row("name", "Name", Input(id="name", compact=True))
            yield from self.field_row(
                "kind", "Kind",
                Select([("customer", "customer"), ("shop", "shop"), ("supplier", "supplier")], id="kind",
                       value="customer", allow_blank=False, compact=True),
            )
            yield from self.field_row("currency", "Currency", Input("EUR", id="currency", compact=True))
            yield from self.field_row("opening_balance", "Deposit", Input("0.00", id="opening_balance", compact=True))
            yield from self.field_row("overdraft_limit", "Overdraft", Input("0.00", id="overdraft_limit", compact=True))
            yield from self.buttons("Open")

    def save(self) -> None:
        name, kind = self.query_one("#name", Input).value, str(self.query_one("#kind", Select).value)
        currency = self.query_one("#currency", Input).value
        opening, limit = self.query_one("#opening_balance", Input).value, self.query_one("#overdraft_limit", Input).value
        bank = self.app.backend.sim.bank  # type: ignore[attr-defined]
        self.run_save(lambda: bank.open_account(name, kind, currency=currency, opening_balance=opening,
                                                overdraft_limit=limit))


class PostForm(FormModal):
    """Post a pending transfer: the full amount by default, or less (the rest is released)."""

    FIELDS = ("amount",)

    def __init__(self, pending: Transfer, description: str):
        super().__init__()
        self._pending = pending
        self._description = description
        self.idempotency_key = f"tui-{uuid.uuid4()}"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box form-box"):
            yield Label(f"Post pending transfer #{self._pending.id}", classes="dialog-title")
            yield Static(Text(self._description), classes="dialog-text")
            yield from self.field_row("amount", "Amount",
                                      Input(format_minor(self._pending.amount_minor), id="amount", compact=True))
            yield from self.buttons("Post")

    def save(self) -> None:
        amount, pending_id, key = self.query_one("#amount", Input).value, self._pending.id, self.idempotency_key
        bank = self.app.backend.sim.bank  # type: ignore[attr-defined]
        self.run_save(lambda: bank.post(pending_id, amount, idempotency_key=key))
