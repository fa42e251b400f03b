"""`stockbank copy --from URL --to URL`: a tenant's books move between stores (SQLite, SQLAlchemy on
SQLite, PostgreSQL), every invariant and the audit chain are checked at both ends, and bad requests
change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain import Simulator
from domain.clock import FixedClock
from storage import open_store
from tests.conftest import STORE_FACTORIES
from tests.integration.cli_helpers import ok_json, one_parser, run  # noqa: F401 (one_parser: a fixture)

TARGETS = ["sqlite", "sqlalchemy-sqlite", "postgres"]


def _books(url: str, tenant: str = "default") -> dict[str, object]:
    """What a person would compare: products, balances by account name, stock by SKU, day."""
    store = open_store(url)
    try:
        sim = Simulator(store, actor="reader", tenant=tenant, clock=FixedClock())
        world = sim.saves.world()
        return {"counts": world.counts(), "balances": world.balances(), "stock": world.stock(), "day": world.day}
    finally:
        store.close()


@pytest.fixture
def source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    ok_json(capsys, url, "demo", "--products", "30")
    ok_json(capsys, url, "transfer", "Alice", "Bob", "2.50")
    return url


@pytest.mark.parametrize("target_kind", TARGETS)
def test_copy_moves_the_books_and_both_ends_check_ok(
        source: str, target_kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = STORE_FACTORIES[target_kind](tmp_path / "target")
    (tmp_path / "target").mkdir(exist_ok=True)
    data = ok_json(capsys, source, "copy", "--from", source, "--to", target)
    assert data["source_ok"] and data["target_ok"] and data["chain_ok"], data
    assert data["copied"]["products"] == 30 and data["audit_entries"] > 0
    assert _books(target) == _books(source)
    assert ok_json(capsys, target, "check")["ok"] is True
    verified = ok_json(capsys, target, "audit", "verify")
    assert verified["checked"] == data["audit_entries"] + 1  # every carried entry plus the copy's own


def test_copying_again_replaces_the_books_and_keeps_the_targets_log(
        source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = f"sqlite:///{tmp_path / 'target.db'}"
    first = ok_json(capsys, source, "copy", "--from", source, "--to", target)
    ok_json(capsys, source, "transfer", "Bob", "Alice", "1.00")
    code, out, err = run(capsys, source, "copy", "--from", source, "--to", target)  # not a terminal: refused
    assert code == 1 and "--yes" in err
    second = ok_json(capsys, source, "copy", "--from", source, "--to", target, "--yes")
    assert second["audit_entries"] == 0 and second["replaced"]["transfers"] == first["copied"]["transfers"]
    assert _books(target) == _books(source)
    assert ok_json(capsys, target, "audit", "verify")["checked"] == first["audit_entries"] + 2


def test_copy_between_tenants_of_one_store(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok_json(capsys, source, "copy", "--from", source, "--to", source, "--to-tenant", "branch")
    assert _books(source, "branch") == _books(source)


@pytest.mark.parametrize("argv, code", [
    (["--to", "SAME"], "validation"),  # the same store and tenant
    (["--to", "nosuch://x"], "validation"),  # an unknown URL scheme
])
def test_bad_copies_are_refused_and_change_nothing(
        source: str, argv: list[str], code: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [source if a == "SAME" else a for a in argv]
    before = _books(source)
    rc, out, err = run(capsys, source, "--json", "copy", "--from", source, *argv)
    assert rc in (1, 2), (out, err)
    assert code in (out + err)
    assert _books(source) == before


def test_a_missing_source_file_is_not_found_and_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing.db"
    rc, out, err = run(capsys, f"sqlite:///{tmp_path / 'x.db'}", "copy", "--from", f"sqlite:///{missing}",
                       "--to", f"sqlite:///{tmp_path / 'target.db'}")
    assert rc == 1 and "[not_found]" in err and not missing.exists()
    assert not (tmp_path / "target.db").exists()
