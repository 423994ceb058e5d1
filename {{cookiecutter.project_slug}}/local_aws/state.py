"""Keeping the local AWS's state on disk: it survives a restart and a ``kill -9``.

Each persisted service's backends (every account and region) are pickled to
``<state>/services/<service>.pickle`` after every request that may have changed them, written to a
temporary file and renamed, so a crash leaves either the old or the new snapshot, never half of one.
Which services are kept, and what a request to one may change in others, the capabilities say
(``local_aws.capability``). The operations that only add to state growing with traffic (log
lines, metric datapoints) are saved every ``PERIODIC_SAVE_SECONDS`` instead, and when the local
AWS stops: a ``kill -9`` loses at most that last second of them, nothing else. What does not fit
a pickle (S3 object bytes) a capability keeps itself.

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

from local_aws.capability import Capability

log = logging.getLogger(__name__)

#: 2: capabilities each in a module of their own (pickled classes moved).
STATE_FORMAT = 2
#: Seconds between saves of the state that grows with traffic.
PERIODIC_SAVE_SECONDS = float(os.environ.get("LOCAL_AWS_PERIODIC_SAVE_SECONDS", "1"))


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


def _side_effect_closure(capabilities: list[Capability], services: tuple[str, ...]):
    """Service → every persisted service a request to it may change, through chains too
    (S3 → EventBridge → a CloudWatch Logs target)."""
    direct: dict[str, set[str]] = {}
    for capability in capabilities:
        for service, affected in capability.side_effects.items():
            direct.setdefault(service, set()).update(services if "*" in affected else affected)
    closure = {}
    for service in direct:
        reached, frontier = {service}, [service]
        while frontier:
            for other in direct.get(frontier.pop(), ()):
                if other not in reached:
                    reached.add(other)
                    frontier.append(other)
        closure[service] = reached
    return closure


def _load_private_key(der: bytes):
    return serialization.load_der_private_key(der, password=None)


class IncompatibleStateError(RuntimeError):
    """The state folder was written by another version of the local AWS."""


class StateStore:
    """Reads and writes the snapshot of every persisted service under one folder."""

    def __init__(self, root: Path, capabilities: list[Capability]):
        self.root = root
        self.services_dir = root / "services"
        self.jobs_dir = root / "jobs"
        #: Held while a request changes a backend and while a snapshot is taken, so a snapshot
        #: never sees a half-applied change.
        self.lock = threading.RLock()
        #: Services whose state is kept. Requests to others work but are forgotten at restart.
        self.services = tuple(dict.fromkeys(s for c in capabilities for s in c.persists))
        #: ``(service, operation)`` pairs saved with the next periodic save.
        self.periodic = frozenset(pair for c in capabilities for pair in c.saved_periodically)
        self._backends = {name: b for c in capabilities for name, b in c.backends.items()}
        self._side_effects = _side_effect_closure(capabilities, self.services)
        self._dirty: set[str] = set()
        self._saver: threading.Thread | None = None
        self._stopping = threading.Event()
        #: Why the last periodic save failed (it is tried again), or None.
        self.save_error: str | None = None

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

    def backend(self, service: str):
        """The service's backends of every account and region (moto's, or a capability's)."""
        if service in self._backends:
            return self._backends[service]
        return get_backend(service)

    # --- snapshots ----------------------------------------------------------------------------

    def load(self) -> list[str]:
        """Restore every saved service into moto's backends; return the services restored."""
        restored = []
        for service in self.services:
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
            backend_dict = self.backend(service)
            for account_id, regions in accounts.items():
                account_backend = backend_dict[account_id]
                for region, backend in regions.items():
                    dict.__setitem__(account_backend, region, backend)
            restored.append(service)
        return restored

    def affected(self, services) -> set[str]:
        """The persisted services a request to ``services`` may change."""
        wanted: set[str] = set()
        for service in services:
            wanted |= self._side_effects.get(service, {service})
        return wanted & set(self.services)

    def save(self, services: tuple[str, ...] | list[str]) -> None:
        """Snapshot the given services (and those their requests affect), now."""
        affected = self.affected(services)
        if not affected:
            return  # without the lock: invocations change nothing persisted
        with self.lock:
            for service in sorted(affected):
                self._save_one(service)

    def save_soon(self, services: tuple[str, ...] | list[str]) -> None:
        """Snapshot the given services with the next periodic save (state growing with traffic)."""
        with self.lock:
            self._dirty |= self.affected(services)

    def saved_periodically(self, service: str, operation: str | None) -> bool:
        return (service, operation) in self.periodic

    def save_all(self) -> None:
        with self.lock:
            for service in self.services:
                self._save_one(service)
            self._dirty.clear()

    def start_periodic_saves(self) -> None:
        """Save what grows with traffic every ``PERIODIC_SAVE_SECONDS``, in the background."""
        self._stopping.clear()
        self._saver = threading.Thread(target=self._save_periodically, daemon=True)
        self._saver.start()

    def stop_periodic_saves(self) -> None:
        self._stopping.set()
        if self._saver is not None:
            self._saver.join(timeout=10)

    def _save_periodically(self) -> None:
        while not self._stopping.wait(PERIODIC_SAVE_SECONDS):
            with self.lock:
                dirty, self._dirty = self._dirty, set()
                try:
                    for service in sorted(dirty):
                        self._save_one(service)
                except Exception as error:  # a full disk, say: keep the changes, try again
                    log.exception("periodic save of %s failed", ", ".join(sorted(dirty)))
                    self._dirty |= dirty
                    self.save_error = f"{type(error).__name__}: {error}"
                else:
                    self.save_error = None

    def _save_one(self, service: str) -> None:
        backend_dict = self.backend(service)
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
