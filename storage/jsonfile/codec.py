"""The JSON-file store's file format: the whole in-memory state (every tenant's TenantData and the id
counters) as one JSON document and back. Pure: no I/O, no locks; storage/jsonfile/store.py does those.

    {"format": "stockbank-jsonfile", "version": 1,
     "ids": {"category": 1, "product": 1, ...},
     "tenants": {"default": {
       "categories": {"columns": ["id", "name", "parent_id", "version"], "rows": {"1": [1, "Tools", null, 1]}},
       "sku_index": {"HAM-1": 1},
       "audit": {"columns": ["at", "actor", ...], "rows": [["2026-01-01T09:00:00Z", "alice", ...], ...]},
       "attachment_content": {"1": "base64..."}, ...}}}

Every TenantData field has a codec below, so a reload gives back the same objects of the same types:
maps keep their keys (ints and (product, location) pairs written as text), rows of a dataclass or
NamedTuple are lists under a "columns" header naming their fields (half the size of one object per row,
and faster both ways), tuples stay tuples, sets are sorted lists, bytes are base64. Reading checks
every value against its field's type hint (a float, text where an int belongs, a missing or unknown
column is a FormatError), so a damaged or hand-edited file is refused, never half loaded.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import types
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, fields, is_dataclass
from functools import cache
from operator import attrgetter
from typing import Any, Union, get_args, get_origin, get_type_hints

from domain.model import MAX_ID, AuditEntry, Category, Product, User
from domain.model.attachments import Attachment
from domain.model.bank import Account, Transfer
from domain.model.stock import GameState, Location, StockLevel, StockMove
from storage.memory.base import TenantData

FORMAT = "stockbank-jsonfile"
VERSION = 1  # bump with an upgrader when the document changes shape
_LEAVES = {int, str, bool, type(None)}  # what a row value may be (no floats: money is integer minor units)
_MAX_COMBOS = 4096


class FormatError(ValueError):
    """The document is not a stockbank JSON-file store (the store reports it as `corrupt`)."""


class NewerFormat(FormatError):
    """The document says it was written in a newer format version than this code reads."""

    def __init__(self, version: int):
        super().__init__(f"format version {version}")
        self.version = version


# -- rows: a dataclass / NamedTuple as a list of its field values, type-checked ---------------------------


class _Shape:
    """How the rows of one class are written: the columns (its fields, in order) and the value types each
    column may hold, from the class's type hints."""

    def __init__(self, cls: type):
        hints = get_type_hints(cls)
        if is_dataclass(cls):
            names = tuple(f.name for f in fields(cls))
            defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
        else:  # a NamedTuple
            names = tuple(cls._fields)  # type: ignore[attr-defined]
            defaults = dict(cls._field_defaults)  # type: ignore[attr-defined]
        allowed = []
        for name in names:
            hint = hints[name]
            types_ = frozenset(get_args(hint)) if get_origin(hint) in (Union, types.UnionType) else frozenset({hint})
            if not types_ <= _LEAVES:
                raise TypeError(f"{cls.__name__}.{name}: {hint} has no JSON codec (storage/jsonfile/codec.py)")
            allowed.append(types_)
        self.cls, self.names, self.allowed = cls, names, tuple(allowed)
        self.defaults = defaults  # what a column missing from the file's header takes
        self.required = frozenset(names) - defaults.keys()
        self._get = attrgetter(*names)
        size = 1
        for types_ in allowed:
            size *= len(types_)
        # every allowed tuple of value types: one set lookup checks a whole row
        self._combos = frozenset(itertools.product(*allowed)) if size <= _MAX_COMBOS else None

    def _fits(self, values: tuple[Any, ...] | list[Any]) -> bool:
        kinds = tuple(map(type, values))
        if self._combos is not None:
            return kinds in self._combos
        return all(k in a for k, a in zip(kinds, self.allowed))

    def _misfit(self, values: tuple[Any, ...] | list[Any]) -> tuple[str, Any]:
        return next((n, v) for n, v, a in zip(self.names, values, self.allowed) if type(v) not in a)

    def encode(self, row: Any) -> tuple[Any, ...]:
        if type(row) is not self.cls:
            raise TypeError(f"expected a {self.cls.__name__}, got {type(row).__name__}")
        values = self._get(row)
        if not self._fits(values):
            name, value = self._misfit(values)
            raise TypeError(f"{self.cls.__name__}.{name} holds a {type(value).__name__}, which the file cannot keep")
        return values

    def reader(self, columns: Any, where: str):
        """A function from one row's list of values (in `columns` order) to the object."""
        if columns == list(self.names):
            return self._decode
        if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)
                and len(set(columns)) == len(columns)):
            raise FormatError(f"{where}.columns: expected a list of distinct column names")
        unknown = [c for c in columns if c not in self.names]
        if unknown:
            raise FormatError(f"{where}.columns: unknown column {unknown[0]!r}")
        missing = sorted(self.required - set(columns))
        if missing:
            raise FormatError(f"{where}.columns: column {missing[0]!r} is missing")
        width = len(columns)

        def reorder(values: Any, at: str) -> Any:
            if type(values) is not list or len(values) != width:
                raise FormatError(f"{at}: expected a list of {width} values, found {_kind(values)}")
            given = dict(zip(columns, values))
            return self._decode([given[n] if n in given else self.defaults[n] for n in self.names], at)

        return reorder

    def _decode(self, values: Any, where: str) -> Any:
        if type(values) is not list or len(values) != len(self.names):
            raise FormatError(f"{where}: expected a list of {len(self.names)} values, found {_kind(values)}")
        if not self._fits(values):
            name, value = self._misfit(values)
            raise FormatError(f"{where}: {name} cannot be {_kind(value)}")
        return self.cls(*values)


@cache
def _shape(cls: type) -> _Shape:
    return _Shape(cls)


# -- plain values --------------------------------------------------------------------------------------


class _Int:
    def encode(self, value: Any) -> int:
        if type(value) is not int:
            raise TypeError(f"expected an int, got {type(value).__name__}")
        return value

    def decode(self, doc: Any, where: str) -> int:
        if type(doc) is not int:
            raise FormatError(f"{where}: expected an integer, found {_kind(doc)}")
        return doc


_INT = _Int()


class _IntPair:
    """A (int, int) tuple as a two-element list."""

    def encode(self, value: Any) -> tuple[int, int]:
        if type(value) is not tuple or len(value) != 2 or type(value[0]) is not int or type(value[1]) is not int:
            raise TypeError(f"expected a pair of ints, got {value!r}")
        return value

    def decode(self, doc: Any, where: str) -> tuple[int, int]:
        if type(doc) is not list or len(doc) != 2 or type(doc[0]) is not int or type(doc[1]) is not int:
            raise FormatError(f"{where}: expected a list of two integers, found {_kind(doc)}")
        return (doc[0], doc[1])


class _Bytes:
    """Bytes as standard base64 text; a non-base64 character or bad padding is a FormatError."""

    def encode(self, value: Any) -> str:
        if type(value) is not bytes:
            raise TypeError(f"expected bytes, got {type(value).__name__}")
        return base64.b64encode(value).decode("ascii")

    def decode(self, doc: Any, where: str) -> bytes:
        if not isinstance(doc, str):
            raise FormatError(f"{where}: expected base64 text, found {_kind(doc)}")
        try:
            return base64.b64decode(doc, validate=True)
        except (binascii.Error, ValueError) as e:
            raise FormatError(f"{where}: not base64 ({e})") from None


# -- keys: JSON object members are text ----------------------------------------------------------------


def _key_texts(kind: str, keys: Iterable[Any]) -> list[str]:
    keys = list(keys)
    if kind == "pair":
        if not all(type(k) is tuple and len(k) == 2 and type(k[0]) is int and type(k[1]) is int for k in keys):
            raise TypeError("expected (int, int) keys")
        return [f"{a},{b}" for a, b in keys]
    wanted = int if kind == "int" else str
    if not set(map(type, keys)) <= {wanted}:
        raise TypeError(f"expected {wanted.__name__} keys")
    return list(map(str, keys))


def _key_of(kind: str, text: str) -> Any:
    """Raises: ValueError (not a key of that kind, or not written the one way we write it)."""
    if kind == "str":
        return text
    if kind == "pair":
        first, comma, second = text.partition(",")
        if not comma:
            raise ValueError(text)
        return (_key_of("int", first), _key_of("int", second))
    number = int(text)
    if str(number) != text:  # " 1", "01", "+1", "1_0": not how the file writes 1 or 10
        raise ValueError(text)
    return number


# -- containers: the shapes TenantData's fields have ----------------------------------------------------


class _Map:
    """dict[key, value] as a JSON object; the keys keep their type through `key` ("int", "str", "pair")."""

    def __init__(self, key: str, value: Any):
        self.key, self.value = key, value

    def encode(self, mapping: Any) -> dict[str, Any]:
        return dict(zip(_key_texts(self.key, mapping), map(self.value.encode, mapping.values())))

    def decode(self, doc: Any, where: str) -> dict[Any, Any]:
        return self._decode(doc, where, self.value.decode)

    def _decode(self, doc: Any, where: str, read) -> dict[Any, Any]:
        if not isinstance(doc, dict):
            raise FormatError(f"{where}: expected an object, found {_kind(doc)}")
        out = {}
        for text, value in doc.items():
            try:
                key = _key_of(self.key, text)
            except ValueError:
                raise FormatError(f"{where}: {text[:40]!r} is not a valid key here") from None
            out[key] = read(value, f"{where}[{text!r}]")
        return out


def _table(doc: Any, where: str, shape: _Shape, rows_type: type) -> tuple[Any, Any]:
    """The row reader and the rows of a {"columns": [...], "rows": ...} object."""
    if not isinstance(doc, dict) or doc.keys() != {"columns", "rows"}:
        raise FormatError(f"{where}: expected an object of \"columns\" and \"rows\"")
    if not isinstance(doc["rows"], rows_type):
        raise FormatError(f"{where}.rows: found {_kind(doc['rows'])}")
    return shape.reader(doc["columns"], where), doc["rows"]


class _Table(_Map):
    """dict[key, row] as {"columns": [field names], "rows": {key: [values]}}."""

    def __init__(self, key: str, cls: type):
        super().__init__(key, _shape(cls))

    def encode(self, mapping: Any) -> dict[str, Any]:
        return {"columns": list(self.value.names), "rows": super().encode(mapping)}

    def decode(self, doc: Any, where: str) -> dict[Any, Any]:
        read, rows = _table(doc, where, self.value, dict)
        return self._decode(rows, f"{where}.rows", read)


class _RowList:
    """list[row] as {"columns": [field names], "rows": [[values], ...]}."""

    def __init__(self, cls: type):
        self.value = _shape(cls)

    def encode(self, items: Any) -> dict[str, Any]:
        return {"columns": list(self.value.names), "rows": list(map(self.value.encode, items))}

    def decode(self, doc: Any, where: str) -> list[Any]:
        read, rows = _table(doc, where, self.value, list)
        return [read(v, f"{where}.rows[{n}]") for n, v in enumerate(rows)]


class _IntSet:
    def encode(self, items: Any) -> list[int]:
        return sorted(map(_INT.encode, items))

    def decode(self, doc: Any, where: str) -> set[int]:
        if not isinstance(doc, list):
            raise FormatError(f"{where}: expected a list, found {_kind(doc)}")
        return {_INT.decode(v, f"{where}[{n}]") for n, v in enumerate(doc)}


# One codec per TenantData field; a field without one fails loudly (see check_codecs), never silently.
FIELDS: dict[str, Any] = {
    "categories": _Table("int", Category),
    "products": _Table("int", Product),
    "sku_index": _Map("str", _INT),
    "users": _Table("str", User),
    "audit": _RowList(AuditEntry),
    "audit_archive": _RowList(AuditEntry),
    "accounts": _Table("int", Account),
    "transfers": _Table("int", Transfer),
    "transfer_keys": _Map("str", _INT),
    "resolutions": _Map("int", _INT),
    "locations": _Table("int", Location),
    "planning": _Map("int", _IntPair()),
    "levels": _Table("pair", StockLevel),
    "moves": _Table("int", StockMove),
    "move_keys": _Map("str", _INT),
    "move_resolutions": _Map("int", _INT),
    "game": _Table("str", GameState),
    "archived_transfers": _IntSet(),
    "archived_moves": _IntSet(),
    "attachments": _Table("int", Attachment),
    "attachment_content": _Map("int", _Bytes()),
}
# Fields added to TenantData after format version 1: a file without them gets TenantData's default.
# (Every field of version 1 must be present: a missing one means a damaged file.)
ADDED_AFTER_V1: frozenset[str] = frozenset()

# Which tenant maps hold the rows each id counter numbers: a counter below an id in use is damage.
_COUNTED = {"category": ("categories",), "product": ("products",), "account": ("accounts",),
            "transfer": ("transfers",), "location": ("locations",), "move": ("moves",),
            "attachment": ("attachments",)}


def check_codecs() -> None:
    """Every TenantData field has a codec (the row types were checked when FIELDS was built).

    Raises: TypeError."""
    names = {f.name for f in fields(TenantData)}
    if names != FIELDS.keys():
        raise TypeError(f"TenantData fields and JSON codecs differ: {sorted(names ^ FIELDS.keys())}; "
                        "give every field a codec in storage/jsonfile/codec.py FIELDS")


def capture(data: TenantData) -> dict[str, Any]:
    """Shallow copies of the tenant's containers: the rows in them are immutable, so this, taken under
    the store's lock, is a consistent snapshot that can be encoded after the lock is let go."""
    return {name: getattr(data, name).copy() for name in FIELDS}


def encode(ids: Mapping[str, int], tenants: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The document for the id counters and the captured tenants (see `capture`), as UTF-8 JSON bytes
    (ASCII-escaped, so any string the domain holds survives). Raises: TypeError (a value the format
    cannot keep: a bug to fix here, not a user error)."""
    check_codecs()
    names = _key_texts("str", tenants)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "ids": {kind: _INT.encode(n) for kind, n in ids.items()},
        "tenants": {name: {field: FIELDS[field].encode(value) for field, value in captured.items()}
                    for name, captured in zip(names, tenants.values())},
    }
    return json.dumps(doc, separators=(",", ":")).encode("ascii")


def decode(raw: bytes, id_kinds: Mapping[str, int]) -> tuple[dict[str, int], dict[str, TenantData]]:
    """The id counters and the tenants of a document. `id_kinds` are the counters the store keeps
    (with their starting values): a kind the file lacks starts past the highest id in use.

    Raises: NewerFormat (a newer format version), FormatError (anything else wrong).
    """
    if not raw.strip():
        raise FormatError("the file is empty")
    try:
        doc = json.loads(raw)
    except UnicodeDecodeError as e:
        raise FormatError(f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise FormatError(f"not JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except (ValueError, RecursionError) as e:  # an integer too long to read, nesting too deep
        raise FormatError(f"not readable JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FormatError(f"no \"format\": \"{FORMAT}\" marker at the top")
    version = doc.get("version")
    if type(version) is not int or version < 1:
        raise FormatError(f"bad format version {version!r}")
    if version > VERSION:
        raise NewerFormat(version)
    unknown = doc.keys() - {"format", "version", "ids", "tenants"}
    if unknown:
        raise FormatError(f"unknown member {sorted(unknown)[0]!r} at the top")
    tenants_doc = doc.get("tenants")
    if not isinstance(tenants_doc, dict):
        raise FormatError(f"\"tenants\" should be an object, found {_kind(tenants_doc)}")
    tenants = {name: _decode_tenant(t, f"tenants[{name!r}]") for name, t in tenants_doc.items()}
    return _decode_ids(doc.get("ids"), id_kinds, tenants), tenants


def _decode_tenant(doc: Any, where: str) -> TenantData:
    if not isinstance(doc, dict):
        raise FormatError(f"{where}: expected an object, found {_kind(doc)}")
    unknown = doc.keys() - FIELDS.keys()
    if unknown:
        raise FormatError(f"{where}: unknown member {sorted(unknown)[0]!r}")
    data = TenantData()
    for name, codec in FIELDS.items():
        if name in doc:
            setattr(data, name, codec.decode(doc[name], f"{where}.{name}"))
        elif name not in ADDED_AFTER_V1:
            raise FormatError(f"{where}: member {name!r} is missing")
    return data


def _decode_ids(doc: Any, id_kinds: Mapping[str, int], tenants: Mapping[str, TenantData]) -> dict[str, int]:
    if not isinstance(doc, dict):
        raise FormatError(f"\"ids\" should be an object, found {_kind(doc)}")
    unknown = doc.keys() - id_kinds.keys()
    if unknown:
        raise FormatError(f"ids: unknown counter {sorted(unknown)[0]!r}")
    in_use = {kind: max((max(getattr(t, f), default=0) for t in tenants.values() for f in names), default=0)
              for kind, names in _COUNTED.items()}
    in_use["user"] = max((u.id for t in tenants.values() for u in t.users.values()), default=0)
    in_use["audit"] = max((e.id or 0 for t in tenants.values() for e in (*t.audit[-1:], *t.audit_archive[-1:])),
                          default=0)
    ids = {}
    for kind, start in id_kinds.items():
        if kind not in doc:
            ids[kind] = max(start, in_use.get(kind, 0))
            continue
        value = _INT.decode(doc[kind], f"ids.{kind}")
        if not 0 <= value <= MAX_ID:
            raise FormatError(f"ids.{kind}: {value} is out of range")
        if value < in_use.get(kind, 0):
            raise FormatError(f"ids.{kind} is {value}, below id {in_use[kind]} already in use")
        ids[kind] = value
    return ids


def _kind(value: Any) -> str:
    """What a JSON value is, for messages."""
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "an integer",
            float: "a decimal number", type(None): "null"}.get(type(value), type(value).__name__)
