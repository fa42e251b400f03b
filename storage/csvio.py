"""CSV in and out: streamed (constant memory), UTF-8 only, safe to open in a spreadsheet.

Export neutralises formula injection (OWASP): a text cell starting with = + - @ tab or CR
gets a leading apostrophe. Import checks the header and the encoding and hands rows, as
dicts, to the catalog service, which validates each with Pydantic.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TextIO

from domain.errors import ValidationError
from domain.money import format_minor
from domain.services.catalog import PRODUCT_CSV_COLUMNS, PRODUCT_CSV_REQUIRED, PRODUCT_EXPORT_HEADER

if TYPE_CHECKING:
    from domain.ports import ExportRow

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_FIELD = 10_000


def safe_cell(text: str | None) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    if not text:
        return ""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def write_products_csv(rows: Iterable[ExportRow], out: TextIO) -> int:
    """Write the header and every row; returns the number of data rows. Constant memory."""
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; also makes cells holding CR or LF quoted
    writer.writerow(PRODUCT_EXPORT_HEADER)
    count = 0
    write = writer.writerow
    for sku, name, category, price, quantity, value in rows:
        write((safe_cell(sku), safe_cell(name), safe_cell(category), format_minor(price), quantity,
               format_minor(value)))
        count += 1
    return count


def write_csv(header: Iterable[str], rows: Iterable[Iterable[object]], out: TextIO) -> int:
    """Any table as CSV with the same safety rules: header always, text cells neutralised (header cells
    too: the stock export names a column after each user-named location)."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    count = 0
    for row in rows:
        writer.writerow([safe_cell(c) if isinstance(c, str) else c for c in row])
        count += 1
    return count


class _CountingReader(io.RawIOBase):
    """Wraps a binary file to report bytes read, for progress bars."""

    def __init__(self, raw: io.BufferedReader, on_bytes: Callable[[int], None] | None):
        self._raw = raw
        self._seen = 0
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)
        if n and self._on_bytes is not None:
            self._seen += n
            self._on_bytes(self._seen)
        return n or 0


def read_products_csv(path: str, on_bytes: Callable[[int], None] | None = None) -> Iterator[dict[str, str]]:
    """Yield each data row of a product CSV as a dict keyed by lower-case column name.

    Raises (lazily, while iterating):
        ValidationError: unreadable file, wrong encoding (with the line), missing columns,
            a row with more cells than the header, or an oversized field.
    """
    try:
        raw = open(path, "rb")
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror}", field="file") from e
    line = 1
    try:
        text = io.TextIOWrapper(
            io.BufferedReader(_CountingReader(raw, on_bytes)), encoding="utf-8-sig", errors="strict", newline=""
        )
        csv.field_size_limit(MAX_FIELD)
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise ValidationError(f"{os.path.basename(path)} is empty; expected a header row", field="file") from None
        columns = [h.strip().lower() for h in header]
        missing = [c for c in PRODUCT_CSV_REQUIRED if c not in columns]
        if missing:
            raise ValidationError(
                f"missing column(s): {', '.join(missing)} (the header needs {', '.join(PRODUCT_CSV_REQUIRED)}; "
                f"optional: {', '.join(c for c in PRODUCT_CSV_COLUMNS if c not in PRODUCT_CSV_REQUIRED)})",
                field="header",
            )
        known = [(i, c) for i, c in enumerate(columns) if c in PRODUCT_CSV_COLUMNS]
        width = len(columns)
        number = 0
        for cells in reader:
            line = reader.line_num
            if not cells:
                continue  # blank lines are not rows: numbers match the service's
            number += 1
            if len(cells) > width:
                raise ValidationError(f"row {number}: has {len(cells)} cells but the header has {width}", row=number)
            yield {c: cells[i] for i, c in known if i < len(cells)}
    except UnicodeDecodeError as e:
        raise ValidationError(
            f"the file is not UTF-8 (bad byte 0x{e.object[e.start]:02x} near line {line + 1}); save it as UTF-8",
            field="file",
        ) from None
    except csv.Error as e:
        raise ValidationError(f"line {line + 1}: malformed CSV ({e})", field="file") from None
    finally:
        raw.close()


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


__all__ = ["file_size", "read_products_csv", "safe_cell", "write_csv", "write_products_csv"]
