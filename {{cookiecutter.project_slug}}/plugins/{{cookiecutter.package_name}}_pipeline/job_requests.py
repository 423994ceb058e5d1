"""SageMaker job requests for each step of the training pipeline.

Each function returns the exact ``CreateProcessingJob``/``CreateTrainingJob`` request for one run:
the job runs the package's script with every path given on its command line or by the training
toolkit, reads its inputs from the run's S3 prefix and writes its outputs back under it. Nothing
here depends on where the pipeline runs except through the config's environment section.
"""

from __future__ import annotations

import json

from .config import Environment, PipelineConfig
from .metrics import metric_definitions
from .runs import Run, RunLayout, job_name

CODE_DIR = "/opt/ml/processing/input/code"
SUITES_DIR = "/opt/ml/processing/input/expectations"
INPUT_DIR = "/opt/ml/processing/input"
OUTPUT_DIR = "/opt/ml/processing/output"
#: What a processing container writes here, SageMaker returns as the job's ExitMessage.
EXIT_MESSAGE_FILE = "/opt/ml/output/message"
SPLITS = ("train", "validation", "test", "transform", "baseline")


def _s3_input(name: str, uri: str, local_path: str) -> dict:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def _s3_output(name: str, local_path: str, uri: str) -> dict:
    return {
        "OutputName": name,
        "S3Output": {"S3Uri": uri, "LocalPath": local_path, "S3UploadMode": "EndOfJob"},
    }


def processing_job(
    config: PipelineConfig,
    run: Run,
    step: str,
    module: str,
    arguments: list[str],
    inputs: list[dict],
    outputs: list[dict],
) -> dict:
    """``python -m <package>.<module> <arguments>`` as a processing job of this run."""
    env, layout = config.env, run.layout
    return {
        "ProcessingJobName": job_name(config.slug, step, layout.key),
        "RoleArn": env.role_arn,
        "AppSpecification": {
            "ImageUri": run.image_uri,
            "ContainerEntrypoint": ["python3", "-m", f"{config.package}.{module}"],
            "ContainerArguments": arguments,
        },
        # The run's own copy of the package, not whatever the image might hold; the scripts
        # leave why they failed where SageMaker reads it (the package's exit_message).
        "Environment": {"PYTHONPATH": CODE_DIR, "EXIT_MESSAGE_FILE": EXIT_MESSAGE_FILE},
        "ProcessingInputs": [_s3_input("code", layout.uri("code", "src"), CODE_DIR), *inputs],
        "ProcessingOutputConfig": {"Outputs": outputs},
        **_processing_resources(config),
        "Tags": _tags(config, layout),
    }


def raw_data_check_job(config: PipelineConfig, run: Run) -> dict:
    """The raw table (and a drift-started run's labelled capture) against
    ``expectations/<data.raw_suite>.json``."""
    return data_check_job(
        config, run, config.data.raw_suite, [run.raw_data_uri, *run.feedback_uris], "check-raw"
    )


def features_check_job(config: PipelineConfig, run: Run) -> dict:
    """The cleaned training split against ``expectations/<data.features_suite>.json``."""
    train_split = run.layout.preprocessed("train") + "/"
    return data_check_job(config, run, config.data.features_suite, [train_split], "check-features")


def data_inputs(uris: list[str], name: str) -> tuple[list[dict], list[str]]:
    """One input a data location (``<name>``, ``<name>-1``, ...) and their local folders."""
    names = [name if i == 0 else f"{name}-{i}" for i in range(len(uris))]
    folders = [f"{INPUT_DIR}/{each}" for each in names]
    inputs = [_s3_input(n, uri, f) for n, uri, f in zip(names, uris, folders, strict=True)]
    return inputs, folders


def data_check_job(
    config: PipelineConfig, run: Run, suite: str, data_uris: list[str], step: str
) -> dict:
    """The data under ``data_uris``, as one table, against ``expectations/<suite>.json``."""
    layout = run.layout
    inputs, folders = data_inputs(data_uris, "data")
    return processing_job(
        config,
        run,
        step=step,
        module="data_checks",
        arguments=[
            "--suite",
            f"{SUITES_DIR}/{suite}.json",
            "--data-dir",
            *folders,
            "--output-dir",
            f"{OUTPUT_DIR}/report",
        ],
        inputs=[
            _s3_input("expectations", layout.uri("code", "expectations") + "/", SUITES_DIR),
            *inputs,
        ],
        outputs=[_s3_output("report", f"{OUTPUT_DIR}/report", layout.data_checks(suite))],
    )


def preprocess_job(config: PipelineConfig, run: Run) -> dict:
    """Clean and split the raw table; fit the feature transform; write the data baseline."""
    data, training = config.data, config.training
    inputs, folders = data_inputs([run.raw_data_uri, *run.feedback_uris], "raw")
    return processing_job(
        config,
        run,
        step="preprocess",
        module="preprocess",
        arguments=[
            "--input-dir",
            *folders,
            "--output-dir",
            OUTPUT_DIR,
            "--target-column",
            data.target_column,
            "--problem-type",
            data.problem_type,
            "--sensitive-columns",
            *data.sensitive_columns,
            "--validation-fraction",
            str(training.validation_fraction),
            "--test-fraction",
            str(training.test_fraction),
            "--seed",
            str(training.seed),
        ],
        inputs=inputs,
        outputs=[
            _s3_output(split, f"{OUTPUT_DIR}/{split}", run.layout.preprocessed(split))
            for split in SPLITS
        ],
    )


def training_job(config: PipelineConfig, run: Run) -> dict:
    """Script mode: the training toolkit runs ``train.py`` from the run's source tarball."""
    env, data, training, layout = config.env, config.data, config.training, run.layout
    hyperparameters = {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": layout.source_tarball,
        "problem_type": config.problem_type,
        "target_column": data.target_column,
        "seed": training.seed,
        **training.hyperparameters,
    }
    return {
        "TrainingJobName": training_job_name(config, run),
        "RoleArn": env.role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": run.image_uri,
            "TrainingInputMode": "File",
            # from the metric table: the problem type's metrics, as train.py logs them
            "MetricDefinitions": metric_definitions(config.metrics),
        },
        # As the SageMaker SDK writes them: JSON-encoded values the toolkit decodes.
        "HyperParameters": {key: json.dumps(value) for key, value in hyperparameters.items()},
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": layout.preprocessed(channel) + "/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
            for channel in ("train", "validation", "transform")
        ],
        "OutputDataConfig": {"S3OutputPath": layout.model_output},
        "ResourceConfig": {
            "InstanceCount": 1,
            "InstanceType": env.training_instance_type,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": training.max_runtime_seconds},
        "Tags": _tags(config, layout),
    }


def training_job_name(config: PipelineConfig, run: Run) -> str:
    return job_name(config.slug, "train", run.key)


def model_artifact(config: PipelineConfig, run: Run) -> str:
    """Where SageMaker puts the run's model: ``<S3OutputPath>/<job>/output/model.tar.gz``."""
    return run.layout.model_artifact(training_job_name(config, run))


def evaluation_job(config: PipelineConfig, run: Run) -> dict:
    """Score the test split with the trained model through the inference handlers."""
    data, layout = config.data, run.layout
    return processing_job(
        config,
        run,
        step="evaluate",
        module="evaluate",
        arguments=[
            "--model-dir",
            f"{INPUT_DIR}/model",
            "--test-dir",
            f"{INPUT_DIR}/test",
            "--output-dir",
            f"{OUTPUT_DIR}/evaluation",
            "--target-column",
            data.target_column,
            "--problem-type",
            data.problem_type,
        ],
        inputs=[
            _s3_input("model", model_artifact(config, run), f"{INPUT_DIR}/model"),
            _s3_input("test", layout.preprocessed("test") + "/", f"{INPUT_DIR}/test"),
        ],
        outputs=[_s3_output("evaluation", f"{OUTPUT_DIR}/evaluation", layout.evaluation)],
    )


#: Where Model Monitor's container finds its inputs and leaves its results.
MONITOR_DIR = "/opt/ml/processing"
GROUND_TRUTH_DIR = f"{MONITOR_DIR}/groundtruth"
QUALITY_CONSTRAINTS_DIR = f"{MONITOR_DIR}/baseline/model_quality"
HISTORY_DIR = f"{MONITOR_DIR}/baseline/history"
#: SageMaker's limit of a processing job's inputs.
MAX_INPUTS = 10


def monitoring_job(
    config: PipelineConfig,
    *,
    name: str,
    image_uri: str,
    code_uri: str,
    endpoint: str,
    variant: str,
    capture: dict[str, str],
    start: str,
    end: str,
    statistics_uri: str,
    constraints_uri: str,
    output_uri: str,
    ground_truth: dict[str, str] | None = None,
    quality_constraints_uri: str | None = None,
    history_uri: str | None = None,
    environment: Environment | None = None,
) -> dict:
    """The monitor (``<package>.monitor``) over one endpoint variant's capture, as a processing
    job shaped as Model Monitor's: its environment variables, the capture of each partition the
    interval touches (``capture``: ``yyyy/mm/dd/hh`` or ``yyyy/mm/dd`` → S3 prefix, only those
    that hold some: SageMaker fails an input with nothing under it) under
    ``/opt/ml/processing/endpointdata/<endpoint>/<variant>/``, results to ``output_uri``.
    With ``ground_truth`` (the same) it measures model quality too, against
    ``quality_constraints_uri``, adding to the metrics' ``history_uri``. It runs in
    ``environment`` (by default the DAGs'), as its execution role."""
    env = environment or config.env
    ground_truth = ground_truth or {}
    source = f"{MONITOR_DIR}/endpointdata/{endpoint}/{variant}"
    inputs = [
        _s3_input("code", code_uri, CODE_DIR),
        _s3_input("baseline_statistics", statistics_uri, f"{MONITOR_DIR}/baseline/stats"),
        _s3_input("baseline_constraints", constraints_uri, f"{MONITOR_DIR}/baseline/constraints"),
        *(
            [_s3_input("quality_constraints", quality_constraints_uri, QUALITY_CONSTRAINTS_DIR)]
            if quality_constraints_uri
            else []
        ),
        *([_s3_input("history", history_uri, HISTORY_DIR)] if history_uri else []),
        *(
            _s3_input(f"capture-{part.replace('/', '-')}", uri, f"{source}/{part}")
            for part, uri in sorted(capture.items())
        ),
        *(
            _s3_input(f"groundtruth-{part.replace('/', '-')}", uri, f"{GROUND_TRUTH_DIR}/{part}")
            for part, uri in sorted(ground_truth.items())
        ),
    ]
    if not capture or len(inputs) > MAX_INPUTS:
        raise ValueError(
            f"a monitoring job reads {len(capture)} days of capture and {len(ground_truth)} of "
            f"ground truth: SageMaker allows {MAX_INPUTS} inputs in all (code and baselines "
            "included), and at least one day of capture: split the interval"
        )
    variables = {
        "PYTHONPATH": CODE_DIR,
        "EXIT_MESSAGE_FILE": EXIT_MESSAGE_FILE,
        "dataset_format": json.dumps(
            {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}
        ),
        "dataset_source": f"{MONITOR_DIR}/endpointdata",
        "output_path": f"{MONITOR_DIR}/resultdata",
        "start_time": start,
        "end_time": end,
        "baseline_statistics": f"{MONITOR_DIR}/baseline/stats/{_file(statistics_uri)}",
        "baseline_constraints": f"{MONITOR_DIR}/baseline/constraints/{_file(constraints_uri)}",
        "publish_cloudwatch_metrics": "Enabled",
        "metric_namespace": config.monitoring.metric_namespace,
        "sagemaker_endpoint_name": endpoint,
        "sagemaker_monitoring_schedule_name": monitoring_schedule_name(config, variant),
        "sensitive_columns": json.dumps(config.data.sensitive_columns),
    }
    if ground_truth:
        variables |= {
            "ground_truth_source": GROUND_TRUTH_DIR,
            "problem_type": config.data.problem_type,
            "target_column": config.data.target_column,
            "quality_metric_namespace": config.monitoring.quality_metric_namespace,
        }
        if quality_constraints_uri:
            variables["model_quality_constraints"] = (
                f"{QUALITY_CONSTRAINTS_DIR}/{_file(quality_constraints_uri)}"
            )
        if history_uri:
            variables["model_quality_history"] = f"{HISTORY_DIR}/{_file(history_uri)}"
    return {
        "ProcessingJobName": name,
        "RoleArn": env.role_arn,
        "AppSpecification": {
            "ImageUri": image_uri,
            "ContainerEntrypoint": ["python3", "-m", f"{config.package}.monitor"],
        },
        "Environment": variables,
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {
            "Outputs": [_s3_output("result", f"{MONITOR_DIR}/resultdata", output_uri)]
        },
        **_processing_resources(config, env),
        "Tags": [{"Key": "project", "Value": config.slug}, {"Key": "endpoint", "Value": endpoint}],
    }


def monitoring_schedule_name(config: PipelineConfig, variant: str) -> str:
    """The ``MonitoringSchedule`` dimension of the metrics: one per variant (an endpoint's
    variants are monitored apart, as Model Monitor's schedules are)."""
    return f"{config.slug}-{variant}"


def _processing_resources(config: PipelineConfig, environment: Environment | None = None) -> dict:
    """One instance of the environment's processing type, stopped after the configured time."""
    return {
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": (environment or config.env).processing_instance_type,
                "VolumeSizeInGB": 30,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": config.processing.max_runtime_seconds},
    }


def _file(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


def _tags(config: PipelineConfig, layout: RunLayout) -> list[dict]:
    return [{"Key": "project", "Value": config.slug}, {"Key": "run-key", "Value": layout.key}]
