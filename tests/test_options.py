"""The template's options: a bad answer stops the bake with one clear line; good answers bake."""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import matrix
import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config
from cookiecutter.utils import create_env_with_context

PROBLEM_LINE = re.compile(r"[a-z_]+: '")

BAD_ANSWERS = [
    pytest.param(
        {"dev_account_id": "12345"},
        "dev_account_id: '12345' is not an AWS account id; expected exactly 12 digits",
        id="account-id-too-short",
    ),
    pytest.param(
        {"prod_account_id": "33333333333a"},
        "prod_account_id: '33333333333a' is not an AWS account id",
        id="account-id-not-digits",
    ),
    pytest.param(
        {"staging_account_id": "111111111111"},
        "staging_account_id: '111111111111' is the same account as dev_account_id",
        id="accounts-not-distinct",
    ),
    pytest.param(
        {"aws_region": "us-east-7"},
        "aws_region: 'us-east-7' is not an AWS region; expected a region code",
        id="region-unknown",
    ),
    pytest.param(
        {"aws_region": "EU-WEST-1"},
        "aws_region: 'EU-WEST-1' is not an AWS region",
        id="region-case",
    ),
    *(
        pytest.param(
            {"artifact_bucket": bucket},
            f"artifact_bucket: {bucket!r} is not a valid S3 bucket name; expected {expected}",
            id=f"bucket-{kind}",
        )
        for kind, bucket, expected in [
            ("too-short", "ab", "3 to 63 characters"),
            ("too-long", "a" * 64, "3 to 63 characters"),
            ("uppercase", "Churn-Artifacts", "only lowercase letters, digits, dots and hyphens"),
            ("underscore", "churn_artifacts", "only lowercase letters, digits, dots and hyphens"),
            ("edge-hyphen", "churn-artifacts-", "a letter or digit at the start and at the end"),
            ("adjacent-dots", "churn..artifacts", "no two adjacent dots"),
            ("hyphen-before-dot", "churn-.artifacts", "letters or digits around every dot"),
            ("hyphen-after-dot", "churn.-artifacts", "letters or digits around every dot"),
            ("ip-address", "192.168.5.4", "a name not formatted as an IP address"),
            ("prefix-xn", "xn--churn", "no 'xn--' prefix"),
            ("prefix-sthree", "sthree-churn", "no 'sthree-' prefix"),
            ("prefix-demo", "amzn-s3-demo-churn", "no 'amzn-s3-demo-' prefix"),
            ("suffix-s3alias", "churn-s3alias", "no '-s3alias' suffix"),
            ("suffix-ol-s3", "churn--ol-s3", "no '--ol-s3' suffix"),
            ("suffix-mrap", "churn.mrap", "no '.mrap' suffix"),
            ("suffix-x-s3", "churn--x-s3", "no '--x-s3' suffix"),
            ("suffix-table-s3", "churn--table-s3", "no '--table-s3' suffix"),
        ]
    ),
    *(
        pytest.param(
            {"project_slug": slug, "package_name": "churn", "artifact_bucket": "churn-data"},
            f"project_slug: {slug!r} is not a project slug",
            id=f"slug-{kind}",
        )
        for kind, slug in [
            ("uppercase", "Churn"),
            ("leading-digit", "2churn"),
            ("double-hyphen", "churn--model"),
            ("trailing-hyphen", "churn-"),
            ("underscore", "churn_model"),
        ]
    ),
    pytest.param(
        {"project_slug": "a" * 33},
        f"project_slug: {'a' * 33!r} is 33 characters long; expected at most 32",
        id="slug-too-long",
    ),
    *(
        pytest.param(
            {"package_name": name},
            f"package_name: {name!r} would shadow a module of the same name",
            id=f"package-shadows-{name}",
        )
        for name in [
            "test",
            "json",
            "pandas",
            "xgboost",
            "airflow",
            "psutil",
            "features",
            "sagemaker",
            "boto3",
            "moto",
            "great_expectations",
            "local_aws",
            "dags",
        ]
    ),
    pytest.param(
        {"package_name": "churn-model"},
        "package_name: 'churn-model' is not a lowercase Python identifier",
        id="package-hyphen",
    ),
    pytest.param(
        {"package_name": "Churn"},
        "package_name: 'Churn' is not a lowercase Python identifier",
        id="package-uppercase",
    ),
    pytest.param(
        {"package_name": "class"}, "package_name: 'class' is a Python keyword", id="package-keyword"
    ),
    pytest.param(
        {"owner_email": "mlops.example.com"},
        "owner_email: 'mlops.example.com' is not an email address",
        id="email",
    ),
    pytest.param(
        {"sagemaker_role_name": "service-role/sagemaker"},
        "sagemaker_role_name: 'service-role/sagemaker' is not an IAM role name",
        id="role-name-slash",
    ),
    pytest.param(
        {"sagemaker_role_name": "r" * 65},
        f"sagemaker_role_name: {'r' * 65!r} is not an IAM role name",
        id="role-name-too-long",
    ),
    pytest.param(
        {"model_package_group_name": "churn_models"},
        "model_package_group_name: 'churn_models' is not a model package group name",
        id="model-package-group",
    ),
    pytest.param(
        {"model_package_group_name": "a" + "-" * 80 + "b"},
        f"model_package_group_name: {'a' + '-' * 80 + 'b'!r} is not a model package group name",
        id="model-package-group-too-long",
    ),
    pytest.param(
        {"target_column": "churned?"},
        "target_column: 'churned?' is not a column name",
        id="target-column",
    ),
    pytest.param(
        {"target_column": "c" + "_" * 70 + "d"},
        f"target_column: {'c' + '_' * 70 + 'd'!r} is not a column name",
        id="target-column-too-long",
    ),
    pytest.param(
        {"primary_metric": "rmse"},
        "primary_metric: 'rmse' does not fit binary_classification; "
        "expected one of auc, f1, accuracy, precision, recall",
        id="metric-regression-for-classification",
    ),
    pytest.param(
        {"problem_type": "regression", "primary_metric": "auc"},
        "primary_metric: 'auc' does not fit regression; expected one of rmse, mae, mse, r2",
        id="metric-classification-for-regression",
    ),
    pytest.param(
        {"metric_threshold": "1.5"},
        "metric_threshold: '1.5' is out of range for auc; expected a number from 0 to 1",
        id="threshold-probability-above-1",
    ),
    pytest.param(
        {"primary_metric": "recall", "metric_threshold": "-0.1"},
        "metric_threshold: '-0.1' is out of range for recall; expected a number from 0 to 1",
        id="threshold-probability-negative",
    ),
    pytest.param(
        {"problem_type": "regression", "metric_threshold": "1.2"},
        "metric_threshold: '1.2' is out of range for r2; expected a number at most 1",
        id="threshold-r2-above-1",
    ),
    pytest.param(
        {"problem_type": "regression", "primary_metric": "rmse", "metric_threshold": "0"},
        "metric_threshold: '0' is out of range for rmse; expected a number greater than 0",
        id="threshold-error-not-positive",
    ),
    *(
        pytest.param(
            {"metric_threshold": threshold},
            f"metric_threshold: {threshold!r} is not a number; expected a decimal number",
            id=f"threshold-not-a-number-{threshold}",
        )
        for threshold in ["high", "nan", "1e-3", "0,75", ".75", "1.", "00.5"]
    ),
    *(
        pytest.param(
            {field: schedule},
            f"{field}: {schedule!r} is not a schedule ({reason}); expected @hourly, @daily,",
            id=f"{field}-{reason}",
        )
        for field, schedule, reason in [
            ("training_schedule", "0 25 * * *", "hour '25' is not within 0-23"),
            ("training_schedule", "61 * * * *", "minute '61' is not within 0-59"),
            ("training_schedule", "0 0 0 * *", "day of month '0' is not within 1-31"),
            ("training_schedule", "0 0 1 13 *", "month '13' is not within 1-12 or jan-dec"),
            ("training_schedule", "0 0 * * 8", "day of week '8' is not within 0-7 or sun-sat"),
            (
                "training_schedule",
                "0 0 * * funday",
                "day of week 'funday' is not within 0-7 or sun-sat",
            ),
            ("training_schedule", "*/0 * * * *", "minute step '0' is not a whole number above 0"),
            ("training_schedule", "30-10 * * * *", "minute range '30-10' runs backwards"),
            ("monitoring_schedule", "0 0 L * *", "day of month 'L' is not within 1-31"),
            ("monitoring_schedule", "0 * * *", "5 fields needed, 4 given"),
            ("monitoring_schedule", "daily", "5 fields needed, 1 given"),
            ("monitoring_schedule", "@minutely", "unknown preset"),
            ("monitoring_schedule", "@once", "unknown preset"),
        ]
    ),
]


@pytest.fixture(scope="session")
def template() -> Path:
    return Path(__file__).parents[1]


@pytest.fixture(scope="session")
def options(template: Path) -> dict:
    return json.loads((template / "cookiecutter.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cookiecutter config of its own: no user defaults, replay files kept out of $HOME."""
    root = tmp_path_factory.mktemp("cookiecutter")
    config = root / "config.yaml"
    config.write_text(f"cookiecutters_dir: {root / 'templates'}\nreplay_dir: {root / 'replay'}\n")
    return config


@pytest.fixture(scope="session")
def defaults(template: Path) -> dict:
    """The answers cookiecutter gives with --no-input."""
    return dict(prompt_for_config(generate_context(template / "cookiecutter.json"), no_input=True))


@pytest.fixture(scope="session")
def hook(template: Path, defaults: dict, tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The pre-generation hook as cookiecutter renders it, imported as a module."""
    context = {"cookiecutter": defaults}
    source = (template / "hooks" / "pre_gen_project.py").read_text(encoding="utf-8")
    rendered = tmp_path_factory.mktemp("hooks") / "pre_gen_project.py"
    rendered.write_text(
        create_env_with_context(context).from_string(source).render(**context), encoding="utf-8"
    )
    spec = importlib.util.spec_from_file_location("pre_gen_project", rendered)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cookiecutter(
    template: Path, config_file: Path, output_dir: Path, answers: dict
) -> subprocess.CompletedProcess:
    """Bake as a user does: the cookiecutter command, with answers on the command line."""
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "--config-file", str(config_file)]
        + ["-o", str(output_dir), str(template)]
        + [f"{option}={answer}" for option, answer in answers.items()],
        capture_output=True,
        text=True,
        check=False,
    )


def problem_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if PROBLEM_LINE.match(line)]


@pytest.mark.parametrize(("answers", "expected"), BAD_ANSWERS)
def test_bad_answer_stops_the_bake_with_one_clear_line(
    template, config_file, tmp_path, capfd, answers, expected
):
    # In-process, ten times faster than the command; cookiecutter still runs the hook as a script.
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(template),
            no_input=True,
            extra_context=answers,
            output_dir=str(tmp_path),
            config_file=str(config_file),
        )
    assert list(tmp_path.iterdir()) == []
    lines = problem_lines(capfd.readouterr().err)
    assert sum(line.startswith(expected) for line in lines) == 1, lines


def test_all_bad_answers_are_reported_at_once_and_nothing_is_generated(
    template, config_file, tmp_path
):
    answers = {
        "dev_account_id": "12345",
        "aws_region": "mars-1",
        "artifact_bucket": "churn..artifacts",
        "primary_metric": "rmse",
        "monitoring_schedule": "0 0 * * 8",
    }
    result = run_cookiecutter(template, config_file, tmp_path / "out", answers)

    assert result.returncode != 0
    assert list((tmp_path / "out").iterdir()) == []
    assert [line.split(":")[0] for line in problem_lines(result.stderr)] == [
        "aws_region",
        "dev_account_id",
        "artifact_bucket",
        "primary_metric",
        "monitoring_schedule",
    ]


def test_answers_with_quotes_and_backslashes_reach_the_hook_intact(
    template, config_file, tmp_path, capfd
):
    tricky = "label \"x\" 'y' \\ ''' \"\"\" \\"
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(template),
            no_input=True,
            extra_context={"description": tricky, "target_column": tricky},
            output_dir=str(tmp_path),
            config_file=str(config_file),
        )
    assert problem_lines(capfd.readouterr().err) == [
        f"target_column: {tricky!r} is not a column name; expected up to 64 letters, digits "
        "and underscores, starting with a letter and ending with a letter or digit"
    ]


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param({}, id="defaults"),
        pytest.param(
            {
                "project_name": "Lifetime Value",
                "aws_region": "eu-west-1",
                "problem_type": "regression",
                "primary_metric": "r2",
                "metric_threshold": "0.6",
                "training_schedule": "0 3 * * mon",
                "monitoring_schedule": "*/30 8-18 * jan-nov 1-5",
            },
            id="regression-r2-cron",
        ),
        pytest.param(
            {
                "project_name": "Demand Forecast",
                "aws_region": "ap-southeast-2",
                "problem_type": "regression",
                "target_column": "units_sold",
                "primary_metric": "rmse",
                "metric_threshold": "12.5",
                "training_schedule": "none",
                "monitoring_schedule": "15 6 1,15 * *",
            },
            id="regression-rmse-none",
        ),
    ],
)
def test_good_answers_bake_and_print_next_steps(template, config_file, tmp_path, answers):
    result = run_cookiecutter(template, config_file, tmp_path, answers)

    assert result.returncode == 0, result.stdout + result.stderr
    [project] = tmp_path.iterdir()
    assert (project / "pyproject.toml").is_file()
    assert f"cd {project}" in result.stdout
    assert "make demo" in result.stdout


def test_defaults_are_valid(hook, defaults):
    assert hook.validate(defaults) == []


@pytest.mark.parametrize(
    ("field", "answer"),
    [
        ("project_slug", "a" * 32),
        ("project_slug", "churn-2"),
        ("package_name", "churn_2"),
        ("owner_email", "ml.team+churn@example.co.uk"),
        ("aws_region", "cn-northwest-1"),
        ("aws_region", "us-gov-west-1"),
        ("artifact_bucket", "abc"),
        ("artifact_bucket", "a" * 63),
        ("artifact_bucket", "churn.artifacts-1"),
        ("artifact_bucket", "xn-churn"),
        ("artifact_bucket", "churn-123456789012-us-east-1-an"),
        ("sagemaker_role_name", "Churn+SageMaker=Exec,1.0@team_a-b"),
        ("sagemaker_role_name", "r" * 64),
        ("model_package_group_name", "Churn-Models--v2"),
        ("model_package_group_name", "c" * 63),
        ("target_column", "Churned_30d"),
        ("metric_threshold", "1"),
        ("metric_threshold", "0"),
        ("metric_threshold", "0.9"),
        *(("training_schedule", preset) for preset in ["@hourly", "@quarterly", "@yearly"]),
        ("training_schedule", "none"),
        ("training_schedule", "0 0 * * 7"),
        ("training_schedule", "0 0 * * SUN"),
        ("training_schedule", "0-59/15 0 1 JAN-DEC/3 *"),
        ("training_schedule", "5/10 */2 1-7,15 * mon-fri"),
    ],
)
def test_accepts_good_answer(hook, defaults, field, answer):
    assert hook.validate({**defaults, field: answer}) == []


def test_r2_threshold_may_be_negative(hook, defaults):
    answers = {**defaults, "problem_type": "regression", "primary_metric": "r2"}
    assert hook.validate({**answers, "metric_threshold": "-0.25"}) == []


def test_unknown_problem_type_is_reported_once(hook, defaults):
    # The command line refuses an unknown choice itself; a replay file or the API does not.
    assert hook.validate({**defaults, "problem_type": "clustering"}) == [
        "problem_type: 'clustering' is not a problem type; "
        "expected one of binary_classification, regression"
    ]


def test_threshold_range_follows_the_metric(hook, defaults):
    answers = {**defaults, "problem_type": "regression", "metric_threshold": "250"}
    assert hook.validate({**answers, "primary_metric": "mae"}) == []
    assert hook.validate({**answers, "primary_metric": "r2"}) == [
        "metric_threshold: '250' is out of range for r2; expected a number at most 1"
    ]


def test_every_account_that_repeats_an_earlier_one_is_named(hook, defaults):
    same = defaults["dev_account_id"]
    assert hook.validate({**defaults, "staging_account_id": same, "prod_account_id": same}) == [
        f"staging_account_id: '{same}' is the same account as dev_account_id; "
        "expected three different accounts for dev, staging and prod",
        f"prod_account_id: '{same}' is the same account as dev_account_id; "
        "expected three different accounts for dev, staging and prod",
    ]


def test_package_name_may_not_be_a_top_level_folder_of_the_generated_project(hook, template):
    [project] = template.glob("{{*")
    folders = [path.name for path in project.iterdir() if path.is_dir()]
    assert [name for name in folders if name.isidentifier() and not hook.check_package(name)] == []


def test_regions_are_those_of_botocore_for_the_three_partitions(hook):
    botocore = pytest.importorskip("botocore")
    endpoints = json.loads((Path(botocore.__file__).parent / "data/endpoints.json").read_text())
    regions = {
        region
        for partition in endpoints["partitions"]
        if partition["partition"] in {"aws", "aws-cn", "aws-us-gov"}
        for region in partition["regions"]
    }
    assert regions == hook.AWS_REGIONS


def test_every_option_has_help_text(options):
    names = {name for name in options if not name.startswith("_")}
    prompts = options["__prompts__"]
    assert set(prompts) == names
    assert all(isinstance(text, str) and text.strip() for text in prompts.values())


def test_readme_options_table_matches_cookiecutter_json(template):
    result = subprocess.run(
        [sys.executable, template / "scripts" / "options_table.py", "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_options_table_check_shows_what_is_stale_and_a_rewrite_fixes_it(template, tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(template / "scripts" / "options_table.py", tmp_path / "scripts")
    shutil.copy(template / "cookiecutter.json", tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n\nIntro.\n\n<!-- options:start -->\nold\n<!-- options:end -->\nEnd.\n"
    )
    script = [sys.executable, tmp_path / "scripts" / "options_table.py"]

    stale = subprocess.run([*script, "--check"], capture_output=True, text=True, check=False)
    subprocess.run(script, check=True)

    assert stale.returncode == 1
    assert "-old\n" in stale.stdout
    assert "+| `aws_region` | `us-east-1` |" in stale.stdout
    assert readme.read_text().startswith("# Title\n\nIntro.\n\n<!-- options:start -->\n| Option |")
    assert readme.read_text().endswith("<!-- options:end -->\nEnd.\n")
    assert subprocess.run([*script, "--check"], check=False).returncode == 0


def test_metric_choices_come_from_the_table_of_metrics(hook, options):
    """One table of metrics: the hook reads the one the generated package carries."""
    rows = options["_metrics"]
    gates = {
        problem_type: [
            row["name"] for row in rows if row["problem_type"] == problem_type and row["gate_range"]
        ]
        for problem_type in options["problem_type"]
    }

    assert {problem_type: list(metrics) for problem_type, metrics in hook.METRICS.items()} == gates
    help_text = options["__prompts__"]["primary_metric"]
    for problem_type, names in gates.items():
        listed = re.search(rf"([a-z0-9, ]+) for {problem_type}", help_text).group(1)
        assert sorted(re.findall(r"[a-z0-9]+", listed.replace(" or ", ", "))) == sorted(names)


def test_the_local_aws_says_it_is_this_release_of_the_template(template):
    version = re.search(r'^version = "(.+)"', (template / "pyproject.toml").read_text(), re.M)
    [init] = template.glob("{{*/local_aws/__init__.py")

    assert f'__version__ = "{version.group(1)}"' in init.read_text()


def test_every_option_is_crossed_or_takes_values_in_turn_in_the_bakes(options):
    """A new option in cookiecutter.json fails here until the matrix bakes it."""
    public = {name for name in options if not name.startswith("_")}

    assert public == set(matrix.CROSSED) | set(matrix.CYCLED)
