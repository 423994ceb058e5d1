"""A job's private copy of the container file system: ``/opt/ml`` and nothing else.

SageMaker containers see their inputs, config and outputs under ``/opt/ml``. A local job gets a
folder of its own that holds that tree, and sees it in one of two ways:

- **namespace** (Linux with bubblewrap): the job runs in a private mount namespace where its
  folder *is* ``/opt/ml``. Scripts that open ``/opt/ml/...`` in their own code, as AWS's
  examples do, work unchanged, and nothing is written to the host's ``/opt``. The rest of the
  file system stays as it is (``/opt``'s other entries included: CI runners keep Python there),
  so the job runs this project's interpreter and reaches the local AWS as before.
- **paths** (elsewhere: macOS, or Linux hosts that restrict unprivileged user namespaces, as
  Ubuntu 24.04 does by default): every ``/opt/ml`` path in the job's command, arguments and
  environment is rewritten to point into the folder. Paths a script builds in its own code are
  not rewritten.

Bubblewrap rather than an overlay: it needs no root and no overlayfs support, and binding one
folder at ``/opt/ml`` (on a fresh ``/opt`` that re-binds the host's entries) writes nothing to
the host. ``LOCAL_AWS_JOB_ISOLATION`` chooses: ``auto`` (the default: namespace where it works),
``namespace`` (refuse to start without it) or ``paths``. Every job's log says which mode it ran
in, and what the job prints is shown with ``/opt/ml`` paths, never the folder's host path.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_CONTAINER_PATH = re.compile(r"(?<![\w/.])/opt/ml(?=/|$|\s|:)")
ISOLATION_SETTING = "LOCAL_AWS_JOB_ISOLATION"
NAMESPACE, PATHS = "namespace", "paths"


class IsolationError(RuntimeError):
    """``LOCAL_AWS_JOB_ISOLATION`` asks for a mode this machine cannot give."""


@dataclass(frozen=True)
class Isolation:
    """How jobs see ``/opt/ml`` on this machine, and why."""

    mode: str
    reason: str
    bwrap: str | None = None

    def describe(self) -> str:
        """One line for the job's log (marked as the local AWS's: SageMaker writes no such line)."""
        if self.mode == NAMESPACE:
            return "[local AWS] the job has its own /opt/ml, in a private mount namespace"
        return (
            f"[local AWS] /opt/ml is mapped to the job's folder in its command, arguments and "
            f"environment only ({self.reason}); paths a script builds itself are not mapped"
        )


def detect_isolation(setting: str | None = None) -> Isolation:
    """The isolation ``setting`` (default: ``$LOCAL_AWS_JOB_ISOLATION`` or ``auto``) gives here."""
    return _detect((setting or os.environ.get(ISOLATION_SETTING) or "auto").lower())


@functools.cache
def _detect(setting: str) -> Isolation:
    if setting not in ("auto", NAMESPACE, PATHS):
        raise IsolationError(
            f"{ISOLATION_SETTING}={setting!r} is not a job isolation mode; expected auto, "
            f"{NAMESPACE} or {PATHS}"
        )
    if setting == PATHS:
        return Isolation(PATHS, f"{ISOLATION_SETTING}={PATHS}")
    bwrap, problem = shutil.which("bwrap"), None
    if not sys.platform.startswith("linux"):
        problem = f"mount namespaces are Linux's; this is {sys.platform}"
    elif not bwrap:
        problem = "bubblewrap is not installed (Debian and Ubuntu: apt-get install bubblewrap)"
    elif not Path("/opt").is_dir():
        problem = "this machine has no /opt folder to give jobs their /opt/ml in"
    else:
        problem = _probe(bwrap)
    if problem is None:
        return Isolation(NAMESPACE, "", bwrap)
    if setting == NAMESPACE:
        raise IsolationError(f"{ISOLATION_SETTING}={NAMESPACE}, but {problem}")
    return Isolation(PATHS, problem)


def _probe(bwrap: str) -> str | None:
    """Why bubblewrap cannot give a job its own ``/opt/ml`` here, or None when it can."""
    with tempfile.TemporaryDirectory(prefix="local-aws-probe-") as folder:
        Path(folder, "probe").write_text("ok")
        try:
            command = [bwrap, *_namespace_arguments(Path(folder)), "cat", "/opt/ml/probe"]
            result = subprocess.run(command, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bubblewrap did not run: {error}"
    if result.returncode == 0 and result.stdout == "ok":
        return None
    detail = " ".join(result.stderr.split()) or f"exit status {result.returncode}"
    return (
        f"bubblewrap cannot create a mount namespace here ({detail}); hosts that restrict "
        "unprivileged user namespaces (Ubuntu 24.04 by default) need an AppArmor profile for "
        "bwrap, or sysctl kernel.apparmor_restrict_unprivileged_userns=0"
    )


def _namespace_arguments(opt_ml: Path) -> list[str]:
    """bubblewrap's mounts: the host as it is, but a fresh ``/opt`` holding ``opt_ml`` as ml.

    bubblewrap mounts what it binds ``nodev``: ``/dev`` gets its own minimal devices (null,
    zero, random, urandom, tty, shm), as a container's has. An entry of ``/opt`` that goes away
    before the job starts is left out (``--bind-try``).
    """
    arguments = ["--bind", "/", "/", "--dev", "/dev", "--tmpfs", "/opt"]
    for entry in sorted(Path("/opt").iterdir()):
        if entry.name == "ml":
            continue
        if entry.is_symlink():
            arguments += ["--symlink", os.readlink(entry), str(entry)]
        else:
            arguments += ["--bind-try", str(entry), str(entry)]
    return [*arguments, "--bind", str(opt_ml), "/opt/ml", "--die-with-parent"]


class Sandbox:
    """One job's folder: ``<root>/opt/ml/...``, its own ``tmp`` and a ``bin`` for python."""

    def __init__(self, root: Path, isolation: Isolation):
        self.root = Path(root).resolve()  # as the job's own paths show it (symlinks resolved)
        self.opt_ml = self.root / "opt" / "ml"
        self.bin = self.root / "bin"
        self.tmp = self.root / "tmp"
        self.isolation = isolation

    def create(self) -> Sandbox:
        if self.root.exists():
            shutil.rmtree(self.root)
        for folder in (self.opt_ml, self.bin, self.tmp):
            folder.mkdir(parents=True)
        # The job's "python3" is this project's interpreter: the same packages, from the same
        # lock file, that the jobs' container image is built from.
        for name in ("python", "python3"):
            shim = self.bin / name
            shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
            shim.chmod(0o755)
        return self

    def host_path(self, container_path: str) -> Path:
        """Where a container path such as ``/opt/ml/processing/input`` lives on this machine."""
        return Path(_CONTAINER_PATH.sub(_replacement(self.opt_ml), container_path))

    def container_text(self, text: str) -> str:
        """``text`` (an argument, a variable) as the job must get it to reach its ``/opt/ml``."""
        if self.isolation.mode == NAMESPACE:
            return text
        return _CONTAINER_PATH.sub(_replacement(self.opt_ml), text)

    def shown(self, text: str) -> str:
        """``text`` (a log line, an error) with the sandbox's host paths back as ``/opt/ml``."""
        return text.replace(str(self.opt_ml), "/opt/ml")

    def command(self, argv: list[str], workdir: str | None = None) -> tuple[list[str], Path]:
        """The process to start for the container command ``argv``, and its host working folder.

        ``workdir`` is the container's working directory (a ``/opt/ml`` path); without it the
        job starts in its sandbox folder.
        """
        cwd = self.host_path(workdir) if workdir else self.root
        if self.isolation.mode != NAMESPACE:
            return [self.container_text(part) for part in argv], cwd
        chdir = ["--chdir", workdir] if workdir else []
        wrapped = [self.isolation.bwrap, *_namespace_arguments(self.opt_ml), *chdir, "--", *argv]
        return wrapped, cwd

    def write_json(self, container_path: str, document: object) -> None:
        path = self.host_path(container_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, default=str))

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        """A clean process environment, as a container has: nothing leaks from this process."""
        env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", str(self.tmp)),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "TMPDIR": str(self.tmp),
            "PYTHONUNBUFFERED": "1",
        }
        env.update({key: self.container_text(value) for key, value in extra.items()})
        return env


def _replacement(folder: Path) -> str:
    return str(folder).replace("\\", "\\\\")
