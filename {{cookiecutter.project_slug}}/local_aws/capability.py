"""What a capability of the local AWS is: one record saying what it adds to moto's server.

The core (server, state store, request checks, job runner) names no AWS service. Everything a
service needs beyond moto — keeping its state, the side effects of its operations on other
services, operations that must not wait for the state lock, work to do when the local AWS
starts, routes of its own — is declared by a capability in one module, and the capability is
one entry in ``local_aws.capabilities.MODULES``.

A capability patches moto where moto falls short through :func:`patch`, which rebinds the patch
to the running local AWS each time it is installed (no module-level state), and reaches the
running local AWS through the :class:`Context` it is given.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local_aws.jobs.runner import JobRunner
    from local_aws.state import StateStore

#: ``module:attribute`` of more capabilities to serve, comma-separated: tests and experiments
#: add theirs here without editing the list.
EXTRA_CAPABILITIES = "LOCAL_AWS_CAPABILITIES"

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


@dataclass
class Context:
    """The running local AWS, as capabilities see it."""

    store: StateStore
    runner: JobRunner
    endpoint_url: str
    account_id: str
    #: What the jobs' image runs for a command SageMaker gives it (``serve``), as this project
    #: declares it (``[tool.local-aws]`` in its pyproject.toml): command → argv.
    image_commands: dict[str, list[str]] = field(default_factory=dict)
    #: What capabilities share with one another (the S3 blob store, say), by name.
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def lock(self):
        """Held while a request changes state and while state is saved."""
        return self.store.lock

    @property
    def state_dir(self) -> Path:
        return self.store.root


@dataclass(frozen=True)
class Capability:
    """What one capability adds to moto's server."""

    name: str
    #: Services whose state is kept across restarts (moto's, or one of ``backends``).
    persists: tuple[str, ...] = ()
    #: ``(service, operation)`` pairs that only add to state growing with traffic (log lines,
    #: metric datapoints): saved every second and when the local AWS stops, instead of after
    #: each request. Every other request to a persisted service is saved before it answers.
    saved_periodically: frozenset[tuple[str, str]] = frozenset()
    #: Names of the capabilities this one relies on (their state, what they share): the local
    #: AWS refuses to start without them, or with them listed after this one.
    requires: tuple[str, ...] = ()
    #: A request to the key service may also change these services' state (S3 event
    #: notifications land in SQS, say); ``*`` stands for every persisted service.
    side_effects: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: ``(service, operation)`` pairs served without the state lock: long polls, invocations.
    #: They take the lock themselves while they change something.
    unlocked: frozenset[tuple[str, str]] = frozenset()
    #: Services that a request the checks cannot identify (a REST protocol, an unsigned
    #: request) may change: saved after every such request that is not a read.
    changed_by_unidentified_requests: tuple[str, ...] = ()
    #: moto-style backends of services moto does not have (``BackendDict``s), by service name.
    backends: Mapping[str, Any] = field(default_factory=dict)
    #: Patches moto and prepares what the capability needs; called before the server serves.
    install: Callable[[Context], None] | None = None
    #: Called once the state is restored, before the server serves: bring back what ran before
    #: (endpoints) or fail what cannot go on (interrupted jobs). Returns what it did, in words.
    recover: Callable[[Context], Sequence[str]] | None = None
    #: Called when the local AWS stops gracefully, before the state is saved a last time.
    stop: Callable[[Context], None] | None = None
    #: Extra routes: path prefix → ``factory(context)`` returning a WSGI app. They are served
    #: under the state lock, and the capability's ``persists`` saved after each request.
    routes: Mapping[str, Callable[[Context], WsgiApp]] = field(default_factory=dict)
    #: Called with every request's WSGI environ once the request checks passed, before it is
    #: served (``identify(environ)`` says what it asks, where the checks know): to record, never
    #: to answer. It must be quick; it runs on the request path.
    observe: Callable[[Context, dict], None] | None = None


def load_extra(setting: str | None = None) -> list[Capability]:
    """The capabilities ``$LOCAL_AWS_CAPABILITIES`` names: ``module:attribute``, comma-separated."""
    found = []
    for entry in filter(None, (setting or os.environ.get(EXTRA_CAPABILITIES, "")).split(",")):
        module, _, attribute = entry.strip().partition(":")
        capability = getattr(importlib.import_module(module), attribute)
        if not isinstance(capability, Capability):
            raise TypeError(f"{EXTRA_CAPABILITIES}: {entry} is not a Capability")
        found.append(capability)
    return found


#: moto's own attributes, as they were before the first patch of each.
_ORIGINALS: dict[tuple[Any, str], Any] = {}


def patch(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    """Replace ``owner.name`` with ``make(current)``, ``current`` being what it is now.

    ``owner`` is a class or a module; ``current`` is the attribute as it holds it (a function,
    a property), or None where moto has none (an operation it does not serve). Patches by
    several capabilities stack in the order they are installed; ``unpatch_all`` puts moto back
    as it was, so that installing again (another local AWS in the same process, a test's)
    serves the local AWS that installed last, not both.
    """
    key = (owner, name)
    if key not in _ORIGINALS:
        _ORIGINALS[key] = inspect.getattr_static(owner, name, None)
    setattr(owner, name, make(inspect.getattr_static(owner, name, None)))


def unpatch_all() -> None:
    """Give every patched attribute back moto's own."""
    for (owner, name), original in _ORIGINALS.items():
        if original is None:
            with contextlib.suppress(AttributeError):
                delattr(owner, name)
        else:
            setattr(owner, name, original)


def check_requirements(capabilities: Sequence[Capability]) -> None:
    """Each capability's ``requires`` is served, and installed before it."""
    seen: set[str] = set()
    for capability in capabilities:
        missing = [name for name in capability.requires if name not in seen]
        if missing:
            raise ValueError(
                f"capability {capability.name!r} requires {', '.join(missing)}, which must be "
                "listed before it in local_aws.capabilities.MODULES"
            )
        seen.add(capability.name)
