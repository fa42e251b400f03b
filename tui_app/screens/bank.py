"""Bank screen (key 2): accounts, pending transfers, transfer/open/post/void, delete/restore/purge of
an account; enter opens an account's statement (a virtual table paged from the store, however long
the account's history); `A` shows the accounts as of a past moment (read-only). Every write
refreshes the views it changes."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Header, Label, Static

from domain.model.bank import Account, StatementLine, Transfer
from domain.money import format_grouped
from tui_app.widgets.asof import AsOf, AsOfBanner, TimeTravel, asof_bindings
from tui_app.widgets.bank_forms import OpenAccountForm, PostForm, TransferForm
from tui_app.widgets.base import AppScreen
from tui_app.widgets.dialogs import ConfirmDialog
from tui_app.widgets.footer import KeyFooter
from tui_app.widgets.virtual_table import Column, PagedRows, VirtualTable


@dataclass
class BankLoaded(Message):
    generation: int
    accounts: list[Account]
    pending: list[Transfer]
    as_of: AsOf | None = None


class AccountTable(DataTable):
    BINDINGS = [Binding("enter", "select_cursor", "Statement", id="bank.statement")]


class PendingTable(DataTable):
    BINDINGS = [
        Binding("p", "screen.post", "Post", id="bank.post"),
        Binding("v", "screen.void", "Void", id="bank.void"),
    ]


def money(minor: int, style: str = "") -> Text:
    return Text(format_grouped(minor), justify="right", style=style or ("red" if minor < 0 else ""))


class BankScreen(TimeTravel, AppScreen):
    TITLE = "Bank"
    CSS_PATH = "bank.tcss"
    BINDINGS = [
        Binding("t", "transfer", "Transfer", id="bank.transfer"),
        Binding("o", "open_account", "Open account", id="bank.open"),
        Binding("f", "toggle_freeze", "Freeze/unfreeze", id="bank.freeze"),
        Binding("d", "delete_account", "Delete", id="bank.delete"),
        *asof_bindings("bank"),  # before the keys the footer may cut off in a past view
        Binding("D", "toggle_deleted", "Show deleted", id="bank.deleted"),
        Binding("u", "restore_account", "Restore", id="bank.restore", show=False),  # named in the pane title
        Binding("r", "refresh", "Refresh", id="bank.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._accounts: list[Account] = []
        self._pending: list[Transfer] = []
        self._generation = 0
        self._show_deleted = False

    @property
    def bank(self):
        return self.app.backend.sim.bank  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header()
        yield AsOfBanner(id="asof-banner")
        with Vertical(id="bank-body"):
            yield Label("Accounts", id="accounts-title", classes="pane-title")
            yield AccountTable(id="accounts", cursor_type="row", zebra_stripes=True)
            yield Label("Pending transfers  (p post · v void)", id="pending-title", classes="pane-title")
            yield PendingTable(id="pending-transfers", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="bank-bar"):
            yield Static("", id="bank-summary")
            yield Button("Transfer", id="transfer-button", variant="primary")
        yield KeyFooter()

    def on_mount(self) -> None:
        accounts = self.query_one(AccountTable)
        accounts.add_column("Name", key="name", width=24)
        accounts.add_column("Kind", key="kind", width=9)
        accounts.add_column(Text("Balance", justify="right"), key="balance", width=14)
        accounts.add_column(Text("Available", justify="right"), key="available", width=14)
        accounts.add_column(Text("Reserved", justify="right"), key="reserved", width=12)
        accounts.add_column("Status", key="status", width=8)
        pending = self.query_one(PendingTable)
        for label, key, width in (("#", "id", 6), ("From", "from", 20), ("To", "to", 20)):
            pending.add_column(label, key=key, width=width)
        pending.add_column(Text("Amount", justify="right"), key="amount", width=12)
        pending.add_column("Memo", key="memo", width=18)
        pending.add_column("Expires", key="expires", width=20)
        accounts.focus()
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()  # another screen may have moved money

    def reload(self) -> None:
        self._generation += 1
        self._load(self._generation, self.as_of, self._show_deleted)

    @work(thread=True, exclusive=True, group="bank-load", exit_on_error=False)
    def _load(self, generation: int, as_of: AsOf | None, show_deleted: bool) -> None:
        if as_of is None:
            pending = self.bank.pending_transfers()  # releases expired reservations first
            self.post_message(BankLoaded(generation, self.bank.accounts(include_deleted=show_deleted), pending))
            return
        accounts = self.app.backend.sim.lifecycle.balances_asof(as_of.moment)  # type: ignore[attr-defined]
        if not show_deleted:  # deleted by then: hidden then, as now
            accounts = [a for a in accounts if not as_of.includes(a.deleted_at)]
        self.post_message(BankLoaded(generation, accounts, [], as_of))

    def show_as_of(self) -> None:
        as_of = self.as_of
        self.title = f"Bank — as of {as_of.label}" if as_of else "Bank"
        self.query_one(AsOfBanner).show(as_of)
        self.query_one("#transfer-button", Button).disabled = as_of is not None
        self.query_one("#pending-transfers").set_class(as_of is not None, "hidden")
        self.query_one("#pending-title", Label).update(
            "Pending transfers: listed in the live view only (Reserved above is as of then)" if as_of
            else "Pending transfers  (p post · v void)"
        )
        self.query_one(AccountTable).focus()

    def _deleted(self, account: Account, as_of: AsOf | None) -> bool:
        return account.deleted_at is not None if as_of is None else as_of.includes(account.deleted_at)

    @on(BankLoaded)
    def _show(self, message: BankLoaded) -> None:
        if message.generation != self._generation:
            return  # a newer reload (another moment, the deleted toggle) is on its way
        table = self.query_one(AccountTable)
        keep = table.cursor_row
        selected = self._accounts[keep].id if 0 <= keep < len(self._accounts) else None
        self._accounts, self._pending = message.accounts, message.pending
        as_of = message.as_of
        names = {a.id: a.name for a in message.accounts}
        table.clear()
        for a in message.accounts:
            deleted = self._deleted(a, as_of)
            dim = "dim" if deleted or a.status != "open" or not a.limited else ""
            if deleted:
                status = Text("deleted", style="dim red")
            elif as_of is not None:
                status = Text("")  # freezing is not in the ledgers: the status then is unknown
            else:
                status = Text(a.status, style="yellow" if a.status == "frozen" else dim)
            table.add_row(
                Text(a.name, style=dim), Text(a.kind, style=dim), money(a.balance, "dim" if deleted else ""),
                money(a.available, "dim" if deleted else "") if a.limited else Text("—", justify="right", style="dim"),
                money(a.debits_pending) if a.debits_pending else Text(""),
                status,
                key=str(a.id),
            )
        if message.accounts:  # stay on the same account when rows come and go (D, a delete)
            ids = [a.id for a in message.accounts]
            table.move_cursor(row=ids.index(selected) if selected in ids else min(max(keep, 0), len(ids) - 1))
        title = "Accounts" + ("  (with deleted ones: D hides them · u restores · d purges)" if self._show_deleted else "")
        self.query_one("#accounts-title", Label).update(title)
        pending = self.query_one(PendingTable)
        pending.clear()
        for t in message.pending:
            pending.add_row(
                str(t.id), Text(names.get(t.debit_account_id, "?")), Text(names.get(t.credit_account_id, "?")),
                money(t.amount_minor), Text(t.memo), t.expires_at or "—", key=str(t.id),
            )
        cash = -sum(a.balance for a in message.accounts if not a.limited)
        held = sum(a.balance for a in message.accounts if a.limited)
        if as_of is None:
            last = (("  ·  pending ", "bold"), str(len(message.pending)))
        else:
            last = (("  ·  reserved ", "bold"), format_grouped(sum(a.debits_pending for a in message.accounts)))
        self.query_one("#bank-summary", Static).update(Text.assemble(
            ("Money brought in ", "bold"), format_grouped(cash), ("  ·  held in accounts ", "bold"),
            format_grouped(held), *last,
        ))

    def _selected_account(self) -> Account | None:
        table = self.query_one(AccountTable)
        if not self._accounts or not 0 <= table.cursor_row < len(self._accounts):
            return None
        return self._accounts[table.cursor_row]

    def _selected_pending(self) -> Transfer | None:
        table = self.query_one(PendingTable)
        if not self._pending or not 0 <= table.cursor_row < len(self._pending):
            return None
        return self._pending[table.cursor_row]

    # -- actions ----------------------------------------------------------------------------

    @on(Button.Pressed, "#transfer-button")
    def action_transfer(self) -> None:
        if self.read_only():
            return
        live = [a for a in self._accounts if a.deleted_at is None]
        source = self._selected_account()
        source = source if source is not None and source.limited and source.deleted_at is None else None
        self.app.push_screen(TransferForm(live, source), self._after_transfer)

    def _after_transfer(self, transfer: Transfer | None) -> None:
        if transfer is not None:
            names = {a.id: a.name for a in self._accounts}
            what = "Reserved" if transfer.kind == "pending" else "Transferred"
            self.notify(
                f"{what} {format_grouped(transfer.amount_minor)} {transfer.currency}: "
                f"{names.get(transfer.debit_account_id)} → {names.get(transfer.credit_account_id)}"
                f"  (transfer #{transfer.id})", title="Transfer", timeout=6,
            )
            self.reload()

    def action_open_account(self) -> None:
        if self.read_only():
            return
        self.app.push_screen(OpenAccountForm(), self._after_open)

    def _after_open(self, account: Account | None) -> None:
        if account is not None:
            self.notify(f"Opened {account.name} · balance {format_grouped(account.balance)}", timeout=4)
            self.reload()

    def action_toggle_freeze(self) -> None:
        if self.read_only():
            return
        account = self._selected_account()
        if account is None or not account.limited:
            self.notify("Select a customer, shop or supplier account", severity="warning")
            return
        self._toggle_freeze(account)

    @work(thread=True, exclusive=True, group="bank-edit", exit_on_error=False)
    def _toggle_freeze(self, account: Account) -> None:
        change = self.bank.unfreeze if account.status == "frozen" else self.bank.freeze
        try:
            updated = change(account.id, account.version)
        finally:  # refused (changed meanwhile) or not: show what is stored now
            self.app.call_from_thread(self.reload)
        self.app.call_from_thread(self.notify, f"{updated.name} is now {updated.status}", timeout=3)

    @on(DataTable.RowSelected, "#accounts")
    def _open_statement(self) -> None:
        account = self._selected_account()
        if account is not None:
            self.app.push_screen(StatementScreen(account))

    def action_post(self) -> None:
        if self.read_only():
            return
        pending = self._selected_pending()
        if pending is None:
            self.notify("No pending transfer selected", severity="warning")
            return
        self.app.push_screen(PostForm(pending, self._describe(pending)), self._after_resolve)

    def action_void(self) -> None:
        if self.read_only():
            return
        pending = self._selected_pending()
        if pending is None:
            self.notify("No pending transfer selected", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._void(pending.id)

        self.app.push_screen(
            ConfirmDialog("Void pending transfer", f"Void #{pending.id}: {self._describe(pending)}?\n"
                          "The reserved funds are released.", "Void"), confirmed,
        )

    @work(thread=True, exclusive=True, group="bank-edit", exit_on_error=False)
    def _void(self, pending_id: int) -> None:
        done = self.bank.void(pending_id)
        self.app.call_from_thread(self._after_resolve, done)

    def _after_resolve(self, transfer: Transfer | None) -> None:
        if transfer is not None:
            self.notify(f"Transfer #{transfer.pending_id} {transfer.kind}ed "
                        f"({format_grouped(transfer.amount_minor)})", timeout=4)
            self.reload()

    def _describe(self, t: Transfer) -> str:
        names = {a.id: a.name for a in self._accounts}
        return (f"{format_grouped(t.amount_minor)} {t.currency} from {names.get(t.debit_account_id)} "
                f"to {names.get(t.credit_account_id)}" + (f" · {t.memo}" if t.memo else ""))

    # -- account lifecycle: soft delete, restore, purge ----------------------------------------

    def action_toggle_deleted(self) -> None:
        self._show_deleted = not self._show_deleted
        self.notify("Showing deleted accounts (dimmed)" if self._show_deleted else "Deleted accounts hidden", timeout=2)
        self.reload()

    def action_delete_account(self) -> None:
        """`d`: soft delete of a live account; on an account already deleted, purge it for good."""
        if self.read_only():
            return
        account = self._selected_account()
        if account is None or not account.limited:
            self.notify("Select a customer, shop or supplier account", severity="warning")
            return
        purge = account.deleted_at is not None
        if purge:
            dialog = ConfirmDialog(
                "Purge account", f"Purge {account.name} for good?\nThis cannot be undone: the account is removed, "
                "only an audit tombstone remains. An account any transfer names cannot be purged.", "Purge",
            )
        else:
            dialog = ConfirmDialog(
                "Delete account", f"Delete {account.name}?\nIt is hidden and refuses money; its transfers stay. "
                "Only an empty account can be deleted. D shows deleted accounts, u restores one.", "Delete",
            )

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._change_lifecycle("purge" if purge else "delete", account)

        self.app.push_screen(dialog, confirmed)

    def action_restore_account(self) -> None:
        if self.read_only():
            return
        account = self._selected_account()
        if account is None or account.deleted_at is None:
            self.notify("Select a deleted account (D shows them)", severity="warning")
            return
        self._change_lifecycle("restore", account)

    @work(thread=True, exclusive=True, group="bank-edit", exit_on_error=False)
    def _change_lifecycle(self, action: str, account: Account) -> None:
        change = {"delete": self.bank.delete_account, "restore": self.bank.restore_account,
                  "purge": self.bank.purge_account}[action]
        try:
            change(account.id, account.version)
        finally:  # refused (money left, transfers, changed meanwhile) or not: show what is stored now
            self.app.call_from_thread(self.reload)
        done = {
            "delete": f"Deleted {account.name}" + ("" if self._show_deleted else " · D shows deleted accounts, u restores"),
            "restore": f"Restored {account.name}",
            "purge": f"Purged {account.name} for good",
        }[action]
        self.app.call_from_thread(self.notify, done, timeout=4)

    def action_refresh(self) -> None:
        self.reload()
        self.notify("Refreshed", timeout=1.5)


STATEMENT_COLUMNS = (
    Column("id", "#", 7),
    Column("at", "When (UTC)", 19),
    Column("kind", "Kind", 8),
    Column("other", "Counterparty", 20),
    Column("memo", "Memo", 22),
    Column("amount", "Amount", 12, "right"),
    Column("balance", "Balance", 13, "right"),
)


def statement_cells(line: StatementLine) -> tuple[Text, ...]:
    moved = line.kind in ("posted", "post")
    style = "" if moved else "dim italic"
    return (
        Text(str(line.transfer_id)), Text(line.at[:19].replace("T", " ")), Text(line.kind, style=style),
        Text(line.counterparty, style=style), Text(line.memo, style=style),
        money(line.amount_minor, "" if moved else "dim"), money(line.balance_after),
    )


class StatementRows(PagedRows[StatementLine]):
    """One account's statement as the table pages it: keyset pages both ways from a line it has, the
    newest or the oldest page, or a page at an offset (every call runs in the table's worker thread)."""

    def __init__(self, bank, account_id: int):
        self._bank, self._account = bank, account_id

    def count(self) -> int:
        return self._bank.count_statement(self._account)

    def page(self, after: StatementLine | None, limit: int, *, backward: bool = False,
             skip: int = 0) -> list[StatementLine]:
        return self._bank.statement(self._account, after.transfer_id if after is not None else None, limit,
                                    backward=backward, skip=skip)


class StatementTable(VirtualTable[StatementLine]):
    BINDINGS = [
        Binding("home", "first", "Newest", id="statement.top", show=False),
        Binding("end", "last", "Oldest", id="statement.bottom", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(STATEMENT_COLUMNS, statement_cells, key=lambda line: line.transfer_id, **kwargs)


class StatementScreen(AppScreen):
    """One account's transfers, newest first, with the posted balance after each, on a virtual table
    that pages from the store (End jumps to the opening line without reading what is in between)."""

    CSS_PATH = "bank.tcss"
    BINDINGS = [
        Binding("escape,backspace", "app.pop_screen", "Back", id="statement.back"),
        Binding("x", "export", "Export CSV", id="statement.export"),
        Binding("r", "refresh", "Refresh", id="statement.refresh"),
    ]

    def __init__(self, account: Account):
        super().__init__()
        self._account = account
        self.title = f"Statement — {account.name}"

    @property
    def bank(self):
        return self.app.backend.sim.bank  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="statement-head")
        yield StatementTable(id="statement")
        with Horizontal(id="bank-bar"):
            yield Static("", id="statement-status")
            yield Button("Export CSV", id="statement-export", variant="primary")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(StatementTable).focus()
        self._show_head(self._account)
        self.reload(keep_position=False)

    def reload(self, *, keep_position: bool = True) -> None:
        """The lines and the account as stored now, at the same place in the list (the same line under
        the cursor) or from the newest."""
        table = self.query_one(StatementTable)
        current = table.current_row
        table.set_source(StatementRows(self.bank, self._account.id), keep_position=keep_position,
                         focus=current.transfer_id if current is not None and keep_position else None)
        self._load_account()

    def action_refresh(self) -> None:
        self.reload()
        self.notify("Refreshed", timeout=1.5)

    @work(thread=True, exclusive=True, group="statement-account", exit_on_error=False)
    def _load_account(self) -> None:
        account = self.bank.get_account(self._account.id)
        self.app.call_from_thread(self._show_head, account)

    def _show_head(self, a: Account) -> None:
        self._account = a
        self.query_one("#statement-head", Static).update(Text.assemble(
            (f"{a.name}  ", "bold"), f"{a.kind} · {a.currency} · {a.status}", ("   balance ", "bold"),
            format_grouped(a.balance), ("   available ", "bold"),
            format_grouped(a.available) if a.limited else "—", ("   reserved ", "bold"),
            format_grouped(a.debits_pending),
        ))

    @on(StatementTable.Changed, "#statement")
    def _show_status(self) -> None:
        table = self.query_one(StatementTable)
        shown = "No transfers yet" if table.total == 0 else table.count_text("transfer", "transfers")
        self.query_one("#statement-status", Static).update(
            Text(shown + " · pending/void/expire lines do not move the balance"))

    @on(Button.Pressed, "#statement-export")
    def action_export(self) -> None:
        backend, account = self.app.backend, self._account  # type: ignore[attr-defined]
        slug = "".join(ch if ch.isalnum() else "-" for ch in account.name.lower()).strip("-") or "account"
        self.app.export_csv(f"statement-{slug}", lambda out: backend.export_statement(account.id, out))  # type: ignore[attr-defined]
