"""The footer (tui_app/widgets/footer.py) shows the keys of what has focus, and is rebuilt only when
they change: Textual's rebuilds on every bindings signal, three times with the same keys before the
Products screen's first frame."""

from __future__ import annotations

from textual.widgets._footer import FooterKey, FooterLabel

from tests.tui.conftest import settle
from tui_app.widgets.footer import KeyFooter


def footer_keys(app) -> list[FooterKey]:
    return list(app.screen.query_one(KeyFooter).query(FooterKey))


async def test_the_footer_is_rebuilt_only_when_the_keys_it_shows_change(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table_keys = footer_keys(app)
        assert [k.key for k in table_keys][:3] == ["enter", "n", "d"]

        app.screen.refresh_bindings()  # the signal, with the same keys: the same widgets stay
        await settle(pilot)
        assert all(a is b for a, b in zip(footer_keys(app), table_keys, strict=True))

        await pilot.press("slash")  # the filter has focus: the table's keys leave the footer
        await settle(pilot)
        assert [k.key for k in footer_keys(app)] == ["slash", "f1", "ctrl+p"]

        await pilot.press("escape")
        await settle(pilot)
        assert [(k.key, k.description) for k in footer_keys(app)] == [(k.key, k.description) for k in table_keys]


async def test_the_footer_of_each_screen_shows_its_own_keys(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        seen = {}
        for key in "123456":
            await pilot.press(key)
            await settle(pilot)
            seen[key] = [k.description for k in footer_keys(app)]
        assert "Transfer" in " ".join(seen["2"]) and "New" in seen["1"]
        assert len({tuple(v) for v in seen.values()}) == 6  # no screen shows another's keys


async def test_the_six_screens_take_one_footer_entry(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")  # Saves: its own keys leave room for all the app's
        await settle(pilot)
        footer = app.screen.query_one(KeyFooter)
        grouped = [k.key for k in footer.query(FooterKey) if k.has_class("-grouped")]
        assert grouped == list("123456")
        assert [str(label.render()) for label in footer.query(FooterLabel)] == ["Screens"]
        assert [k.key for k in footer.query(FooterKey)][-3:] == ["question_mark", "q", "ctrl+p"]


async def test_footer_keys_start_as_compact_as_the_footer(app_factory, monkeypatch):
    """A FooterKey left to itself starts compact and is then bound to the footer's style: a style update
    it does not need, twice per key (~50 ms of the first frame, issue #8's cold start)."""
    seen: list[bool] = []
    watch = FooterKey._watch_compact

    def recorded(self, compact: bool) -> None:
        if not self.has_class("-command-palette"):  # Textual leaves that one compact, unbound
            seen.append(compact)
        watch(self, compact)

    monkeypatch.setattr(FooterKey, "_watch_compact", recorded)
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        bound = [k for k in footer_keys(app) if not k.has_class("-command-palette")]
        assert bound and not any(k.has_class("-compact") for k in bound)
        assert seen and not any(seen)
