"""Tell the user what to run in the project just generated.

No option leaves a file unneeded yet, so nothing is removed here. Standard library only:
cookiecutter often runs from an environment of its own.
"""

import shlex
from pathlib import Path

# Cookiecutter runs this hook inside the generated project.
print(f"""
Next steps:
  cd {shlex.quote(str(Path.cwd()))}
  make demo   # the whole pipeline on the local AWS: no AWS account needed
  make test   # the project's own tests
""")
