"""Base classes that route failed workers to the app's one error handler.

Worker.StateChanged does not bubble, so every screen that starts workers forwards it.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from textual import on
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

T = TypeVar("T")


class AppScreen(Screen[None]):
    @on(Worker.StateChanged)
    def _forward_worker_failure(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.report_error(event.worker.error)  # type: ignore[attr-defined]


class AppModal(ModalScreen[T], Generic[T]):
    @on(Worker.StateChanged)
    def _forward_worker_failure(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.report_error(event.worker.error)  # type: ignore[attr-defined]
