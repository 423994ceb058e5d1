"""A job's private copy of the container file system: ``/opt/ml`` and nothing else.

SageMaker containers see their inputs, config and outputs under ``/opt/ml``. A local job gets a
folder of its own that mirrors that tree, and every ``/opt/ml`` path in the job's command,
arguments and environment is rewritten to point into it. Jobs need no root, and two jobs running
at once never see each other's files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

CONTAINER_ROOT = "/opt/ml"
_CONTAINER_PATH = re.compile(r"(?<![\w/.])/opt/ml(?=/|$|\s|:)")


class Sandbox:
    """One job's folder: ``<root>/opt/ml/...``, its own ``tmp`` and a ``bin`` for python."""

    def __init__(self, root: Path):
        self.root = root
        self.opt_ml = root / "opt" / "ml"
        self.bin = root / "bin"
        self.tmp = root / "tmp"

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
        return Path(self.map(container_path))

    def map(self, text: str) -> str:
        """Rewrite every ``/opt/ml`` path inside ``text`` to the sandbox's copy."""
        return _CONTAINER_PATH.sub(str(self.opt_ml).replace("\\", "\\\\"), text)

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
        env.update({key: self.map(value) for key, value in extra.items()})
        return env
