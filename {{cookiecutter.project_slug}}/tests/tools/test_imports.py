"""The developer tools import no Airflow before they have pointed it at its home.

Airflow reads its settings (its home, its database) once, on first import: a tool that imported
it early (through a module of the pipeline package) would run its DAG against another database.
"""

from __future__ import annotations

import subprocess
import sys

from tests.support import PROJECT_ROOT

TOOLS = [
    "tools.demo",
    "tools.expectations",
    "tools.local_airflow",
    "tools.mwaa_bundle",
    "benchmarks.direct",
    "ci.promote.cli",
]


def test_the_tools_import_no_airflow_at_import_time():
    script = "import sys\n" + "".join(f"import {module}\n" for module in TOOLS)
    script += "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{PROJECT_ROOT}/plugins:{PROJECT_ROOT}"},
    )

    assert result.stdout.strip() == "[]"
