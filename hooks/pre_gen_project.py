"""Check every answer before cookiecutter writes a file; report all bad answers, then stop.

Standard library only: cookiecutter often runs from an environment of its own.
"""

import json
import keyword
import math
import re
import sys

# Every region of the aws, aws-cn and aws-us-gov partitions in botocore 1.43.117's
# botocore/data/endpoints.json, read on 2026-11-26.
AWS_REGIONS = frozenset(
    {
        # aws
        "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2",
        "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2",
        "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
        "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
        "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1",
        "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1",
        "us-west-2",
        # aws-cn
        "cn-north-1", "cn-northwest-1",
        # aws-us-gov
        "us-gov-east-1", "us-gov-west-1",
    }
)  # fmt: skip

# SageMaker names (jobs, endpoints, models, schedules) stop at 63 characters: a 32-character
# slug leaves 31 for what follows it, such as "-<step>-<run key>" in a job name. The defaults
# built from it fit too: "<slug>-artifacts-<account id>" takes at most 55 of S3's 63 characters,
# "<slug>-sagemaker-execution" at most 52 of IAM's 64.
SLUG_MAX_LENGTH = 32

# Top-level modules of the generated project and of what it imports; a package of the same name
# would shadow them. `test` is the standard library's own, missing from sys.stdlib_module_names.
PROJECT_MODULES = frozenset(
    {
        "benchmarks", "ci", "dags", "docs", "expectations", "local_aws", "plugins", "tests",
        "tools",
        "airflow", "attrs", "boto3", "botocore", "cfnlint", "cryptography", "fastapi",
        "great_expectations", "gunicorn", "mlflow", "moto", "numpy", "pandas", "playwright",
        "jwt", "openapi_schema_validator", "psutil", "pyarrow", "pytest", "regex", "requests",
        "sagemaker", "sagemaker_training", "sqlalchemy",
        "scipy", "shap", "sklearn", "test", "werkzeug", "xgboost", "yaml",
        # script mode and the model server import the package's modules by their own names
        # (train.py: features; serve: inference)
        "features", "inference", "metrics",
    }
)  # fmt: skip

# The gate's metrics of each problem type, and the thresholds that make sense for each, come
# from the table of metrics in cookiecutter.json, which the generated package carries as
# <package>/metrics.csv for the pipeline and train.py to read.
METRIC_TABLE = json.loads(r"""{{ cookiecutter._metrics | jsonify }}""")
INTERVAL = re.compile(r"(?P<open>[\[(])(?P<low>[^,]+),\s*(?P<high>[^\])]+)(?P<close>[\])])")


def threshold_range(text: str) -> tuple[str, object]:
    """``[0, 1]``, ``(0, inf)``, ``(-inf, 1]``: the words for it and a test of a threshold."""
    match = INTERVAL.fullmatch(text.strip())
    low, high = float(match["low"]), float(match["high"])
    closed_low, closed_high = match["open"] == "[", match["close"] == "]"
    if math.isinf(low):
        words = f"{'at most' if closed_high else 'below'} {match['high']}"
    elif math.isinf(high):
        words = f"{'at least' if closed_low else 'greater than'} {match['low']}"
    else:
        words = f"from {match['low']} to {match['high']}"

    def holds(value: float) -> bool:
        above = value >= low if closed_low else value > low
        below = value <= high if closed_high else value < high
        return above and below

    return words, holds


def read_metrics(table: list[dict[str, str]]) -> dict[str, dict[str, tuple[str, object]]]:
    """``{problem type: {gate metric: (allowed thresholds in words, test)}}``."""
    metrics: dict[str, dict[str, tuple[str, object]]] = {}
    for row in table:
        gates = metrics.setdefault(row["problem_type"], {})
        if row["gate_range"]:
            gates[row["name"]] = threshold_range(row["gate_range"])
    return metrics


METRICS = read_metrics(METRIC_TABLE)

# Airflow 3's presets that repeat; "none" turns the schedule off (triggered runs only).
SCHEDULE_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
CRON_FIELDS = (  # name, lowest, highest, names standing for lowest, lowest + 1, ...
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                      "nov", "dec")),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)  # fmt: skip
CRON_ITEM = re.compile(r"\*|(?P<start>[a-z0-9]+)(-(?P<end>[a-z0-9]+))?")

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

SLUG = re.compile(r"[a-z](-?[a-z0-9])*")
PACKAGE = re.compile(r"[a-z][a-z0-9_]*")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
ACCOUNT_ID = re.compile(r"[0-9]{12}")
IP_ADDRESS = re.compile(r"[0-9]+(\.[0-9]+){3}")
# IAM's roleNameType and SageMaker's EntityName, as their service models (botocore) give them:
# a pattern and a length limit (the pattern alone lets any number of hyphens through).
IAM_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
SAGEMAKER_NAME_MAX_LENGTH = 63
# A Python identifier that SageMaker Feature Store also takes as a feature name.
COLUMN = re.compile(r"[A-Za-z](_*[A-Za-z0-9]){0,63}")
COLUMN_MAX_LENGTH = 64
# A number as TOML and JSON write it: the threshold lands unquoted in the pipeline config.
DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")

# Each check returns None for a good answer, else what is wrong with it and what is expected.


def check_text(value: str) -> str | None:
    if not value.strip() or not value.isprintable():
        return "is not a line of text; expected a non-empty line without control characters"
    return None


def check_slug(value: str) -> str | None:
    if not SLUG.fullmatch(value):
        return (
            "is not a project slug; expected lowercase letters, digits and single hyphens, "
            "starting with a letter and ending with a letter or digit"
        )
    if len(value) > SLUG_MAX_LENGTH:
        return (
            f"is {len(value)} characters long; expected at most {SLUG_MAX_LENGTH}, "
            "so that AWS resource names built from it stay within AWS's length limits"
        )
    return None


def check_package(value: str) -> str | None:
    if not PACKAGE.fullmatch(value):
        return (
            "is not a lowercase Python identifier; expected lowercase letters, digits "
            "and underscores, starting with a letter"
        )
    if keyword.iskeyword(value):
        return "is a Python keyword; expected a name that can be imported"
    if value in sys.stdlib_module_names or value in PROJECT_MODULES:
        return (
            "would shadow a module of the same name (standard library, a dependency or a "
            "folder of the generated project); expected another name"
        )
    return None


def check_email(value: str) -> str | None:
    if not EMAIL.fullmatch(value):
        return "is not an email address; expected the shape name@example.com"
    return None


def check_region(value: str) -> str | None:
    if value not in AWS_REGIONS:
        return "is not an AWS region; expected a region code such as us-east-1 or eu-west-1"
    return None


def check_account_id(value: str) -> str | None:
    if not ACCOUNT_ID.fullmatch(value):
        return "is not an AWS account id; expected exactly 12 digits"
    return None


def check_bucket(value: str) -> str | None:
    rules = [
        (3 <= len(value) <= 63, "3 to 63 characters"),
        (set(value) <= set("abcdefghijklmnopqrstuvwxyz0123456789.-"),
         "only lowercase letters, digits, dots and hyphens"),
        (value[:1].isalnum() and value[-1:].isalnum(),
         "a letter or digit at the start and at the end"),
        (".." not in value, "no two adjacent dots"),
        (".-" not in value and "-." not in value,
         "letters or digits around every dot"),
        (not IP_ADDRESS.fullmatch(value), "a name not formatted as an IP address"),
        *((not value.startswith(prefix), f"no {prefix!r} prefix (reserved by S3)")
          for prefix in BUCKET_PREFIXES),
        *((not value.endswith(suffix), f"no {suffix!r} suffix (reserved by S3)")
          for suffix in BUCKET_SUFFIXES),
    ]  # fmt: skip
    for holds, expected in rules:
        if not holds:
            return f"is not a valid S3 bucket name; expected {expected}"
    return None


def check_role_name(value: str) -> str | None:
    if not IAM_ROLE_NAME.fullmatch(value):
        return (
            "is not an IAM role name; expected 1 to 64 characters among letters, digits "
            "and + = , . @ _ -"
        )
    return None


def check_model_package_group(value: str) -> str | None:
    if not SAGEMAKER_NAME.fullmatch(value) or len(value) > SAGEMAKER_NAME_MAX_LENGTH:
        return (
            "is not a model package group name; expected up to 63 letters, digits and "
            "hyphens, starting and ending with a letter or digit"
        )
    return None


def check_problem_type(value: str) -> str | None:
    if value not in METRICS:
        return f"is not a problem type; expected one of {', '.join(METRICS)}"
    return None


def check_column(value: str) -> str | None:
    if not COLUMN.fullmatch(value) or len(value) > COLUMN_MAX_LENGTH:
        return (
            "is not a column name; expected up to 64 letters, digits and underscores, "
            "starting with a letter and ending with a letter or digit"
        )
    return None


def check_metric(value: str, problem_type: str) -> str | None:
    if problem_type in METRICS and value not in METRICS[problem_type]:
        return f"does not fit {problem_type}; expected one of {', '.join(METRICS[problem_type])}"
    return None


def check_threshold(value: str, problem_type: str, metric: str) -> str | None:
    if not DECIMAL.fullmatch(value) or not math.isfinite(float(value)):
        return "is not a number; expected a decimal number such as 0.75"
    if metric in METRICS.get(problem_type, {}):
        allowed, in_range = METRICS[problem_type][metric]
        if not in_range(float(value)):
            return f"is out of range for {metric}; expected a number {allowed}"
    return None


def check_schedule(value: str) -> str | None:
    if value == "none" or value in SCHEDULE_PRESETS:
        return None
    reason = cron_problem(value)
    if reason:
        return (
            f"is not a schedule ({reason}); expected {', '.join(SCHEDULE_PRESETS)}, none "
            "or a 5-field cron expression"
        )
    return None


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a 5-field cron expression, or None if it is one."""
    if expression.startswith("@"):
        return "unknown preset"
    fields = expression.split()
    if len(fields) != 5:
        return f"5 fields needed, {len(fields)} given"
    for text, (name, lowest, highest, names) in zip(fields, CRON_FIELDS, strict=True):
        by_name = {alias: number for number, alias in enumerate(names, start=lowest)}
        allowed = f"{lowest}-{highest}" + (f" or {names[0]}-{names[-1]}" if names else "")
        for item in text.split(","):
            span, slash, step = item.lower().partition("/")
            if slash and not (step.isdecimal() and int(step) > 0):
                return f"{name} step {step!r} is not a whole number above 0"
            match = CRON_ITEM.fullmatch(span)
            if not match:
                return f"{name} {item!r} is not a value, range or step"
            bounds = [
                int(token) if token.isdecimal() else by_name.get(token)
                for token in match.group("start", "end")
                if token
            ]
            if any(bound is None or not lowest <= bound <= highest for bound in bounds):
                return f"{name} {item!r} is not within {allowed}"
            if bounds != sorted(bounds):
                return f"{name} range {item!r} runs backwards"
    return None


def check_accounts_distinct(answers: dict[str, str]) -> list[str]:
    """The three accounts must differ: promotion moves a model from one account to the next."""
    problems, seen = [], {}
    for field in ("dev_account_id", "staging_account_id", "prod_account_id"):
        account = answers[field]
        if account in seen and ACCOUNT_ID.fullmatch(account):
            problems.append(
                f"{field}: {account!r} is the same account as {seen[account]}; "
                "expected three different accounts for dev, staging and prod"
            )
        seen.setdefault(account, field)
    return problems


def validate(answers: dict[str, str]) -> list[str]:
    """One line per bad answer: the field, the value and what is expected."""
    problem_type, metric = answers["problem_type"], answers["primary_metric"]
    problems = {
        "project_name": check_text(answers["project_name"]),
        "project_slug": check_slug(answers["project_slug"]),
        "package_name": check_package(answers["package_name"]),
        "description": check_text(answers["description"]),
        "owner_email": check_email(answers["owner_email"]),
        "aws_region": check_region(answers["aws_region"]),
        "dev_account_id": check_account_id(answers["dev_account_id"]),
        "staging_account_id": check_account_id(answers["staging_account_id"]),
        "prod_account_id": check_account_id(answers["prod_account_id"]),
        "artifact_bucket": check_bucket(answers["artifact_bucket"]),
        "sagemaker_role_name": check_role_name(answers["sagemaker_role_name"]),
        "model_package_group_name": check_model_package_group(answers["model_package_group_name"]),
        "problem_type": check_problem_type(problem_type),
        "target_column": check_column(answers["target_column"]),
        "primary_metric": check_metric(metric, problem_type),
        "metric_threshold": check_threshold(answers["metric_threshold"], problem_type, metric),
        "training_schedule": check_schedule(answers["training_schedule"]),
        "monitoring_schedule": check_schedule(answers["monitoring_schedule"]),
    }
    lines = [
        f"{field}: {answers[field]!r} {problem}" for field, problem in problems.items() if problem
    ]
    return lines + check_accounts_distinct(answers)


def main(answers: dict[str, str]) -> int:
    problems = validate(answers)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(json.loads(r"""{{ cookiecutter | jsonify }}""")))
