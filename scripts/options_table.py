"""Write the README's options table from cookiecutter.json, or check that it is current.

python scripts/options_table.py          # rewrite the table in README.md
python scripts/options_table.py --check  # exit 1 with a diff when README.md is stale
"""

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START, END = "<!-- options:start -->", "<!-- options:end -->"
NEW_README = f"# cookiecutter-sagemaker-airflow\n\n{START}\n{END}\n"


def code(text: str) -> str:
    """`text` as inline code that is safe inside a Markdown table cell."""
    return "`" + text.replace("|", "\\|") + "`"


def readable(default: str) -> str:
    """A default as written, its Jinja expressions naming options without `cookiecutter.`."""
    return re.sub(r"\{\{.*?\}\}", lambda match: match[0].replace("cookiecutter.", ""), default)


def options_table(options: dict) -> str:
    """A Markdown table of the options: name, default and help text."""
    rows = ["| Option | Default | Description |", "| --- | --- | --- |"]
    for name, default in options.items():
        if name.startswith("_"):
            continue
        description = options["__prompts__"][name].replace("|", "\\|")
        if isinstance(default, list):
            description += f"; choices: {', '.join(code(choice) for choice in default)}"
            default = default[0]
        rows.append(f"| {code(name)} | {code(readable(default))} | {description} |")
    return "\n".join(rows)


def with_table(readme: str, table: str) -> str:
    """`readme` with `table` between the options markers."""
    start, end = readme.find(START), readme.find(END)
    if start == -1 or end < start:
        sys.exit(f"README.md needs the markers {START} and {END}, in that order")
    return f"{readme[: start + len(START)]}\n{table}\n{readme[end:]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 with a diff when README.md is stale"
    )
    check = parser.parse_args().check
    current = README.read_text(encoding="utf-8") if README.exists() else ""
    options = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    wanted = with_table(current or NEW_README, options_table(options))
    if not check:
        README.write_text(wanted, encoding="utf-8")
        return 0
    if current == wanted:
        return 0
    diff = difflib.unified_diff(
        current.splitlines(keepends=True),
        wanted.splitlines(keepends=True),
        "README.md",
        "README.md from cookiecutter.json",
    )
    sys.stdout.writelines(diff)
    print("README.md's options table is stale: run python scripts/options_table.py")
    return 1


if __name__ == "__main__":
    sys.exit(main())
