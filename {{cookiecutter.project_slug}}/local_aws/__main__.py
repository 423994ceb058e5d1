"""``python -m local_aws``: serve the local AWS until interrupted.

Settings come from the ``[environments.local]`` section of ``pipeline.toml`` (endpoint port,
account, region), where ``${NAME:-default}`` stands for an environment variable
(``LOCAL_AWS_PORT`` moves the port); the command line overrides them.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
import tomllib
from pathlib import Path
from urllib.parse import urlparse

from local_aws.jobs.sandbox import IsolationError
from local_aws.state import IncompatibleStateError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_aws", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", type=Path, default=Path("pipeline.toml"))
    parser.add_argument("--host", default=None, help="address to bind (default from the config)")
    parser.add_argument("--port", type=int, default=None, help="port (0 picks a free one)")
    parser.add_argument("--state-dir", type=Path, default=Path(".local-aws"))
    parser.add_argument("--account-id", default=None, help="the account unsigned keys act in")
    parser.add_argument(
        "--ready-file", type=Path, default=None, help="write the endpoint URL here once serving"
    )
    return parser.parse_args(argv)


_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def read_config(config: Path) -> tuple[dict, str | None]:
    """The config's ``[environments.local]`` section (merged over the one it ``extends``, its
    variables expanded) and the project's slug."""
    if not config.exists():
        return {}, None
    settings = tomllib.loads(config.read_text())
    environments = settings.get("environments", {})
    local = environments.get("local", {})
    merged = {**environments.get(local.get("extends", ""), {}), **local}
    expanded = {
        key: _VARIABLE.sub(_variable, value) if isinstance(value, str) else value
        for key, value in merged.items()
    }
    return expanded, settings.get("project", {}).get("slug")


def _variable(match: re.Match) -> str:
    value = os.environ.get(match["name"]) or match["default"]
    if value is None:
        raise SystemExit(f"error: pipeline.toml needs the environment variable {match['name']}")
    return value


def image_commands(root: Path) -> dict[str, list[str]]:
    """What the jobs' image runs for SageMaker's commands, from ``[tool.local-aws]`` in the
    project's pyproject.toml: ``serve = "<file>"``, a Python file the Dockerfile installs as
    the image's ``serve``."""
    pyproject = root / "pyproject.toml"
    if not pyproject.exists():
        return {}
    settings = tomllib.loads(pyproject.read_text()).get("tool", {}).get("local-aws", {})
    return {
        command: ["python", str((root / path).resolve())]
        for command, path in settings.items()
        if command == "serve"
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    local, project = read_config(args.config)
    endpoint_url = local.get("endpoint_url", "http://127.0.0.1:4566")
    endpoint = urlparse(endpoint_url)
    try:
        port = args.port if args.port is not None else endpoint.port
    except ValueError:
        print(
            f"error: {args.config} [environments.local] endpoint_url is {endpoint_url!r}, whose "
            "port is not a number from 0 to 65535 (LOCAL_AWS_PORT sets it)",
            file=sys.stderr,
        )
        return 2

    from local_aws.server import LocalAWS

    server = LocalAWS(
        state_dir=args.state_dir,
        host=args.host or endpoint.hostname,
        port=port,
        account_id=args.account_id or local.get("account_id", "123456789012"),
        project={"name": project, "root": str(args.config.resolve().parent)},
        image_commands=image_commands(args.config.resolve().parent),
    )
    try:
        server.start()
    except (IncompatibleStateError, IsolationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(
            f"error: cannot serve on {server.endpoint_url}: {error.strerror or error}. Stop what "
            "serves there, or move the local AWS for every command: export LOCAL_AWS_PORT=<port>",
            file=sys.stderr,
        )
        return 2
    if args.ready_file:
        args.ready_file.write_text(server.endpoint_url + "\n")
    print(f"Local AWS serving {server.endpoint_url} (state in {server.state_dir})", flush=True)

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
