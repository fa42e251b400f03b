"""The test helpers' state, in one module: pytest loads tests/conftest.py as `conftest`, and a test that
imports a helper from `tests.conftest` loads a second copy of that file. Both copies keep their state
here, so a database made through either is dropped, and there is one migrated template per process."""

from __future__ import annotations

session_state: dict[str, object] = {}
pg_created: list[str] = []  # databases made by the running test, dropped after it
