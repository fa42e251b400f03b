"""Schema-first import: read another program's SQLite database by reflecting its schema (SQLAlchemy
`inspect()` + `MetaData.reflect(only=...)`), map its `products` / `categories` columns onto our fields,
and hand the rows to the domain (domain/services/catalog_import.py), which validates and imports them.

The legacy file is opened read-only and never changed. Values are read raw (every column coerced to
NullType, so no SQLAlchemy type conversion): a NUMERIC price 12.345 is not rounded on the way in, it
reaches the domain as it is and is refused there.

Mapping rules (README, "Importing a legacy database"):
- a field takes the first legacy column whose name (lower-cased, without `_`, `-` or spaces) is in
  its list of known names (FIELD_NAMES); `--map FIELD=COLUMN` overrides, `--map FIELD=` leaves it out;
- price: cents (integer minor units) when the column's name says so (cents, minor, pence) or its declared
  type is an INTEGER type; otherwise a decimal amount (REAL, NUMERIC, DECIMAL, TEXT): 12.5 is 12.50;
  `--price-unit cents|decimal` overrides;
- category: a key into the categories table (joined on that key) when the column is a foreign key to it,
  or the categories table exists and the column is an integer or named like `..._id`; otherwise the
  text is a category name (missing ones are created);
- active: `active`, `enabled`, ... as they are; `discontinued`, `inactive`, `disabled`, `archived`
  inverted; `--map active=!COLUMN` inverts any column.
"""

from __future__ import annotations

import os
import re
import sqlite3
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from domain.errors import Corrupt, DomainError, NotFound, StorageError, ValidationError
from domain.services.catalog_import import SourceCategory, SourceRow

SQLITE_MAGIC = b"SQLite format 3\x00"
PRODUCT_FIELDS = ("sku", "name", "price", "quantity", "active", "category")
REQUIRED = ("sku", "name", "price")
CATEGORY_FIELDS = ("category.key", "category.name", "category.parent")
PRODUCT_TABLES = ("products", "product", "items", "item")
CATEGORY_TABLES = ("categories", "category", "product_categories", "categorys")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


# Known legacy names per field, best first, normalised as _norm does.
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "sku": ("sku", "productsku", "itemsku", "code", "productcode", "itemcode", "articlecode", "partnumber", "partno",
            "itemnumber", "itemno", "productnumber", "productno", "articlenumber", "articleno", "ref", "reference"),
    "name": ("name", "productname", "itemname", "title", "producttitle", "label", "description",
             "productdescription"),
    "price": ("price", "unitprice", "saleprice", "sellingprice", "retailprice", "listprice", "pricecents",
              "unitpricecents", "priceincents", "priceminor", "cents"),
    "quantity": ("quantity", "qty", "stock", "onhand", "quantityonhand", "qtyonhand", "qoh", "instock", "stockqty",
                 "stockquantity", "stocklevel", "unitsinstock", "units", "inventory"),
    "active": ("active", "isactive", "enabled", "isenabled", "discontinued", "isdiscontinued", "inactive",
               "isinactive", "disabled", "isdisabled", "archived", "isarchived"),
    "category": ("categoryid", "catid", "categorykey", "categorycode", "category", "categoryname", "catname", "cat",
                 "categorytitle"),
    "category.key": ("id", "categoryid", "catid", "code", "categorycode", "key"),
    "category.name": ("name", "categoryname", "catname", "title", "label", "description"),
    "category.parent": ("parentid", "parent", "parentcategoryid", "parentcategory", "parentkey", "parentcode",
                        "parentcatid", "parentcategorykey"),
}
INVERTED = {"discontinued", "isdiscontinued", "inactive", "isinactive", "disabled", "isdisabled", "archived",
            "isarchived"}
_CENTS_WORDS = ("cent", "minor", "pence")
_TRUE = {"1", "true", "t", "yes", "y", "on", "active", "enabled"}
_FALSE = {"0", "false", "f", "no", "n", "off", "inactive", "disabled"}


@dataclass(frozen=True)
class FieldMapping:
    """Where one of our fields comes from, and how its values are read."""

    field: str
    column: str
    how: str
    by: str  # "auto" or "--map"

    def to_dict(self) -> dict[str, str]:
        return {"column": self.column, "how": self.how, "by": self.by}


@dataclass(frozen=True)
class LegacyMapping:
    """The whole mapping: which tables, which column feeds which field, what was left over."""

    path: str
    products_table: str
    categories_table: str | None
    fields: dict[str, FieldMapping]
    category_fields: dict[str, FieldMapping]
    unmapped: dict[str, list[str]]  # table -> columns nothing reads
    row_key: tuple[str, ...]  # the columns that name a row in the report
    price_unit: str | None  # "cents" or "decimal"; None when no price column
    category_mode: str | None  # "key", "name" or None
    notes: tuple[str, ...] = ()

    @property
    def missing(self) -> list[str]:
        return [f for f in REQUIRED if f not in self.fields]

    def column_of(self, field_name: str | None) -> str | None:
        mapped = self.fields.get(field_name or "")
        return mapped.column if mapped else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "tables": {"products": self.products_table, "categories": self.categories_table},
            "fields": {f: m.to_dict() for f, m in self.fields.items()},
            "category_fields": {f: m.to_dict() for f, m in self.category_fields.items()},
            "unmapped_columns": self.unmapped,
            "missing": self.missing,
            "row_key": list(self.row_key),
            "price_unit": self.price_unit,
            "category_mode": self.category_mode,
            "notes": list(self.notes),
        }


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """`["sku=code", "quantity="]` -> {"sku": "code", "quantity": ""} (an empty column: leave it out).

    Raises: ValidationError (not FIELD=COLUMN, an unknown field, a field given twice).
    """
    found: dict[str, str] = {}
    known = (*PRODUCT_FIELDS, *CATEGORY_FIELDS)
    for pair in pairs:
        name, sep, column = pair.partition("=")
        name = name.strip().lower()
        if not sep or not name:
            raise ValidationError(f"--map {pair!r}: use FIELD=COLUMN, like sku=code", field="map")
        if name not in known:
            raise ValidationError(f"--map {pair!r}: unknown field {name!r}; fields: {', '.join(known)}", field="map")
        if name in found:
            raise ValidationError(f"--map: {name} is given twice", field="map")
        found[name] = column.strip()
    return found


@contextmanager
def _translating(path: str) -> Iterator[None]:
    from sqlalchemy import exc

    try:
        yield
    except DomainError:
        raise
    except (exc.SQLAlchemyError, sqlite3.Error) as e:
        orig = getattr(e, "orig", None) or e
        text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        low = text.lower()
        if "not a database" in low or "malformed" in low or "corrupt" in low or "encrypted" in low:
            raise Corrupt(f"{path} is not a readable SQLite database: {text}", field="file") from e
        raise StorageError(f"cannot read {path}: {text}", field="file") from e


def _check_file(path: str) -> str:
    """The file's absolute path once it looks like a SQLite database.

    Raises: NotFound (no such file), ValidationError (a folder, unreadable), Corrupt (not SQLite).
    """
    if not os.path.exists(path):
        raise NotFound(f"{path}: no such file", field="file")
    if os.path.isdir(path):
        raise ValidationError(f"{path} is a folder, not a SQLite database file", field="file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror}", field="file") from e
    if head != SQLITE_MAGIC:
        what = "an empty file" if not head else "not a SQLite database (its first bytes are not 'SQLite format 3')"
        raise Corrupt(f"{path} is {what}", field="file")
    return os.path.abspath(path)


def _pick(names: list[str], wanted: tuple[str, ...]) -> str | None:
    by_norm: dict[str, str] = {}
    for n in names:
        by_norm.setdefault(_norm(n), n)
    for w in wanted:
        if w in by_norm:
            return by_norm[w]
    return None


def _is_integer(column: Any) -> bool:
    from sqlalchemy import Integer

    return isinstance(column.type, Integer)


def _type_name(column: Any) -> str:
    try:
        return str(column.type)
    except Exception:  # NullType of an undeclared SQLite column
        return "no type"


class LegacySource:
    """A legacy SQLite database opened read-only, its schema reflected and mapped onto our fields.

    Use as a context manager; `mapping` says what was found, `source_categories()` and `source_rows()` read the data.
    Raises on opening: NotFound (no file, no products table), Corrupt (not SQLite), ValidationError
    (a --map naming an unknown column, a required field nothing maps), StorageError.
    """

    def __init__(
        self,
        path: str,
        *,
        overrides: Mapping[str, str] | None = None,
        price_unit: str = "auto",
        products_table: str | None = None,
        categories_table: str | None = None,
    ):
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        if price_unit not in ("auto", "cents", "decimal"):
            raise ValidationError("--price-unit: auto, cents or decimal", field="price_unit")
        self.path = _check_file(path)
        uri = "file:" + self.path.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
        self._engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool)
        try:
            with _translating(path), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Did not recognize type 'MONEY'": we read values raw anyway
                self._reflect(products_table, categories_table)
                self.mapping = self._map(dict(overrides or {}), price_unit)
        except BaseException:
            self._engine.dispose()
            raise
        if self.mapping.missing:
            self.close()
            free = self.mapping.unmapped.get(self.mapping.products_table, [])
            raise ValidationError(
                f"{os.path.basename(path)}: no column of table {self.mapping.products_table!r} maps to "
                f"{', '.join(self.mapping.missing)} (required); name one with --map FIELD=COLUMN"
                + (f"; unmapped columns: {', '.join(free)}" if free else ""),
                field="map", missing=self.mapping.missing, unmapped=free,
            )

    def __enter__(self) -> LegacySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    # -- schema ------------------------------------------------------------------------------

    def _reflect(self, products_table: str | None, categories_table: str | None) -> None:
        from sqlalchemy import MetaData, inspect

        inspector = inspect(self._engine)
        tables = inspector.get_table_names() + inspector.get_view_names()

        def find(wanted: str | None, defaults: tuple[str, ...], what: str) -> str | None:
            if wanted:
                for t in tables:
                    if t.lower() == wanted.lower():
                        return t
                raise NotFound(f"{os.path.basename(self.path)} has no table {wanted!r} (tables: "
                               f"{', '.join(tables) or 'none'})", field=what)
            for d in defaults:
                for t in tables:
                    if t.lower() == d:
                        return t
            return None

        products = find(products_table, PRODUCT_TABLES, "products_table")
        if products is None:
            raise NotFound(f"{os.path.basename(self.path)} has no products table (tables: "
                           f"{', '.join(tables) or 'none'}); name it with --products-table", field="products_table")
        categories = find(categories_table, CATEGORY_TABLES, "categories_table")
        if categories == products:
            categories = None
        self._metadata = MetaData()
        self._metadata.reflect(self._engine, only=[t for t in (products, categories) if t], views=True,
                               resolve_fks=False)
        self.products = self._metadata.tables[products]
        self.categories = self._metadata.tables[categories] if categories else None
        self._foreign_keys = inspector.get_foreign_keys(products)

    def _map(self, overrides: dict[str, str], price_unit: str) -> LegacyMapping:
        products, categories = self.products, self.categories
        columns = [c.name for c in products.columns]
        fields: dict[str, FieldMapping] = {}
        used: set[str] = set()
        notes: list[str] = []

        def chosen(name: str, table: Any, auto: tuple[str, ...], taken: set[str]) -> tuple[str | None, str, bool]:
            """(column, how it was chosen, inverted-by-!) for one field."""
            names = [c.name for c in table.columns]
            if name in overrides:
                wanted = overrides[name]
                if not wanted:
                    return None, "--map", False
                invert = wanted.startswith("!")
                wanted = wanted.removeprefix("!").strip()
                for n in names:
                    if n.lower() == wanted.lower():
                        return n, "--map", invert
                raise ValidationError(
                    f"--map {name}={overrides[name]}: table {table.name!r} has no column {wanted!r} "
                    f"(columns: {', '.join(names)})", field="map")
            return _pick([n for n in names if n not in taken], auto), "auto", False

        # the categories table first: the products' category column depends on its key
        category_fields: dict[str, FieldMapping] = {}
        cat_used: set[str] = set()
        cat_key = None
        fk = None
        if categories is not None:
            fk = self._category_fk()
            key_default: tuple[str, ...] = FIELD_NAMES["category.key"]
            pk = [c.name for c in categories.primary_key.columns]
            if fk and fk[1]:
                key_default = (_norm(fk[1]), *key_default)
            elif len(pk) == 1:
                key_default = (_norm(pk[0]), *key_default)
            cat_key, by, _ = chosen("category.key", categories, key_default, cat_used)
            if cat_key:
                cat_used.add(cat_key)
                category_fields["category.key"] = FieldMapping("category.key", cat_key, _type_name(categories.c[cat_key]), by)
            for name in ("category.name", "category.parent"):
                column, by, _ = chosen(name, categories, FIELD_NAMES[name], cat_used)
                if column:
                    cat_used.add(column)
                    how = "the category's name" if name == "category.name" else f"the parent's {cat_key or 'name'}"
                    category_fields[name] = FieldMapping(name, column, how, by)
            if "category.name" not in category_fields:
                notes.append(f"table {categories.name!r}: no column maps to category.name; its rows are not imported "
                             "(name one with --map category.name=COLUMN)")

        # products
        row_key = tuple(c.name for c in products.primary_key.columns)
        unit: str | None = None
        mode: str | None = None
        self._active_inverted = False
        can_key = categories is not None and cat_key is not None and "category.name" in category_fields
        for name in PRODUCT_FIELDS:
            auto = FIELD_NAMES[name]
            if name == "category" and not can_key:
                auto = tuple(n for n in auto if not n.endswith(("id", "key", "code")))
            elif name == "category" and fk is not None:  # a declared foreign key wins, whatever its name
                auto = (_norm(fk[0]), *auto)
            column, by, invert = chosen(name, products, auto, used)
            if column is None:
                continue
            used.add(column)
            col = products.c[column]
            how = _type_name(col)
            if name == "price":
                unit = price_unit
                if unit == "auto":
                    said = any(w in _norm(column) for w in _CENTS_WORDS)
                    unit = "cents" if said or _is_integer(col) else "decimal"
                    why = "its name says so" if said else f"declared {_type_name(col)}"
                else:
                    why = "--price-unit"
                how = (f"cents (integer minor units: 1250 is 12.50; {why})" if unit == "cents"
                       else f"decimal amount (12.5 is 12.50; {why})")
                fields[name] = FieldMapping(name, column, how, by)
                continue
            if name == "active":
                inverted = invert or _norm(column) in INVERTED
                how = "inverted: true means inactive" if inverted else "true means active"
                self._active_inverted = inverted
            elif name == "category":
                keyed = can_key and (
                    (fk is not None and fk[0] == column) or "category.key" in overrides
                    or _is_integer(col) or _norm(column).endswith(("id", "key", "code"))
                )
                if not keyed and by == "auto" and _is_integer(col):
                    used.discard(column)
                    notes.append(f"{products.name}.{column} holds numbers but there is no categories table (with a "
                                 "name column) to look them up in: not imported (--map category=COLUMN takes it "
                                 "as names)")
                    continue
                mode = "key" if keyed else "name"
                if keyed:
                    how = f"a key into {categories.name}.{cat_key} (joined)"
                else:
                    how = "a category name (missing ones are created)"
            fields[name] = FieldMapping(name, column, how, by)

        unmapped = {products.name: [c for c in columns if c not in used and c not in row_key]}
        if categories is not None:
            unmapped[categories.name] = [c.name for c in categories.columns if c.name not in cat_used]
        if categories is not None and "category" not in fields:
            notes.append(f"no column of {products.name!r} names a category: the {categories.name!r} tree is "
                         "imported, the products get none")
        return LegacyMapping(
            path=self.path, products_table=products.name, categories_table=categories.name if categories is not None else None,
            fields=fields, category_fields=category_fields, unmapped=unmapped, row_key=row_key,
            price_unit=unit, category_mode=mode,
            notes=tuple(notes),
        )

    def _category_fk(self) -> tuple[str, str | None] | None:
        """(products column, categories column or None for its primary key) of a foreign key, if declared."""
        assert self.categories is not None
        for fk in self._foreign_keys:
            if fk.get("referred_table", "").lower() == self.categories.name.lower() and len(fk["constrained_columns"]) == 1:
                referred = fk.get("referred_columns") or [None]
                return fk["constrained_columns"][0], referred[0]
        return None

    # -- data --------------------------------------------------------------------------------

    def source_categories(self) -> list[SourceCategory]:
        """Every row of the categories table as (key, name, parent key); empty without one."""
        from sqlalchemy import select

        m = self.mapping.category_fields
        if self.categories is None or "category.name" not in m:
            return []
        table = self.categories
        key = m["category.key"].column if "category.key" in m else None
        cols = [_raw(table.c[m["category.name"].column]).label("name")]
        if key:
            cols.append(_raw(table.c[key]).label("key"))
        if "category.parent" in m:
            cols.append(_raw(table.c[m["category.parent"].column]).label("parent"))
        found = []
        with _translating(self.path), self._engine.connect() as conn:
            for n, row in enumerate(conn.execute(select(*cols).select_from(table)), start=1):
                data = row._mapping
                own = _key(data["key"]) if key else None
                if own is None:  # no key column, or a NULL key: parents can only name it
                    own = f"\0row {n}"
                parent = data.get("parent")
                found.append(SourceCategory(
                    key=own, name=_text(data["name"]),
                    parent_key=None if parent is None else _key(parent),
                    ref=f"{table.name} {key}={data['key']}" if key else f"{table.name} row {n}",
                ))
        return found

    def source_rows(self) -> Iterator[SourceRow]:
        """Every product row in key order, in our field names; a dangling category key is the row's problem."""
        from sqlalchemy import select

        m = self.mapping
        table = self.products
        cols = [_raw(table.c[f.column]).label(name) for name, f in m.fields.items()]
        cols += [_raw(table.c[k]).label(f"__key{i}") for i, k in enumerate(m.row_key)]
        source: Any = table
        keyed = m.category_mode == "key" and self.categories is not None
        if keyed:  # LEFT JOIN the distinct keys of the categories table: NULL there = a dangling reference
            key_col = self.categories.c[m.category_fields["category.key"].column]
            known = select(_raw(key_col).label("k")).distinct().subquery("legacy_category_keys")
            cols.append(known.c.k.label("__category_found"))
            source = table.outerjoin(known, table.c[m.fields["category"].column] == known.c.k)
        query = select(*cols).select_from(source)
        if m.row_key:
            query = query.order_by(*(table.c[k] for k in m.row_key))
        inverted = self._active_inverted
        with _translating(self.path), self._engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(query)
            for n, row in enumerate(result, start=1):
                data = row._mapping
                ref = ", ".join(f"{k}={data[f'__key{i}']}" for i, k in enumerate(m.row_key)) or f"row {n}"
                out: dict[str, Any] = {}
                problem = None
                for name in m.fields:
                    value = data[name]
                    if value is None:
                        continue
                    if name in ("sku", "name"):
                        out[name] = _text(value)
                    elif name == "price":
                        out[name] = _cents(value) if m.price_unit == "cents" else _decimal(value)
                    elif name == "quantity":
                        out[name] = _whole(value)
                    elif name == "active":
                        flag = _flag(value)
                        out[name] = (not flag if inverted else flag) if isinstance(flag, bool) else value
                    elif name == "category":
                        if keyed:
                            found = data["__category_found"]
                            if found is None:
                                problem = ("category", f"category: {m.fields['category'].column}={value!r} is not in "
                                                       f"the {self.categories.name} table")
                            else:
                                out["category_key"] = _key(found)
                        else:
                            out[name] = _text(value)
                yield SourceRow(n, ref, out, problem)


def _raw(column: Any) -> Any:
    """The column with no result processing: the value exactly as SQLite holds it."""
    from sqlalchemy import type_coerce
    from sqlalchemy.types import NullType

    return type_coerce(column, NullType())


def _key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _text(value: Any) -> Any:
    """Numbers as text (a legacy SKU 1001 is "1001"); anything else as it is, for the domain to judge."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _cents(value: Any) -> Any:
    """Minor units: an integer as it is, a whole float or digits-only text as an int; anything else as
    it is (the domain refuses a float or text with a reason)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return value


def _decimal(value: Any) -> Any:
    """A decimal amount as text the domain parses exactly: 12 -> "12", 12.5 -> "12.5" (a float's shortest
    round-trip form, so 12.99 stays 12.99 and 12.345 is refused, never rounded)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value.strip()
    return value


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _flag(value: Any) -> Any:
    """True/False for the usual spellings (1/0, yes/no, true/false, y/n, on/off); anything else unchanged."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return value


def open_legacy(path: str, **options: Any) -> LegacySource:
    """Open and map a legacy database (see LegacySource for the options and what it raises)."""
    return LegacySource(path, **options)
