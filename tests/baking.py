"""Baking the template and running a baked project's own tools, for the template's tests.

Every baked project shares one environment, built once from the generated project's lock file:
the generated project is a virtual project (nothing of its own is installed), so one environment
serves every bake whatever its package name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.environment import StrictEnvironment
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config

TEMPLATE = Path(__file__).resolve().parents[1]
BUILD = TEMPLATE / "build"
PROJECT_ENV = BUILD / "project-env"


def uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise RuntimeError("uv not found: run the tests through `make test`")
    return found


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake the template with default answers overridden by ``answers``; return the project."""
    return Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context=answers,
            output_dir=str(output_dir),
            default_config=True,  # the user's ~/.cookiecutterrc must not change what is tested
        )
    )


def rendered_files(answers: dict[str, str]) -> set[str]:
    """The files a bake with ``answers`` must hold: the template's, their names rendered.

    Caches a tool left in the template checkout are not the template's. ``.cruft.json``, the
    record of the bake the post-generation hook writes, is one too when the template is a git
    checkout (it can then name the commit).
    """
    context = generate_context(str(TEMPLATE / "cookiecutter.json"), extra_context=answers)
    context = {"cookiecutter": prompt_for_config(context, no_input=True)}
    environment = StrictEnvironment(context=context)
    root = TEMPLATE / "{{cookiecutter.project_slug}}"
    caches = ("__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache")
    files = {
        environment.from_string(path.relative_to(root).as_posix()).render(**context)
        for path in root.rglob("*")
        if path.is_file() and not set(caches) & set(path.parts) and path.suffix != ".pyc"
    }
    in_git = subprocess.run(
        ["git", "rev-parse", "--git-dir"], cwd=TEMPLATE, capture_output=True, check=False
    )
    return files | ({".cruft.json"} if in_git.returncode == 0 else set())


def ensure_project_env() -> Path:
    """Create (or bring up to date) the shared environment from a default bake's lock file.

    The project's own setup also provides what its jobs need from the system (bubblewrap, for
    jobs that see a real /opt/ml), as `make test` in a baked project does.
    """
    source = BUILD / "env-project"
    if source.exists():
        shutil.rmtree(source)
    project = bake(source)
    subprocess.run(
        [uv(), "sync", "--frozen", "--quiet", "--compile-bytecode"],
        cwd=project,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(PROJECT_ENV)},
        check=True,
    )
    subprocess.run(["make", "bubblewrap"], cwd=project, check=True)
    return PROJECT_ENV


def project_env_vars(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running a baked project's tools from the shared environment."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{PROJECT_ENV / 'bin'}{os.pathsep}{env['PATH']}"
    env.update(extra or {})
    return env


def run_group(
    command: list[str], cwd: Path, env: dict[str, str], timeout: float = 1800
) -> subprocess.CompletedProcess:
    """Run ``command`` in a process group of its own, and stop that whole group when it ends.

    Whatever the command started and left behind (a local AWS, an Airflow process), or everything
    it is still running when the timeout expires, is killed with it.
    """
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run_in_project(
    project: Path, *command: str, timeout: float = 1800
) -> subprocess.CompletedProcess:
    return run_group(list(command), project, project_env_vars(), timeout)


@dataclass
class SuiteReport:
    tests: int
    failures: int
    errors: int
    skipped: int

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped


def run_project_tests(
    project: Path, *pytest_args: str, timeout: float = 1800
) -> tuple[SuiteReport, str]:
    """Run a baked project's pytest suite; return its JUnit counts and its output."""
    report = project / "build" / "junit.xml"
    result = run_in_project(
        project,
        str(PROJECT_ENV / "bin" / "python"),
        "-m",
        "pytest",
        f"--junitxml={report}",
        "-p",
        "no:cacheprovider",
        *pytest_args,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    if not report.exists():
        raise AssertionError(f"the baked project's tests wrote no report:\n{output[-5000:]}")
    suite = ET.parse(report).getroot()
    if suite.tag == "testsuites":
        suite = suite.find("testsuite")
    counts = SuiteReport(
        *(int(suite.get(name, 0)) for name in ("tests", "failures", "errors", "skipped"))
    )
    return counts, output


def assert_project_tests_pass(project: Path, minimum: int, *pytest_args: str) -> SuiteReport:
    """Run a baked project's tests; fail unless none failed and at least ``minimum`` ran."""
    report, output = run_project_tests(project, *pytest_args)
    assert report.failures == 0 and report.errors == 0, output[-8000:]
    assert report.passed >= minimum, (
        f"only {report.passed} tests ran (of {report.tests}, {report.skipped} skipped)\n"
        + output[-3000:]
    )
    return report
