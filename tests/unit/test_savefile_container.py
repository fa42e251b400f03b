"""Save-file container: framing, header, checksum, signature, limits, atomic writes.

Every hostile file is checked for its error code, not just for raising."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from pathlib import Path

import pytest

from domain.errors import DomainError
from storage.savefiles import codecs, container
from storage.savefiles.container import FORMATS, MAGIC, MAX_DEPTH, MAX_FILE_BYTES, MAX_HEADER_BYTES, Header

KEY = bytes(range(32))
FOREIGN_KEY = bytes(range(100, 132))
STAMP = "2024-05-01T12:00:00+00:00"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

RICH_PAYLOAD = {
    "name": "Ünïcødé shop ✓ 店 🚀",
    "empty_list": [],
    "empty_dict": {},
    "nested": {"a": {"b": {"c": [1, [2, [3, {}]], []]}}},
    "extremes": [INT64_MIN, INT64_MAX, 0, -1],
    "flags": [True, False, None],
    "texts": ["", " ", "yes", "no", "null", "123", "1.5", "- a", "a: b", "#x", "&a", "*a", "!tag",
              "line\nbreak", "tab\there", "'quoted'", '"double"', "[x", "{y", "a *b &c !d", "\u2028",
              "\x85", "\ufeff", "\x00", "~"],
    "k" * 200: "a key too long for a YAML simple key",
    "multi\nline key": 1,
}


def save(payload: dict, codec: str, key: bytes | None = KEY) -> bytes:
    return container.encode(payload, codec=codec, format_version=1, app_version="0.1.0",
                            created_at=STAMP, key=key)


def framed(body: bytes, codec: str, key: bytes | None = None) -> bytes:
    return container.frame(body, codec=codec, format_version=1, app_version="0.1.0",
                           created_at=STAMP, key=key)


def header_line(fields: dict) -> bytes:
    return MAGIC + json.dumps(fields).encode() + b"\n"


def good_header_fields(body: bytes) -> dict:
    return {"format_version": 1, "codec": "json", "app_version": "0.1.0", "created_at": STAMP,
            "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}


def code_of(data: bytes, key: bytes | None = KEY, **kwargs) -> str:
    with pytest.raises(DomainError) as caught:
        container.decode(data, key=key, **kwargs)
    return caught.value.code


def nested(depth: int) -> dict:
    """A payload `depth` containers deep, mixing dicts and lists (YAML's indentless sequences)."""
    inner: object = []
    for level in range(depth - 1, 0, -1):
        inner = {"k": inner} if level % 2 else [inner]
    assert isinstance(inner, dict)
    return inner


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("codec", FORMATS)
def test_rich_payload_round_trips_in_every_codec(codec: str) -> None:
    header, payload = container.decode(save(RICH_PAYLOAD, codec), key=KEY)
    assert payload == RICH_PAYLOAD
    assert list(payload) == list(RICH_PAYLOAD)
    assert (header.codec, header.format_version, header.app_version, header.created_at) == (
        codec, 1, "0.1.0", STAMP)
    assert (header.signature is not None) == (codec == "pickle")


@pytest.mark.parametrize("codec", FORMATS)
def test_empty_payload_round_trips(codec: str) -> None:
    assert container.decode(save({}, codec), key=KEY)[1] == {}


@pytest.mark.parametrize("codec", FORMATS)
def test_payload_exactly_max_depth_deep_round_trips(codec: str) -> None:
    payload = nested(MAX_DEPTH)
    assert container.decode(save(payload, codec), key=KEY)[1] == payload


@pytest.mark.parametrize("codec", ["json", "yaml"])
def test_text_codecs_give_the_same_bytes_for_the_same_payload(codec: str) -> None:
    assert save(RICH_PAYLOAD, codec) == save(dict(RICH_PAYLOAD), codec)


def test_a_yaml_save_is_a_valid_yaml_file_whose_header_is_a_comment() -> None:
    import yaml

    data = save(RICH_PAYLOAD, "yaml")
    assert data.startswith(MAGIC)
    assert yaml.safe_load(data.decode("utf-8")) == RICH_PAYLOAD


def test_header_describes_the_payload_bytes() -> None:
    data = save({"a": 1}, "json")
    header, _ = container.decode(data)
    body = data[data.index(b"\n") + 1:]
    assert header.size == len(body)
    assert header.sha256 == hashlib.sha256(body).hexdigest()
    assert header.to_dict() == {"format_version": 1, "codec": "json", "app_version": "0.1.0",
                                "created_at": STAMP, "sha256": header.sha256, "size": len(body),
                                "day": None, "signature": None}


def test_the_game_day_rides_in_the_header_for_cheap_listings(tmp_path: Path) -> None:
    path = tmp_path / "slot.save"
    path.write_bytes(container.encode({}, codec="yaml", format_version=1, app_version="0.1.0",
                                      created_at=STAMP, day=12))
    assert container.read_header(path).day == 12
    assert container.decode(path.read_bytes())[0].day == 12
    assert container.decode(save({}, "json"))[0].day is None


# ------------------------------------------------------------------ what encode refuses


@pytest.mark.parametrize("payload, code", [
    ({"a": 1.5}, "validation"),
    ({"a": (1, 2)}, "validation"),
    ({"a": b"bytes"}, "validation"),
    ({1: "int key"}, "validation"),
    ({"a": "\ud800"}, "validation"),
    ({"a": INT64_MAX + 1}, "too_large"),
    ({"a": INT64_MIN - 1}, "too_large"),
    (nested(MAX_DEPTH + 1), "too_large"),
])
@pytest.mark.parametrize("codec", FORMATS)
def test_encode_refuses_what_could_not_be_loaded_back(codec: str, payload: dict, code: str) -> None:
    with pytest.raises(DomainError) as caught:
        save(payload, codec)
    assert caught.value.code == code


def test_encode_refuses_a_list_used_twice_so_files_stay_trees() -> None:
    shared: list = []
    with pytest.raises(DomainError) as caught:
        save({"a": shared, "b": shared}, "pickle")
    assert caught.value.code == "validation"


def test_encode_refuses_a_top_level_list() -> None:
    with pytest.raises(DomainError) as caught:
        save([1], "json")  # type: ignore[arg-type]
    assert caught.value.code == "validation"


def test_a_pickle_save_needs_a_key_and_a_codec_must_be_known() -> None:
    with pytest.raises(ValueError):
        save({}, "pickle", key=None)
    with pytest.raises(ValueError):
        save({}, "xml")
    assert code_of(save({}, "pickle"), key=None) == "tampered"


def test_encode_refuses_insane_header_fields() -> None:
    with pytest.raises(ValueError):
        container.encode({}, codec="json", format_version=0, app_version="0.1", created_at=STAMP)
    with pytest.raises(ValueError):
        container.encode({}, codec="json", format_version=1, app_version="0.1", created_at="soon")


# ------------------------------------------------------------------ not a save file, garbled header


@pytest.mark.parametrize("data", [
    b"",
    os.urandom(256),
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
    b"{\"a\": 1}\n",
    b"#stockbank-sav",
], ids=["empty", "random", "png", "plain-json", "cut-magic"])
def test_a_file_that_is_not_a_save_is_corrupt(data: bytes) -> None:
    assert code_of(data) == "corrupt"


BODY = b'{"a": 1}\n'


@pytest.mark.parametrize("edit", [
    lambda f: {k: v for k, v in f.items() if k != "sha256"},
    lambda f: {k: v for k, v in f.items() if k != "size"},
    lambda f: {k: v for k, v in f.items() if k != "codec"},
    lambda f: {k: v for k, v in f.items() if k != "format_version"},
    lambda f: {**f, "format_version": "1"},
    lambda f: {**f, "format_version": True},
    lambda f: {**f, "format_version": 0},
    lambda f: {**f, "format_version": 1.0},
    lambda f: {**f, "codec": "xml"},
    lambda f: {**f, "codec": ["json"]},
    lambda f: {**f, "app_version": 7},
    lambda f: {**f, "app_version": ""},
    lambda f: {**f, "created_at": "yesterday"},
    lambda f: {**f, "sha256": "abc"},
    lambda f: {**f, "sha256": f["sha256"].upper()},
    lambda f: {**f, "size": -1},
    lambda f: {**f, "size": "9"},
    lambda f: {**f, "size": MAX_FILE_BYTES + 1},
    lambda f: {**f, "signature": "zz"},
    lambda f: {**f, "day": -1},
    lambda f: {**f, "day": "3"},
    lambda f: [f],
])
def test_a_header_with_missing_or_wrong_fields_is_corrupt(edit) -> None:
    assert code_of(header_line(edit(good_header_fields(BODY))) + BODY) == "corrupt"


@pytest.mark.parametrize("line", [
    b"not json at all",
    b'{"format_version": 1,',
    b"[" * 3000,
    b'{"a": NaN}',
    b"\xff\xfe{}",
])
def test_a_header_line_that_is_not_a_json_object_is_corrupt(line: bytes) -> None:
    assert code_of(MAGIC + line + b"\n" + BODY) == "corrupt"


def test_a_header_line_longer_than_the_limit_is_corrupt() -> None:
    fields = {**good_header_fields(BODY), "padding": "x" * MAX_HEADER_BYTES}
    assert code_of(header_line(fields) + BODY) == "corrupt"


def test_unknown_header_fields_are_ignored_for_newer_writers() -> None:
    fields = {**good_header_fields(BODY), "compression": None}
    assert container.decode(header_line(fields) + BODY)[1] == {"a": 1}


def test_a_signature_on_a_json_save_is_corrupt() -> None:
    assert code_of(framed(BODY, "json", key=KEY)) == "corrupt"


# ------------------------------------------------------------------ truncation, damage, tampering


@pytest.mark.parametrize("codec", FORMATS)
def test_a_truncated_file_is_corrupt_wherever_it_was_cut(codec: str) -> None:
    data = save(RICH_PAYLOAD, codec)
    body_start = data.index(b"\n") + 1
    for cut in (1, 20, body_start - 1, body_start, body_start + 1, (body_start + len(data)) // 2,
                len(data) - 1):
        assert code_of(data[:cut]) == "corrupt", cut


@pytest.mark.parametrize("codec", FORMATS)
def test_extra_bytes_after_the_payload_are_corrupt(codec: str) -> None:
    assert code_of(save({"a": 1}, codec) + b"\n") == "corrupt"


@pytest.mark.parametrize("codec, code", [("json", "corrupt"), ("yaml", "corrupt"), ("pickle", "tampered")])
def test_one_flipped_payload_byte_is_found(codec: str, code: str) -> None:
    data = save(RICH_PAYLOAD, codec)
    body_start = data.index(b"\n") + 1
    for at in (body_start, body_start + 7, (body_start + len(data)) // 2, len(data) - 1):
        damaged = bytearray(data)
        damaged[at] ^= 0x01
        assert code_of(bytes(damaged)) == code, at


def test_a_pickle_edited_with_a_recomputed_checksum_is_tampered() -> None:
    data = save({"balance": 100}, "pickle")
    header, _ = container.decode(data, key=KEY)
    body = pickle.dumps({"balance": 1_000_000}, protocol=5)
    fields = {**header.to_dict(), "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
    assert code_of(header_line(fields) + body) == "tampered"


def test_a_signature_cannot_be_moved_to_another_header() -> None:
    data = save({"a": 1}, "pickle")
    header, _ = container.decode(data, key=KEY)
    body = data[data.index(b"\n") + 1:]
    for change in ({"app_version": "9.9.9"}, {"created_at": "2030-01-01T00:00:00+00:00"},
                   {"format_version": 2}, {"day": 99}):
        assert code_of(header_line({**header.to_dict(), **change}) + body) == "tampered", change


def test_an_unsigned_pickle_is_tampered() -> None:
    assert code_of(framed(pickle.dumps({"a": 1}, protocol=5), "pickle")) == "tampered"


def test_a_pickle_signed_by_another_installation_is_tampered() -> None:
    assert code_of(save({"a": 1}, "pickle", key=FOREIGN_KEY), key=KEY) == "tampered"


class _Pwn:
    """Unpickling this calls a function from the file: the attack a pickle save must not allow."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _hostile_pickles(target: Path) -> list[bytes]:
    return [
        pickle.dumps({"a": _Pwn(open, (str(target), "w"))}, protocol=5),
        pickle.dumps({"a": _Pwn(os.system, (f"touch {target}",))}, protocol=2),
    ]


def test_the_hostile_pickles_really_run_code_when_unpickled_plainly(tmp_path: Path) -> None:
    proof = tmp_path / "proof"
    pickle.loads(_hostile_pickles(proof)[0])
    assert proof.exists()


@pytest.mark.parametrize("which", [0, 1])
def test_a_pickle_that_would_run_code_is_refused_signed_or_not(tmp_path: Path, which: int) -> None:
    target = tmp_path / "pwned"
    body = _hostile_pickles(target)[which]
    assert code_of(framed(body, "pickle")) == "tampered"
    assert code_of(framed(body, "pickle", key=FOREIGN_KEY)) == "tampered"
    assert code_of(framed(body, "pickle", key=KEY)) == "corrupt"
    assert not target.exists()


@pytest.mark.parametrize("value", [1.5, (1, 2), {1, 2}, b"x", bytearray(b"x"), 2**64, frozenset()])
def test_a_signed_pickle_of_anything_but_plain_data_is_refused(value: object) -> None:
    code = "too_large" if value == 2**64 else "corrupt"
    assert code_of(framed(pickle.dumps({"a": value}, protocol=5), "pickle", key=KEY)) == code


def test_a_signed_pickle_with_shared_or_cyclic_lists_is_corrupt() -> None:
    shared: list = []
    cyclic: list = []
    cyclic.append(cyclic)
    for payload in ({"a": shared, "b": shared}, {"a": cyclic}):
        assert code_of(framed(pickle.dumps(payload, protocol=5), "pickle", key=KEY)) == "corrupt"


def test_a_signed_pickle_that_is_not_a_dict_is_corrupt() -> None:
    assert code_of(framed(pickle.dumps([1, 2], protocol=5), "pickle", key=KEY)) == "corrupt"


def test_a_signed_pickle_that_is_garbage_is_corrupt() -> None:
    assert code_of(framed(b"\x80\x05garbage", "pickle", key=KEY)) == "corrupt"


# ------------------------------------------------------------------ size and depth limits


def _forbid(monkeypatch: pytest.MonkeyPatch, module: object, name: str, *, longer_than: int = 0) -> None:
    real = getattr(module, name)

    def guarded(data, *args, **kwargs):
        if len(data) > longer_than:
            raise AssertionError(f"{name} was called on the hostile payload")
        return real(data, *args, **kwargs)

    monkeypatch.setattr(module, name, guarded)


DEEP_JSON = {
    "brackets": b"[" * 100_000 + b"]" * 100_000,
    "objects": b'{"a":' * 40_000 + b"1" + b"}" * 40_000,
    "unclosed": b"[" * 200_000,
}


@pytest.mark.parametrize("body", DEEP_JSON.values(), ids=DEEP_JSON)
def test_deep_json_is_too_large_fast_and_never_parsed(monkeypatch: pytest.MonkeyPatch, body: bytes) -> None:
    _forbid(monkeypatch, json, "loads", longer_than=MAX_HEADER_BYTES)
    data = framed(body, "json")
    started = time.perf_counter()
    code = code_of(data)
    assert time.perf_counter() - started < 1.0
    assert code == "too_large"


DEEP_YAML = {
    "flow": b"[" * 100_000 + b"]" * 100_000,
    "flow-maps": b"{a: " * 50_000 + b"1" + b"}" * 50_000,
    "compact-sequences": b"- " * 60_000 + b"x\n",
    "indented-keys": b"\n".join(b" " * i + b"k:" for i in range(600)) + b" 1\n",
    "indented-items": b"\n".join(b" " * i + b"-" for i in range(600)) + b" 1\n",
    "items-of-maps": b"\n".join(b"  " * i + b"- k:" for i in range(400)) + b" 1\n",
}


@pytest.mark.parametrize("body", DEEP_YAML.values(), ids=DEEP_YAML)
def test_deep_yaml_is_too_large_fast_and_never_parsed(monkeypatch: pytest.MonkeyPatch, body: bytes) -> None:
    import yaml

    _forbid(monkeypatch, yaml, "safe_load")
    assert len(body) > 100_000
    data = framed(body, "yaml")
    started = time.perf_counter()
    code = code_of(data)
    assert time.perf_counter() - started < 1.0
    assert code == "too_large"


@pytest.mark.parametrize("codec", ["json", "yaml"])
def test_one_level_too_deep_is_too_large(codec: str) -> None:
    body = codecs._ENCODERS[codec](nested(MAX_DEPTH + 1))
    assert code_of(framed(body, codec)) == "too_large"


@pytest.mark.parametrize("codec", ["json", "yaml"])
def test_the_caller_can_lower_the_depth_limit(codec: str) -> None:
    data = save(nested(6), codec)
    assert container.decode(data, max_depth=6)[1] == nested(6)
    assert code_of(data, max_depth=5) == "too_large"


@pytest.mark.parametrize("codec, body", [
    ("json", b'{"n": ' + b"7" * 100_000 + b"}"),
    ("json", b'{"n": -' + b"7" * 100_000 + b"}"),
    ("yaml", b"n: " + b"7" * 100_000 + b"\n"),
    ("yaml", b"n: [" + b"7" * 100_000 + b"]\n"),
    ("yaml", b"n: 0x" + b"f" * 100_000 + b"\n"),
    ("json", b'{"n": 9223372036854775808}'),
    ("yaml", b"n: -9223372036854775809\n"),
])
def test_huge_numbers_are_too_large(codec: str, body: bytes) -> None:
    started = time.perf_counter()
    assert code_of(framed(body, codec)) == "too_large"
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("codec, body", [
    ("json", b'{"n": 1.5}'),
    ("json", b'{"n": 1e5}'),
    ("json", b'{"n": NaN}'),
    ("json", b'{"n": -Infinity}'),
    ("json", b'{"n": 1' + b"0" * 100_000 + b'.0}'),
    ("yaml", b"n: 1.5\n"),
    ("yaml", b"n: .nan\n"),
    ("yaml", b"n: -.inf\n"),
    ("yaml", b"n: 1.0e+5\n"),
])
def test_floats_are_corrupt(codec: str, body: bytes) -> None:
    assert code_of(framed(body, codec)) == "corrupt"


@pytest.mark.parametrize("codec, body", [
    ("json", b'[1, 2]'),
    ("json", b'"text"'),
    ("json", b'{"a": 1, "a": 2}'),
    ("json", b'{"a": "\\ud800"}'),
    ("json", b'{"a": "\xff"}'),
    ("json", b'{"a": 1'),
    ("yaml", b"- 1\n- 2\n"),
    ("yaml", b""),
    ("yaml", b"a: 2024-01-01\n"),
    ("yaml", b"1: one\n"),
    ("yaml", b"a: \"\\ud800\"\n"),
    ("yaml", b"a: [1\n"),
    ("yaml", b"a: 'open\n"),
    ("yaml", b"a: 1\n---\nb: 2\n"),
    ("yaml", b"a:\n\t- 1\n"),
    ("yaml", b"a: |\n  block\n"),
    ("yaml", b"%YAML 1.1\n---\na: 1\n"),
])
def test_content_no_save_file_holds_is_corrupt(codec: str, body: bytes) -> None:
    assert code_of(framed(body, codec)) == "corrupt"


def test_yaml_python_tags_are_corrupt_and_run_nothing(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    for body in (f'a: !!python/object/apply:os.system ["touch {target}"]\n'.encode(),
                 f"a: !!python/object/new:os.system [touch {target}]\n".encode(),
                 b"a: !!binary aGVsbG8=\n",
                 b"a: !!set {x: null}\n",
                 b"a: !custom x\n"):
        assert code_of(framed(body, "yaml")) == "corrupt", body
    assert not target.exists()


def test_a_yaml_alias_bomb_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    _forbid(monkeypatch, yaml, "safe_load")
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for this, prev in zip("bcdefghi", "abcdefgh"):
        lines.append(f"{this}: &{this} [" + ",".join([f"*{prev}"] * 9) + "]")
    assert code_of(framed(("\n".join(lines) + "\n").encode(), "yaml")) == "corrupt"
    assert code_of(framed(b"a: &x 1\nb: *x\n", "yaml")) == "corrupt"


def test_bytes_over_the_file_limit_are_too_large_before_any_check() -> None:
    assert code_of(b"\0" * (MAX_FILE_BYTES + 1)) == "too_large"


@pytest.fixture
def sparse_big_save(tmp_path: Path) -> Path:
    path = tmp_path / "big.save"
    with open(path, "wb") as fh:
        fh.write(framed(b'{"a": 1}', "json"))
        fh.truncate(MAX_FILE_BYTES + 1)
    return path


def test_a_file_over_the_limit_is_too_large_without_being_read(
        monkeypatch: pytest.MonkeyPatch, sparse_big_save: Path) -> None:
    def no_open(*args, **kwargs):
        raise AssertionError("the file was opened")

    monkeypatch.setattr(container, "open", no_open, raising=False)
    for call in (lambda: container.read_file(sparse_big_save),
                 lambda: container.check_file(sparse_big_save, KEY)):
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.code == "too_large"


def test_read_file_honours_a_lower_limit(tmp_path: Path) -> None:
    path = tmp_path / "s.save"
    path.write_bytes(b"x" * 100)
    assert container.read_file(path, max_bytes=100) == b"x" * 100
    with pytest.raises(DomainError) as caught:
        container.read_file(path, max_bytes=99)
    assert caught.value.code == "too_large"


def test_read_header_reads_only_line_one(sparse_big_save: Path) -> None:
    header = container.read_header(sparse_big_save)
    assert isinstance(header, Header)
    assert (header.codec, header.size) == ("json", len(b'{"a": 1}'))


@pytest.mark.parametrize("reader", [container.read_header, container.read_file,
                                    lambda p: container.check_file(p, KEY)])
def test_a_missing_file_is_not_found(tmp_path: Path, reader) -> None:
    with pytest.raises(DomainError) as caught:
        reader(tmp_path / "nope.save")
    assert caught.value.code == "not_found"


@pytest.mark.parametrize("reader", [container.read_header, container.read_file])
def test_a_folder_instead_of_a_file_is_a_storage_error(tmp_path: Path, reader) -> None:
    with pytest.raises(DomainError) as caught:
        reader(tmp_path)
    assert caught.value.code == "storage"


def test_read_header_refuses_files_that_are_not_saves(tmp_path: Path) -> None:
    for content in (b"", b"hello\n", MAGIC + b"{" + b"x" * MAX_HEADER_BYTES):
        path = tmp_path / "x.save"
        path.write_bytes(content)
        with pytest.raises(DomainError) as caught:
            container.read_header(path)
        assert caught.value.code == "corrupt"


# ------------------------------------------------------------------ check_file


@pytest.mark.parametrize("codec", FORMATS)
def test_check_file_verifies_without_parsing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, codec: str) -> None:
    def no_parse(*args, **kwargs):
        raise AssertionError("check_file parsed the payload")

    path = tmp_path / "slot.save"
    path.write_bytes(save(RICH_PAYLOAD, codec))
    monkeypatch.setattr(codecs, "decode_payload", no_parse)
    assert container.check_file(path, KEY).codec == codec
    damaged = bytearray(path.read_bytes())
    damaged[-2] ^= 0x01
    path.write_bytes(bytes(damaged))
    with pytest.raises(DomainError) as caught:
        container.check_file(path, KEY)
    assert caught.value.code == ("tampered" if codec == "pickle" else "corrupt")


def test_check_file_finds_a_foreign_pickle(tmp_path: Path) -> None:
    path = tmp_path / "slot.save"
    path.write_bytes(save({"a": 1}, "pickle", key=FOREIGN_KEY))
    with pytest.raises(DomainError) as caught:
        container.check_file(path, KEY)
    assert caught.value.code == "tampered"


# ------------------------------------------------------------------ write_atomic


def test_write_atomic_writes_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "slot.save"
    container.write_atomic(path, b"first")
    container.write_atomic(path, b"second")
    assert path.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["slot.save"]


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, failing: str) -> None:
    path = tmp_path / "slot.save"
    path.write_bytes(b"old content")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, disk_full)
    with pytest.raises(DomainError) as caught:
        container.write_atomic(path, b"new content" * 1000)
    monkeypatch.undo()
    assert caught.value.code == "storage"
    assert isinstance(caught.value.__cause__, OSError)
    assert path.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["slot.save"]


def test_an_interrupted_write_leaves_no_temp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "slot.save"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        container.write_atomic(path, b"data")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_writing_into_a_missing_folder_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(DomainError) as caught:
        container.write_atomic(tmp_path / "missing" / "slot.save", b"data")
    assert caught.value.code == "storage"


def test_a_written_save_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "slot.save"
    container.write_atomic(path, save(RICH_PAYLOAD, "yaml"))
    assert container.decode(container.read_file(path))[1] == RICH_PAYLOAD
    assert container.read_header(path).codec == "yaml"


def test_no_yaml_loader_but_safe_load_is_used() -> None:
    root = Path(container.__file__).parent
    for source in root.glob("*.py"):
        text = source.read_text(encoding="utf-8")
        for banned in ("yaml.load(", "unsafe_load", "full_load", "FullLoader", "UnsafeLoader", "yaml.Loader"):
            assert banned not in text, (source.name, banned)
