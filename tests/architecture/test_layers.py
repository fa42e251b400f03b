"""The arrows point inward (tui_app -> domain <- storage), enforced by tools, not discipline:
import-linter's contracts from pyproject.toml, and fresh interpreters that show what an
import really loads."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent  # the interpreter running the tests, wherever its venv is
PYTHON = sys.executable


def _loaded_after(statement: str, prefixes: set[str]) -> list[str]:
    """Modules whose top-level package is in `prefixes`, loaded by `statement` in a new interpreter."""
    code = (
        f"{statement}\n"
        "import json, sys\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(prefixes)!r})))\n"
    )
    done = subprocess.run([PYTHON, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_linter_contracts_are_kept() -> None:
    done = subprocess.run(
        [str(VENV_BIN / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"lint-imports failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    summary = re.search(r"Contracts: (\d+) kept, 0 broken", done.stdout)
    assert summary and int(summary.group(1)) >= 3, done.stdout[-2000:]


FORBIDDEN_IN_DOMAIN = {"sqlite3", "sqlalchemy", "textual", "yaml", "alembic", "storage", "tui_app", "rich", "psycopg"}


def test_domain_loads_no_drivers_orms_ui_or_yaml() -> None:
    loaded = _loaded_after(
        "import domain, domain.services.catalog, domain.simulator, domain.ports, domain.validation",
        FORBIDDEN_IN_DOMAIN,
    )
    assert loaded == []


def test_every_domain_module_loads_no_outer_layer() -> None:
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "domain").rglob("*.py")
    )
    statement = "import importlib\n" + "\n".join(f"importlib.import_module({m!r})" for m in modules)
    assert _loaded_after(statement, FORBIDDEN_IN_DOMAIN) == []


def test_storage_registry_loads_neither_sqlalchemy_nor_alembic() -> None:
    loaded = _loaded_after("import storage", {"sqlalchemy", "alembic", "mako", "textual", "tui_app"})
    assert loaded == []


def test_sqlite_store_module_loads_neither_sqlalchemy_nor_alembic() -> None:
    loaded = _loaded_after(
        "import storage.sqlite, storage.migrations, storage.csvio", {"sqlalchemy", "alembic", "mako", "textual", "tui_app"}
    )
    assert loaded == []


def test_cli_module_defers_storage_and_ui_until_a_command_runs() -> None:
    loaded = _loaded_after("import tui_app.__main__", {"sqlalchemy", "alembic", "textual", "sqlite3", "storage"})
    assert loaded == []
