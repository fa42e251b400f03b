"""pytest loads tests/conftest.py as `conftest`, and tests import its helpers from `tests.conftest`, a
second copy of the file. Each copy must keep its books in tests/shared_state.py: a database made through a
copy with state of its own was never dropped (31 left on the server after one CI run)."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

from tests import shared_state


def test_every_loaded_copy_of_the_conftest_shares_the_database_bookkeeping(pytestconfig: pytest.Config) -> None:
    importlib.import_module("tests.conftest")  # the second copy, as a test importing a helper loads it
    here = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "conftest.py"))
    loaded = [*sys.modules.values(), *pytestconfig.pluginmanager.get_plugins()]  # pytest's copy is a plugin
    copies = {id(m): m for m in loaded if os.path.abspath(getattr(m, "__file__", None) or "") == here}.values()
    assert len(copies) == 2, [m.__name__ for m in copies]
    for copy in copies:
        assert copy._pg_created is shared_state.pg_created, copy.__name__
        assert copy._session_state is shared_state.session_state, copy.__name__
