"""The file store: atomic writes, signed model files, paths that cannot escape the data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import NotFound, TamperedFile
from services.common.storage import FileStore, load_secret, model_path


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path, b"k" * 32)


def test_atomic_write_leaves_no_temporary_files(store: FileStore) -> None:
    store.write_bytes("datasets/a.csv", [b"a,b\n", b"1,2\n"])
    assert store.path("datasets/a.csv").read_bytes() == b"a,b\n1,2\n"
    assert sorted(p.name for p in store.path("datasets").iterdir()) == ["a.csv"]


def test_failed_write_keeps_the_old_file(store: FileStore) -> None:
    store.write_bytes("datasets/a.csv", b"old")

    def broken():  # type: ignore[no-untyped-def]
        yield b"new"
        raise OSError("disk full")

    with pytest.raises(OSError):
        store.write_bytes("datasets/a.csv", broken())
    assert store.path("datasets/a.csv").read_bytes() == b"old"
    assert sorted(p.name for p in store.path("datasets").iterdir()) == ["a.csv"]


def test_signed_model_round_trip(store: FileStore) -> None:
    store.save_model(model_path("m1"), {"weights": [1, 2, 3]})
    assert store.load_model(model_path("m1")) == {"weights": [1, 2, 3]}


def test_tampered_or_foreign_model_is_never_loaded(store: FileStore, tmp_path: Path) -> None:
    store.save_model(model_path("m1"), {"ok": True})
    path = store.path(model_path("m1"))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(TamperedFile):
        store.load_model(model_path("m1"))
    other = FileStore(tmp_path, b"another key, another system....")
    other.save_model(model_path("m2"), {"ok": True})
    with pytest.raises(TamperedFile):
        store.load_model(model_path("m2"))


def test_missing_model_and_escaping_paths(store: FileStore) -> None:
    with pytest.raises(NotFound):
        store.load_model(model_path("nope"))
    with pytest.raises(NotFound):
        store.path("../outside.txt")


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_secret(tmp_path, "")
    assert len(first) == 64 and load_secret(tmp_path, "") == first
    assert (tmp_path / ".secret_key").stat().st_mode & 0o077 == 0
    assert load_secret(tmp_path, "configured-secret-value") == b"configured-secret-value"
