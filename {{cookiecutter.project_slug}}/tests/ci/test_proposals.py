"""Promotion proposals: which pull requests are due, and GitHub's API as the stand-in serves it.

The registry and the soak are exercised on the local AWS in test_promotion.py; here, what the
proposals decide from given versions and pins, the pin text they write, and the stand-in's
checks of every call against GitHub's published description.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import jwt
import pytest
import requests

from {{ cookiecutter.package_name }}_pipeline import proposals
from {{ cookiecutter.package_name }}_pipeline.config import PipelineConfig
from {{ cookiecutter.package_name }}_pipeline.github import AppCredentials, GitHub, GitHubError
from {{ cookiecutter.package_name }}_pipeline.pins import parse_pin

from tests.support import PROJECT_ROOT
from tools.local_github import LocalGitHub, new_app_key, scratch_repository

pytestmark = pytest.mark.timeout(120)

PINS = PROJECT_ROOT / "ci" / "environments"
APP_ID = "424242"


@pytest.fixture(scope="module")
def config() -> PipelineConfig:
    return PipelineConfig.load(PROJECT_ROOT / "pipeline.toml", environment="dev")


@pytest.fixture(scope="module")
def app_key():
    return new_app_key()


@pytest.fixture
def standin(tmp_path, config, app_key):
    files = {f"ci/environments/{p.name}": p.read_text() for p in PINS.glob("*.toml")}
    repository = scratch_repository(tmp_path / "repository", files)
    github = LocalGitHub(repository, config.project.repository, APP_ID, app_key[1])
    github.start()
    yield github
    github.stop()


@pytest.fixture
def github(standin, config, app_key) -> GitHub:
    credentials = AppCredentials(APP_ID, app_key[0], standin.installation_id, standin.url)
    return GitHub.as_app(config.project.repository, credentials)


def arn(config: PipelineConfig, version: int) -> str:
    dev = config.environment("dev")
    group = config.registry.model_package_group.lower()
    return f"arn:aws:sagemaker:{dev.region}:{dev.account_id}:model-package/{group}/{version}"


def versions(config, **statuses: str) -> dict[int, dict]:
    """``versions(config, v1="Approved", v2="Rejected")`` as ListModelPackages gives them."""
    return {
        int(name[1:]): {
            "ModelPackageVersion": int(name[1:]),
            "ModelPackageArn": arn(config, int(name[1:])),
            "ModelApprovalStatus": status,
        }
        for name, status in statuses.items()
    }


def pinned(config, environment: str, version: int | None) -> proposals.PinnedFile:
    path = f"ci/environments/{environment}.toml"
    text = (PINS / f"{environment}.toml").read_text()
    if version:
        text = proposals.with_primary(text, arn(config, version), "ml.m5.large", 2)
    return proposals.PinnedFile(path, text, parse_pin(text, environment, Path(path)))


def decided(
    config, registry, staging=None, prod=None, soaked=(True, "soaked"), before=()
) -> list[str]:
    """The branches of the proposals made (``v3`` for ``promote/<env>/<group>-v3``), then what
    was logged; ``before``: the versions the pins named before, newest first."""
    pins = {"staging": pinned(config, "staging", staging), "prod": pinned(config, "prod", prod)}
    logged = []
    made = proposals.decide(
        config, registry, pins, lambda: soaked, logged.append, history=lambda _: list(before)
    )
    group = config.registry.model_package_group.lower()
    return [p.branch.replace(f"/{group}-v", "/v") for p in made] + logged


def test_a_newly_approved_version_is_proposed_to_staging_and_pending_ones_are_not(config):
    assert decided(config, versions(config, v1="Approved", v2="PendingManualApproval")) == [
        "promote/staging/v1"
    ]
    assert decided(config, versions(config, v1="Approved", v2="Approved"), staging=1) == [
        "promote/staging/v2",
        "promote/prod/v1",
    ]
    assert decided(config, versions(config, v1="PendingManualApproval")) == []
    pins = {"staging": pinned(config, "staging", None), "prod": pinned(config, "prod", None)}
    (made,) = proposals.decide(config, versions(config, v1="Approved"), pins, None, print)
    group = config.registry.model_package_group.lower()
    assert made.branch == f"promote/staging/{group}-v1"  # a group made again starts at v1


def test_prod_is_proposed_only_after_stagings_soak(config):
    registry = versions(config, v1="Approved", v2="Approved")
    assert decided(config, registry, staging=2, prod=1) == ["promote/prod/v2"]
    waiting = decided(config, registry, staging=2, prod=1, soaked=(False, "6.0 h of the 24 h soak"))
    assert waiting == ["prod waits for staging's v2: 6.0 h of the 24 h soak"]
    assert decided(config, registry, staging=2, prod=2) == []


def test_a_pinned_version_since_rejected_goes_back_to_what_its_pin_named_before(config):
    registry = versions(config, v1="Approved", v2="Approved", v3="Rejected")
    reverts = decided(config, registry, staging=3, prod=3, before=[3, 1])
    assert reverts == ["revert/staging/v3", "revert/prod/v3"]
    pins = {"staging": pinned(config, "staging", 3), "prod": pinned(config, "prod", 3)}
    (staging, prod) = proposals.decide(
        config, registry, pins, lambda: (True, ""), print, history=lambda _: [3, 1]
    )
    # v1, which the pins named before; not v2, which never ran there
    assert f'package = "{arn(config, 1)}"' in staging.text and arn(config, 1) in prod.text
    # a newer approved version moves staging forward instead
    registry = versions(config, v1="Approved", v3="Rejected", v4="Approved")
    assert decided(config, registry, staging=3, prod=1, before=[1]) == ["promote/staging/v4"]
    # nothing approved to go back to: said, not proposed
    registry = versions(config, v1="Rejected", v2="Approved")
    assert "nothing to revert to" in decided(config, registry, staging=1, prod=1)[-1]


def test_an_environment_gets_one_proposal_at_a_time(config):
    """prod pins v2, since rejected; staging's v3 has soaked: prod moves forward to v3, and
    no revert races it for the same line."""
    registry = versions(config, v1="Approved", v2="Rejected", v3="Approved")
    assert decided(config, registry, staging=3, prod=2, before=[2, 1]) == ["promote/prod/v3"]
    waiting = decided(config, registry, staging=3, prod=2, soaked=(False, "not yet"), before=[2, 1])
    assert waiting[0] == "revert/prod/v2"


def test_a_pin_of_another_group_is_left_alone_saying_so(config):
    other = arn(config, 7).replace(
        f"/{config.registry.model_package_group.lower()}/", "/another-group/"
    )
    text = (PINS / "staging.toml").read_text()
    text = proposals.with_primary(text, other, "ml.m5.large")
    pins = {
        "staging": proposals.PinnedFile("s.toml", text, parse_pin(text, "staging", Path("s"))),
        "prod": pinned(config, "prod", None),
    }
    logged = []
    made = proposals.decide(
        config, versions(config, v1="Approved"), pins, lambda: (True, ""), logged.append
    )
    assert made == [] and "another group" in logged[0] and "by hand" in logged[0]


def test_a_proposal_changes_only_the_primary_variants_package(config):
    text = (PINS / "staging.toml").read_text()
    first = proposals.with_primary(text, arn(config, 1), "ml.c5.xlarge")
    assert first.startswith(text.rstrip("\n"))
    pin = parse_pin(first, "staging", Path("staging.toml"))
    assert [(v.name, v.version, v.instance_type) for v in pin.variants] == [
        ("primary", 1, "ml.c5.xlarge")
    ]
    two = first + (
        f'\n[[variants]]\nname = "candidate"\npackage = "{arn(config, 1)}"\nweight = 0.1\n'
        'instance_type = "ml.m5.large"\n'
    )
    bumped = proposals.with_primary(two, arn(config, 7), "ml.m5.large")
    changed = [(a, b) for a, b in zip(two.splitlines(), bumped.splitlines(), strict=True) if a != b]
    assert changed == [(f'package = "{arn(config, 1)}"', f'package = "{arn(config, 7)}"')]
    assert parse_pin(bumped, "staging", Path("staging.toml")).variant("candidate").version == 1
    only_candidate = two.replace('name = "primary"', 'name = "blue"')
    with pytest.raises(ValueError, match="none named 'primary'"):
        proposals.with_primary(only_candidate, arn(config, 7), "ml.m5.large")


def test_a_proposal_pins_the_digest_it_was_reviewed_with(config):
    text = (PINS / "staging.toml").read_text()
    first = proposals.with_primary(text, arn(config, 1), "ml.m5.large", 1, "a" * 64)
    second = proposals.with_primary(first, arn(config, 2), "ml.m5.large", 1, "b" * 64)

    primary = parse_pin(second, "staging", Path("staging.toml")).variant("primary")
    assert (primary.version, primary.model_sha256) == (2, "b" * 64)
    assert [line for line in second.splitlines() if line.startswith("model_sha256")] == [
        f'model_sha256 = "{"b" * 64}"'
    ]
    assert parse_pin(first, "staging", Path("staging.toml")).variant("primary").model_sha256 == (
        "a" * 64
    )
    with pytest.raises(ValueError, match="not a sha256"):
        parse_pin(first.replace("a" * 64, "xyz"), "staging", Path("staging.toml"))


def test_a_proposal_is_a_branch_a_commit_and_a_pull_request_and_is_made_once(
    standin, github, config
):
    pins = proposals.read_pins(github, "main")
    (made,) = proposals.decide(config, versions(config, v3="Approved"), pins, None, print)

    url = proposals.submit(github, "main", made, print)
    again = proposals.submit(github, "main", made, print)

    assert url.endswith("/pull/1") and again is None
    text, _ = github.file("ci/environments/staging.toml", made.branch)
    assert text == made.text
    assert github.file("ci/environments/staging.toml", "main")[0] == pins["staging"].text
    pulls = github.pull_requests(made.branch)
    assert [(p["number"], p["state"], p["base"]["ref"]) for p in pulls] == [(1, "open", "main")]
    assert standin.violations == []


def test_a_newer_proposal_closes_the_older_one_still_open(standin, github, config):
    pins = proposals.read_pins(github, "main")
    (older,) = proposals.decide(config, versions(config, v3="Approved"), pins, None, print)
    (newer,) = proposals.decide(config, versions(config, v4="Approved"), pins, None, print)

    first = proposals.submit(github, "main", older, print)
    second = proposals.submit(github, "main", newer, print)

    (closed,) = github.pull_requests(older.branch)
    assert closed["state"] == "closed" and f"Superseded by {second}" in closed["body"]
    assert [p["html_url"] for p in github.open_pull_requests("main")] == [second]
    assert proposals.submit(github, "main", older, print) is None  # closed is proposed
    assert first != second and standin.violations == []


def test_the_pins_history_gives_the_versions_they_named(standin, github, config):
    pins = proposals.read_pins(github, "main")
    for version in (3, 4):
        (made,) = proposals.decide(
            config, versions(config, **{f"v{version}": "Approved"}), pins, None, print
        )
        number = int(proposals.submit(github, "main", made, print).rsplit("/", 1)[1])
        github.call("PUT", f"/pulls/{number}/merge")
        pins = proposals.read_pins(github, "main")

    history = proposals.pinned_versions(github, pins["staging"].path, "main", "staging")

    assert history == [4, 3]
    assert standin.violations == []


def test_a_run_stopped_after_making_the_branch_is_finished_by_the_next(standin, github, config):
    pins = proposals.read_pins(github, "main")
    (proposal,) = proposals.decide(config, versions(config, v5="Approved"), pins, None, print)
    github.create_branch(proposal.branch, github.branch_head("main"))  # then the run died
    text, blob = github.file(proposal.path, proposal.branch)
    github.commit_file(proposal.path, text + "# half-made\n", blob, proposal.branch, "stale")

    assert proposals.submit(github, "main", proposal, print).endswith("/pull/1")
    assert github.file(proposal.path, proposal.branch)[0] == proposal.text
    commits = github.call("GET", "/commits", params={"sha": proposal.branch})
    assert [c["commit"]["message"] for c in commits][:1] == [proposal.title]
    assert "stale" not in [c["commit"]["message"] for c in commits]
    assert standin.violations == []


def test_the_stand_in_refuses_calls_githubs_description_refuses(standin, github, config):
    repo = f"{standin.url}/repos/{config.project.repository}"
    headers = dict(github.session.headers)

    no_head = requests.post(f"{repo}/pulls", json={"title": "x", "base": "main"}, headers=headers)
    wrong_type = requests.post(f"{repo}/git/refs", json={"ref": 7, "sha": "a"}, headers=headers)
    unknown_parameter = requests.get(f"{repo}/pulls", params={"colour": "red"}, headers=headers)
    not_an_operation = requests.get(f"{repo}/git/refs/heads/main", headers=headers)

    assert [r.status_code for r in (no_head, wrong_type, unknown_parameter)] == [422] * 3
    assert not_an_operation.status_code == 404
    assert any("'head' is a required property" in v for v in standin.violations)
    assert any("7 is not of type 'string'" in v for v in standin.violations)
    assert any("query parameter colour" in v for v in standin.violations)
    assert any("no such operation" in v for v in standin.violations)
    # GitHub ignores a head filter without its owner and lists every pull request
    requests.get(f"{repo}/pulls", params={"head": "some-branch"}, headers=headers)
    assert any("not user:ref-name" in v for v in standin.violations)


def test_only_the_apps_own_fresh_jwt_gets_a_token_and_only_tokens_it_issued_are_taken(
    standin, config, app_key
):
    other_key = new_app_key()[0]
    now = time.time()
    good = AppCredentials(APP_ID, app_key[0], standin.installation_id, standin.url)
    assert GitHub.as_app(config.project.repository, good).default_branch() == "main"

    wrong_key = AppCredentials(APP_ID, other_key, standin.installation_id, standin.url)
    wrong_app = AppCredentials("1", app_key[0], standin.installation_id, standin.url)
    wrong_installation = AppCredentials(APP_ID, app_key[0], "99", standin.url)
    for credentials, status in ((wrong_key, 401), (wrong_app, 401), (wrong_installation, 404)):
        with pytest.raises(GitHubError) as refused:
            GitHub.as_app(config.project.repository, credentials)
        assert refused.value.status == status
    too_long = jwt.encode(
        {"iat": int(now) - 60, "exp": int(now) + 3600, "iss": APP_ID}, app_key[0], "RS256"
    )
    answer = requests.post(
        f"{standin.url}/app/installations/{standin.installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {too_long}"},
    )
    assert answer.status_code == 401
    with pytest.raises(GitHubError) as refused:
        GitHub(config.project.repository, "ghs_not-issued", standin.url).default_branch()
    assert refused.value.status == 401
    assert standin.violations == []


def test_the_app_connection_names_what_it_lacks(config):
    class Connection:
        conn_id = "github_promotion"
        login, password, host = APP_ID, None, None
        extra_dejson: dict = {}

    with pytest.raises(ValueError, match="password .* extra installation_id"):
        AppCredentials.from_connection(Connection())
    complete = copy.copy(Connection())
    complete.password, complete.extra_dejson = "key", {"installation_id": 7}
    credentials = AppCredentials.from_connection(complete)
    assert (credentials.api_url, credentials.installation_id) == ("https://api.github.com", "7")
