"""The file store: atomic writes, signed model files, paths that cannot escape the data folder."""

from __future__ import annotations

import hashlib
import hmac
import shutil
from pathlib import Path

import joblib
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


def test_a_signed_model_copied_under_another_id_is_refused(store: FileStore) -> None:
    store.save_model(model_path("m1"), {"ok": True})
    for suffix in ("", ".sig"):
        shutil.copy(store.path(model_path("m1") + suffix), store.path(model_path("m2") + suffix))
    with pytest.raises(TamperedFile):
        store.load_model(model_path("m2"))
    assert store.load_model(model_path("m1")) == {"ok": True}
    # Two spellings of one path are one path.
    assert store.load_model("models/../models/m1.joblib") == {"ok": True}


def test_an_old_signature_of_the_bytes_alone_is_refused(store: FileStore) -> None:
    store.save_model(model_path("m1"), {"ok": True})
    data = store.path(model_path("m1")).read_bytes()
    v1 = hmac.new(b"k" * 32, data, hashlib.sha256).hexdigest()  # the format before v2
    store.path(model_path("m1") + ".sig").write_text(v1)
    with pytest.raises(TamperedFile) as caught:
        store.load_model(model_path("m1"))
    assert "older version" in caught.value.detail


def test_an_old_signature_that_holds_is_upgraded_once(store: FileStore) -> None:
    for name in ("good", "tampered"):
        store.save_model(model_path(name), {"model": name})
        data = store.path(model_path(name)).read_bytes()
        v1 = hmac.new(b"k" * 32, data, hashlib.sha256).hexdigest()
        store.path(model_path(name) + ".sig").write_text(v1)
    store.path(model_path("tampered")).write_bytes(b"not the model it signed")

    assert store.upgrade_signature(model_path("good"))
    assert store.load_model(model_path("good")) == {"model": "good"}
    assert not store.upgrade_signature(model_path("good"))  # v2 already: nothing to do
    assert not store.upgrade_signature(model_path("tampered"))
    with pytest.raises(TamperedFile):
        store.load_model(model_path("tampered"))
    assert not store.upgrade_signature(model_path("never-saved"))


def test_replacing_a_model_keeps_one_verifiable_file_at_every_step(store: FileStore) -> None:
    store.save_model(model_path("m1"), {"model": "first"})
    sig = store.path(model_path("m1") + ".sig")
    writes: list[tuple[str, bytes]] = []
    real_write = store.write_bytes

    def recording_write(relative: str, data):  # type: ignore[no-untyped-def]
        target = real_write(relative, data)
        # After every single write (a kill could come next), the model file verifies.
        writes.append((relative, sig.read_bytes()))
        assert store.load_model(model_path("m1"))["model"] in ("first", "final")
        return target

    store.write_bytes = recording_write  # type: ignore[method-assign]
    store.save_model(model_path("m1"), {"model": "final"})
    assert [relative for relative, _ in writes] == [
        model_path("m1") + ".sig",
        model_path("m1"),
        model_path("m1") + ".sig",
    ]
    assert len(writes[0][1].split()) == 2  # both files named while the model file is swapped
    assert len(sig.read_bytes().split()) == 1 and sig.read_bytes().startswith(b"v2:")
    assert store.load_model(model_path("m1")) == {"model": "final"}


def test_an_unsigned_pickle_is_never_unpickled(store: FileStore) -> None:
    joblib.dump({"ok": True}, store.path(model_path("m1")))
    store.path(model_path("m1") + ".sig").write_text("v2:" + "0" * 64)
    with pytest.raises(TamperedFile):
        store.load_model(model_path("m1"))


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
