"""The byte layer of save files: framing, header, checksum, signature, limits, atomic writes.

A save file is one header line, then the payload bytes of one codec (codecs.py):

    #stockbank-save {"app_version":"0.1.0","codec":"yaml",...,"sha256":"…","size":1234}
    <payload>

The header line starts with `#`, so a YAML save stays a valid YAML file. The header carries the
payload's length and sha256, so truncation and damage are found before anything is parsed; a
pickle header also carries an HMAC signature (signing.py) over the header fields and the
payload, checked before a single byte is unpickled. Whether `format_version` is one this app
reads is for the schema layer to decide; this layer only checks it is a sane number.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.errors import Corrupt, NotFound, StorageError, Tampered, TooLarge

from . import codecs, signing
from storage.durable import replace_file

FORMATS = ("json", "yaml", "pickle")
MAGIC = b"#stockbank-save "
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 4096
MAX_DEPTH = 32

_SIGNED_FIELDS = ("format_version", "codec", "app_version", "created_at", "sha256", "size")
_SIGNATURE_CONTEXT = b"stockbank-save-signature-v1\n"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_TEXT_FIELD = 64
_MAX_FORMAT_VERSION = 1_000_000


@dataclass(frozen=True)
class Header:
    """Line 1 of a save file: what the payload is, and how to check it."""

    format_version: int
    codec: str
    app_version: str
    created_at: str
    sha256: str
    size: int
    day: int | None = None  # the game day saved: lets a listing show it without reading the payload
    signature: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def encode(payload: dict, *, codec: str, format_version: int, app_version: str, created_at: str,
           key: bytes | None = None, day: int | None = None) -> bytes:
    """A whole save file for `payload`; the same input gives the same bytes for JSON and YAML.

    Raises:
        ValueError: unknown codec, a pickle without a key, or header fields that are not sane.
        ValidationError: the payload is not plain data (see codecs.check_encodable).
        TooLarge: the payload is nested too deeply, holds an int outside int64, or the file
            would exceed MAX_FILE_BYTES.
    """
    if codec not in FORMATS:
        raise ValueError(f"unknown save codec {codec!r}; one of {FORMATS}")
    if codec == "pickle" and not (isinstance(key, bytes) and key):
        raise ValueError("a pickle save needs the installation's signing key (signing.installation_key())")
    body = codecs.encode_payload(payload, codec, max_depth=MAX_DEPTH)
    data = frame(body, codec=codec, format_version=format_version, app_version=app_version,
                 created_at=created_at, key=key if codec == "pickle" else None, day=day)
    if len(data) > MAX_FILE_BYTES:
        raise TooLarge(f"the save would take {len(data):,} bytes, more than the "
                       f"{MAX_FILE_BYTES:,} a save file may hold")
    return data


def frame(body: bytes, *, codec: str, format_version: int, app_version: str, created_at: str,
          key: bytes | None = None, day: int | None = None) -> bytes:
    """Header line + `body`, signed when `key` is given. `encode` uses it; tests use it to frame
    hand-made payloads with a valid checksum.

    Raises:
        ValueError: header fields that are not sane, or a header line over MAX_HEADER_BYTES.
    """
    header = Header(format_version=format_version, codec=codec, app_version=app_version,
                    created_at=created_at, sha256=hashlib.sha256(body).hexdigest(), size=len(body), day=day)
    if key is not None:
        header = dataclasses.replace(header, signature=signing.sign(key, _signed_message(header, body)))
    problem = _header_problem(header.to_dict())
    if problem:
        raise ValueError(f"cannot write a save header: {problem}")
    fields = {k: v for k, v in header.to_dict().items() if v is not None}
    line = MAGIC + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii") + b"\n"
    if len(line) > MAX_HEADER_BYTES:
        raise ValueError(f"the save header would take {len(line)} bytes, over {MAX_HEADER_BYTES}")
    return line + body


def decode(data: bytes, *, key: bytes | None = None, max_depth: int = MAX_DEPTH) -> tuple[Header, dict]:
    """The header and the plain payload of a save file, after every check.

    Raises:
        TooLarge: the file is over MAX_FILE_BYTES, nests deeper than `max_depth`, or holds an
            int outside int64 (found before JSON and YAML are parsed).
        Corrupt: not a save file, a garbled header, a truncated or damaged payload, or content
            that no save file holds (floats, YAML tags, anchors, code references...).
        Tampered: a pickle that is unsigned, whose signature does not match `key`, or no key.
    """
    header, body = _verified(data, key)
    return header, codecs.decode_payload(body, header.codec, max_depth=max_depth)


def check_file(path: str | Path, key: bytes | None) -> Header:
    """Verify a save file's size, header, checksum and (pickle) signature without parsing it.

    Raises:
        NotFound, StorageError: see `read_file`.
        TooLarge, Corrupt, Tampered: as `decode`, for everything before parsing.
    """
    header, _ = _verified(read_file(path), key)
    return header


def read_header(path: str | Path) -> Header:
    """Line 1 only, read within MAX_HEADER_BYTES: cheap enough to list every save slot.

    Raises:
        NotFound: no such file.
        Corrupt: not a save file, or a garbled header.
        StorageError: the file cannot be read.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(MAX_HEADER_BYTES)
    except FileNotFoundError as e:
        raise NotFound(f"no save file at {path}") from e
    except OSError as e:
        raise StorageError(f"cannot read the save file {path}: {e.strerror or e}") from e
    header, _ = _split(head)
    return header


def read_file(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a save file, refused by its size before anything is read.

    Raises:
        NotFound: no such file.
        TooLarge: the file is over `max_bytes`.
        StorageError: the file cannot be read (permissions, a folder, an I/O error).
    """
    try:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise TooLarge(f"the save file {path} takes {size:,} bytes, more than the "
                           f"{max_bytes:,} a save file may hold; it was not read")
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError as e:
        raise NotFound(f"no save file at {path}") from e
    except OSError as e:
        raise StorageError(f"cannot read the save file {path}: {e.strerror or e}") from e
    if len(data) > max_bytes:
        raise TooLarge(f"the save file {path} grew past {max_bytes:,} bytes while being read")
    return data


def write_atomic(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old file or the new one, never half.

    Raises:
        StorageError: the folder is missing or not writable, the disk is full, ...
    """
    target = Path(path)
    try:
        replace_file(target, data, f".{target.name}.tmp-")
    except OSError as e:
        raise StorageError(f"cannot write the save file {target}: {e.strerror or e} "
                           "(a failed write leaves the previous file, if any, as it was)") from e


def _verified(data: bytes, key: bytes | None) -> tuple[Header, bytes]:
    """Every check that needs no parsing, in the order that keeps hostile bytes away from parsers.

    A pickle's signature is checked before its checksum: it covers the payload too, and an
    edited pickle is then reported as tampered, not as damage anyone could have caused.
    """
    if len(data) > MAX_FILE_BYTES:
        raise TooLarge(f"the save file takes {len(data):,} bytes, more than the "
                       f"{MAX_FILE_BYTES:,} a save file may hold; it was not read")
    header, body = _split(data)
    if len(body) != header.size:
        state = "truncated" if len(body) < header.size else "longer than its header says"
        raise Corrupt(f"the save file is {state} ({len(body):,} payload bytes, header says "
                      f"{header.size:,}); it was damaged, restore it from a backup")
    if header.codec == "pickle":
        _check_signature(header, body, key)
    elif header.signature is not None:
        raise Corrupt(f"the {header.codec} save file carries a signature, which only pickle saves have; "
                      "its header was edited")
    if hashlib.sha256(body).hexdigest() != header.sha256:
        raise Corrupt("the save file's checksum does not match its contents; it was damaged or "
                      "edited, restore it from a backup")
    return header, body


def _check_signature(header: Header, body: bytes, key: bytes | None) -> None:
    if key is None:
        raise Tampered("the pickle save file cannot be verified without this installation's signing key, "
                       "so it was not read")
    if header.signature is None:
        raise Tampered("the pickle save file is not signed; pickle saves are loaded only when "
                       "this installation signed them, so it was not read")
    if not signing.verify(key, _signed_message(header, body), header.signature):
        raise Tampered("the pickle save file's signature does not match: it was edited, or made by "
                       "another installation; it was not read")


def _signed_message(header: Header, body: bytes) -> bytes:
    fields = {name: getattr(header, name) for name in _SIGNED_FIELDS}
    if header.day is not None:
        fields["day"] = header.day
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")
    return _SIGNATURE_CONTEXT + canonical + b"\n" + body


def _split(data: bytes) -> tuple[Header, bytes]:
    """The parsed header line and the bytes after it."""
    if not data.startswith(MAGIC):
        raise Corrupt("not a stockbank save file (it does not start with the save header)")
    end = data.find(b"\n", 0, MAX_HEADER_BYTES)
    if end < 0:
        raise Corrupt(f"the save file's header is garbled: no end of line within the first "
                      f"{MAX_HEADER_BYTES} bytes")
    try:
        fields = json.loads(data[len(MAGIC):end].decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise Corrupt(f"the save file's header is garbled ({e}); it was damaged or edited") from e
    if not isinstance(fields, dict):
        raise Corrupt("the save file's header is garbled: it is not a JSON object")
    problem = _header_problem(fields)
    if problem:
        raise Corrupt(f"the save file's header is garbled: {problem}")
    names = [f.name for f in dataclasses.fields(Header)]
    return Header(**{name: fields.get(name) for name in names}), data[end + 1:]


def _header_problem(fields: dict[str, Any]) -> str | None:
    """What is wrong with header fields, or None. Unknown fields are ignored (newer writers)."""
    missing = [name for name in _SIGNED_FIELDS if name not in fields]
    if missing:
        return f"missing {', '.join(missing)}"
    version, size = fields["format_version"], fields["size"]
    if type(version) is not int or not 1 <= version <= _MAX_FORMAT_VERSION:
        return f"format_version must be a whole number from 1, not {version!r:.40}"
    if fields["codec"] not in FORMATS:
        return f"codec must be one of {', '.join(FORMATS)}, not {fields['codec']!r:.40}"
    for name in ("app_version", "created_at"):
        text = fields[name]
        if not (isinstance(text, str) and 0 < len(text) <= _MAX_TEXT_FIELD and text.isprintable()):
            return f"{name} must be a short text, not {text!r:.40}"
    try:
        datetime.fromisoformat(fields["created_at"])
    except ValueError:
        return f"created_at must be an ISO-8601 time, not {fields['created_at']!r:.40}"
    if not (isinstance(fields["sha256"], str) and _HEX64.fullmatch(fields["sha256"])):
        return "sha256 must be 64 lowercase hex digits"
    if type(size) is not int or not 0 <= size <= MAX_FILE_BYTES:
        return f"size must be a byte count from 0 to {MAX_FILE_BYTES}, not {size!r:.40}"
    day = fields.get("day")
    if day is not None and (type(day) is not int or not 0 <= day < 2**63):
        return f"day must be a whole number from 0, not {day!r:.40}"
    signature = fields.get("signature")
    if signature is not None and not (isinstance(signature, str) and _HEX64.fullmatch(signature)):
        return "signature must be 64 lowercase hex digits"
    return None
