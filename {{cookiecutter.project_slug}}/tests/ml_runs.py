"""Real runs of the ML package's jobs for tests: sample data, preprocessing and training.

The training job runs the way SageMaker's training toolkit runs it: ``python <package>/train.py``
with hyperparameters as arguments and the ``SM_*`` variables pointing into a sandbox.
"""

import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from {{ cookiecutter.package_name }} import preprocess, sample_data, train

TARGETS = {"binary_classification": "churned", "regression": "lifetime_value"}


@dataclass(frozen=True)
class PipelineRun:
    """Where one run of preprocess and training left its outputs."""

    problem_type: str
    target_column: str
    prepared: Path  # the preprocess job's output directory
    model_dir: Path  # SM_MODEL_DIR after training
    model_archive_dir: Path  # holds model.tar.gz, as the evaluation job receives it
    training_log: str


def write_csv(table: pd.DataFrame, directory: Path, name: str = "data.csv") -> Path:
    """Put ``table`` where a job expects its input: a CSV file in a directory."""
    directory.mkdir(parents=True, exist_ok=True)
    table.to_csv(directory / name, index=False)
    return directory


def preprocess_args(input_dir: Path, output_dir: Path, problem_type: str) -> list[str]:
    """The preprocess job's arguments, as the pipeline passes them."""
    return [
        "--input-dir", str(input_dir),
        "--output-dir", str(output_dir),
        "--target-column", TARGETS[problem_type],
        "--problem-type", problem_type,
        "--sensitive-columns", "gender",
    ]  # fmt: skip


def run_training(
    prepared: Path, sandbox: Path, problem_type: str, *hyperparameters: str
) -> subprocess.CompletedProcess:
    """Run train.py as a file, with the SageMaker training contract's variables."""
    environment = os.environ | {
        "SM_MODEL_DIR": str(sandbox / "model"),
        "SM_OUTPUT_DATA_DIR": str(sandbox / "output" / "data"),
        "SM_CHANNEL_TRAIN": str(prepared / "train"),
        "SM_CHANNEL_VALIDATION": str(prepared / "validation"),
        "SM_CHANNEL_TRANSFORM": str(prepared / "transform"),
    }
    arguments = [
        "--problem_type", problem_type, "--target_column", TARGETS[problem_type], *hyperparameters
    ]  # fmt: skip
    return subprocess.run(
        [sys.executable, train.__file__, *arguments],
        env=environment,
        cwd=sandbox,
        capture_output=True,
        text=True,
        check=False,
    )


def train_pipeline(work: Path, problem_type: str, rows: int, *hyperparameters: str) -> PipelineRun:
    """Sample data through preprocess and training in ``work``; the model also as model.tar.gz."""
    table = sample_data.generate(rows, problem_type, TARGETS[problem_type], seed=1)
    raw = write_csv(table, work / "raw")
    preprocess.main(preprocess_args(raw, work / "prepared", problem_type))

    finished = run_training(work / "prepared", work, problem_type, *hyperparameters)
    assert finished.returncode == 0, finished.stderr
    archive_dir = work / "model-archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "model.tar.gz", "w:gz") as archive:
        for path in (work / "model").iterdir():
            archive.add(path, arcname=path.name)
    return PipelineRun(
        problem_type,
        TARGETS[problem_type],
        work / "prepared",
        work / "model",
        archive_dir,
        finished.stdout,
    )
