"""Payload codecs of save files: a plain payload (dicts, lists, str, int, bool, None) to bytes and
back, as JSON, YAML or pickle.

The container (container.py) frames these bytes with a header, a checksum and, for pickle, a
signature; it calls `decode_payload` only after those checks passed. Decoding still trusts
nothing: before JSON or YAML is parsed, a scan of the text refuses nesting deeper than the limit
(and, in YAML, anchors, aliases and tags), so a small hostile file cannot make a parser recurse
or expand; pickle is unpickled by an unpickler that resolves no globals, so it can build plain
data and nothing else; every result is walked to check it is plain data within limits.
"""

from __future__ import annotations

import functools
import io
import json
import pickle
import re
from typing import Any

from domain.errors import Corrupt, DomainError, TooLarge, ValidationError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
PICKLE_PROTOCOL = 5

_SURROGATE = re.compile("[\ud800-\udfff]")


class _NotPlain(Exception):
    """What `_walk` found wrong; the caller picks the error class (encode or decode side)."""

    def __init__(self, kind: str, what: str, trail: tuple | None):
        super().__init__(what)
        self.kind = kind
        self.what = what
        self.where = _render_trail(trail)


def _render_trail(trail: tuple | None) -> str:
    parts: list[str] = []
    while trail is not None:
        key, trail = trail
        parts.append(f"[{key!r}]")
    return "payload" + "".join(reversed(parts))


def _walk(payload: Any, max_depth: int) -> None:
    """Check a payload is a tree of plain values within limits, without recursion."""
    seen: set[int] = set()
    stack: list[tuple[Any, int, tuple | None]] = [(payload, 1, None)]
    while stack:
        node, depth, trail = stack.pop()
        if depth > max_depth:
            raise _NotPlain("too_large", f"nesting deeper than {max_depth} levels", trail)
        if id(node) in seen:
            raise _NotPlain("shared", "the same list or dict in two places (payloads are trees)", trail)
        seen.add(id(node))
        if type(node) is dict:
            for key in node:
                if type(key) is not str:
                    raise _NotPlain("type", f"a key of type {type(key).__name__} ({key!r:.40})", trail)
                if not key.isascii() and _SURROGATE.search(key):
                    raise _NotPlain("type", "a key with a lone surrogate", trail)
            items: Any = node.items()
        else:
            items = enumerate(node)
        for key, value in items:
            kind = type(value)
            if kind is str:
                if not value.isascii() and _SURROGATE.search(value):
                    raise _NotPlain("type", "a text with a lone surrogate", (key, trail))
            elif kind is int:
                if not INT64_MIN <= value <= INT64_MAX:
                    raise _NotPlain("too_large", "a number outside the 64-bit range", (key, trail))
            elif kind is dict or kind is list:
                stack.append((value, depth + 1, (key, trail)))
            elif kind is not bool and value is not None:
                raise _NotPlain("type", f"a value of type {kind.__name__} ({value!r:.40})", (key, trail))


def check_encodable(payload: Any, max_depth: int) -> None:
    """Refuse, before writing, a payload that decoding would refuse: a save must load back.

    Raises:
        ValidationError: not plain data (a float, a tuple, a non-str key, a shared list...).
        TooLarge: nested deeper than `max_depth`, or an int outside int64.
    """
    if type(payload) is not dict:
        raise ValidationError(f"a save payload is a dict, not a {type(payload).__name__}")
    try:
        _walk(payload, max_depth)
    except _NotPlain as e:
        cls = TooLarge if e.kind == "too_large" else ValidationError
        raise cls(f"cannot save: {e.where} holds {e.what}; save payloads hold only "
                  "dicts, lists, text, 64-bit integers, booleans and null") from None


def check_decoded(payload: Any, max_depth: int) -> dict:
    """Refuse anything but a dict tree of plain values: what a decoder returned is not trusted.

    Raises:
        Corrupt: not a dict at the top, or not plain data.
        TooLarge: nested deeper than `max_depth`, or an int outside int64.
    """
    if type(payload) is not dict:
        raise Corrupt(f"the save file is damaged or was edited: its payload is a "
                      f"{type(payload).__name__}, not a mapping")
    try:
        _walk(payload, max_depth)
    except _NotPlain as e:
        cls = TooLarge if e.kind == "too_large" else Corrupt
        raise cls(f"the save file is damaged or was edited: {e.where} holds {e.what}, "
                  "which no save file contains") from None
    return payload


# ---------------------------------------------------------------- JSON

_JSON_ESCAPES = (b"\\\\", b'\\"')
_JSON_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'[]{}"')
_JSON_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")
_JSON_QUOTED = re.compile(rb'"[^"]*+"')
_JSON_INT_DIGITS = 19


def _json_scan(data: bytes, max_depth: int) -> None:
    """Refuse nesting deeper than `max_depth` before json.loads sees the text.

    Only quotes and brackets matter: with escapes dropped, quotes pair up, and what lies
    between a pair is inside a string. The brackets left (braces turned into brackets) lose
    one level of empty pairs per pass: when `max_depth` passes leave nothing, the text is
    shallow enough. Every step runs at C speed; only a deep or unbalanced file gets a count
    from the left.
    """
    for escape in _JSON_ESCAPES:
        data = data.replace(escape, b"")
    structure = data.translate(_JSON_BRACES_AS_BRACKETS, _JSON_NOT_STRUCTURE).replace(b'""', b"")
    brackets = _JSON_QUOTED.sub(b"", structure)
    remaining = brackets
    for _ in range(max_depth):
        if not remaining:
            return
        remaining = remaining.replace(b"[]", b"")
    if not remaining:
        return
    depth = 0
    for byte in brackets:
        depth += 1 if byte == 0x5B else -1
        if depth > max_depth:
            raise TooLarge(f"the save file nests deeper than {max_depth} levels; "
                           "no save file does, so it was not read")


def _json_int(digits: str) -> int:
    if len(digits.lstrip("-")) > _JSON_INT_DIGITS:
        raise TooLarge("the save file holds a number too large for a 64-bit integer")
    return int(digits)


def _json_float(text: str) -> None:
    raise Corrupt(f"the save file holds a fractional number ({text:.40}); save files hold "
                  "only integers, so it was edited or damaged")


def _json_constant(name: str) -> None:
    raise Corrupt(f"the save file holds {name}, which is not a number a save file can hold")


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise Corrupt("the save file repeats a key inside one object; it was edited or damaged")
    return result


def _json_encode(payload: dict) -> bytes:
    return (json.dumps(payload, ensure_ascii=False, indent=1, allow_nan=False) + "\n").encode("utf-8")


def _json_decode(data: bytes, max_depth: int) -> Any:
    _json_scan(data, max_depth)
    text = _utf8(data)
    try:
        return json.loads(text, parse_int=_json_int, parse_float=_json_float,
                          parse_constant=_json_constant, object_pairs_hook=_json_object)
    except RecursionError as e:
        raise TooLarge("the save file nests too deeply to read") from e
    except ValueError as e:
        raise Corrupt(f"the save file is not valid JSON ({e}); it was damaged or edited") from e


# ---------------------------------------------------------------- YAML

_LINE_BREAK = re.compile("[\n\r\x85\u2028\u2029]")
_YAML_BREAKS = str.maketrans({"\r": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n"})
_SPACES = re.compile(r" *")
_BLANKS = re.compile(r"[ \t]*")
_DOC_MARKER = re.compile(r"(?:---|\.\.\.)(?=[ \t\n]|\Z)")
_KEY_COLON = re.compile(r"[ \t]*:(?=[ \t\n]|\Z)")
_SINGLE_QUOTED = re.compile(r"'(?:[^']++|'')*+'")
_DOUBLE_QUOTED = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.S)
_BLOCK_PLAIN = re.compile(r"(?:[^\n:# \t]++|[ \t]++(?=[^ \t\n#])|:(?=[^ \t\n])|#)*+")
_FLOW_CHUNK = r"(?:[^ \t\n,?\[\]{}:]|:(?=[^ \t\n,\[\]{}]))++"
_FLOW_PLAIN = re.compile(rf"{_FLOW_CHUNK}(?:[ \t\n]++(?!#){_FLOW_CHUNK})*+")
_FLOW_SKIP = re.compile(r"(?:[ \t\n,]++|#[^\n]*+)*+")
_INT_LIKE = re.compile(r"[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(?::[0-5]?[0-9])*)")
_INT_LIKE_MAX_CHARS = 32
_REFUSED_START = {
    "&": "an anchor (&)", "*": "an alias (*)", "!": "a tag (!)", "|": "a block scalar (|)",
    ">": "a block scalar (>)", "%": "a directive (%)", "@": "a reserved character (@)",
    "`": "a reserved character (`)", "]": "a stray ]", "}": "a stray }", ",": "a stray comma",
}


class _YamlScan:
    """Bounds YAML nesting from the text alone, the way PyYAML's scanner will see it.

    A stack holds the column of each open block collection (and whether it is a sequence: a
    sequence may share its mapping's column), flow brackets add to it. The count may run above
    the true depth for odd hand-written YAML, never below it for what `_yaml_encode` writes.
    """

    def __init__(self, text: str, max_depth: int):
        self.text = text.translate(_YAML_BREAKS)
        self.max_depth = max_depth
        self.stack: list[tuple[int, bool]] = []
        self.pos = 0
        self.line = 0

    def run(self) -> None:
        text = self.text
        plain_open = False
        while self.pos < len(text):
            self.line = self.pos
            self.pos = _SPACES.match(text, self.pos).end()
            column = self.pos - self.line
            char = text[self.pos] if self.pos < len(text) else "\n"
            if char == "\n":
                self.pos += 1
                continue
            if char == "\t":
                raise Corrupt("the YAML save file indents with a tab; it was edited or damaged")
            if char == "#":
                plain_open = False
                self._skip_line()
                continue
            top = self.stack[-1][0] if self.stack else -1
            if plain_open and column > top:
                plain_open = self._plain_continuation()
                continue
            if column == 0 and _DOC_MARKER.match(text, self.pos):
                self.stack.clear()
                self.pos += 3
            else:
                while self.stack and self.stack[-1][0] > column:
                    self.stack.pop()
                if self.stack and self.stack[-1] == (column, True) and not self._indicator("-"):
                    self.stack.pop()
            plain_open = self._node_line()

    def _refuse(self, what: str) -> None:
        raise Corrupt(f"the YAML save file uses {what}, which save files never contain; "
                      "it was edited or damaged")

    def _too_deep(self) -> None:
        raise TooLarge(f"the save file nests deeper than {self.max_depth} levels; "
                       "no save file does, so it was not read")

    def _indicator(self, char: str) -> bool:
        text, pos = self.text, self.pos
        return text.startswith(char, pos) and (pos + 1 == len(text) or text[pos + 1] in " \t\n")

    def _skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end + 1

    def _open(self, column: int, sequence: bool) -> None:
        if self.stack and self.stack[-1] == (column, sequence):
            return
        self.stack.append((column, sequence))
        if len(self.stack) > self.max_depth:
            self._too_deep()

    def _key_follows(self) -> bool:
        match = _KEY_COLON.match(self.text, self.pos)
        if match:
            self.pos = match.end()
        return match is not None

    def _check_plain(self, token: str) -> None:
        if len(token) > _INT_LIKE_MAX_CHARS and _INT_LIKE.fullmatch(token):
            raise TooLarge("the save file holds a number too large for a 64-bit integer")

    def _quoted(self) -> None:
        pattern = _SINGLE_QUOTED if self.text[self.pos] == "'" else _DOUBLE_QUOTED
        match = pattern.match(self.text, self.pos)
        if match is None:
            raise Corrupt("the YAML save file has an unterminated quoted text; it was damaged or edited")
        self.pos = match.end()
        if "\n" in match.group():
            self.line = self.text.rfind("\n", 0, self.pos) + 1

    def _node_line(self) -> bool:
        """Scan the rest of a line (and any flow or quoted text it opens); True if it ended in plain text."""
        text = self.text
        last_plain = False
        while True:
            self.pos = _BLANKS.match(text, self.pos).end()
            if self.pos >= len(text):
                return last_plain
            char = text[self.pos]
            column = self.pos - self.line
            if char == "\n":
                self.pos += 1
                return last_plain
            if char == "#":
                self._skip_line()
                return False
            last_plain = False
            if char in "-?:" and self._indicator(char):
                self._open(column, sequence=char == "-")
                self.pos += 1
            elif char in "[{":
                self._flow()
                if self._key_follows():
                    self._open(column, sequence=False)
            elif char in "'\"":
                self._quoted()
                if self._key_follows():
                    self._open(column, sequence=False)
            elif char in _REFUSED_START:
                self._refuse(_REFUSED_START[char])
            else:
                end = max(_BLOCK_PLAIN.match(text, self.pos).end(), self.pos + 1)
                self._check_plain(text[self.pos:end])
                self.pos = end
                if self._key_follows():
                    self._open(column, sequence=False)
                else:
                    last_plain = True

    def _plain_continuation(self) -> bool:
        """A more indented line after plain text continues that text (PyYAML folds it in)."""
        end = _BLOCK_PLAIN.match(self.text, self.pos).end()
        self.pos = _BLANKS.match(self.text, end).end()
        if self.pos < len(self.text) and self.text[self.pos] == "\n":
            self.pos += 1
            return True
        self._skip_line()
        return False

    def _flow(self) -> None:
        text = self.text
        level = 0
        while True:
            self.pos = _FLOW_SKIP.match(text, self.pos).end()
            if self.pos >= len(text):
                break
            char = text[self.pos]
            if char in "[{":
                level += 1
                if len(self.stack) + level > self.max_depth:
                    self._too_deep()
                self.pos += 1
            elif char in "]}":
                level -= 1
                self.pos += 1
                if level == 0:
                    break
            elif char in "'\"":
                self._quoted()
            elif char in "?:":
                self.pos += 1
            elif char in _REFUSED_START:
                self._refuse(_REFUSED_START[char])
            else:
                end = _FLOW_PLAIN.match(text, self.pos).end()
                self._check_plain(text[self.pos:end])
                self.pos = max(end, self.pos + 1)
        self.line = text.rfind("\n", 0, self.pos) + 1


@functools.cache
def _yaml_dumper() -> type:
    import yaml

    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class TreeDumper(base):  # type: ignore[misc, valid-type]
        """Never anchors: a save file has no shared objects, and loading refuses aliases."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    def represent_str(dumper: Any, text: str) -> Any:
        """Text with line breaks goes double-quoted on one line: PyYAML's pure-Python emitter
        writes a raw NEL in single quotes that does not read back, and one line per scalar
        keeps the file easy to diff."""
        style = '"' if _LINE_BREAK.search(text) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)

    TreeDumper.add_representer(str, represent_str)
    return TreeDumper


def _yaml_encode(payload: dict) -> bytes:
    import yaml

    text = yaml.dump(payload, Dumper=_yaml_dumper(), sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=2**30)
    return text.encode("utf-8")


def _yaml_decode(data: bytes, max_depth: int) -> Any:
    import yaml

    text = _utf8(data)
    _YamlScan(text, max_depth).run()
    try:
        return yaml.safe_load(text)
    except RecursionError as e:
        raise TooLarge("the save file nests too deeply to read") from e
    except Exception as e:
        raise Corrupt(f"the save file is not valid YAML ({_first_line(e)}); it was damaged or edited") from e


# ---------------------------------------------------------------- pickle


class _PlainUnpickler(pickle.Unpickler):
    """Resolves no class or function, so unpickling can only build plain containers and values."""

    def find_class(self, module: str, name: str) -> Any:
        raise Corrupt(f"the save file refers to code ({module}.{name:.60}); save files hold "
                      "plain data only, so it was not loaded")

    def persistent_load(self, pid: Any) -> Any:
        raise Corrupt("the save file refers to outside objects; save files hold plain data only")


def _pickle_encode(payload: dict) -> bytes:
    return pickle.dumps(payload, protocol=PICKLE_PROTOCOL)


def _pickle_decode(data: bytes, max_depth: int) -> Any:
    try:
        return _PlainUnpickler(io.BytesIO(data)).load()
    except DomainError:
        raise
    except Exception as e:
        raise Corrupt(f"the pickle save file cannot be read ({_first_line(e)}); it was damaged") from e


# ---------------------------------------------------------------- dispatch

_ENCODERS = {"json": _json_encode, "yaml": _yaml_encode, "pickle": _pickle_encode}
_DECODERS = {"json": _json_decode, "yaml": _yaml_decode, "pickle": _pickle_decode}


def encode_payload(payload: dict, codec: str, *, max_depth: int) -> bytes:
    """Payload to bytes, refusing first what could not be loaded back.

    Raises:
        ValueError: unknown codec.
        ValidationError, TooLarge: see `check_encodable`.
    """
    if codec not in _ENCODERS:
        raise ValueError(f"unknown save codec {codec!r}; one of {sorted(_ENCODERS)}")
    check_encodable(payload, max_depth)
    return _ENCODERS[codec](payload)


def decode_payload(data: bytes, codec: str, *, max_depth: int) -> dict:
    """Bytes to a plain payload. For pickle, call only once the signature was verified.

    Raises:
        ValueError: unknown codec.
        Corrupt: not valid for the codec, or not plain data (floats, tags, code references...).
        TooLarge: too deep (found before parsing JSON and YAML), or an int outside int64.
    """
    if codec not in _DECODERS:
        raise ValueError(f"unknown save codec {codec!r}; one of {sorted(_DECODERS)}")
    return check_decoded(_DECODERS[codec](data, max_depth), max_depth)


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Corrupt(f"the save file is not valid UTF-8 text (byte {e.start}); it was damaged") from e


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
