"""``make traffic``: sample requests to an endpoint of the local AWS, drifted as asked.

    make traffic ARGS="--env staging --rows 500"                         # like the training data
    make traffic ARGS="--env staging --shift monthly_charges=25 --shift tenure_months=-10"
    make traffic ARGS="--env staging --category region=west:0.8"      # 80 % of rows set to west
    make traffic ARGS="--env staging --drop support_calls"             # JSON requests without it
    make traffic ARGS="--env staging --labels --label-noise 0.1"       # and ground truth
    make traffic ARGS="--env staging --wait 60"        # until the capture holds every request

Rows come from ``--data`` (a CSV with the target column) or the sample generator. Each row is
one ``InvokeEndpoint`` request, a JSON instance holding the sensitive columns too (prediction
ignores them; capture keeps them for bias monitoring), with an ``InferenceId`` that capture
records. ``--labels`` writes each row's label (``--label-noise``: the share of labels flipped, or
for regression the relative noise) as Model Monitor's ground truth, keyed by that id, under
``s3://<bucket>/<slug>/ground-truth/<endpoint>/yyyy/mm/dd/hh/``. The endpoint is the pin's of
``--env`` (``ci/environments/<env>.toml``, or under ``$PIPELINE_PINS``), in that environment's
account.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}_pipeline.pins import load_pin, pins_folder

from tools.local_run import generate_sample_data, in_account
from tools.project import PROJECT_ROOT, config


@dataclass
class Drift:
    """How to move the rows away from the training data."""

    #: column → amount added to every value (rounded, in a column of whole numbers)
    shift: dict[str, float] = field(default_factory=dict)
    #: column → (category, share of rows set to it; rows already holding it keep it)
    category: dict[str, tuple[str, float]] = field(default_factory=dict)
    #: columns left out of the requests
    drop: list[str] = field(default_factory=list)


def drifted(table: pd.DataFrame, drift: Drift, rng: np.random.Generator) -> pd.DataFrame:
    """``table`` moved as ``drift`` says; unknown columns are refused by name."""
    named = [*drift.shift, *drift.category, *drift.drop]
    unknown = [column for column in named if column not in table.columns]
    if unknown:
        raise ValueError(f"no column {', '.join(unknown)} in the data ({', '.join(table.columns)})")
    moved = table.copy()
    for column, amount in drift.shift.items():
        if not pd.api.types.is_numeric_dtype(moved[column]):
            raise ValueError(f"--shift {column}: the column is not numeric")
        shifted = moved[column] + amount
        if pd.api.types.is_integer_dtype(moved[column]):  # whole numbers stay whole
            shifted = shifted.round().astype(moved[column].dtype)
        moved[column] = shifted
    for column, (value, share) in drift.category.items():
        chosen = rng.random(len(moved)) < share
        moved[column] = moved[column].astype(object).where(~chosen, value)
    return moved


def labelled(labels: pd.Series, noise: float, problem_type: str, rng) -> pd.Series:
    """The labels with ``noise``: a share flipped (classification) or relative noise."""
    if problem_type == "binary_classification":
        flip = rng.random(len(labels)) < noise
        return labels.where(~flip, 1 - labels)
    return labels * (1 + rng.normal(0, noise, len(labels)))


def send(
    runtime, endpoint: str, table: pd.DataFrame, target: str, drop: list[str]
) -> list[tuple[str, float]]:
    """Each row as one JSON request; (inference id, prediction) per row."""
    rows = json.loads(table.drop(columns=[target, *drop]).to_json(orient="records"))
    answers = []
    for row in rows:
        inference_id = uuid.uuid4().hex
        answer = runtime.invoke_endpoint(
            EndpointName=endpoint,
            ContentType="application/json",
            Accept="application/json",
            Body=json.dumps({"instances": [row]}),
            InferenceId=inference_id,
        )
        answers.append((inference_id, json.loads(answer["Body"].read())["predictions"][0]))
    return answers


def wait_for_capture(s3, destination: str, endpoint: str, ids: set[str], timeout: float) -> None:
    """Wait until the endpoint's capture under ``destination`` holds every one of ``ids``
    (SageMaker writes capture within minutes; the local AWS every few seconds)."""
    bucket, _, prefix = destination.removeprefix("s3://").partition("/")
    prefix = f"{prefix.rstrip('/')}/{endpoint}/"
    since = datetime.now(UTC) - timedelta(hours=1)
    seen: set[str] = set()
    read: set[str] = set()
    deadline = time.monotonic() + timeout
    while ids - seen:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{len(ids - seen)} of {len(ids)} requests not in the capture under "
                f"s3://{bucket}/{prefix} after {timeout:g} s"
            )
        time.sleep(1)
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in (item for page in pages for item in page.get("Contents", [])):
            if item["Key"] in read or item["LastModified"] < since:
                continue
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            read.add(item["Key"])
            seen |= {
                json.loads(line)["eventMetadata"].get("inferenceId") for line in body.splitlines()
            }


def ground_truth(ids: list[str], labels: pd.Series) -> str:
    """Model Monitor's ground-truth records, one a line."""
    return "".join(
        json.dumps(
            {
                "groundTruthData": {"data": str(label), "encoding": "CSV"},
                "eventMetadata": {"eventId": inference_id},
                "eventVersion": "0",
            }
        )
        + "\n"
        for inference_id, label in zip(ids, labels, strict=True)
    )


def ground_truth_key(slug: str, endpoint: str, moment: datetime) -> str:
    return f"{slug}/ground-truth/{endpoint}/{moment:%Y/%m/%d/%H}/{uuid.uuid4().hex}.jsonl"


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, separator, amount = value.partition("=")
        if not separator:
            raise ValueError(f"{what} {value!r}: expected COLUMN=VALUE")
        pairs[name] = amount
    return pairs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make traffic", description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="staging", help="whose pinned endpoint (a pin file)")
    parser.add_argument("--endpoint", help="another endpoint of that environment's account")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--data", type=Path, help="a CSV with the target column")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shift", action="append", default=[], metavar="COLUMN=AMOUNT")
    parser.add_argument("--category", action="append", default=[], metavar="COLUMN=VALUE:SHARE")
    parser.add_argument("--drop", action="append", default=[], metavar="COLUMN")
    parser.add_argument("--labels", action="store_true", help="write ground truth too")
    parser.add_argument("--label-noise", type=float, default=0.0)
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to this long until the capture holds every request (for a monitor run)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, endpoint_url: str | None = None) -> int:
    """``make traffic``; ``endpoint_url``: a local AWS other than the configured one."""
    args = parse_args(argv)
    cfg = config()
    endpoint_url = endpoint_url or cfg.env.endpoint_url
    try:
        drift = Drift(
            shift={k: float(v) for k, v in _pairs(args.shift, "--shift").items()},
            category={
                k: (v.rpartition(":")[0], float(v.rpartition(":")[2]))
                for k, v in _pairs(args.category, "--category").items()
            },
            drop=args.drop,
        )
        environment = cfg.environment(args.env)
        endpoint = (
            args.endpoint
            or load_pin(args.env, pins_folder(PROJECT_ROOT / "pipeline.toml")).endpoint
        )
        source = args.data or generate_sample_data(
            PROJECT_ROOT / "build" / "traffic-data.csv", args.rows, seed=args.seed
        )
        table = pd.read_csv(source).head(args.rows)
        if cfg.data.target_column not in table.columns:
            raise ValueError(f"{source} has no target column {cfg.data.target_column!r}")
        rng = np.random.default_rng(args.seed)
        moved = drifted(table, drift, rng)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    session = in_account(endpoint_url, environment.account_id, environment.region)
    runtime = session.client("sagemaker-runtime", endpoint_url=endpoint_url)
    answers = send(runtime, endpoint, moved, cfg.data.target_column, drift.drop)
    print(f"sent {len(answers)} requests to {endpoint} ({args.env}, {environment.account_id})")
    s3 = session.client("s3", endpoint_url=endpoint_url)
    if args.wait:
        pin = load_pin(args.env, pins_folder(PROJECT_ROOT / "pipeline.toml"))
        destination = pin.capture.destination or f"s3://{environment.bucket}/{cfg.slug}/capture"
        wait_for_capture(s3, destination, endpoint, {i for i, _ in answers}, args.wait)
        print(f"all {len(answers)} requests are in the capture under {destination}")
    if args.labels:
        labels = labelled(
            moved[cfg.data.target_column], args.label_noise, cfg.data.problem_type, rng
        )
        key = ground_truth_key(cfg.slug, endpoint, datetime.now(UTC))
        s3.put_object(
            Bucket=environment.bucket,
            Key=key,
            Body=ground_truth([inference_id for inference_id, _ in answers], labels).encode(),
        )
        print(f"ground truth: s3://{environment.bucket}/{key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
