"""The per-installation key that signs pickle save files (HMAC-SHA256).

Unpickling runs code named in the file, so a pickle save is loaded only when this installation
signed it: a pickle edited by hand, or made on another machine, is refused before it is read.
The key is 32 random bytes in the user's config folder (or in `$STOCKBANK_SAVE_KEY_FILE`),
created on first use, readable by the user alone. Losing it makes this installation's pickle
saves unloadable; JSON and YAML saves do not depend on it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from domain.errors import Corrupt, StorageError
from storage.durable import fsync_dir

ENV_KEY_FILE = "STOCKBANK_SAVE_KEY_FILE"
KEY_BYTES = 32


def key_path() -> Path:
    """Where the signing key lives: `$STOCKBANK_SAVE_KEY_FILE`, else the user config folder."""
    configured = os.environ.get(ENV_KEY_FILE)
    if configured:
        return Path(configured)
    from platformdirs import user_config_dir

    return Path(user_config_dir("stockbank", appauthor=False)) / "save-signing.key"


def installation_key(path: str | Path | None = None) -> bytes:
    """This installation's signing key, created on first use; racing processes agree on one.

    Raises:
        Corrupt: the key file exists but does not hold exactly 32 bytes.
        StorageError: the key file or its folder cannot be read or written.
    """
    target = Path(path) if path is not None else key_path()
    try:
        return _read_key(target)
    except FileNotFoundError:
        pass
    try:
        _create_key(target)
        return _read_key(target)
    except OSError as e:
        raise StorageError(f"cannot create the save signing key at {target}: {e.strerror or e}") from e


def _read_key(path: Path) -> bytes:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as e:
        raise StorageError(f"cannot read the save signing key at {path}: {e.strerror or e}") from e
    if len(key) != KEY_BYTES:
        raise Corrupt(f"the save signing key at {path} holds {len(key)} bytes instead of {KEY_BYTES}; "
                      "restore it from a backup, or delete it to make a new one (pickle saves "
                      "signed with the old key will then no longer load)")
    return key


def _create_key(path: Path) -> None:
    """Write a whole key under a temp name, then link it into place: the first link wins, and
    no process ever reads a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temp, flags, 0o600)
    try:
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            return
        fsync_dir(path.parent)
    finally:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass


def sign(key: bytes, message: bytes) -> str:
    """Hex HMAC-SHA256 of `message`."""
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify(key: bytes, message: bytes, signature: str) -> bool:
    """True when `signature` is `sign(key, message)`; compared in constant time."""
    if not isinstance(signature, str):
        return False
    try:
        given = bytes.fromhex(signature)
    except ValueError:
        return False
    return hmac.compare_digest(hmac.new(key, message, hashlib.sha256).digest(), given)
