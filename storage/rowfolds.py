"""Adapter-neutral steps of the SQL stores' catalog repositories (sqlite3 and SQLAlchemy alike)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from domain.model import CategoryValue, NewProduct
from domain.model.catalog import fold_case


def category_values(rows: Iterable[tuple[int | None, str | None, int, int]]) -> list[CategoryValue]:
    """(category id, name, quantity, value) per product, summed per category; uncategorised last, by name."""
    totals: dict[int | None, list[Any]] = {}
    for cat_id, cat_name, qty, value in rows:
        t = totals.setdefault(cat_id, [cat_name, 0, 0, 0])
        t[1] += 1
        t[2] += qty
        t[3] += value
    ordered = sorted(totals.items(), key=lambda kv: (kv[1][0] is None, fold_case(kv[1][0] or "")))
    return [CategoryValue(cat_id, name, n, qty, value) for cat_id, (name, n, qty, value) in ordered]


def upsert_by_distinct_sku(rows: Iterable[NewProduct],
                           upsert_distinct: Callable[[dict[str, NewProduct]], tuple[int, int]]) -> tuple[int, int]:
    """Feed `upsert_distinct` runs of rows with distinct SKUs; a repeated SKU first flushes what came
    before it (row-by-row semantics). Returns (inserted, updated)."""
    inserted = updated = 0
    distinct: dict[str, NewProduct] = {}
    for r in rows:
        if r.sku in distinct:
            ins, upd = upsert_distinct(distinct)
            inserted, updated, distinct = inserted + ins, updated + upd, {}
        distinct[r.sku] = r
    ins, upd = upsert_distinct(distinct)
    return inserted + ins, updated + upd
