"""The per-installation signing key: made once, private, one key even when processes race."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from domain.errors import DomainError
from storage.savefiles import signing

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def test_the_key_is_made_once_and_then_read_back(tmp_path: Path) -> None:
    path = tmp_path / "config" / "save-signing.key"
    key = signing.installation_key(path)
    assert len(key) == 32
    assert path.read_bytes() == key
    assert signing.installation_key(path) == key
    assert os.listdir(path.parent) == ["save-signing.key"]


@posix_only
def test_the_key_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        path = tmp_path / "save-signing.key"
        signing.installation_key(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_two_installations_get_different_keys(tmp_path: Path) -> None:
    assert signing.installation_key(tmp_path / "a.key") != signing.installation_key(tmp_path / "b.key")


def test_the_key_path_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(signing.ENV_KEY_FILE, str(tmp_path / "k.key"))
    assert signing.key_path() == tmp_path / "k.key"
    assert signing.installation_key() == (tmp_path / "k.key").read_bytes()


def test_without_the_environment_the_key_lives_in_the_user_config_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(signing.ENV_KEY_FILE, raising=False)
    path = signing.key_path()
    assert path.name == "save-signing.key"
    assert "stockbank" in path.parent.parts[-2:]


def test_tests_never_touch_the_real_config_folder() -> None:
    assert os.environ.get(signing.ENV_KEY_FILE), "conftest points the key file at a temp folder"


@pytest.mark.parametrize("content", [b"", b"short", bytes(31), bytes(33), b"ab" * 32])
def test_a_key_file_of_the_wrong_length_is_corrupt(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "save-signing.key"
    path.write_bytes(content)
    with pytest.raises(DomainError) as caught:
        signing.installation_key(path)
    assert caught.value.code == "corrupt"
    assert path.read_bytes() == content


def test_an_unreadable_key_location_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    with pytest.raises(DomainError) as caught:
        signing.installation_key(blocker / "save-signing.key")
    assert caught.value.code == "storage"


def test_a_process_that_loses_the_race_uses_the_winners_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "save-signing.key"
    winner = os.urandom(32)
    real_link = os.link

    def someone_else_first(source, target):
        Path(target).write_bytes(winner)
        return real_link(source, target)

    monkeypatch.setattr(os, "link", someone_else_first)
    assert signing.installation_key(path) == winner
    assert os.listdir(tmp_path) == ["save-signing.key"]


def test_racing_threads_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "save-signing.key"
    start = threading.Barrier(8)
    keys: list[bytes] = []

    def grab() -> None:
        start.wait()
        keys.append(signing.installation_key(path))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert path.read_bytes() == keys[0]


def test_racing_processes_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "save-signing.key"
    go = tmp_path / "go"
    script = (
        "import os, sys, time\n"
        "from storage.savefiles import signing\n"
        "while not os.path.exists(sys.argv[2]): time.sleep(0.001)\n"
        "print(signing.installation_key(sys.argv[1]).hex())\n"
    )
    root = Path(signing.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(go)], stdout=subprocess.PIPE,
                              env=env, cwd=root, text=True) for _ in range(5)]
    go.write_bytes(b"")
    outputs = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    assert outputs == {path.read_bytes().hex()}


def test_sign_and_verify() -> None:
    key, other = bytes(32), bytes([1]) * 32
    signature = signing.sign(key, b"message")
    assert len(signature) == 64
    assert signing.verify(key, b"message", signature)
    assert not signing.verify(other, b"message", signature)
    assert not signing.verify(key, b"messagf", signature)
    assert not signing.verify(key, b"message", signature[:-1] + "0" if signature[-1] != "0" else signature[:-1] + "1")
    assert not signing.verify(key, b"message", "not hex")
    assert not signing.verify(key, b"message", "é" * 64)
    assert not signing.verify(key, b"message", None)  # type: ignore[arg-type]
