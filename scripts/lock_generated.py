"""Re-resolve the generated project's lock file.

The lock lives in the template with the project's own name as a cookiecutter expression, so every
bake gets a lock file naming itself. This bakes the default answers, runs ``uv lock`` there and
writes the result back with the name replaced. The template's tests check the lock of every baked
answer set offline (``uv lock --check --offline``).
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
LOCK = TEMPLATE / "{{cookiecutter.project_slug}}" / "uv.lock"


def main() -> int:
    uv = os.environ.get("UV") or shutil.which("uv") or sys.exit("uv not found: run `make lock`")
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=tmp))
        subprocess.run([uv, "lock"], cwd=project, check=True)
        slug = project.name
        text = (project / "uv.lock").read_text()
    marker = f'name = "{slug}"\n'
    if text.count(marker) != 1:
        sys.exit(
            f"expected the project's name exactly once in the lock file, found {text.count(marker)}"
        )
    LOCK.write_text(text.replace(marker, 'name = "{{ cookiecutter.project_slug }}"\n'))
    print(f"wrote {LOCK.relative_to(TEMPLATE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
