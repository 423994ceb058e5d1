"""S3 object data on disk instead of in memory.

moto keeps every object's bytes in a spooled temporary file that lives and dies with the process.
Here each object's bytes go to a content-addressed blob under ``<state>/s3-blobs/`` and the object
keeps only the blob's digest, so the pickled S3 state stays small, data survives a restart and a
``kill -9``, and a 1 GB training set costs disk, not memory. Blobs are written once (same bytes,
same file) and collected at startup when no object refers to them any more.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from moto.s3 import notifications
from moto.s3.models import FakeKey


class BlobStore:
    """Content-addressed files: ``<root>/<aa>/<sha256>``."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            self._write_atomically(target, lambda f: f.write(data))
        return digest

    def put_file(self, source: Path) -> tuple[str, int]:
        """Store a file's content without reading it into memory; return (digest, size)."""
        sha = hashlib.sha256()
        with open(source, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
        digest = sha.hexdigest()
        target = self.path(digest)
        if not target.exists():
            self._write_atomically(target, lambda f: _copy_into(source, f))
        return digest, source.stat().st_size

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def copy_to(self, digest: str, destination: Path) -> None:
        """Materialise a blob as a writable file of its own, as a job's input is.

        A copy, not a hard link: a job may rewrite its inputs, and root ignores the blob's
        read-only mode, so a link would let it change every object with that content.
        """
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path(digest), destination)

    def collect_garbage(self, referenced: set[str]) -> int:
        removed = 0
        for blob in self.root.glob("??/*"):
            if blob.name not in referenced and not blob.name.startswith("."):
                blob.unlink(missing_ok=True)
                removed += 1
        return removed

    def _write_atomically(self, target: Path, write) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
            # A blob is never changed once written: objects with the same content share it.
            os.chmod(target, 0o444)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _copy_into(source: Path, f) -> None:
    with open(source, "rb") as src:
        shutil.copyfileobj(src, f, 1 << 20)


_store: BlobStore | None = None


def install(store: BlobStore) -> None:
    """Route every moto S3 object's bytes through ``store`` (idempotent)."""
    global _store
    _store = store
    if getattr(FakeKey, "_local_aws_disk_storage", False):
        return
    # Event notifications carry the key URL-encoded as AWS does it: "raw/a b.csv" becomes
    # "raw/a+b.csv" (moto also encodes the slashes).
    notifications.quote_plus = partial(quote_plus, safe="/")
    FakeKey.value = property(_get_value, _set_value)
    FakeKey.etag = property(_get_etag)
    FakeKey.__getstate__ = _getstate
    FakeKey.__setstate__ = _setstate
    FakeKey._local_aws_disk_storage = True


def blob_digest(key: FakeKey) -> str:
    return key._blob_digest


def attach_blob(key: FakeKey, digest: str, size: int) -> None:
    """Point an object at an already stored blob (used when a job uploads its outputs)."""
    key._blob_digest = digest
    key.contentsize = size
    key._etag = None


def _get_value(self: FakeKey) -> bytes:
    return _store.read(self._blob_digest)


def _set_value(self: FakeKey, new_value: bytes | str) -> None:
    if isinstance(new_value, str):
        new_value = new_value.encode("utf-8")
    rewritten = "_blob_digest" in self.__dict__
    self._blob_digest = _store.put_bytes(new_value)
    self.contentsize = len(new_value)
    if rewritten:  # a new object keeps the ETag moto gave it ("<md5>-<parts>" for multipart)
        self._etag = None
    # moto opened a spooled buffer in __init__; it is never used here.
    buffer = self.__dict__.pop("_value_buffer", None)
    if buffer is not None:
        buffer.close()


def _get_etag(self: FakeKey) -> str:
    if self._etag is None:
        md5 = hashlib.md5(usedforsecurity=False)
        with open(_store.path(self._blob_digest), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                md5.update(block)
        self._etag = md5.hexdigest()
    return f'"{self._etag}"'


def _getstate(self: FakeKey) -> dict[str, Any]:
    state = self.__dict__.copy()
    state.pop("_value_buffer", None)
    state.pop("lock", None)
    return state


def _setstate(self: FakeKey, state: dict[str, Any]) -> None:
    import threading

    self.__dict__.update(state)
    self.lock = threading.Lock()
