"""Fixtures shared by the CLI tests. Paths come from the running interpreter, never from where
this checkout happens to live."""

from __future__ import annotations

import sys
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
