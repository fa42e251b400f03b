"""Storage adapters behind the domain's ports, chosen by URL scheme.

Adapters are imported only when their scheme is opened, so start-up stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from domain.errors import ValidationError

if TYPE_CHECKING:  # the ports module is for type checkers: start-up does not import it
    from domain.ports import Store

# scheme prefix -> "module:Class"; later adapters join by adding one line.
ADAPTERS: dict[str, str] = {
    "memory://": "storage.memory:MemoryStore",
    "sqlite:///": "storage.sqlite:SqliteStore",
    "sqlalchemy+sqlite:///": "storage.sqlalchemy:SqlAlchemyStore",
    "postgresql+psycopg://": "storage.sqlalchemy:SqlAlchemyStore",
    "postgresql://": "storage.sqlalchemy:SqlAlchemyStore",
    "sqlite+aiosqlite:///": "storage.sqlalchemy.asyncio:BlockingAsyncStore",
    "postgresql+psycopg_async://": "storage.sqlalchemy.asyncio:BlockingAsyncStore",
    "jsonfile://": "storage.jsonfile:JsonFileStore",
}


def open_store(url: str) -> Store:
    """Open the store a URL names: `sqlite:///shop.db` (default), `memory://`, ...

    Raises: ValidationError (unknown scheme), UnsupportedVersion, Corrupt, StorageError.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("database URL is empty", field="db")
    for prefix, target in ADAPTERS.items():
        if url.startswith(prefix):
            module_name, class_name = target.split(":")
            cls = getattr(importlib.import_module(module_name), class_name)
            return cls(url)
    known = ", ".join(f"{p}..." for p in ADAPTERS)
    raise ValidationError(f"unknown database URL {url!r}; use one of {known}", field="db")


def masked_url(url: str) -> str:
    """A store URL fit to print, record or save, with any password replaced: a save never holds a secret.
    Here, not in the save code, so the TUI title bar can use it without loading that code at start-up."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparseable url>"


__all__ = ["ADAPTERS", "masked_url", "open_store"]
