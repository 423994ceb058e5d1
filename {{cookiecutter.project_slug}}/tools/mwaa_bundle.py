"""``make mwaa-bundle``: this repository as Amazon MWAA takes it, in ``build/mwaa/``.

    build/mwaa/
      dags/              → s3://<environment bucket>/dags/
        *.py               the DAG files, unchanged
        pipeline.toml      the configuration; the DAGs find it in their folder
        <package>/         the ML package and the Great Expectations suites, which every run
        expectations/      uploads from the folder of pipeline.toml
        ci/environments/   the pin files: the endpoints the monitoring DAG checks
        uv.lock            the lock, whose hash every run's manifest records
        constraints.txt    the versions the lock resolved for the airflow group
        .airflowignore     keeps the DAG processor to the DAG files
      plugins.zip        → s3://<bucket>/plugins.zip: plugin module and pipeline package at its root
      requirements.txt   → s3://<bucket>/requirements.txt: the lock's airflow group, all pinned

The DAGs, plugins and versions are the ones the tests ran; docs/mwaa.md says what else the
environment needs (``PIPELINE_ENV``, the ``aws_default`` connection).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from {{ cookiecutter.package_name }}_pipeline.packaging import source_files

from tools.project import PROJECT_ROOT, config

#: Where MWAA puts the DAGs folder in its containers.
MWAA_DAGS_FOLDER = "/usr/local/airflow/dags"


def build(output: Path) -> Path:
    """Write the whole bundle into ``output`` (emptied first); return it."""
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    pins = export_requirements()
    build_dags_folder(output / "dags", constraints=pins)
    build_plugins_zip(output / "plugins.zip")
    (output / "requirements.txt").write_text(requirements(pins))
    return output


def build_dags_folder(target: Path, constraints: str | None = None) -> Path:
    """The DAGs folder: DAG files, config, ML package, suites, lock and ``.airflowignore``."""
    package = config().package
    target.mkdir(parents=True, exist_ok=True)
    for dag_file in sorted((PROJECT_ROOT / "dags").glob("*.py")):
        shutil.copy2(dag_file, target)
    for name in ("pipeline.toml", "uv.lock"):
        shutil.copy2(PROJECT_ROOT / name, target)
    for folder in (package, "expectations", "ci/environments"):
        for path in source_files(PROJECT_ROOT / folder):
            copy = target / path.relative_to(PROJECT_ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
    (target / ".airflowignore").write_text(f"{package}/\nexpectations/\nci/\n")
    if constraints is not None:
        (target / "constraints.txt").write_text(constraints)
    return target


def build_plugins_zip(target: Path) -> Path:
    """``plugins.zip``: the plugins folder's modules and the pipeline package, at the zip root.

    Entries carry a fixed timestamp: the same sources give the same archive.
    """
    plugins = PROJECT_ROOT / "plugins"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in source_files(plugins):
            entry = zipfile.ZipInfo(path.relative_to(plugins).as_posix(), (1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, path.read_bytes())
    return target


def export_requirements() -> str:
    """The lock's ``airflow`` group as pinned requirements (``uv export``)."""
    command = [
        uv(),
        "export",
        "--frozen",
        "--only-group",
        "airflow",
        "--no-emit-project",
        "--no-hashes",
        "--no-header",
        "--no-annotate",
        "--format",
        "requirements.txt",
    ]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"uv export failed:\n{result.stderr}")
    return result.stdout


def requirements(pins: str) -> str:
    """``requirements.txt`` for MWAA: the lock's pins, constrained by themselves.

    MWAA applies Airflow's published constraints unless the file names its own; those would
    fight the lock's versions, so the file points at the same pins shipped in the DAGs folder.
    """
    return (
        "# Generated from uv.lock by `make mwaa-bundle`: edit pyproject.toml, not this file.\n"
        f'--constraint "{MWAA_DAGS_FOLDER}/constraints.txt"\n{pins}'
    )


def uv() -> str:
    """uv as the Makefile finds it: ``$UV``, on ``PATH``, or the project's private copy."""
    private = PROJECT_ROOT / ".tools" / "bin" / "uv"
    found = os.environ.get("UV") or shutil.which("uv") or (private.exists() and str(private))
    if not found:
        raise RuntimeError("uv not found: run `make mwaa-bundle`, which installs it")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mwaa-bundle", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "build" / "mwaa")
    args = parser.parse_args(argv)
    output = build(args.output)
    print(f"MWAA bundle in {output}: dags/, plugins.zip, requirements.txt (see docs/mwaa.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
