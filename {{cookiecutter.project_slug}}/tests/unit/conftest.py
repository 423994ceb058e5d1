"""Fixtures for the ML package's tests: one real run of the jobs per problem type."""

import pytest

from tests.ml_runs import TARGETS, PipelineRun, train_pipeline

SAMPLE_ROWS = 4000


@pytest.fixture(scope="session", params=list(TARGETS))
def pipeline_run(request, tmp_path_factory) -> PipelineRun:
    """Sample data through preprocess and training, once per problem type."""
    problem_type = request.param
    return train_pipeline(tmp_path_factory.mktemp(problem_type), problem_type, SAMPLE_ROWS)
