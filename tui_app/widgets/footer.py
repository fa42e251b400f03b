"""The footer every screen shows: Textual's, rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeyFooter(Footer):
    """Textual's Footer composes its keys again on every bindings signal (each focus move, each
    refresh_bindings), whether or not they changed: three times with the same keys before the Products
    screen's first frame, and three more before its rows came (0.60 s; 0.48 s without them). This one
    rebuilds only when the bindings it would show differ from those it shows."""

    _shown: tuple | None = None

    def compose(self) -> ComposeResult:
        self._shown = self._bindings_now() if self._bindings_ready else None
        for widget in super().compose():
            if isinstance(widget, FooterKey) and not widget.has_class("-command-palette"):
                # A FooterKey starts compact and is then bound to the footer's (not compact): two style
                # updates per key, ~50 ms of the first frame. Starting as the footer is saves both. (The
                # palette key is not bound: it stays compact.)
                widget.set_reactive(FooterKey.compact, self.compact)
            yield widget

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        if self.is_attached and self._bindings_now() != self._shown:
            await self.recompose()

    def _bindings_now(self) -> tuple:
        return tuple((binding, enabled, tooltip) for _node, binding, enabled, tooltip
                     in self.screen.active_bindings.values())
