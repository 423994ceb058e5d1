"""A stand-in for GitHub's REST API, for one repository held in a git repository on this machine.

The demo, the local Airflow and the tests let the promotion DAG propose pull requests here, as
it does on GitHub: a GitHub App signs in with a JWT for an installation token, then reads the
pins, makes a branch, commits and opens the pull request. Branches and commits are real ones in
the git repository (file SHAs are git's blob SHAs, as on GitHub); pull requests are kept beside
it, in ``.git/local-github-pulls.json``, so a restarted stand-in knows what it was asked before.
``make airflow`` runs it as a process of its own (``python -m tools.local_github serve``).

Every call is checked against GitHub's published OpenAPI description (``github_api.json``, the
operations used here, taken from it by ``python -m tools.local_github subset``): an unknown
operation or parameter, a missing or wrong one, a body the schema refuses is answered 422 and
kept in ``violations``; so is an answer of the stand-in's own that the schema would refuse.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

DESCRIPTION = Path(__file__).with_name("github_api.json")
#: The operations the stand-in serves (method, path), as GitHub's description names them.
OPERATIONS = (
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("get", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/commits"),
    ("get", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("post", "/repos/{owner}/{repo}/git/refs"),
    ("patch", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("put", "/repos/{owner}/{repo}/contents/{path}"),
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("post", "/repos/{owner}/{repo}/pulls"),
    ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("put", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"),
)
#: Path parameters whose values hold slashes.
MULTI_SEGMENT = ("path", "ref")
BOT = {"GIT_AUTHOR_NAME": "promotion[bot]", "GIT_AUTHOR_EMAIL": "promotion[bot]@users.noreply"}
TOKEN_LIFETIME = timedelta(hours=1)


class Refused(Exception):
    def __init__(self, status: int, message: str, errors: list | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


class Operation:
    """One operation of the description: its route, parameters and schemas."""

    def __init__(self, method: str, path: str, spec: dict):
        from openapi_schema_validator import OAS30Validator

        self.method, self.path, self.spec = method, path, spec
        self.id = spec["operationId"]
        pattern = re.sub(
            r"\{(\w+)\}",
            lambda m: f"(?P<{m[1]}>{'.+' if m[1] in MULTI_SEGMENT else '[^/]+'})",
            path,
        )
        self.route = re.compile(pattern + "$")
        self.parameters = {(p["in"], p["name"]): p for p in spec.get("parameters", [])}
        body = spec.get("requestBody")
        self.body = body
        self.body_validator = (
            OAS30Validator(body["content"]["application/json"]["schema"]) if body else None
        )
        # answers may leave out fields GitHub always sends, never send an undeclared one
        self.answers = {
            int(status): OAS30Validator(_partial(content["application/json"]["schema"]))
            for status, answer in spec["responses"].items()
            for content in [answer.get("content", {})]
            if "application/json" in content
        }

    def check_request(self, path_values: dict, query: dict, body) -> list[str]:
        problems = []
        for (where, name), parameter in self.parameters.items():
            value = path_values.get(name) if where == "path" else query.get(name)
            if where not in ("path", "query"):
                continue
            if value is None:
                if parameter.get("required"):
                    problems.append(f"{where} parameter {name} is required")
                continue
            problems += _check_value(parameter["schema"], value, f"{where} parameter {name}")
        known = {name for where, name in self.parameters if where == "query"}
        problems += [
            f"query parameter {name} is not one of {self.id}'s"
            for name in query
            if name not in known
        ]
        if self.body_validator is None:
            if body is not None:
                problems.append(f"{self.id} takes no body")
        elif body is None:
            if self.body.get("required"):
                problems.append(f"{self.id} needs a JSON body")
        else:
            problems += [
                f"body: {error.message} at {'/'.join(map(str, error.absolute_path)) or '.'}"
                for error in self.body_validator.iter_errors(body)
            ]
        return problems

    def check_answer(self, status: int, answer) -> list[str]:
        validator = self.answers.get(status)
        if validator is None:
            return [] if status >= 400 else [f"{self.id} answers no {status} in the description"]
        return [f"answer {status}: {error.message}" for error in validator.iter_errors(answer)]


def _check_value(schema: dict, value: str, where: str) -> list[str]:
    from openapi_schema_validator import OAS30Validator

    kind = schema.get("type")
    try:
        typed = int(value) if kind == "integer" else value
        if kind == "boolean":
            typed = {"true": True, "false": False}[value]
    except (ValueError, KeyError):
        return [f"{where}: {value!r} is not {kind}"]
    return [f"{where}: {error.message}" for error in OAS30Validator(schema).iter_errors(typed)]


def _partial(schema):
    """The schema with ``required`` dropped everywhere: a subset of an answer's fields."""
    if isinstance(schema, dict):
        return {k: _partial(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_partial(v) for v in schema]
    return schema


class LocalGitHub:
    """The REST API of ``owner/name``, its git data in ``repository`` (a git working copy)."""

    def __init__(
        self,
        repository: Path,
        full_name: str,
        app_id: str,
        app_public_key: str,
        installation_id: str = "1",
    ):
        self.repository = repository
        self.full_name = full_name
        self.app_id, self.app_public_key = app_id, app_public_key
        self.installation_id = installation_id
        description = json.loads(DESCRIPTION.read_text())
        self.operations = [
            Operation(method, path, description["paths"][path][method])
            for method, path in OPERATIONS
        ]
        #: token → (expiry, the repositories it is limited to, if any)
        self.tokens: dict[str, tuple[datetime, set[str]]] = {}
        self.pulls_file = repository / ".git" / "local-github-pulls.json"
        self.pulls: list[dict] = (
            json.loads(self.pulls_file.read_text()) if self.pulls_file.exists() else []
        )
        self.violations: list[str] = []
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # --- the server ---------------------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        github = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def handle_any(self):
                status, answer = github.handle(
                    self.command, self.path, dict(self.headers), self._body()
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else None

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def handle(self, method: str, target: str, headers: dict, raw: bytes | None):
        url = urlparse(target)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        path = unquote(url.path)
        self.calls.append(f"{method} {url.path}")
        for operation in self.operations:
            found = operation.route.match(path)
            if found and operation.method == method.lower():
                break
        else:
            self.violations.append(f"{method} {path}: no such operation in GitHub's description")
            return 404, {"message": "Not Found", "status": "404"}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return 400, {"message": "Problems parsing JSON", "status": "400"}
        problems = operation.check_request(found.groupdict(), query, body)
        if problems:
            self.violations += [f"{operation.id}: {p}" for p in problems]
            return 422, {"message": "Validation Failed", "errors": problems, "status": "422"}
        try:
            self._authenticate(operation, found.groupdict(), headers)
            with self.lock:
                status, answer = getattr(self, operation.id.split("/")[1].replace("-", "_"))(
                    found.groupdict(), query, body
                )
        except Refused as refused:
            answer = {"message": refused.message, "status": str(refused.status)}
            if refused.errors:
                answer["errors"] = refused.errors
            return refused.status, answer
        problems = operation.check_answer(status, answer)
        if problems:
            self.violations += [f"{operation.id}: {p}" for p in problems]
            return 500, {"message": "the stand-in's answer breaks GitHub's description"}
        return status, answer

    def _authenticate(self, operation: Operation, values: dict, headers: dict) -> None:
        import jwt

        scheme, _, credential = (headers.get("Authorization") or "").partition(" ")
        if operation.id == "apps/create-installation-access-token":
            try:
                claims = jwt.decode(
                    credential,
                    self.app_public_key,
                    algorithms=["RS256"],
                    options={"require": ["iat", "exp", "iss"]},
                    leeway=60,
                )
            except jwt.PyJWTError as error:
                raise Refused(401, f"A JSON web token could not be decoded ({error})") from None
            if str(claims["iss"]) != self.app_id:
                raise Refused(401, "'Issuer' claim ('iss') must be the App's ID")
            if claims["exp"] > time.time() + 600 + 60:  # GitHub allows 10 minutes, and skew
                raise Refused(401, "'Expiration time' claim ('exp') is too far in the future")
            if values["installation_id"] != self.installation_id:
                raise Refused(404, "Not Found")
            return
        issued = self.tokens.get(credential) if scheme.lower() in ("bearer", "token") else None
        if issued is None or issued[0] < datetime.now(UTC):
            raise Refused(401, "Bad credentials")
        name = f"{values['owner']}/{values['repo']}"
        if name != self.full_name or (issued[1] and values["repo"] not in issued[1]):
            raise Refused(404, "Not Found")

    # --- operations, named as GitHub's operationIds ------------------------------------------
    def create_installation_access_token(self, values, query, body):
        token = "ghs_" + secrets.token_urlsafe(27)
        expires = datetime.now(UTC) + TOKEN_LIFETIME
        repositories = set((body or {}).get("repositories") or ())
        self.tokens[token] = (expires, repositories)
        answer = {
            "token": token,
            "expires_at": _time(expires),
            "permissions": (body or {}).get("permissions")
            or {"contents": "write", "pull_requests": "write"},
            "repository_selection": "selected",
        }
        return 201, answer

    def list_commits(self, values, query, body):
        """Newest first, as GitHub lists them; ``path`` keeps those that changed it."""
        start = query.get("sha") or self.default_branch
        if self._rev(start) is None:
            raise Refused(404, f"No commit found for SHA: {start}")
        per_page, page = int(query.get("per_page", 30)), int(query.get("page", 1))
        command = ["log", "--format=%H%x00%s", start]
        if query.get("path"):
            command += ["--", query["path"]]
        listed = [line.split("\0", 1) for line in self._git(*command).splitlines() if line]
        chosen = listed[(page - 1) * per_page : page * per_page]
        return 200, [
            {"sha": sha, "commit": {"message": message}, "html_url": f"{self._html()}/commit/{sha}"}
            for sha, message in chosen
        ]

    def get(self, values, query, body):
        return 200, {
            "id": 1,
            "node_id": "R_local",
            "name": self.full_name.split("/")[1],
            "full_name": self.full_name,
            "private": True,
            "html_url": self._html(),
            "default_branch": self.default_branch,
        }

    def get_ref(self, values, query, body):
        sha = self._rev(f"refs/{values['ref']}")
        if sha is None:
            raise Refused(404, "Not Found")
        return 200, self._ref(f"refs/{values['ref']}", sha)

    def create_ref(self, values, query, body):
        ref, sha = body["ref"], body["sha"]
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise Refused(422, "Reference name must be fully qualified")
        if self._rev(ref) is not None:
            raise Refused(422, "Reference already exists")
        if self._git("cat-file", "-t", sha, check=False) != "commit":
            raise Refused(422, "Object does not exist")
        self._git("update-ref", ref, sha, "")
        return 201, self._ref(ref, sha)

    def get_content(self, values, query, body):
        ref = query.get("ref") or self.default_branch
        blob = self._rev(f"{ref}:{values['path']}")
        if blob is None or self._git("cat-file", "-t", blob) != "blob":
            raise Refused(404, "Not Found")
        data = self._git_bytes("cat-file", "blob", blob)
        encoded = base64.encodebytes(data).decode()
        return 200, {
            "type": "file",
            "encoding": "base64",
            "size": len(data),
            "name": values["path"].rsplit("/", 1)[-1],
            "path": values["path"],
            "content": encoded,
            "sha": blob,
            "html_url": f"{self._html()}/blob/{ref}/{values['path']}",
        }

    def create_or_update_file_contents(self, values, query, body):
        branch = body.get("branch") or self.default_branch
        ref = f"refs/heads/{branch}"
        parent = self._rev(ref)
        if parent is None:
            raise Refused(404, f"Branch {branch} not found")
        current = self._rev(f"{parent}:{values['path']}")
        if current is not None and "sha" not in body:
            raise Refused(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if current is not None and body["sha"] != current:
            raise Refused(409, f"{values['path']} does not match {body['sha']}")
        try:
            content = base64.b64decode(body["content"], validate=True)
        except ValueError:
            raise Refused(422, "content is not valid Base64") from None
        blob = self._git("hash-object", "-w", "--stdin", input=content)
        index = self.repository / ".git" / f"stand-in-index-{secrets.token_hex(4)}"
        try:
            env = {"GIT_INDEX_FILE": str(index)}
            self._git("read-tree", parent, env=env)
            self._git(
                "update-index", "--add", "--cacheinfo", f"100644,{blob},{values['path']}", env=env
            )
            tree = self._git("write-tree", env=env)
        finally:
            index.unlink(missing_ok=True)
        commit = self._git("commit-tree", tree, "-p", parent, "-m", body["message"], env=BOT)
        self._git("update-ref", ref, commit, parent)
        answer = {
            "content": {
                "name": values["path"].rsplit("/", 1)[-1],
                "path": values["path"],
                "sha": blob,
            },
            "commit": {"sha": commit, "message": body["message"]},
        }
        return (200 if current is not None else 201), answer

    def list(self, values, query, body):
        state = query.get("state", "open")
        head = query.get("head")
        if head is not None and ":" not in head:  # GitHub ignores it and lists every one
            self.violations.append(f"pulls/list: head {head!r} is not user:ref-name")
            head = None
        found = [
            pull
            for pull in self.pulls
            if (state == "all" or pull["state"] == state)
            and (head is None or pull["head"]["label"] == head)
            and (query.get("base") is None or pull["base"]["ref"] == query["base"])
        ]
        return 200, found[::-1]  # newest first

    def update(self, values, query, body):
        pull = self._pull(values)
        if body.get("state") in ("open", "closed"):
            if pull["merged_at"] and body["state"] == "open":
                raise Refused(422, "state cannot be changed. The pull request has been merged.")
            pull["state"] = body["state"]
        pull.update({key: body[key] for key in ("title", "body") if key in body})
        self._save_pulls()
        return 200, pull

    def update_ref(self, values, query, body):
        ref = f"refs/{values['ref']}"
        current = self._rev(ref)
        if current is None:
            raise Refused(422, "Reference does not exist")
        if self._git("cat-file", "-t", body["sha"], check=False) != "commit":
            raise Refused(422, "Object does not exist")
        ancestor = subprocess.run(
            ["git", "merge-base", "--is-ancestor", current, body["sha"]], cwd=self.repository
        )
        if ancestor.returncode != 0 and not body.get("force"):
            raise Refused(422, "Update is not a fast forward")
        self._git("update-ref", ref, body["sha"], current)
        return 200, self._ref(ref, body["sha"])

    def create(self, values, query, body):
        head, base = body["head"], body["base"]
        branch = head.split(":", 1)[-1]
        owner = self.full_name.split("/")[0]
        head_sha, base_sha = self._rev(f"refs/heads/{branch}"), self._rev(f"refs/heads/{base}")
        if head_sha is None or base_sha is None:
            raise Refused(
                422, "Validation Failed", [{"resource": "PullRequest", "code": "invalid"}]
            )
        if self._git("rev-list", "--count", f"{base_sha}..{head_sha}") == "0":
            raise Refused(422, f"No commits between {base} and {branch}")
        if any(
            p["state"] == "open" and p["head"]["ref"] == branch and p["base"]["ref"] == base
            for p in self.pulls
        ):
            raise Refused(422, f"A pull request already exists for {owner}:{branch}.")
        number = len(self.pulls) + 1
        pull = {
            "number": number,
            "state": "open",
            "title": body["title"],
            "body": body.get("body"),
            "html_url": f"{self._html()}/pull/{number}",
            "created_at": _time(datetime.now(UTC)),
            "merged_at": None,
            "head": {"ref": branch, "sha": head_sha, "label": f"{owner}:{branch}"},
            "base": {"ref": base, "sha": base_sha, "label": f"{owner}:{base}"},
        }
        self.pulls.append(pull)
        self._save_pulls()
        return 201, pull

    def _pull(self, values) -> dict:
        number = int(values["pull_number"])
        if not 1 <= number <= len(self.pulls):
            raise Refused(404, "Not Found")
        return self.pulls[number - 1]

    def merge(self, values, query, body):
        number = int(values["pull_number"])
        pull = self._pull(values)
        if pull["state"] != "open":
            raise Refused(405, "Pull Request is not mergeable")
        base_ref = f"refs/heads/{pull['base']['ref']}"
        base, head = self._rev(base_ref), self._rev(f"refs/heads/{pull['head']['ref']}")
        merged = subprocess.run(
            ["git", "merge-tree", "--write-tree", base, head],
            cwd=self.repository,
            capture_output=True,
            text=True,
        )
        if merged.returncode != 0:
            raise Refused(405, "Pull Request is not mergeable")
        message = (body or {}).get("commit_title") or (
            f"Merge pull request #{number} from {pull['head']['label'].replace(':', '/')}"
        )
        tree = merged.stdout.split()[0]
        commit = self._git("commit-tree", tree, "-p", base, "-p", head, "-m", message, env=BOT)
        self._git("update-ref", base_ref, commit, base)
        pull.update(state="closed", merged_at=_time(datetime.now(UTC)))
        self._save_pulls()
        return 200, {"sha": commit, "merged": True, "message": "Pull Request successfully merged"}

    def _save_pulls(self) -> None:
        self.pulls_file.write_text(json.dumps(self.pulls, indent=1) + "\n")

    # --- git -----------------------------------------------------------------------------------
    @property
    def default_branch(self) -> str:
        return self._git("symbolic-ref", "--short", "HEAD")

    def _rev(self, name: str) -> str | None:
        found = self._git("rev-parse", "--verify", "--quiet", name, check=False)
        return found or None

    def _git(self, *args, check=True, input=None, env=None) -> str:
        return self._git_bytes(*args, check=check, input=input, env=env).decode().strip()

    def _git_bytes(self, *args, check=True, input=None, env=None) -> bytes:
        done = subprocess.run(
            ["git", *args],
            cwd=self.repository,
            input=input,
            capture_output=True,
            env={
                **os.environ,
                **BOT,
                "GIT_COMMITTER_NAME": BOT["GIT_AUTHOR_NAME"],
                "GIT_COMMITTER_EMAIL": BOT["GIT_AUTHOR_EMAIL"],
                **(env or {}),
            },
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {done.stderr.decode().strip()}")
        return done.stdout if done.returncode == 0 else b""

    def _ref(self, ref: str, sha: str) -> dict:
        return {
            "ref": ref,
            "node_id": "REF_local",
            "url": f"{self.url}/repos/{self.full_name}/git/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{self.url}/commits/{sha}"},
        }

    def _html(self) -> str:
        return f"{self.url}/{self.full_name}"


def store_app_connection(
    secretsmanager, conn_id: str, app_id: str, private_key: str, api_url: str, installation="1"
) -> str:
    """Keep a GitHub App's connection where Airflow's Secrets Manager backend reads it
    (``airflow/connections/<conn_id>``), as docs/runbooks.md has it done on AWS; its ARN."""
    name = f"airflow/connections/{conn_id}"
    value = json.dumps(
        {
            "conn_type": "generic",
            "host": api_url,
            "login": app_id,
            "password": private_key,
            "extra": {"installation_id": installation},
        }
    )
    try:
        return secretsmanager.create_secret(Name=name, SecretString=value)["ARN"]
    except secretsmanager.exceptions.ResourceExistsException:
        return secretsmanager.put_secret_value(SecretId=name, SecretString=value)["ARN"]


def new_app_key() -> tuple[str, str]:
    """A GitHub App's key pair as PEM text: (private, public)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def scratch_repository(folder: Path, files: dict[str, str], branch: str = "main") -> Path:
    """A git repository in ``folder`` whose one commit on ``branch`` holds ``files``
    (path → text): the repository the stand-in serves."""
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    env = {
        **os.environ,
        **BOT,
        "GIT_COMMITTER_NAME": "local",
        "GIT_COMMITTER_EMAIL": "local@localhost",
    }
    for args in (
        ("init", "-q", "-b", branch),
        ("add", "-A"),
        ("commit", "-q", "-m", "Initial commit"),
    ):
        subprocess.run(["git", *args], cwd=folder, env=env, check=True, capture_output=True)
    return folder


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def subset(full_description: Path, output: Path = DESCRIPTION) -> None:
    """Take OPERATIONS out of GitHub's dereferenced description (``api.github.com.deref.json``
    of github/rest-api-description, or the npm package @octokit/openapi), without prose."""
    full = json.loads(full_description.read_text())
    prose = {"description", "summary", "examples", "example", "externalDocs", "tags"}

    def strip(node):
        if isinstance(node, dict):
            return {
                k: strip(v) for k, v in node.items() if k not in prose and not k.startswith("x-")
            }
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    paths: dict = {}
    for method, path in OPERATIONS:
        operation = full["paths"][path][method]
        kept = {
            key: copy.deepcopy(operation[key])
            for key in ("operationId", "parameters", "requestBody")
            if key in operation
        }
        kept["responses"] = {c: r for c, r in operation["responses"].items() if c.startswith("2")}
        paths.setdefault(path, {})[method] = strip(kept)
    info = {"title": full["info"]["title"], "version": full["info"]["version"]}
    text = json.dumps({"openapi": full["openapi"], "info": info, "paths": paths}, sort_keys=True)
    output.write_text(text + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    taking = commands.add_parser("subset", help="refresh github_api.json from the description")
    taking.add_argument("description", type=Path)
    serving = commands.add_parser("serve", help="serve a repository until stopped")
    serving.add_argument("--repository", type=Path, required=True, help="a git working copy")
    serving.add_argument("--full-name", required=True, help="owner/name, as on GitHub")
    serving.add_argument("--app-id", required=True)
    serving.add_argument("--public-key", type=Path, required=True, help="the App's, PEM")
    serving.add_argument("--port", type=int, default=0, help="default: a free one")
    serving.add_argument("--url-file", type=Path, help="where to write the URL once serving")
    args = parser.parse_args(argv)
    if args.command == "subset":
        subset(args.description)
        return
    github = LocalGitHub(args.repository, args.full_name, args.app_id, args.public_key.read_text())
    github.start(args.port)
    print(f"serving {args.full_name} from {args.repository} on {github.url}", flush=True)
    if args.url_file:
        args.url_file.write_text(github.url)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    github.stop()


if __name__ == "__main__":
    main()
