"""The text filter of the list screens: applies what is typed after a short pause (no query per
keystroke), and hands focus back to the list on enter or escape (escape also clears it)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input

DEBOUNCE_SECONDS = 0.15


class FilterBox(Input):
    @dataclass
    class Applied(Message):
        text: str

    class Done(Message):
        """The user is finished with the filter: the screen focuses its list."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._timer: Timer | None = None

    @on(Input.Changed)
    def _debounce(self, event: Input.Changed) -> None:
        if event.input is not self:
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_SECONDS, lambda: self.post_message(self.Applied(event.value)))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input is self:
            self.post_message(self.Done())

    def key_escape(self) -> None:
        self.value = ""
        self.post_message(self.Done())
