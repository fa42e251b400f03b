"""Save slots: one folder per tenant, one file per slot (`<name>.json|.yaml|.pickle`).

This is where the pieces meet: GameWorld -> schema document -> codec bytes -> atomic file, and back
through size limits, checksum or signature, parsing limits, schema validation and upgraders.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path

from domain.errors import DomainError, NotFound, StorageError, ValidationError
from domain.model.saves import SAVE_FORMATS, SlotInfo
from domain.model.world import GameWorld
from storage import masked_url
from storage.savefiles import container, schema

EXTENSIONS = {"json": ".json", "yaml": ".yaml", "pickle": ".pickle"}
_CODEC_OF = {ext: codec for codec, ext in EXTENSIONS.items()} | {".yml": "yaml", ".pkl": "pickle"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")


def app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stockbank")
    except PackageNotFoundError:
        return "0+unknown"


def tenant_folder(tenant: str) -> str:
    """A folder name for a tenant: the name itself when it is a safe file name, else a stable digest."""
    if _NAME.fullmatch(tenant) and not tenant.endswith((".", " ")):
        return tenant
    import hashlib

    return "tenant-" + hashlib.sha256(tenant.encode()).hexdigest()[:16]


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def check_name(name: object) -> str:
    """Raises: ValidationError (field name)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name.strip()) or name.strip().endswith("."):
        raise ValidationError(
            "name: 1-64 letters, digits, spaces, '_', '-' or '.', starting with a letter or digit", field="name"
        )
    return name.strip()


class FileSaveSlots:
    """The SaveSlots port over a folder. The signing key is read only when a pickle is involved."""

    def __init__(self, folder: str | os.PathLike[str], *, source: str = "", key_file: str | None = None):
        self.folder = Path(folder)
        self.location = str(self.folder)
        self.source = masked_url(source)
        self._key_file = key_file

    @cached_property
    def _key(self) -> bytes:
        from storage.savefiles.signing import installation_key

        return installation_key(self._key_file)

    def _key_for(self, codec: str) -> bytes | None:
        return self._key if codec == "pickle" else None

    # -- reading the folder ------------------------------------------------------------------------

    def list(self) -> list[SlotInfo]:
        if not self.folder.is_dir():
            return []
        newest: dict[str, Path] = {}
        for path in sorted(self.folder.iterdir(), key=_mtime):
            if path.suffix in EXTENSIONS.values() and path.is_file():
                newest[path.stem] = path  # a crash between writing a slot and removing its old format leaves two
        found = [self._info(p) for p in newest.values()]
        return sorted(found, key=lambda s: (s.created_at, s.name), reverse=True)

    def info(self, name: str) -> SlotInfo:
        return self._info(self._existing(check_name(name)))

    def _existing(self, name: str) -> Path:
        """The slot's file; the newest if a crash left it in two formats."""
        paths = [self.folder / f"{name}{ext}" for ext in EXTENSIONS.values()]
        found = sorted((p for p in paths if p.is_file()), key=_mtime)
        if found:
            return found[-1]
        raise NotFound(f"no save named {name!r} (see the list of saves)", field="name")

    def _info(self, path: Path) -> SlotInfo:
        """The slot as listed: header fields, and whether the checksum (and signature) hold."""
        codec = _CODEC_OF.get(path.suffix, "?")
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        try:
            header = container.check_file(path, self._key_for(codec))
            ok, problem = True, None
        except DomainError as e:
            ok, problem = False, e.code
            try:
                header = container.read_header(path)
            except DomainError:
                return SlotInfo(path.stem, codec, None, size, "", 0, "", False, problem, str(path))
        return SlotInfo(path.stem, header.codec, header.day, size, header.created_at,
                        header.format_version, header.app_version, ok, problem, str(path))

    # -- writing -----------------------------------------------------------------------------------

    def write(self, name: str, codec: str, world: GameWorld, *, tenant: str, saved_by: str, created_at: str) -> SlotInfo:
        name = check_name(name)
        if codec not in SAVE_FORMATS:
            raise ValidationError(f"format: one of {', '.join(SAVE_FORMATS)}", field="format")
        payload = schema.document(world, tenant=tenant, saved_by=saved_by, source=self.source)
        data = container.encode(payload, codec=codec, format_version=schema.CURRENT_VERSION,
                                app_version=app_version(), created_at=created_at, key=self._key_for(codec),
                                day=world.day)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"cannot create the saves folder {self.folder}: {e.strerror or e}") from e
        path = self.folder / f"{name}{EXTENSIONS[codec]}"
        container.write_atomic(path, data)
        for other in EXTENSIONS.values():  # one slot, one file: saving in another format replaces the old one
            stale = self.folder / f"{name}{other}"
            if stale != path and stale.exists():
                stale.unlink()
        return self._info(path)

    def read(self, name: str) -> tuple[GameWorld, SlotInfo, int | None]:
        path = self._path_for_read(name)
        codec = container.read_header(path).codec  # the key is needed (and read) only for a pickle
        data = container.read_file(path)
        header, payload = container.decode(data, key=self._key_for(codec))
        save = schema.validate(payload, header.format_version)
        world = schema.world_from(save)
        info = SlotInfo(path.stem, header.codec, header.day, len(data), header.created_at,
                        header.format_version, header.app_version, True, None, str(path))
        upgraded_from = header.format_version if header.format_version < schema.CURRENT_VERSION else None
        return world, info, upgraded_from

    def _path_for_read(self, name: str) -> Path:
        """A slot name, or the path of a save file anywhere (to load a file someone sent)."""
        if isinstance(name, str) and (os.sep in name or "/" in name) and Path(name).suffix in _CODEC_OF:
            path = Path(name).expanduser()
            if not path.is_file():
                raise NotFound(f"no save file at {path}", field="name")
            return path
        return self._existing(check_name(name))

    def delete(self, name: str) -> SlotInfo:
        path = self._existing(check_name(name))
        info = self._info(path)
        for ext in EXTENSIONS.values():  # every format of the name: an older one must not reappear
            try:
                path.with_suffix(ext).unlink(missing_ok=True)
            except OSError as e:
                raise StorageError(f"cannot delete {path.with_suffix(ext)}: {e.strerror or e}") from e
        return info
