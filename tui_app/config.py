"""The user's settings file: remapped keys and the chosen theme (YAML, validated with Pydantic).

    # ~/.config/stockbank/config.yaml (or --config FILE, or STOCKBANK_CONFIG)
    theme: gruvbox
    keys:
      products.new: ctrl+n         # a binding id (see `?` in the app) -> one key, or several: "n,ctrl+n"
      table.last: G

A bad file is refused as a whole, before the app starts, with what is wrong and where (code
`validation`); nothing of it is applied. The theme chosen in the app (command palette: Theme) is
written back to the file with its keys (comments in the file are not kept).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from domain.errors import ValidationError

MAX_BYTES = 64 * 1024
_MODIFIERS = {"ctrl", "shift", "alt", "super", "meta", "hyper"}
_KEY_NAME = re.compile(r"^[a-z0-9_]+$")


def config_path(explicit: str | None = None) -> Path:
    """--config, else STOCKBANK_CONFIG, else the platform's user config folder."""
    if explicit:
        return Path(explicit)
    if os.environ.get("STOCKBANK_CONFIG"):
        return Path(os.environ["STOCKBANK_CONFIG"])
    from platformdirs import user_config_dir

    return Path(user_config_dir("stockbank")) / "config.yaml"


def _model():
    """The schema, built on first use: Pydantic is not imported at start-up when there is no file."""
    from pydantic import BaseModel, ConfigDict, Field, field_validator

    class SettingsFile(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        theme: str | None = Field(default=None, min_length=1, max_length=64)
        keys: dict[str, str] = Field(default_factory=dict)

        @field_validator("keys")
        @classmethod
        def _keys_are_keys(cls, keys: dict[str, str]) -> dict[str, str]:
            for binding_id, spec in keys.items():
                problem = key_spec_problem(spec)
                if problem:
                    raise ValueError(f"{binding_id}: {problem}")
            return keys

    return SettingsFile


def key_spec_problem(spec: str) -> str | None:
    """Why `spec` ("ctrl+n" or "n,ctrl+n") is not a Textual key list, or None when it is."""
    if not isinstance(spec, str) or not spec.strip():
        return "an empty key"
    for key in spec.split(","):
        parts = key.strip().split("+")
        *modifiers, name = parts
        if not name or any(m not in _MODIFIERS for m in modifiers):
            return f"{key.strip()!r} is not a key (modifiers are {', '.join(sorted(_MODIFIERS))})"
        if len(name) != 1 and not _KEY_NAME.match(name):
            return f"{key.strip()!r} is not a key: use a character or a key name such as f2, pageup, slash"
    return None


class Settings:
    """What a valid file says (theme None: the app's default; keys: binding id -> keys)."""

    def __init__(self, theme: str | None = None, keys: dict[str, str] | None = None, path: Path | None = None):
        self.theme = theme
        self.keys = dict(keys or {})
        self.path = path


def load_settings(path: Path) -> Settings:
    """The file's settings; no file is the defaults. Raises ValidationError naming the file and the field."""
    if not path.exists():
        return Settings(path=path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValidationError(f"config file {path}: cannot read it ({e.strerror})", field="config") from e
    if len(data) > MAX_BYTES:
        raise ValidationError(f"config file {path}: larger than {MAX_BYTES // 1024} KiB", field="config")
    import yaml

    try:
        raw: Any = yaml.safe_load(data.decode("utf-8")) if data.strip() else {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ValidationError(f"config file {path}: not valid YAML ({str(e).splitlines()[0]})", field="config") from e
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationError(f"config file {path}: expected a mapping with `theme` and `keys`", field="config")
    from pydantic import ValidationError as PydanticError

    try:
        parsed = _model().model_validate(raw)
    except PydanticError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        message = first["msg"].removeprefix("Value error, ")
        raise ValidationError(f"config file {path}: {where}: {message}", field=where) from e
    return Settings(parsed.theme, parsed.keys, path)


def check_settings(settings: Settings, binding_ids: set[str], themes: set[str]) -> None:
    """Refuse a binding id the app does not have, or a theme it does not know (with near matches)."""
    import difflib

    for binding_id in settings.keys:
        if binding_id not in binding_ids:
            near = difflib.get_close_matches(binding_id, sorted(binding_ids), n=3)
            hint = f" (did you mean {', '.join(near)}?)" if near else " (`?` in the app lists the ids)"
            raise ValidationError(f"config file {settings.path}: keys.{binding_id}: no such key binding{hint}",
                                  field=f"keys.{binding_id}")
    if settings.theme is not None and settings.theme not in themes:
        near = difflib.get_close_matches(settings.theme, sorted(themes), n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise ValidationError(f"config file {settings.path}: theme: no theme named {settings.theme!r}{hint}",
                              field="theme")


def save_theme(path: Path, theme: str) -> None:
    """Write the chosen theme into the file, keeping its keys (atomically: a crash leaves the old file)."""
    import yaml

    current = load_settings(path)
    document: dict[str, Any] = {"theme": theme}
    if current.keys:
        document["keys"] = current.keys
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    os.replace(temporary, path)
