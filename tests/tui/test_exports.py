"""Exports that were never delivered (in a browser: a blocked pop-up, a tab closed first) leave no temp file."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.tui.conftest import settle


async def test_an_export_still_waiting_for_its_browser_is_removed_when_the_app_ends(app_factory) -> None:
    app = app_factory()
    fd, name = tempfile.mkstemp(prefix="stockbank-", suffix=".csv")
    Path(name).write_text("sku,name\n")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app._exports["never-fetched"] = (1, Path(name))  # what deliver_export keeps until the download ends
        assert Path(name).exists()
    assert not Path(name).exists()
    assert app._exports == {}
