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
import threading
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from moto.backends import get_backend
from moto.s3 import notifications
from moto.s3.models import FakeKey

from local_aws.capability import Capability, Context, patch


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

    # --- as moto's S3 objects use it ----------------------------------------------------------

    def read_value(self, key: FakeKey) -> bytes:
        return self.read(key._blob_digest)

    def write_value(self, key: FakeKey, new_value: bytes | str) -> None:
        if isinstance(new_value, str):
            new_value = new_value.encode("utf-8")
        rewritten = "_blob_digest" in key.__dict__
        key._blob_digest = self.put_bytes(new_value)
        key.contentsize = len(new_value)
        if rewritten:  # a new object keeps the ETag moto gave it ("<md5>-<parts>" for multipart)
            key._etag = None
        # moto opened a spooled buffer in __init__; it is never used here.
        buffer = key.__dict__.pop("_value_buffer", None)
        if buffer is not None:
            buffer.close()

    def etag(self, key: FakeKey) -> str:
        if key._etag is None:
            md5 = hashlib.md5(usedforsecurity=False)
            with open(self.path(key._blob_digest), "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    md5.update(block)
            key._etag = md5.hexdigest()
        return f'"{key._etag}"'

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


#: The key under which the blob store is shared with the other capabilities (job data).
BLOBS = "s3 blobs"


def blob_store(context: Context) -> BlobStore:
    return context.shared[BLOBS]


def install(context: Context) -> None:
    """Keep every moto S3 object's bytes in a blob store under the state folder."""
    store = context.shared[BLOBS] = BlobStore(context.state_dir / "s3-blobs")
    # Event notifications carry the key URL-encoded as AWS does it: "raw/a b.csv" becomes
    # "raw/a+b.csv" (moto also encodes the slashes).
    patch(notifications, "quote_plus", lambda _: partial(quote_plus, safe="/"))
    patch(FakeKey, "value", lambda _: property(store.read_value, store.write_value))
    patch(FakeKey, "etag", lambda _: property(store.etag))
    patch(FakeKey, "__getstate__", lambda _: _getstate)
    patch(FakeKey, "__setstate__", lambda _: _setstate)


def recover(context: Context) -> list[str]:
    """Remove the blobs no object refers to any more (deleted objects, failed uploads)."""
    referenced: set[str] = set()
    for _account, _region, backend in get_backend("s3").iter_backends():
        for bucket in backend.buckets.values():
            keys = [key for _name, versions in bucket.keys.iterlists() for key in versions]
            # the parts of multipart uploads not yet completed are objects to keep too
            keys += [
                part for upload in bucket.multiparts.values() for part in upload.parts.values()
            ]
            referenced.update(blob_digest(key) for key in keys if hasattr(key, "_blob_digest"))
    removed = blob_store(context).collect_garbage(referenced)
    return [f"removed {removed} S3 blobs no object refers to"] if removed else []


def blob_digest(key: FakeKey) -> str:
    return key._blob_digest


def attach_blob(key: FakeKey, digest: str, size: int) -> None:
    """Point an object at an already stored blob (used when a job uploads its outputs)."""
    key._blob_digest = digest
    key.contentsize = size
    key._etag = None


def _getstate(self: FakeKey) -> dict[str, Any]:
    state = self.__dict__.copy()
    state.pop("_value_buffer", None)
    state.pop("lock", None)
    return state


def _setstate(self: FakeKey, state: dict[str, Any]) -> None:
    self.__dict__.update(state)
    self.lock = threading.Lock()


CAPABILITY = Capability(
    name="S3 storage",
    persists=("s3",),
    # S3 event notifications land in SQS, SNS and EventBridge.
    side_effects={"s3": ("sqs", "sns", "events")},
    # S3 speaks a REST protocol the request checks do not identify; moto serves an unsigned
    # write (a browser form, a public bucket) as S3 too.
    changed_by_unidentified_requests=("s3",),
    install=install,
    recover=recover,
)
