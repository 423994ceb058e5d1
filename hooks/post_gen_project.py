"""Tidy the project just generated, record the template it came from, tell the user what to run.

Cookiecutter copies the template folder as it is on disk, so caches left by running tools inside
a template checkout would land in every generated repository: remove them. No option leaves a
file unneeded yet.

Template updates reach a generated repository through cruft (`make template-update`), which reads
`.cruft.json`: the template's location, the commit baked and the answers. `cruft create` writes
that file itself after this hook (its context holds `_commit`); a bake with plain `cookiecutter`
gets it here, from the git checkout cookiecutter read the template from.

Standard library only: cookiecutter often runs from an environment of its own.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

CACHES = ("__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache")
# Where plain cookiecutter found the template and wrote the project: of this machine and this
# run only, so not part of the answers cruft keeps.
RUN_KEYS = ("_output_dir", "_repo_dir", "_checkout")

# The answers and what cookiecutter added to them, in cookiecutter.json's order.
CONTEXT = dict(json.loads(r"""{{ cookiecutter.items() | list | jsonify }}"""))


def git(folder: Path, *args: str) -> str | None:
    """Output of a git command run in ``folder``, or None if git is missing or the command fails."""
    try:
        result = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def template_folder(context: dict) -> Path | None:
    """The folder cookiecutter read the template from, or None if it cannot be found.

    `_repo_dir` is the template argument itself for a local template, possibly relative to where
    cookiecutter was started; this hook runs in the new project, so it is resolved from $PWD,
    the shell's working directory, and accepted only if a template lies there.
    """
    folder = Path(os.path.abspath(Path(os.environ.get("PWD", ""), context["_repo_dir"])))
    return folder if (folder / "cookiecutter.json").is_file() else None


def cruft_state(context: dict) -> tuple[dict | None, list[str]]:
    """`.cruft.json`'s content for a bake by plain cookiecutter, and notes on what it lacks."""
    if "_repo_dir" not in context:
        return None, ["the tool that baked this project did not say where the template was"]
    folder = template_folder(context)
    if folder is None:
        return None, [f"the template folder {context['_repo_dir']!r} was not found"]
    top = git(folder, "rev-parse", "--show-toplevel")
    commit = git(folder, "rev-parse", "--verify", "HEAD^{commit}")
    if top is None or Path(top).resolve() != folder.resolve() or commit is None:
        return None, [f"{folder} is not the top of a git checkout with a commit"]
    notes = []
    if git(folder, "status", "--porcelain"):
        notes.append(
            f"the template at {folder} has uncommitted changes: .cruft.json records its last "
            f"commit, {commit[:12]}, which does not hold them"
        )
    # A template given by URL (or abbreviation) was cloned by cookiecutter: record the URL it
    # cloned, which cruft can clone again; a local template is recorded by its absolute path,
    # as `cruft create` does.
    local = context["_repo_dir"] == context["_template"]
    source = str(folder) if local else git(folder, "remote", "get-url", "origin") or str(folder)
    answers = {key: value for key, value in context.items() if key not in RUN_KEYS}
    answers.update(_template=source, _commit=commit)
    state = {
        "template": source,
        "commit": commit,
        "checkout": context.get("_checkout"),
        "context": {"cookiecutter": answers},
        "directory": None,
    }
    return state, notes


def write_cruft_file(project: Path, context: dict) -> None:
    """Write `.cruft.json` as cruft does, or say why this bake cannot take template updates."""
    state, notes = cruft_state(context)
    if state is not None:
        text = json.dumps(state, ensure_ascii=False, indent=2, separators=(",", ": "))
        (project / ".cruft.json").write_text(text + "\n", encoding="utf-8")
    else:
        notes.append(
            "no .cruft.json was written, so `make template-update` cannot follow the template; "
            "`cruft link <template git URL>` records it later (it asks for the answers and the "
            "commit this project was baked from)"
        )
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


# Cookiecutter runs this hook inside the generated project.
project = Path.cwd()
for name in CACHES:
    for cache in sorted(project.rglob(name), reverse=True):
        shutil.rmtree(cache, ignore_errors=True)

# cruft renders the template twice on every update, into folders it then deletes: steps into
# them would mislead, so only a bake by plain cookiecutter prints them.
if "_commit" not in CONTEXT:
    write_cruft_file(project, CONTEXT)
    print(f"""
Next steps:
  cd {shlex.quote(str(project))}
  make demo   # the whole pipeline on the local AWS: no AWS account needed
  make test   # the project's own tests
""")
