"""The data checks job, run through its command line as a processing job runs it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.sample_data import generate

PACKAGE = "{{ cookiecutter.package_name }}"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
RAW_SUITE = "expectations/raw.json"
FEATURES_SUITE = "expectations/features.json"
TARGET = "{{ cookiecutter.target_column }}"
PROBLEM_TYPE = "{{ cookiecutter.problem_type }}"


def command(module: str, *arguments: object) -> list[str]:
    """``python -m <package>.<module> ARGUMENTS``, as a processing job's entrypoint runs it."""
    return [sys.executable, "-m", f"{PACKAGE}.{module}", *map(str, arguments)]


def start_checks(suite: str | Path, data_dir: Path, output_dir: Path) -> subprocess.Popen:
    arguments = ["--suite", suite, "--data-dir", data_dir, "--output-dir", output_dir]
    return subprocess.Popen(
        command("data_checks", *arguments),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    try:
        stdout, stderr = process.communicate(timeout=300)
    finally:
        process.kill()  # a no-op once it has exited; never left running by a failed test
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_checks(suite: str | Path, data_dir: Path, output_dir: Path) -> subprocess.CompletedProcess:
    return finish(start_checks(suite, data_dir, output_dir))


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Run the job once per case, the runs overlapping: each spends seconds importing GX.

    Returns each case's finished process and output directory.
    """
    root = tmp_path_factory.mktemp("data_checks")
    sample = generate(1000, PROBLEM_TYPE, TARGET)
    bad = sample.copy()
    bad.loc[:99, TARGET] = None  # a tenth without a label: more than the 5% the suite lets by
    bad.loc[7, "contract_type"] = "weekly"  # a category the suite does not know
    for name, table in [("sample", sample), ("bad", bad)]:
        (root / name).mkdir()
        table.to_csv(root / name / "part-0.csv", index=False)
    typo_suite = root / "typo.json"
    typo_suite.write_text(
        json.dumps({"name": "typo", "expectations": [{"type": "expect_nothing", "kwargs": {}}]})
    )
    started = {}

    def start(case: str, suite: str | Path, data_dir: Path) -> None:
        started[case] = start_checks(suite, data_dir, root / "out" / case)

    start("sample", RAW_SUITE, root / "sample")
    start("bad", RAW_SUITE, root / "bad")
    start("typo", typo_suite, root / "sample")
    preprocess = command(
        "preprocess",
        *("--input-dir", root / "sample", "--output-dir", root / "preprocessed"),
        *("--target-column", TARGET, "--problem-type", PROBLEM_TYPE),
        *("--sensitive-columns", "gender"),
    )
    try:
        subprocess.run(preprocess, cwd=PROJECT_ROOT, check=True, capture_output=True)
        start("train", FEATURES_SUITE, root / "preprocessed" / "train")
    finally:
        finished = {
            case: (finish(process), root / "out" / case) for case, process in started.items()
        }
    return finished


def test_sample_data_passes_raw_suite_and_writes_result_and_report(jobs):
    run, output_dir = jobs["sample"]

    assert run.returncode == 0, run.stderr
    assert "Data checks passed (suite raw)" in run.stdout
    result = json.loads((output_dir / "validation_result.json").read_text())
    assert result["success"] is True
    assert result["suite_name"] == "raw"
    assert result["statistics"]["unsuccessful_expectations"] == 0
    assert (output_dir / "data_docs" / "index.html").is_file()


def test_report_is_self_contained_html_that_renders_offline(jobs):
    _, output_dir = jobs["sample"]
    html = (output_dir / "data_docs" / "index.html").read_text()

    assert html.startswith("<!doctype html>")
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html
    assert "expect_column_values_to_be_in_set" in html and "contract_type" in html


def test_null_target_and_unknown_category_fail_naming_both_on_the_last_stderr_line(jobs):
    run, output_dir = jobs["bad"]

    assert run.returncode == 1
    line = last_line(run.stderr)
    assert line.startswith("Data checks failed (suite raw): 2 of ")
    assert f"expect_column_values_to_not_be_null({TARGET}): 100 unexpected" in line
    assert "expect_column_values_to_be_in_set(contract_type): 1 unexpected ['weekly']" in line
    result = json.loads((output_dir / "validation_result.json").read_text())
    assert result["success"] is False
    assert "failed" in (output_dir / "data_docs" / "index.html").read_text()


def test_preprocessed_training_split_passes_features_suite(jobs):
    run, _ = jobs["train"]

    assert run.returncode == 0, run.stderr
    assert "Data checks passed (suite features)" in run.stdout


def test_suite_with_an_expectation_gx_cannot_build_cannot_run(jobs):
    run, _ = jobs["typo"]

    assert run.returncode == 2
    assert last_line(run.stderr).endswith("has expectations GX cannot build: expect_nothing")


CANNOT_RUN = {
    "missing suite": "suite file not found: expectations/missing.json",
    "no CSV file": "no CSV files under",
    "unreadable CSV": "cannot read",
}


@pytest.mark.parametrize("case", CANNOT_RUN)
def test_inputs_that_cannot_be_checked_exit_2_with_a_one_line_reason(tmp_path, case):
    suite = "expectations/missing.json" if case == "missing suite" else RAW_SUITE
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if case == "unreadable CSV":
        (data_dir / "part-0.csv").write_bytes(b"\xff\xfe\x00 not text")

    run = run_checks(suite, data_dir, tmp_path / "out")

    assert run.returncode == 2
    assert last_line(run.stderr).startswith(f"Data checks could not run: {CANNOT_RUN[case]}")
    assert not (tmp_path / "out").exists()
