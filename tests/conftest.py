"""Shared fixtures. `store_url` is parametrized over every adapter: a new adapter joins the
contract suite by adding one entry to STORE_FACTORIES."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from domain import Simulator
from domain.clock import FixedClock
from domain.ports import Store
from storage import open_store

REQUIRE_SERVERS = os.environ.get("STOCKBANK_REQUIRE_SERVERS") == "1"

STORE_FACTORIES: dict[str, Callable[[Path], str]] = {
    "memory": lambda tmp: "memory://",
    "sqlite": lambda tmp: f"sqlite:///{tmp / 'shop.db'}",
}


@pytest.fixture(params=list(STORE_FACTORIES))
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return STORE_FACTORIES[request.param](tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def sim(store: Store) -> Simulator:
    return Simulator(store, actor="tester", tenant="t1", clock=FixedClock())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shop.db'}"


def require_server(available: bool, what: str) -> None:
    """Skip with a clear message when a server is absent, unless CI made servers required."""
    if available:
        return
    if REQUIRE_SERVERS:
        pytest.fail(f"{what} is required (STOCKBANK_REQUIRE_SERVERS=1) but not reachable")
    pytest.skip(f"{what} is not reachable; start it to run this test")


@pytest.fixture(autouse=True, scope="session")
def _save_signing_key_in_a_temp_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never create a save signing key in the real user config folder."""
    from storage.savefiles.signing import ENV_KEY_FILE

    previous = os.environ.get(ENV_KEY_FILE)
    os.environ[ENV_KEY_FILE] = str(tmp_path_factory.mktemp("save-key") / "save-signing.key")
    yield
    if previous is None:
        os.environ.pop(ENV_KEY_FILE, None)
    else:
        os.environ[ENV_KEY_FILE] = previous
