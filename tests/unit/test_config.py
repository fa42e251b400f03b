"""The settings file (tui_app/config.py): remapped keys and the theme, refused as a whole when bad."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import ValidationError
from tui_app.app import binding_ids
from tui_app.config import Settings, check_settings, config_path, key_spec_problem, load_settings, save_theme

IDS = {"products.new", "products.delete", "table.last", "app.help"}
THEMES = {"textual-dark", "gruvbox", "nord"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_is_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "missing.yaml")
    assert (settings.theme, settings.keys) == (None, {})


def test_a_good_file_gives_its_theme_and_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "theme: gruvbox\nkeys:\n  products.new: ctrl+n\n  table.last: G,shift+end\n")
    settings = load_settings(path)
    assert settings.theme == "gruvbox"
    assert settings.keys == {"products.new": "ctrl+n", "table.last": "G,shift+end"}
    check_settings(settings, IDS, THEMES)  # no error


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("theme: [unclosed", "config", "not valid YAML"),
        ("- just\n- a list\n", "config", "expected a mapping"),
        ("colour: blue\n", "colour", "Extra inputs are not permitted"),
        ("keys:\n  products.new: ''\n", "keys", "an empty key"),
        ("keys:\n  products.new: ctrl+\n", "keys", "is not a key"),
        ("keys:\n  products.new: cmd+n\n", "keys", "modifiers are"),
        ("keys:\n  products.new: page up\n", "keys", "is not a key"),
        ("keys:\n  products.new: 5\n", "keys.products.new", "valid string"),
        ("keys: [n]\n", "keys", "valid dictionary"),
        ("theme: ''\n", "theme", "at least 1 character"),
    ],
)
def test_a_bad_file_is_refused_saying_where(tmp_path: Path, text: str, field: str, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValidationError) as caught:
        load_settings(path)
    assert caught.value.code == "validation"
    assert caught.value.field == field
    assert says in caught.value.message and str(path) in caught.value.message


def test_a_file_that_is_not_utf8_or_too_big_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("theme: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValidationError, match="not valid YAML"):
        load_settings(bad)
    big = write(tmp_path, "keys:\n" + "".join(f"  k{i}: n\n" for i in range(20_000)))
    with pytest.raises(ValidationError, match="larger than"):
        load_settings(big)


def test_an_unknown_binding_or_theme_is_refused_with_near_matches() -> None:
    with pytest.raises(ValidationError) as caught:
        check_settings(Settings(keys={"products.neww": "n"}, path=Path("c.yaml")), IDS, THEMES)
    assert caught.value.field == "keys.products.neww" and "did you mean products.new" in caught.value.message
    with pytest.raises(ValidationError) as caught:
        check_settings(Settings(theme="gruvbx", path=Path("c.yaml")), IDS, THEMES)
    assert caught.value.field == "theme" and "gruvbox" in caught.value.message


@pytest.mark.parametrize("spec", ["n", "ctrl+n", "N", "f2", "pageup", "slash", "ctrl+shift+end", "n,ctrl+n", "?"])
def test_key_specs_textual_understands_pass(spec: str) -> None:
    assert key_spec_problem(spec) is None


def test_saving_the_theme_keeps_the_keys_and_replaces_the_file_whole(tmp_path: Path) -> None:
    path = write(tmp_path, "theme: nord\nkeys:\n  products.new: ctrl+n\n")
    save_theme(path, "gruvbox")
    settings = load_settings(path)
    assert (settings.theme, settings.keys) == ("gruvbox", {"products.new": "ctrl+n"})
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temporary file left behind
    fresh = tmp_path / "new" / "config.yaml"
    save_theme(fresh, "nord")
    assert load_settings(fresh).theme == "nord"


def test_the_config_path_follows_the_flag_then_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STOCKBANK_CONFIG", str(tmp_path / "env.yaml"))
    assert config_path("flag.yaml") == Path("flag.yaml")
    assert config_path(None) == tmp_path / "env.yaml"
    monkeypatch.delenv("STOCKBANK_CONFIG")
    assert config_path(None).name == "config.yaml"


def test_every_binding_of_the_app_has_an_id_to_remap() -> None:
    import importlib
    import inspect
    import pkgutil

    from textual.binding import Binding

    import tui_app.screens
    import tui_app.widgets
    from tui_app.app import StockbankApp

    missing = [b for b in StockbankApp.BINDINGS if isinstance(b, Binding) and not b.id]
    for package in (tui_app.screens, tui_app.widgets):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ == module.__name__:
                    missing += [f"{name}: {b.key}" for b in vars(cls).get("BINDINGS", ())
                                if isinstance(b, Binding) and not b.id]
    assert missing == []
    assert {"products.new", "app.help", "table.last"} <= binding_ids()
