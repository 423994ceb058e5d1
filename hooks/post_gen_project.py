"""Tidy the project just generated and tell the user what to run.

Cookiecutter copies the template folder as it is on disk, so caches left by running tools inside
a template checkout would land in every generated repository: remove them. No option leaves a
file unneeded yet. Standard library only: cookiecutter often runs from an environment of its own.
"""

import shlex
import shutil
from pathlib import Path

CACHES = ("__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache")

# Cookiecutter runs this hook inside the generated project.
project = Path.cwd()
for name in CACHES:
    for cache in sorted(project.rglob(name), reverse=True):
        shutil.rmtree(cache, ignore_errors=True)

print(f"""
Next steps:
  cd {shlex.quote(str(project))}
  make demo   # the whole pipeline on the local AWS: no AWS account needed
  make test   # the project's own tests
""")
