"""GitHub's REST API, as a GitHub App installation: what promotion proposals need of it.

A pull request opened with a workflow's own ``GITHUB_TOKEN`` starts no workflow, so the plan
would never run on it: proposals are opened by a GitHub App instead. The App's private key is
kept in an Airflow connection (on AWS, a Secrets Manager secret read through Airflow's secrets
backend); each use signs a JWT with it and exchanges that for an installation token, which
lasts an hour (GitHub's "Authenticating as a GitHub App installation").
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from urllib.parse import quote

import requests

#: The REST API version every request asks for.
API_VERSION = "2022-11-28"
TIMEOUT_SECONDS = 30


class GitHubError(RuntimeError):
    """GitHub refused a request: the status and GitHub's message are in the text."""

    def __init__(self, method: str, path: str, status: int, message: str):
        super().__init__(f"GitHub answered {method} {path} with {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class AppCredentials:
    """A GitHub App's identity: its ID (or client ID), private key and installation."""

    app_id: str
    private_key: str
    installation_id: str
    api_url: str = "https://api.github.com"

    @classmethod
    def from_connection(cls, connection) -> AppCredentials:
        """From an Airflow connection: login the App ID, password the private key (PEM),
        extra ``installation_id``, host the API's URL (GitHub Enterprise's, or none)."""
        extra = connection.extra_dejson
        missing = [
            name
            for name, value in (
                ("login (the App ID)", connection.login),
                ("password (the App's private key)", connection.password),
                ("extra installation_id", extra.get("installation_id")),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                f"the Airflow connection {connection.conn_id!r} lacks {', '.join(missing)}: "
                "docs/runbooks.md says how to set up the promotion GitHub App"
            )
        host = connection.host or "https://api.github.com"
        if "://" not in host:
            host = f"https://{host}"
        return cls(
            app_id=str(connection.login),
            private_key=connection.password,
            installation_id=str(extra["installation_id"]),
            api_url=host.rstrip("/"),
        )

    def app_jwt(self, now: float | None = None) -> str:
        """The App's own JWT (RS256, 10 minutes at most, issued a minute early for clock skew)."""
        import jwt

        issued = int(now if now is not None else time.time()) - 60
        payload = {"iat": issued, "exp": issued + 600, "iss": self.app_id}
        return jwt.encode(payload, self.private_key, algorithm="RS256")


class GitHub:
    """One repository through the REST API; every call raises :class:`GitHubError` on refusal."""

    def __init__(self, repository: str, token: str, api_url: str = "https://api.github.com"):
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"{repository}-promotion",
            }
        )

    @classmethod
    def as_app(cls, repository: str, credentials: AppCredentials) -> GitHub:
        """Signed in as the App's installation: a fresh token for this repository only, with
        only what proposals need (whatever else the installation may do)."""
        path = f"/app/installations/{credentials.installation_id}/access_tokens"
        response = requests.post(
            credentials.api_url + path,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {credentials.app_jwt()}",
                "X-GitHub-Api-Version": API_VERSION,
            },
            json={
                "repositories": [repository.split("/", 1)[1]],
                "permissions": {"contents": "write", "pull_requests": "write"},
            },
            timeout=TIMEOUT_SECONDS,
        )
        if response.status_code != 201:
            raise GitHubError("POST", path, response.status_code, _message(response))
        return cls(repository, response.json()["token"], credentials.api_url)

    def call(self, method: str, path: str, expect=(200,), **kwargs):
        """``path`` under ``/repos/<owner>/<name>``; the JSON answer, or None for a 404 when
        404 is expected."""
        full = f"/repos/{self.repository}{path}"
        response = self.session.request(
            method, self.api_url + full, timeout=TIMEOUT_SECONDS, **kwargs
        )
        if response.status_code not in expect:
            raise GitHubError(method, full, response.status_code, _message(response))
        return None if response.status_code == 404 else response.json()

    def default_branch(self) -> str:
        return self.call("GET", "")["default_branch"]

    def branch_head(self, branch: str) -> str | None:
        """The commit a branch points at; None when there is no such branch."""
        found = self.call("GET", f"/git/ref/heads/{quote(branch)}", expect=(200, 404))
        return found["object"]["sha"] if found else None

    def create_branch(self, branch: str, commit: str) -> None:
        """A new branch at ``commit``; one made meanwhile by another run is moved there."""
        try:
            self.call(
                "POST",
                "/git/refs",
                expect=(201,),
                json={"ref": f"refs/heads/{branch}", "sha": commit},
            )
        except GitHubError as error:
            if error.status != 422:
                raise
            self.reset_branch(branch, commit)

    def reset_branch(self, branch: str, commit: str) -> None:
        """Point ``branch`` at ``commit``, dropping what it held (a stale proposal's branch)."""
        self.call("PATCH", f"/git/refs/heads/{quote(branch)}", json={"sha": commit, "force": True})

    def file_history(self, path: str, ref: str, limit: int = 30) -> list[str]:
        """The texts ``path`` had in the last ``limit`` commits that changed it, newest first."""
        commits = self.call("GET", "/commits", params={"sha": ref, "path": path, "per_page": limit})
        return [found[0] for c in commits if (found := self.file(path, c["sha"])) is not None]

    def file(self, path: str, ref: str) -> tuple[str, str] | None:
        """A file's text and blob SHA at ``ref``; None when it is not there."""
        found = self.call("GET", f"/contents/{quote(path)}", expect=(200, 404), params={"ref": ref})
        if found is None:
            return None
        if found.get("type") != "file":
            raise GitHubError("GET", f"/contents/{path}", 200, "not a file")
        return base64.b64decode(found["content"]).decode(), found["sha"]

    def commit_file(self, path: str, text: str, blob_sha: str, branch: str, message: str) -> str:
        """Replace a file on a branch with one commit; the commit's SHA."""
        body = {
            "message": message,
            "content": base64.b64encode(text.encode()).decode(),
            "sha": blob_sha,
            "branch": branch,
        }
        answer = self.call("PUT", f"/contents/{quote(path)}", expect=(200, 201), json=body)
        return answer["commit"]["sha"]

    def pull_requests(self, head_branch: str) -> list[dict]:
        """Every pull request (open, closed or merged) from ``head_branch`` of this repository."""
        owner = self.repository.split("/")[0]
        return self.call("GET", "/pulls", params={"head": f"{owner}:{head_branch}", "state": "all"})

    def open_pull_requests(self, base: str) -> list[dict]:
        return self.call("GET", "/pulls", params={"state": "open", "base": base, "per_page": 100})

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> dict:
        """The pull request from ``head``: opened now, or by another run meanwhile."""
        try:
            return self.call(
                "POST",
                "/pulls",
                expect=(201,),
                json={"title": title, "head": head, "base": base, "body": body},
            )
        except GitHubError as error:
            existing = self.pull_requests(head) if error.status == 422 else []
            if not existing:
                raise
            return existing[0]

    def close_pull_request(self, number: int, body: str) -> None:
        self.call("PATCH", f"/pulls/{number}", json={"state": "closed", "body": body})


def _message(response: requests.Response) -> str:
    try:
        return response.json().get("message") or response.text
    except ValueError:
        return response.text[:200]
