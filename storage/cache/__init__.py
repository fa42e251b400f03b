"""The read-through cache in front of a store (`--cache memory`, `--cache redis://host:port/db`).

    store = cached_store(open_store("sqlite:///shop.db"), "redis://127.0.0.1:6379/0")

See storage/cache/store.py for what is cached, when a cached row may be served, and the staleness bound.
"""

from __future__ import annotations

from typing import Any

from domain.errors import CacheUnavailable
from storage.cache.backends import Cache, MemoryCache, RedisCache, open_cache
from storage.cache.store import CachedStore


def cached_store(store: Any, spec: str | None) -> Any:
    """`store` behind the cache a spec names, or `store` itself when the spec is empty or `off`.

    Raises: ValidationError (a bad spec), CacheUnavailable (Redis does not answer).
    """
    if spec is None:
        return store
    cache = open_cache(spec)
    return store if cache is None else CachedStore(store, cache)


__all__ = ["Cache", "CacheUnavailable", "CachedStore", "MemoryCache", "RedisCache", "cached_store", "open_cache"]
