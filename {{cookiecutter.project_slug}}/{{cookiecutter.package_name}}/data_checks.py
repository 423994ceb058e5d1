"""Processing job: check a table against a Great Expectations suite, where the data is.

    python -m <package>.data_checks --suite expectations/raw.json --data-dir IN --output-dir OUT

Reads every CSV file under IN into one table, validates it against the suite (a GX 1.x
``ExpectationSuite`` as JSON) in an in-memory GX context, with no project folder and no network,
and writes under OUT:

    validation_result.json    GX's validation result
    data_docs/index.html      the report: one row per expectation, in a single HTML file

GX's own Data Docs pages load Bootstrap, jQuery, Vega and Font Awesome from CDNs (GX does not ship
them), so they fall apart offline or behind a firewall. This report needs nothing but the file:
its styles are inline, and GX contributes the sentence describing each expectation.

Exit status: 0 when every expectation holds; 1 when any fails, with a line naming each failed
expectation as the last line on stderr and as the job's exit message (``exit_message``); 2 when
the check cannot run: the suite is missing or invalid, no CSV file is found, or one cannot be read.
"""

import argparse
import json
import string
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from . import exit_message
from .features import read_csv_dir

if TYPE_CHECKING:
    from great_expectations.core import (
        ExpectationSuite,
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

RESULT_FILE = "validation_result.json"
REPORT_FILE = Path("data_docs") / "index.html"
EXAMPLES_IN_SUMMARY = 3


@dataclass(frozen=True)
class Outcome:
    """One expectation's result, reduced to what the summary and the report show."""

    success: bool
    type: str
    kwargs: dict
    description_html: str
    observed: str
    unexpected_percent: float | None
    examples: list[tuple[object, int]]

    @property
    def label(self) -> str:
        """The expectation type and the column(s) it checks, e.g. ``expect_...(region)``."""
        columns = self.kwargs.get("column") or ", ".join(self.kwargs.get("column_list", []))
        return f"{self.type}({columns})" if columns else self.type

    @property
    def summary(self) -> str:
        """One phrase: label, what was observed and the first unexpected values."""
        text = f"{self.label}: {self.observed}" if self.observed else self.label
        if self.examples:
            text += f" {[value for value, _ in self.examples[:EXAMPLES_IN_SUMMARY]]!r}"
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, required=True, help="ExpectationSuite JSON file")
    parser.add_argument(
        "--data-dir", type=Path, nargs="+", required=True, help="CSV files to check, as one table"
    )
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args(argv)

    try:
        spec = _read_suite_file(args.suite)
        table = read_csv_dir(*args.data_dir)
        suite = _load_suite(spec, args.suite)  # imports GX, which takes seconds: inputs first
    except (OSError, ValueError) as error:
        print(f"Data checks could not run: {error}", file=sys.stderr)
        exit_message.write(f"Data checks could not run: {error}")
        return 2

    result = _validate(table, suite)
    outcomes = [_outcome(expectation_result) for expectation_result in result.results]
    folders = ", ".join(str(folder) for folder in args.data_dir)
    source = f"{len(table)} rows and {len(table.columns)} columns from {folders}"
    written = _write_outputs(args.output_dir, result.to_json_dict(), outcomes, source)

    for outcome in outcomes:
        print(f"{'PASS' if outcome.success else 'FAIL'}  {outcome.summary}")
    print(f"Wrote {' and '.join(str(path) for path in written)}")
    failed = [outcome for outcome in outcomes if not outcome.success]
    if not failed:
        print(f"Data checks passed (suite {suite.name}): {len(outcomes)} expectations met")
        return 0
    sys.stdout.flush()  # the failure line must come last in a log that merges both streams
    message = (
        f"Data checks failed (suite {suite.name}): {len(failed)} of {len(outcomes)} expectations"
        f" failed: {'; '.join(outcome.summary for outcome in failed)}"
    )
    print(message, file=sys.stderr)
    exit_message.write(message)
    return 1


def _read_suite_file(path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"suite file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"suite file {path} is not valid JSON: {error}") from error


def _load_suite(spec: dict, path: Path) -> "ExpectationSuite":
    from great_expectations.core import ExpectationSuite

    try:
        suite = ExpectationSuite(**spec)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} is not a GX expectation suite: {_one_line(error)}") from error
    # GX logs an expectation it cannot build and leaves it out, which would pass silently.
    listed = Counter(expectation.get("type") for expectation in spec.get("expectations", []))
    built = Counter(expectation.expectation_type for expectation in suite.expectations)
    if listed != built:
        unknown = ", ".join(str(name) for name in (listed - built))
        raise ValueError(f"{path} has expectations GX cannot build: {unknown}")
    return suite


def _validate(table: pd.DataFrame, suite: "ExpectationSuite") -> "ExpectationSuiteValidationResult":
    """Validate ``table`` in an ephemeral context: in memory, nothing written or sent."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # readable job logs
    batch = (
        context.data_sources.add_pandas("job_input")
        .add_dataframe_asset("table")
        .add_batch_definition_whole_dataframe("all_rows")
        .get_batch(batch_parameters={"dataframe": table})
    )
    return batch.validate(suite, result_format="SUMMARY")


def _outcome(expectation_result: "ExpectationValidationResult") -> Outcome:
    result_json = expectation_result.to_json_dict()  # plain Python values, missing ones as None
    config = result_json["expectation_config"]
    details = result_json["result"]
    error = _exception_message(result_json["exception_info"])
    mismatched = (details.get("details") or {}).get("mismatched")
    if error:
        observed = f"error: {error}"
    elif "unexpected_count" in details:
        observed = f"{details['unexpected_count']} unexpected"
    elif isinstance(mismatched, dict):  # a column set check: which columns differ
        observed = ", ".join(f"{key} {values!r}" for key, values in mismatched.items() if values)
    elif "observed_value" in details:
        observed = f"observed {details['observed_value']}"
    else:
        observed = ""
    return Outcome(
        success=result_json["success"],
        type=config["type"],
        kwargs={key: value for key, value in config["kwargs"].items() if key != "batch_id"},
        description_html=_description_html(expectation_result.expectation_config),
        observed=observed,
        unexpected_percent=None if error else details.get("unexpected_percent"),
        examples=[
            (entry["value"], entry["count"])
            for entry in details.get("partial_unexpected_counts", [])
            if entry["value"] is not None
        ],
    )


def _exception_message(exception_info: dict) -> str | None:
    """The first error GX caught: reported flat, or per metric when a metric failed."""
    for info in [exception_info, *exception_info.values()]:
        if isinstance(info, dict) and info.get("raised_exception"):
            return _one_line(info["exception_message"]).removeprefix("Error: ")
    return None


def _description_html(expectation_config: "ExpectationConfiguration") -> str:
    """GX's own sentence for the expectation, its parameters set off as Data Docs does."""
    expectation = expectation_config.to_domain_obj()
    expectation.render()
    for content in expectation.rendered_content:
        if content.name == "atomic.prescriptive.summary":
            params = {
                name: f'<code class="param">{escape(str(param["value"]))}</code>'
                for name, param in content.value.params.items()
            }
            return string.Template(escape(content.value.template)).safe_substitute(params)
    return ""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _write_outputs(
    output_dir: Path, result_json: dict, outcomes: list[Outcome], source: str
) -> list[Path]:
    """Write GX's result and the report; return their paths."""
    result_path, report_path = output_dir / RESULT_FILE, output_dir / REPORT_FILE
    report_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(result_json, indent=2) + "\n")
    report_path.write_text(_render_report(result_json, outcomes, source), encoding="utf-8")
    return [result_path, report_path]


_PAGE = string.Template("""\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Data checks: $suite</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1f2328; }
h1 { font-size: 1.4rem; }
h1 code { font-size: inherit; }
.badge { padding: .1rem .6rem; border-radius: 1rem; color: #fff; font-size: .9rem; }
.passed .badge, .badge.passed { background: #1a7f37; }
.failed .badge, .badge.failed { background: #cf222e; }
dl { display: grid; grid-template-columns: max-content auto; gap: .25rem 1rem; }
dt { color: #59636e; }
dd { margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #d1d9e0; padding: .45rem .6rem; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; position: sticky; top: 0; }
tr.failed td { background: #ffebe9; }
code { font: 12px ui-monospace, monospace; white-space: pre-wrap; word-break: break-word; }
.param { background: #eff2f5; border-radius: 3px; padding: 0 .25em; }
.note { color: #59636e; }
</style>
</head>
<body>
<h1>Data checks: suite <code>$suite</code> <span class="badge $status">$status</span></h1>
<dl>
<dt>Data</dt><dd>$source</dd>
<dt>Expectations</dt><dd>$evaluated evaluated: $met met, $unmet failed</dd>
<dt>Validated</dt><dd>$when with Great Expectations $version</dd>
</dl>
<table>
<thead><tr><th>Status</th><th>Expectation</th><th>Parameters</th><th>Observed</th>
<th>Unexpected values (count)</th></tr></thead>
<tbody>
$rows
</tbody>
</table>
</body>
</html>
""")


def _render_report(result_json: dict, outcomes: list[Outcome], source: str) -> str:
    """Render the validation result as one self-contained HTML page, in the spirit of Data Docs."""
    statistics = result_json["statistics"]
    return _PAGE.substitute(
        suite=escape(result_json["suite_name"]),
        status="passed" if result_json["success"] else "failed",
        source=escape(source),
        evaluated=statistics["evaluated_expectations"],
        met=statistics["successful_expectations"],
        unmet=statistics["unsuccessful_expectations"],
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=escape(result_json["meta"].get("great_expectations_version", "")),
        rows="\n".join(_report_row(outcome) for outcome in outcomes),
    )


def _report_row(outcome: Outcome) -> str:
    status = "passed" if outcome.success else "failed"
    observed = escape(outcome.observed)
    if outcome.unexpected_percent is not None:
        observed += f' <span class="note">({outcome.unexpected_percent:.3g}%)</span>'
    examples = ", ".join(f"{escape(str(value))} ({count})" for value, count in outcome.examples)
    return (
        f'<tr class="{status}"><td><span class="badge">{status}</span></td>'
        f"<td><code>{escape(outcome.type)}</code><br>{outcome.description_html}</td>"
        f"<td><code>{escape(json.dumps(outcome.kwargs))}</code></td>"
        f"<td>{observed}</td><td>{examples}</td></tr>"
    )


if __name__ == "__main__":
    exit_message.run(main)
