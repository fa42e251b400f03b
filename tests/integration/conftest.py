"""Fixtures shared by the CLI tests. Paths come from the running interpreter, never from where
this checkout happens to live."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent  # the venv's bin/ folder, wherever the repository is
STOCKBANK = str(BIN / "stockbank")
PYTHON = sys.executable


@pytest.fixture
def no_user_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the real per-user database, whatever a test forgets to pass."""
    monkeypatch.delenv("STOCKBANK_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def quiet_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """For module-scoped fixtures: never the real per-user database or config (the save signing key)."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("STOCKBANK_DB", raising=False)
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
        mp.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
        yield
