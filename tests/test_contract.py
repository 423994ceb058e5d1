"""The contract tier: the suites that are the same in every bake, once per problem type.

The local AWS and the pipeline package are copied into every bake unrendered, so their contract
(the local AWS through plain boto3, the operators and the registry against it, the developer
tools, the MWAA bundle) holds for all bakes once it holds for one; the problem type is what
changes the data they see. The first bake of each problem type in the matrix runs them: every
fast test of the project that the answers tier does not run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from baking import assert_project_tests_pass, bake
from matrix import bakes, problem_type
from test_bake import ANSWER_TESTS

pytestmark = pytest.mark.contract

#: Every fast test of the project the answers tier does not run: together the three tiers run
#: the whole suite, whatever test a change adds where.
CONTRACT_TESTS = ("-m", "not slow", *(f"--ignore={path}" for path in ANSWER_TESTS))
#: Fewest of them a bake must actually run (not skip).
MIN_CONTRACT_TESTS = 150


def first_bake_per_problem_type() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for answers in bakes().values():
        found.setdefault(problem_type(answers), answers)
    return found


BAKES = first_bake_per_problem_type()


@pytest.fixture(scope="module", params=list(BAKES))
def baked(request, tmp_path_factory) -> Path:
    if request.config.getoption("fast") and request.param != next(iter(BAKES)):
        pytest.skip("--fast runs the contract of the default problem type only")
    return bake(tmp_path_factory.mktemp(request.param), **BAKES[request.param])


def test_the_local_aws_and_pipeline_contracts_hold(baked, project_env):
    assert_project_tests_pass(baked, MIN_CONTRACT_TESTS, *CONTRACT_TESTS, "-q")
