"""Actors: everyone who changes anything is a user row, and the audit log names them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class User:
    """An actor. `created_at` is None when read from a database still at schema revision 1."""

    id: int
    name: str
    created_at: str | None
