"""The pipeline's scripts run directly on local files: the baseline that jobs are measured against.

Each command comes from the request the DAG sends (``<package>_pipeline.job_requests``), so the
module and arguments are the job's own; only the container paths become local folders, as the
local AWS's sandbox maps them. No S3, no job runner and no training toolkit are involved.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
from pathlib import Path

import {{ cookiecutter.package_name }}_pipeline.job_requests as jobs
import {{ cookiecutter.package_name }}_pipeline.runs as runs

from benchmarks import measure
from tools.project import PROJECT_ROOT

EXPECTATIONS = PROJECT_ROOT / "expectations"


def benchmark_run(config, name: str) -> runs.Run:
    """A pipeline run outside Airflow, its raw data expected under its own ``raw/`` prefix."""
    key = runs.run_key(name)
    return runs.Run(
        run_id=name,
        key=key,
        artifact_root=config.artifact_root,
        raw_data_uri=runs.RunLayout(config.artifact_root, key).uri("raw") + "/",
        raw_data_digest="",
        metric_threshold=config.metric_threshold,
        image_uri=config.env.image_uri,
    )


def processing_command(request: dict, mounts: dict[str, Path]) -> list[str]:
    """A processing job's command with each container folder in ``mounts`` made local."""
    app = request["AppSpecification"]
    command = app["ContainerEntrypoint"] + app["ContainerArguments"]
    return [sys.executable if part == "python3" else _localize(part, mounts) for part in command]


def _localize(argument: str, mounts: dict[str, Path]) -> str:
    for container_path, local_path in mounts.items():
        if argument == container_path or argument.startswith(container_path + "/"):
            return str(local_path) + argument[len(container_path) :]
    return argument


def training_command(
    config, request: dict, data_dir: Path, model_dir: Path, output_dir: Path
) -> tuple[list[str], dict[str, str]]:
    """``sagemaker_program`` started as the training toolkit starts it: hyperparameters as
    arguments; channels (``data_dir/<channel>``) and output folders as ``SM_*`` variables."""
    hyperparameters = {key: json.loads(value) for key, value in request["HyperParameters"].items()}
    script = PROJECT_ROOT / config.package / hyperparameters["sagemaker_program"]
    argv = [sys.executable, str(script)]
    for name, value in hyperparameters.items():
        if not name.startswith("sagemaker_"):
            argv += [f"--{name}", str(value)]
    channels = [channel["ChannelName"] for channel in request["InputDataConfig"]]
    env = {
        **os.environ,
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DATA_DIR": str(output_dir),
        **{f"SM_CHANNEL_{name.upper()}": str(data_dir / name) for name in channels},
    }
    return argv, env


def run_pipeline(config, raw_dir: Path, work: Path) -> dict[str, float]:
    """The training DAG's five job steps in order, on the CSV files in ``raw_dir``.

    Returns each step's wall seconds (interpreter start included, as in a job).
    """
    run = benchmark_run(config, "direct")
    inputs, outputs = jobs.INPUT_DIR, jobs.OUTPUT_DIR
    splits, model_dir, archive = work / "preprocess", work / "model", work / "model-archive"

    def process(request: dict, mounts: dict[str, Path]) -> float:
        return measure.run(processing_command(request, mounts), cwd=PROJECT_ROOT)

    def check(request: dict, data_dir: Path, report_dir: Path) -> float:
        mounts = {
            jobs.SUITES_DIR: EXPECTATIONS,
            f"{inputs}/data": data_dir,
            f"{outputs}/report": report_dir,
        }
        return process(request, mounts)

    seconds = {}
    seconds["check_raw_data"] = check(
        jobs.raw_data_check_job(config, run), raw_dir, work / "check-raw"
    )
    seconds["preprocess"] = process(
        jobs.preprocess_job(config, run), {f"{inputs}/raw": raw_dir, outputs: splits}
    )
    seconds["check_features"] = check(
        jobs.features_check_job(config, run), splits / "train", work / "check-features"
    )
    argv, env = training_command(
        config, jobs.training_job(config, run), splits, model_dir, work / "training-output"
    )
    seconds["train"] = measure.run(argv, env=env)
    archive.mkdir(parents=True)
    with tarfile.open(archive / "model.tar.gz", "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    seconds["evaluate"] = process(
        jobs.evaluation_job(config, run),
        {
            f"{inputs}/model": archive,
            f"{inputs}/test": splits / "test",
            f"{outputs}/evaluation": work / "evaluation",
        },
    )
    return seconds
