"""Moving a job's data between the local S3 and its sandbox, as SageMaker does before and after.

Works on moto's S3 backend directly instead of over HTTP: objects are blobs on disk already, so a
download copies a file and an upload hands the file to the blob store. S3 event notifications are
sent as for any other write.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from moto.backends import get_backend
from moto.s3 import notifications
from moto.s3.models import FakeDeleteMarker
from moto.utilities.utils import get_partition

from local_aws.capabilities.s3_storage import BlobStore, attach_blob, blob_digest


class S3LocationError(ValueError):
    """An S3 URI that names no bucket or no data."""


def split_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise S3LocationError(f"{uri!r} is not an s3://bucket/key URI")
    return parsed.netloc, parsed.path.lstrip("/")


class S3Transfer:
    """Downloads and uploads on behalf of jobs running in one account and region.

    Uploads are persisted before they return, like any S3 write the server serves: a job that
    reads Completed after a ``kill -9`` still has its outputs.
    """

    def __init__(self, account_id: str, region: str, store, blobs: BlobStore):
        self.account_id = account_id
        self.partition = get_partition(region)
        self.store = store
        self.blobs = blobs

    @property
    def _backend(self):
        return get_backend("s3")[self.account_id][self.partition]

    def _bucket(self, name: str):
        try:
            return self._backend.get_bucket(name)
        except Exception as error:  # moto raises MissingBucket
            raise S3LocationError(f"The bucket {name!r} does not exist") from error

    def download(self, uri: str, destination: Path) -> int:
        """Copy every object under the prefix ``uri`` into ``destination``; return the count.

        As in SageMaker's ``S3Prefix`` mode, keys keep their path relative to the prefix; a URI
        naming one object lands as that file inside ``destination``.
        """
        bucket_name, prefix = split_uri(uri)
        with self.store.lock:
            bucket = self._bucket(bucket_name)
            keys = [
                (name, key)
                for name in list(bucket.keys.keys())
                if name.startswith(prefix)
                and not name.endswith("/")
                # a versioned bucket keeps deleted keys as delete markers: no data to copy
                and not isinstance(key := bucket.keys[name], FakeDeleteMarker)
            ]
        if not keys:
            raise S3LocationError(f"No S3 objects found under the prefix {uri}")
        for name, key in keys:
            relative = name[len(prefix) :].lstrip("/") or name.rsplit("/", 1)[-1]
            target = destination / relative
            if not target.resolve().is_relative_to(destination.resolve()):
                raise S3LocationError(f"The key {name!r} would escape the input folder")
            self.blobs.copy_to(blob_digest(key), target)
        return len(keys)

    def download_object(self, uri: str, target: Path) -> None:
        """Copy the one object ``uri`` names to the file ``target`` (no prefix matching)."""
        bucket_name, key_name = split_uri(uri)
        with self.store.lock:
            key = self._bucket(bucket_name).keys.get(key_name)
            if key is None or isinstance(key, FakeDeleteMarker):
                raise S3LocationError(f"No S3 object at {uri}")
            digest = blob_digest(key)
        self.blobs.copy_to(digest, target)

    def upload_file(self, source: Path, uri: str, content_type: str | None = None) -> None:
        """Upload one file as the object ``uri``."""
        self._put(source, uri, content_type)
        self.store.save(["s3"])

    def upload_folder(self, source: Path, uri: str) -> int:
        """Upload every file under ``source`` below the prefix ``uri``; return the count."""
        files = sorted(p for p in source.rglob("*") if p.is_file())
        base = uri.rstrip("/")
        for path in files:
            self._put(path, f"{base}/{path.relative_to(source).as_posix()}")
        if files:
            self.store.save(["s3"])
        return len(files)

    def upload_bytes(self, data: bytes, uri: str, content_type: str | None = None) -> None:
        """Write ``data`` as the object ``uri`` (captured requests, say)."""
        digest = self.blobs.put_bytes(data)
        self._attach(digest, len(data), uri, content_type)
        self.store.save(["s3"])

    def _put(self, source: Path, uri: str, content_type: str | None = None) -> None:
        digest, size = self.blobs.put_file(source)
        self._attach(digest, size, uri, content_type)

    def _attach(self, digest: str, size: int, uri: str, content_type: str | None) -> None:
        bucket_name, key_name = split_uri(uri)
        with self.store.lock:
            bucket = self._bucket(bucket_name)
            key = self._backend.put_object(bucket_name, key_name, b"", disable_notification=True)
            attach_blob(key, digest, size)
            if content_type:
                key.set_metadata({"Content-Type": content_type})
            notifications.send_event(
                self.account_id,
                notifications.S3NotificationEvent.OBJECT_CREATED_PUT_EVENT,
                bucket,
                key,
            )
