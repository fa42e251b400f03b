"""Base classes that route failed workers to the app's one error handler.

Worker.StateChanged does not bubble, so every screen that starts workers forwards it.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from textual import on
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

T = TypeVar("T")


def plain_notify(widget, message: str, *, markup: bool = False, **kwargs):
    """Toasts show names users typed: plain text unless a caller opts into markup."""
    return Screen.notify(widget, message, markup=markup, **kwargs)


class AppScreen(Screen[None]):
    notify = plain_notify  # type: ignore[assignment]

    @on(Worker.StateChanged)
    def _forward_worker_failure(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.report_error(event.worker.error)  # type: ignore[attr-defined]


class AppModal(ModalScreen[T], Generic[T]):
    notify = plain_notify  # type: ignore[assignment]

    @on(Worker.StateChanged)
    def _forward_worker_failure(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self._saving = False  # a form stays usable after an unexpected failure
            self.app.report_error(event.worker.error)  # type: ignore[attr-defined]
