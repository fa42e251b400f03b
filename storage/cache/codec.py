"""JSON text for cached rows: the domain dataclasses as plain objects, checked field by field on the
way back. Never pickle: a shared cache (Redis) is a network service, and what it hands back must
not be able to run code or smuggle in an object of another type.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import fields
from typing import Any, Generic, TypeVar

from domain.model import Product
from domain.model.bank import Account

T = TypeVar("T")


class Malformed(ValueError):
    """The cached text is not what this version of the code writes: treated as a miss."""


class RowCodec(Generic[T]):
    """One frozen dataclass <-> a JSON object with exactly its fields, each of its declared type."""

    def __init__(self, cls: type[T]):
        self.cls = cls
        hints = typing.get_type_hints(cls)
        self._names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        self._name_set = frozenset(self._names)
        self._types = tuple(_allowed(hints[name]) for name in self._names)

    def plain(self, row: T) -> dict[str, Any]:
        return {name: getattr(row, name) for name in self._names}

    def row(self, data: object) -> T:
        """Raises: Malformed (a missing or extra field, or a value of the wrong type)."""
        if type(data) is not dict or data.keys() != self._name_set:
            raise Malformed(f"not a {self.cls.__name__}")
        values = [data[name] for name in self._names]
        for value, allowed in zip(values, self._types):
            # bool is an int to isinstance: an int field never takes a bool, a bool field only a bool
            if type(value) not in allowed:
                raise Malformed(f"{self.cls.__name__}: a {type(value).__name__} where {allowed} belongs")
        return self.cls(*values)


def _allowed(hint: object) -> tuple[type, ...]:
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    args = typing.get_args(hint) if union else (hint,)
    allowed = tuple(type(None) if a is None else a for a in args)
    if not all(a in (int, str, bool, type(None)) for a in allowed):
        raise TypeError(f"the cache codec handles int, str, bool and None fields, not {hint!r}")
    return allowed


class OneOrNone(Generic[T]):
    """A row, or `null` for "no such row" (a cached negative answer)."""

    def __init__(self, rows: RowCodec[T]):
        self._rows = rows

    def dumps(self, value: T | None) -> str:
        return json.dumps(None if value is None else self._rows.plain(value), separators=(",", ":"))

    def loads(self, text: str) -> T | None:
        """Raises: Malformed."""
        data = _loads(text)
        return None if data is None else self._rows.row(data)


class Rows(Generic[T]):
    """A tuple of rows (immutable: the in-process cache hands the same one to every reader)."""

    def __init__(self, rows: RowCodec[T]):
        self._rows = rows

    def dumps(self, value: tuple[T, ...]) -> str:
        return json.dumps([self._rows.plain(r) for r in value], separators=(",", ":"))

    def loads(self, text: str) -> tuple[T, ...]:
        """Raises: Malformed."""
        data = _loads(text)
        if type(data) is not list:
            raise Malformed("not a list")
        return tuple(self._rows.row(item) for item in data)


PRODUCT = OneOrNone(RowCodec(Product))
ACCOUNTS = Rows(RowCodec(Account))


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError) as e:
        raise Malformed(str(e)) from e
