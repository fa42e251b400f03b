"""Save-file codecs, by property: any plain payload round-trips through every codec, and the
pre-parse depth scans count exactly the depth of what the encoders write (so the limit refuses
no real save, and a hostile file cannot hide its depth from them)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from storage.savefiles import codecs, container

KEY = bytes(range(32))
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
SCALARS = st.none() | st.booleans() | INT64 | TEXT
PLAIN = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=25,
)
PAYLOADS = st.dictionaries(TEXT, PLAIN, max_size=6)


def depth_of(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=PAYLOADS)
def test_any_plain_payload_round_trips_in_every_codec(payload: dict) -> None:
    for codec in container.FORMATS:
        data = container.encode(payload, codec=codec, format_version=3, app_version="1.2.3",
                                created_at="2024-05-01T12:00:00+00:00", key=KEY)
        header, decoded = container.decode(data, key=KEY)
        assert decoded == payload
        assert list(decoded) == list(payload)
        assert (header.codec, header.format_version) == (codec, 3)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=PAYLOADS)
def test_the_pre_parse_scans_count_exactly_the_depth_written(payload: dict) -> None:
    depth = depth_of(payload)
    yaml_text = codecs._yaml_encode(payload).decode("utf-8")
    json_bytes = codecs._json_encode(payload)
    codecs._YamlScan(yaml_text, depth).run()
    codecs._json_scan(json_bytes, depth)
    for too_shallow in (lambda: codecs._YamlScan(yaml_text, depth - 1).run(),
                        lambda: codecs._json_scan(json_bytes, depth - 1)):
        with pytest.raises(DomainError) as caught:
            too_shallow()
        assert caught.value.code == "too_large"


@pytest.mark.parametrize("text, depth", [
    ("a: 1\n", 1),
    ("a:\n  b:\n  - 1\n  - - 2\n    - 3\n  - c: 4\n    d:\n    - 5\n  e: []\n", 5),
    ("? 'multi\n\n  line'\n: - 1\n  - 2\n", 2),
    ("a: x [y] {z\nb: \"[[[[\"\nc: '{{{{'\n", 1),
    ("a: plain\n  continued - [[[[ with brackets\nb: 1\n", 1),
    ("a: [b, {c: [d]}, 'e]]]]', \"f}}}}\"]\n", 4),
    ("# comment [[[[\na: 1 # trailing [[[[\n", 1),
    ("--- \na: 1\n", 1),
])
def test_the_yaml_scan_on_hand_written_yaml(text: str, depth: int) -> None:
    codecs._YamlScan(text, depth).run()
    with pytest.raises(DomainError) as caught:
        codecs._YamlScan(text, depth - 1).run()
    assert caught.value.code == "too_large"


@pytest.mark.parametrize("text", [
    "a: &x 1\n", "a: *x\n", "a: !!str x\n", "- !tag x\n", "a: [&x 1]\n", "a: {b: *x}\n",
    "a: |\n  x\n", "a: >\n  x\n", "a: @x\n", "a: `x\n", "a: ]\n", "a:\n\t- 1\n", "a: 'unclosed\n",
])
def test_the_yaml_scan_refuses_what_our_writer_never_writes(text: str) -> None:
    with pytest.raises(DomainError) as caught:
        codecs._YamlScan(text, 32).run()
    assert caught.value.code == "corrupt"


@pytest.mark.parametrize("text", ["a: x &y *z !w\n", "a: 'x &y'\n", "- \"*z\"\n", "a: b#c\n"])
def test_the_yaml_scan_accepts_indicators_inside_text(text: str) -> None:
    codecs._YamlScan(text, 32).run()


YAML_PIECES = ["- ", "? ", ": ", "a", "b: ", "[", "]", "{", "}", ", ", "\n", "  ", " ", "'x'", '"y"', "#c",
               "'", '"', "1", "k:", "-", ":", "?", "\n  ", "\n    ", "--- ", "\n- ", "\n  - ", "x y", "'a\n b'"]


def built_depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max([built_depth(v) for v in value.values()] + [built_depth(k) for k in value], default=0)
    if isinstance(value, (list, tuple, set, frozenset)):
        return 1 + max((built_depth(v) for v in value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(YAML_PIECES), max_size=40), limit=st.integers(1, 6))
def test_the_yaml_scan_never_counts_less_than_pyyaml_builds(pieces: list[str], limit: int) -> None:
    import yaml

    text = "".join(pieces)
    try:
        codecs._YamlScan(text, limit).run()
        built = yaml.safe_load(text)
    except Exception:
        return
    assert built_depth(built) <= limit


JSON_TEXT = st.recursive(
    st.sampled_from(["1", '"x"', '"[\\"{"', '"\\\\"', '"]]}\\\\"', '"\\\\\\""', "[]", "{}"]),
    lambda inner: st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
    | st.lists(inner, max_size=3).map(lambda items: "{" + ",".join(f'"k{i}": {v}' for i, v in enumerate(items)) + "}"),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(text=JSON_TEXT)
def test_the_json_scan_is_not_fooled_by_brackets_quotes_or_backslashes_in_strings(text: str) -> None:
    import json

    depth = built_depth(json.loads(text))
    codecs._json_scan(text.encode(), depth)
    if depth:
        with pytest.raises(DomainError):
            codecs._json_scan(text.encode(), depth - 1)
