"""Files on the shared data folder: atomic writes, and model files signed so that only files
this system wrote are ever unpickled (joblib files can run code when loaded).

A model's signature (`<model>.sig`, one `v2:<hex>` line) is an HMAC of the model's path inside
the data folder, a NUL byte, and the file's bytes: a signed model copied under another model's
id does not verify. Older `v1` signatures covered the bytes alone; they cannot tell a copy from
the original, so they are refused when loading; the gateway upgrades those of the models its
database knows once, on start (`upgrade_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import joblib

from services.common.errors import NotFound, TamperedFile

log = logging.getLogger(__name__)
DATASETS = "datasets"
MODELS = "models"
SIGNATURE_VERSION = "v2"
DEPLOYED_MARKER = f"{MODELS}/deployed.json"


def dataset_path(dataset_id: str) -> str:
    return f"{DATASETS}/{dataset_id}.csv"


def model_path(model_id: str) -> str:
    return f"{MODELS}/{model_id}.joblib"


def model_record_path(model_id: str) -> str:
    """The trainer's record of a finished model: lets a redelivered job be answered again."""
    return f"{MODELS}/{model_id}.json"


def load_secret(data_dir: Path, configured: str) -> bytes:
    """The signing key: the configured one, else one generated once and kept in the data folder."""
    if configured:
        return configured.encode()
    path = data_dir / ".secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_bytes().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_bytes().strip()


class FileStore:
    """All file access of every service goes through here; paths are relative to the root."""

    def __init__(self, root: Path, secret: bytes):
        self.root = root.resolve()
        self._secret = secret
        for folder in (DATASETS, MODELS):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    def path(self, relative: str) -> Path:
        full = (self.root / relative).resolve()
        if not full.is_relative_to(self.root):
            raise NotFound("That file is not part of this system's data.", code="file_not_found")
        return full

    def exists(self, relative: str) -> bool:
        return self.path(relative).exists()

    def write_bytes(self, relative: str, data: bytes | Iterable[bytes]) -> Path:
        """Write to a temporary file beside the target, then rename: readers never see half."""
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in [data] if isinstance(data, bytes) else data:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def write_json(self, relative: str, value: Any) -> Path:
        return self.write_bytes(relative, json.dumps(value, default=str).encode())

    def read_json(self, relative: str) -> Any:
        return json.loads(self.path(relative).read_bytes())

    def move_in(self, source: Path, relative: str) -> Path:
        """Adopt a finished temporary file (same filesystem) under its final name."""
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        return target

    def delete(self, relative: str) -> None:
        self.path(relative).unlink(missing_ok=True)

    def temp_file(self, folder: str = DATASETS) -> Path:
        """A new empty temporary file inside the data folder (so a later rename is atomic)."""
        fd, tmp = tempfile.mkstemp(dir=self.path(folder), prefix=".upload.", suffix=".tmp")
        os.close(fd)
        return Path(tmp)

    def _sign(self, relative: str, data: bytes) -> str:
        """The signature of `data` stored at `relative`: bound to the path, hence the model id.
        The path is taken once resolved, so two spellings of one file sign alike."""
        name = self.path(relative).relative_to(self.root).as_posix()
        mac = hmac.new(self._secret, name.encode() + b"\0", hashlib.sha256)
        mac.update(data)
        return f"{SIGNATURE_VERSION}:{mac.hexdigest()}"

    def _signatures(self, relative: str) -> list[str]:
        return self.path(relative + ".sig").read_bytes().decode(errors="replace").split()

    def save_model(self, relative: str, obj: Any) -> Path:
        """Pickle with joblib, then write the signature and the file, each atomically.

        Replacing a model (the trainer saves its first model early, then the final one), the
        signature file names both files while the model file is swapped, so a process killed
        half-way leaves one that still verifies: the old model or the new one, never neither.
        """
        buffer = io.BytesIO()
        joblib.dump(obj, buffer, compress=3)
        data = buffer.getvalue()
        signature, kept = self._sign(relative, data), self._current_signature(relative)
        self.write_bytes(relative + ".sig", "\n".join(filter(None, [signature, kept])).encode())
        target = self.write_bytes(relative, data)
        if kept:
            self.write_bytes(relative + ".sig", signature.encode())
        return target

    def _current_signature(self, relative: str) -> str | None:
        """The signature of the model file now at `relative`, if it has a valid one."""
        try:
            expected = self._sign(relative, self.path(relative).read_bytes())
            found = self._signatures(relative)
        except FileNotFoundError:
            return None
        return expected if any(hmac.compare_digest(s, expected) for s in found) else None

    def upgrade_signature(self, relative: str) -> bool:
        """Re-sign a model whose signature is v1 (bytes only) as v2 (path and bytes), if the
        v1 signature holds; True if it was upgraded. Run once, when an installation upgrades
        (the gateway does it on start for the models its database knows): it carries over the
        files as they are then, and from then on a copy under another id is refused."""
        try:
            found = self._signatures(relative)
            if any(s.startswith(f"{SIGNATURE_VERSION}:") for s in found):
                return False  # current already: the model file is not even read
            data = self.path(relative).read_bytes()
        except FileNotFoundError:
            return False
        v1 = hmac.new(self._secret, data, hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(s, v1) for s in found):
            return False  # not ours: it stays refused
        self.write_bytes(relative + ".sig", self._sign(relative, data).encode())
        return True

    def load_model(self, relative: str) -> Any:
        """Unpickle a model file only if it carries the signature this system gave it, for
        this very path."""
        path = self.path(relative)
        try:
            data = path.read_bytes()
            found = self._signatures(relative)
        except FileNotFoundError as exc:
            raise NotFound("That model's file could not be found.", code="model_not_found") from exc
        expected = self._sign(relative, data)
        if any(hmac.compare_digest(s, expected) for s in found):
            return joblib.load(io.BytesIO(data))
        if not any(s.startswith(f"{SIGNATURE_VERSION}:") for s in found):
            log.warning(
                "refusing model %s: its signature is from an older version (v1), which does "
                "not name the model, so a copy could pass for it; restart the gateway to "
                "upgrade the signatures of known models, or train the model again",
                relative,
            )
            raise TamperedFile(
                "That model was saved by an older version of the system and cannot be checked, "
                "so it will not be used. Please train it again."
            )
        raise TamperedFile(
            "That model's file has been changed outside the system, so it will not be used."
        )
