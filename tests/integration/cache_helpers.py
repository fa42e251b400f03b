"""The cached stores the cache tests and the cached contract suites run on: sqlite3 behind the memory
cache, and behind Redis (skipped with a message when no Redis answers, required in CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.ports import Store
from storage import open_store
from storage.cache import CachedStore, cached_store
from tests.conftest import require_server

REDIS_URL = os.environ.get("STOCKBANK_TEST_REDIS", "redis://127.0.0.1:6379/15")
_redis_state: dict[str, bool] = {}


def redis_available() -> bool:
    """Whether the test Redis answers (asked once per process)."""
    if "available" not in _redis_state:
        try:
            import redis

            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
            _redis_state["available"] = True
        except Exception:  # noqa: BLE001 (any failure means: no server to test against)
            _redis_state["available"] = False
    return _redis_state["available"]


def require_redis() -> str:
    require_server(redis_available(), f"Redis at {REDIS_URL}")
    return REDIS_URL


# contract-suite param -> the cache spec in front of a sqlite3 store
CACHED_SQLITE = {"sqlite+memory-cache": "memory", "sqlite+redis-cache": None}


def cached_spec(param: str) -> str:
    spec = CACHED_SQLITE[param]
    return spec if spec is not None else require_redis()


@pytest.fixture(params=list(CACHED_SQLITE))
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Overrides tests/conftest.py's `store_url` in the modules that import it: a sqlite3 file (the
    cache is added by `store`)."""
    cached_spec(request.param)
    return f"sqlite:///{tmp_path / 'shop.db'}"


@pytest.fixture
def store(store_url: str, request: pytest.FixtureRequest) -> Iterator[Store]:
    opened = cached_store(open_store(store_url), cached_spec(request.node.callspec.params["store_url"]))
    assert isinstance(opened, CachedStore)
    yield opened
    opened.close()
