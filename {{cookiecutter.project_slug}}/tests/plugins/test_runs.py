import re

import pytest

from {{ cookiecutter.package_name }}_pipeline.runs import RunLayout, job_name, run_key

SAGEMAKER_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@pytest.mark.parametrize(
    ("run_id", "expected_prefix"),
    [
        ("manual__2026-11-26T08:00:00.123456+00:00", "m-20261126t080000-"),
        ("scheduled__2026-11-23T00:00:00+00:00", "s-20261123t000000-"),
        ("asset_triggered__2026-11-26T09:30:15+00:00", "a-20261126t093015-"),
        ("my custom run: retrain after fix", "my-custom-run-ret"),
    ],
)
def test_run_key_is_short_readable_and_valid_in_job_names(run_id, expected_prefix):
    key = run_key(run_id)

    assert key.startswith(expected_prefix)
    assert len(key) <= 24
    assert SAGEMAKER_JOB_NAME.match(key)


def test_run_key_is_stable_and_differs_between_runs_started_in_the_same_second():
    first = "manual__2026-11-26T08:00:00.000001+00:00"
    second = "manual__2026-11-26T08:00:00.000002+00:00"

    assert run_key(first) == run_key(first)
    assert run_key(first) != run_key(second)


@pytest.mark.parametrize("step", ["check-raw", "preprocess", "check-features", "train", "evaluate"])
def test_job_names_fit_sagemaker_limits_even_for_the_longest_slug(step):
    slug = "a" * 32 + "-b"  # longer than the template allows
    name = job_name(slug, step, run_key("asset_triggered__2026-11-26T09:30:15.999999+00:00"))

    assert len(name) <= 63
    assert SAGEMAKER_JOB_NAME.match(name)
    assert name.endswith(f"-{step}-" + run_key("asset_triggered__2026-11-26T09:30:15.999999+00:00"))


def test_every_artifact_of_a_run_lives_under_its_prefix():
    layout = RunLayout("s3://bucket/project", "m-20261126t080000-abcdef")

    uris = [
        layout.source_tarball,
        layout.data_checks("raw"),
        layout.preprocessed("train"),
        layout.model_artifact("job"),
        layout.evaluation,
        layout.summary,
    ]

    assert all(uri.startswith("s3://bucket/project/runs/m-20261126t080000-abcdef/") for uri in uris)
