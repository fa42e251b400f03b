"""Audit modal: the filter of the Audit screen (actor, entity, action, date range, text). The
domain checks the dates; a bad one shows under its field and the list stays as it was."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, Static

from domain.model import AuditQuery
from domain.services.audit import normalise_query
from tui_app.widgets.forms import FormModal

ENTITIES = ("account", "category", "game", "location", "product", "stock_move", "transfer")


class AuditFilterForm(FormModal):
    """Closes with the checked AuditQuery (an empty one from Clear), or None on cancel."""

    FIELDS = ("actor", "entity", "action", "since", "until", "text", "archive")

    def __init__(self, query: AuditQuery):
        super().__init__()
        self._query = query

    def compose(self) -> ComposeResult:
        q = self._query
        with Vertical(classes="dialog-box form-box"):
            yield Label("Filter the audit log", classes="dialog-title")
            yield Static("Empty fields do not filter. Times are UTC; since and until are inclusive.",
                         classes="dialog-text")
            yield from self.field_row("actor", "Actor", Input(q.actor, id="actor", compact=True,
                                                              placeholder="user name, e.g. alice"))
            yield from self.field_row("entity", "Entity", Input(
                q.entity, id="entity", compact=True, placeholder="product, account, transfer, stock_move…",
                suggester=SuggestFromList(ENTITIES, case_sensitive=False)))
            yield from self.field_row("action", "Action", Input(q.action, id="action", compact=True,
                                                                placeholder="create, update, delete, posted, move…"))
            yield from self.field_row("since", "Since", Input(q.since, id="since", compact=True,
                                                              placeholder="YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"))
            yield from self.field_row("until", "Until", Input(q.until, id="until", compact=True,
                                                              placeholder="YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"))
            yield from self.field_row("text", "Text", Input(q.text, id="text", compact=True,
                                                            placeholder="in the entity id, data or request key"))
            yield from self.field_row("archive", "Archive", Checkbox("include archived entries", q.include_archive,
                                                                     id="archive", compact=True))
            yield Static("", classes="form-error", id="error-form")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply (enter)", variant="primary", id="save")
                yield Button("Clear", id="audit-filter-clear")
                yield Button("Cancel (esc)", id="cancel")

    def save(self) -> None:
        values = {name: self.query_one(f"#{name}", Input).value for name in self.FIELDS if name != "archive"}
        query = AuditQuery(**values, include_archive=self.query_one("#archive", Checkbox).value)
        self.run_save(lambda: normalise_query(query))

    @on(Button.Pressed, "#audit-filter-clear")
    def _clear(self) -> None:
        if not self._saving:
            self.dismiss(AuditQuery())
