"""Keeping the local AWS's state on disk: it survives a restart and a ``kill -9``.

Each persisted service's moto backends (every account and region) are pickled to
``<state>/services/<service>.pickle`` after every request that may have changed them, written to a
temporary file and renamed, so a crash leaves either the old or the new snapshot, never half of one.
S3 object bytes are not in these pickles: they live in the blob store (see ``s3_storage``).

Pickles are only readable by the same code that wrote them, so the folder carries a
``format.json`` naming the state format and moto version; a mismatch is refused with a clear
message instead of failing later in an obscure way.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import sys
import tempfile
import threading
from importlib.metadata import version
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from moto.backends import get_backend

from local_aws.s3_storage import BlobStore, blob_digest

log = logging.getLogger(__name__)

STATE_FORMAT = 1

#: Services whose state is kept. Requests to others work but are forgotten at restart.
PERSISTED_SERVICES = (
    "s3",
    "sagemaker",
    "logs",
    "iam",
    "sts",
    "sns",
    "sqs",
    "events",
    "cloudwatch",
    "kms",
    "cloudformation",
    "ecr",
)

#: A request to the key service can also change the others (S3 event notifications land in SQS,
#: SNS fans out to SQS, CloudFormation creates resources everywhere).
SIDE_EFFECTS = {
    "s3": ("s3", "sqs", "sns", "events"),
    "sns": ("sns", "sqs"),
    "events": ("events", "sqs", "sns", "logs"),
    "cloudformation": PERSISTED_SERVICES,
}


#: Synchronisation objects inside moto's models (SQS queues hold locks): saved as fresh ones.
_FRESH_ON_LOAD = {
    type(threading.Lock()): threading.Lock,
    type(threading.RLock()): threading.RLock,
    threading.Condition: threading.Condition,
    threading.Event: threading.Event,
    threading.Semaphore: threading.Semaphore,
}


#: Private keys from ``cryptography`` (every KMS key holds one for signing) are not picklable:
#: saved as PKCS#8 DER and loaded back.
_PRIVATE_KEY_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)


class _StatePickler(pickle.Pickler):
    def reducer_override(self, obj):
        factory = _FRESH_ON_LOAD.get(type(obj))
        if factory is not None:
            return factory, ()
        if isinstance(obj, _PRIVATE_KEY_TYPES):
            der = obj.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return _load_private_key, (der,)
        return NotImplemented


def _load_private_key(der: bytes):
    return serialization.load_der_private_key(der, password=None)


class IncompatibleStateError(RuntimeError):
    """The state folder was written by another version of the local AWS."""


class StateStore:
    """Reads and writes the snapshot of every persisted service under one folder."""

    def __init__(self, root: Path):
        self.root = root
        self.services_dir = root / "services"
        self.blobs = BlobStore(root / "s3-blobs")
        self.jobs_dir = root / "jobs"
        #: Held while a request changes a backend and while a snapshot is taken, so a snapshot
        #: never sees a half-applied change.
        self.lock = threading.RLock()

    # --- format -------------------------------------------------------------------------------

    def _expected_format(self) -> dict[str, object]:
        python = ".".join(map(str, sys.version_info[:2]))
        return {"state_format": STATE_FORMAT, "moto": version("moto"), "python": python}

    def open(self) -> None:
        """Create the folder, or check that an existing one was written by this version."""
        format_file = self.root / "format.json"
        expected = self._expected_format()
        if format_file.exists():
            found = json.loads(format_file.read_text())
            if found != expected:
                raise IncompatibleStateError(
                    f"The local AWS state in {self.root} was written by "
                    f"state format {found.get('state_format')} with moto {found.get('moto')} on "
                    f"Python {found.get('python')}, but this is state format "
                    f"{expected['state_format']} with moto {expected['moto']} on Python "
                    f"{expected['python']}. Move the folder aside (or delete it to start afresh: "
                    f"make local-aws-reset) and start again."
                )
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            format_file.write_text(json.dumps(expected, indent=2) + "\n")
        self.services_dir.mkdir(exist_ok=True)
        self.jobs_dir.mkdir(exist_ok=True)

    # --- snapshots ----------------------------------------------------------------------------

    def load(self) -> list[str]:
        """Restore every saved service into moto's backends; return the services restored."""
        restored = []
        for service in PERSISTED_SERVICES:
            path = self.services_dir / f"{service}.pickle"
            if not path.exists():
                continue
            try:
                with open(path, "rb") as f:
                    accounts = pickle.load(f)
            except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as error:
                raise IncompatibleStateError(
                    f"The local AWS state {path} cannot be read ({error!r}): it was written by "
                    "other code than this. Move the folder aside (or delete it to start afresh: "
                    "make local-aws-reset) and start again."
                ) from error
            backend_dict = get_backend(service)
            for account_id, regions in accounts.items():
                account_backend = backend_dict[account_id]
                for region, backend in regions.items():
                    dict.__setitem__(account_backend, region, backend)
            restored.append(service)
        referenced = self._referenced_blobs()
        removed = self.blobs.collect_garbage(referenced)
        if removed:
            log.info("removed %d S3 blobs no object refers to", removed)
        return restored

    def save(self, services: tuple[str, ...] | list[str]) -> None:
        """Snapshot the given services (and those their requests affect)."""
        wanted: set[str] = set()
        for service in services:
            wanted.update(SIDE_EFFECTS.get(service, (service,)))
        with self.lock:
            for service in sorted(wanted & set(PERSISTED_SERVICES)):
                self._save_one(service)

    def save_all(self) -> None:
        self.save(PERSISTED_SERVICES)

    def _save_one(self, service: str) -> None:
        backend_dict = get_backend(service)
        accounts = {
            account_id: dict(account_backend.items())
            for account_id, account_backend in list(backend_dict.items())
        }
        buffer = io.BytesIO()
        _StatePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(accounts)
        data = buffer.getvalue()
        fd, tmp = tempfile.mkstemp(dir=self.services_dir, prefix=f".{service}-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.services_dir / f"{service}.pickle")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _referenced_blobs(self) -> set[str]:
        digests: set[str] = set()
        for _account, _region, backend in get_backend("s3").iter_backends():
            for bucket in backend.buckets.values():
                keys = [key for _name, versions in bucket.keys.iterlists() for key in versions]
                # the parts of multipart uploads not yet completed are objects to keep too
                keys += [
                    part for upload in bucket.multiparts.values() for part in upload.parts.values()
                ]
                digests.update(blob_digest(key) for key in keys if hasattr(key, "_blob_digest"))
        return digests
