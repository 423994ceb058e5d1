"""The local AWS refuses what AWS refuses, with AWS's errors, by checking the service model.

Most tests drive a real moto server wrapped in ``ValidatingMiddleware`` with plain boto3 clients;
the rest check the Java pattern translation and the request decoding on their own.
"""

from __future__ import annotations

import json
import threading
import uuid
from io import BytesIO
from urllib.parse import urlencode

import boto3
import botocore.serialize
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from local_aws.validation import (
    RequestInfo,
    ValidatingMiddleware,
    compile_pattern,
    error_response,
    identify,
    skipped_patterns,
    validate,
)

REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-jobs:latest"
CHECKED_SERVICES = ("sagemaker", "logs", "events", "sqs", "sns", "iam", "sts", "cloudwatch")


@pytest.fixture(scope="module")
def endpoint():
    """A moto server on a free port, behind the middleware, for this module's tests.

    It is the server ``moto.server.ThreadedMotoServer`` builds, made here because that class
    builds its app internally and this one must wrap it.
    """
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.delenv("AWS_PROFILE", raising=False)
        app = ValidatingMiddleware(DomainDispatcherApplication(create_backend_app))
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


@pytest.fixture(scope="module")
def client(endpoint):
    """``client("sagemaker")``: a boto3 client of the test server with dummy credentials."""

    def make(service: str, **config):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}, **config),
        )

    return make


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def processing_job(name: str, **overrides) -> dict:
    """A CreateProcessingJob request SageMaker accepts, with ``overrides`` applied."""
    request = {
        "ProcessingJobName": name,
        "RoleArn": ROLE_ARN,
        "AppSpecification": {
            "ImageUri": IMAGE,
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/code/preprocess.py"],
            "ContainerArguments": ["--raw", "/opt/ml/processing/input/raw"],
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
                "VolumeSizeInGB": 30,
            }
        },
        "ProcessingInputs": [
            {
                "InputName": "raw",
                "S3Input": {
                    "S3Uri": "s3://churn-data/raw/",
                    "LocalPath": "/opt/ml/processing/input/raw",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "features",
                    "S3Output": {
                        "S3Uri": "s3://churn-data/features/",
                        "LocalPath": "/opt/ml/processing/output/features",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "Environment": {"PIPELINE_RUN": "manual__2026-01-01"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Tags": [{"Key": "project", "Value": "churn"}],
    }
    request.update(overrides)
    return request


def refusal(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a refused call."""
    error = excinfo.value.response
    return (
        error["ResponseMetadata"]["HTTPStatusCode"],
        error["Error"]["Code"],
        error["Error"]["Message"],
    )


# --- Through a real server ---------------------------------------------------------------------


def test_long_processing_job_name_with_underscores_gets_pattern_and_length_errors(client):
    name = ("churn_preprocess_" * 7)[:103]
    with pytest.raises(ClientError) as excinfo:
        client("sagemaker").create_processing_job(**processing_job(name))

    status, code, message = refusal(excinfo)
    assert (status, code) == (400, "ValidationException")
    assert message == (
        f"2 validation errors detected: Value '{name}' at 'processingJobName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}; "
        f"Value '{name}' at 'processingJobName' failed to satisfy constraint: "
        "Member must have length less than or equal to 63"
    )


def test_unknown_instance_type_gets_enum_error_naming_the_nested_path(client):
    request = processing_job(unique("bad-instance"))
    request["ProcessingResources"]["ClusterConfig"]["InstanceType"] = "ml.m5.notatype"
    with pytest.raises(ClientError) as excinfo:
        client("sagemaker").create_processing_job(**request)

    status, code, message = refusal(excinfo)
    assert (status, code) == (400, "ValidationException")
    prefix = (
        "1 validation error detected: Value 'ml.m5.notatype' at "
        "'processingResources.clusterConfig.instanceType' failed to satisfy constraint: "
        "Member must satisfy enum value set: ["
    )
    assert message.startswith(prefix)
    assert "ml.m5.xlarge, " in message and message.endswith("]")


def test_valid_processing_job_passes_through_and_moto_creates_it(client):
    sagemaker = client("sagemaker")
    name = unique("preprocess")
    arn = sagemaker.create_processing_job(**processing_job(name))["ProcessingJobArn"]

    assert arn.endswith(f"processing-job/{name}")
    assert sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobName"] == name


def test_tag_pattern_with_unicode_letter_class_accepts_accented_letters(client):
    sagemaker = client("sagemaker")
    name = unique("tagged")
    tags = [{"Key": "équipe", "Value": "Données Client 2026"}]
    sagemaker.create_processing_job(**processing_job(name, Tags=tags))

    assert sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobName"] == name


def test_tag_pattern_with_unicode_letter_class_refuses_other_symbols(client):
    tags = [{"Key": "project", "Value": "churn"}, {"Key": "team#1", "Value": "ml"}]
    with pytest.raises(ClientError) as excinfo:
        client("sagemaker").create_processing_job(**processing_job(unique("tagged"), Tags=tags))

    assert refusal(excinfo)[2] == (
        "1 validation error detected: Value 'team#1' at 'tags.2.member.key' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: ([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"
    )


def test_runtime_above_the_models_maximum_gets_value_range_error(client):
    request = processing_job(unique("slow"), StoppingCondition={"MaxRuntimeInSeconds": 999_999})
    with pytest.raises(ClientError) as excinfo:
        client("sagemaker").create_processing_job(**request)

    assert refusal(excinfo)[2] == (
        "1 validation error detected: Value '999999' at 'stoppingCondition.maxRuntimeInSeconds' "
        "failed to satisfy constraint: Member must have value less than or equal to 777600"
    )


def test_more_processing_inputs_than_allowed_gets_list_length_error(client):
    inputs = [
        {
            "InputName": f"input-{index}",
            "S3Input": {
                "S3Uri": f"s3://churn-data/raw/{index}/",
                "LocalPath": f"/opt/ml/processing/input/{index}",
                "S3DataType": "S3Prefix",
            },
        }
        for index in range(11)
    ]
    with pytest.raises(ClientError) as excinfo:
        client("sagemaker").create_processing_job(
            **processing_job(unique("wide"), ProcessingInputs=inputs)
        )

    message = refusal(excinfo)[2]
    assert message.startswith("1 validation error detected: Value '[{InputName=input-0, ")
    assert message.endswith(
        "' at 'processingInputs' failed to satisfy constraint: "
        "Member must have length less than or equal to 10"
    )


def test_nested_list_member_error_names_its_one_based_index(client):
    request = processing_job(unique("bad-uri"))
    request["ProcessingInputs"][0]["S3Input"]["S3Uri"] = "churn-data/raw/"
    with pytest.raises(ClientError) as excinfo:
        client("sagemaker").create_processing_job(**request)

    assert refusal(excinfo)[2] == (
        "1 validation error detected: Value 'churn-data/raw/' at "
        "'processingInputs.1.member.s3Input.s3Uri' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*)"
    )


def test_bad_map_key_gets_one_map_keys_error(client):
    request = processing_job(unique("bad-env"), Environment={"1ST_RUN": "yes"})
    with pytest.raises(ClientError) as excinfo:
        client("sagemaker").create_processing_job(**request)

    assert refusal(excinfo)[2] == (
        "1 validation error detected: Value '{1ST_RUN=yes}' at 'environment' failed to satisfy "
        "constraint: Map keys must satisfy constraint: [Member must have length less than or "
        "equal to 256, Member must have length greater than or equal to 0, Member must satisfy "
        "regular expression pattern: [a-zA-Z_][a-zA-Z0-9_]*]"
    )


def test_string_for_an_integer_gets_serialization_exception(client):
    sagemaker = client("sagemaker", parameter_validation=False)
    request = processing_job(unique("typed"), StoppingCondition={"MaxRuntimeInSeconds": "3600"})
    with pytest.raises(ClientError) as excinfo:
        sagemaker.create_processing_job(**request)

    assert refusal(excinfo) == (
        400,
        "SerializationException",
        "STRING_VALUE cannot be converted to Integer",
    )


def test_missing_required_member_gets_not_null_error(client):
    sagemaker = client("sagemaker", parameter_validation=False)
    request = processing_job(unique("no-role"))
    del request["RoleArn"]
    with pytest.raises(ClientError) as excinfo:
        sagemaker.create_processing_job(**request)

    assert refusal(excinfo)[2] == (
        "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_sensitive_value_is_not_echoed_in_the_error(client):
    secret = "s3cr3t\x01value"
    with pytest.raises(ClientError) as excinfo:
        client("events").create_connection(
            Name="partner-api",
            AuthorizationType="API_KEY",
            AuthParameters={
                "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": secret}
            },
        )

    status, code, message = refusal(excinfo)
    assert (status, code) == (400, "ValidationException")
    assert secret not in message
    assert message.startswith(
        "1 validation error detected: Value at 'authParameters.apiKeyAuthParameters.apiKeyValue' "
        "failed to satisfy constraint: Member must satisfy regular expression pattern: "
    )


def test_query_protocol_too_long_role_name_gets_xml_validation_error(client):
    name = "r" * 65
    with pytest.raises(ClientError) as excinfo:
        client("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")

    assert refusal(excinfo) == (
        400,
        "ValidationError",
        f"1 validation error detected: Value '{name}' at 'roleName' failed to satisfy "
        "constraint: Member must have length less than or equal to 64",
    )


def test_query_protocol_decodes_nested_lists_for_their_checks(client):
    with pytest.raises(ClientError) as excinfo:
        client("iam").create_role(
            RoleName=unique("churn"),
            AssumeRolePolicyDocument="{}",
            Tags=[{"Key": "owner", "Value": "ml"}, {"Key": "bad|key", "Value": "x"}],
        )

    assert refusal(excinfo)[1:] == (
        "ValidationError",
        "1 validation error detected: Value 'bad|key' at 'tags.2.member.key' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+",
    )


def test_valid_query_protocol_request_passes_through(client):
    iam = client("iam")
    name = unique("churn")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}", Tags=[{"Key": "a", "Value": "b"}])

    assert iam.get_role(RoleName=name)["Role"]["RoleName"] == name


def test_query_compatible_json_service_error_keeps_its_query_error_code(client):
    with pytest.raises(ClientError) as excinfo:
        client("cloudwatch").put_metric_data(
            Namespace=":churn", MetricData=[{"MetricName": "auc", "Value": 0.9}]
        )

    status, code, message = refusal(excinfo)
    assert (status, code) == (400, "ValidationError")
    assert message == (
        "1 validation error detected: Value ':churn' at 'namespace' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [^:].*"
    )


def test_large_request_body_that_botocore_compresses_is_still_checked(client):
    datums = [{"MetricName": f"feature_{index}_drift", "Value": 0.1} for index in range(500)]
    with pytest.raises(ClientError) as excinfo:
        client("cloudwatch").put_metric_data(Namespace=":churn", MetricData=datums)

    assert excinfo.value.response["Error"]["Code"] == "ValidationError"
    assert "at 'namespace' failed to satisfy constraint" in refusal(excinfo)[2]


def test_rest_protocol_requests_pass_through_unchecked(client):
    s3 = client("s3")
    bucket = unique("churn-data")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a,b\n1,2\n")

    assert s3.get_object(Bucket=bucket, Key="raw/data.csv")["Body"].read() == b"a,b\n1,2\n"


# --- Java patterns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("java_pattern", "accepted", "refused"),
    [
        (r"[\p{L}]+", ["équipe", "データ", "Ωmega"], ["team1", "a b", "x_y"]),
        (r"[\p{N}]+", ["2026", "٣٤", "Ⅻ"], ["12a", "-1"]),
        (r"[\p{Z}]+", [" ", "\u00a0", "\u3000"], ["\t", "\n"]),
        (r"[\p{M}]+", ["\u0301", "\u0903"], ["e"]),
        (r"[\p{P}]+", ["!?", "¿«»", "-_"], ["$", "+"]),
        (r"[\p{S}]+", ["$+<", "€©"], ["!", "a"]),
        (r"[\p{Alnum}\-]+", ["aws-cn", "A9"], ["é", "٣", "a_b"]),
        (r"\p{Print}+", ["any text ~!", " "], ["é", "tab\there"]),
        (r"\p{ASCII}+", ["\x00\x7f"], ["é", "\u00a0"]),
        (r"[\p{Punct}]+", ["!/:@[`{~"], ["¿", "a"]),
        (r"\P{Cntrl}+", ["text é"], ["a\x7fb"]),
    ],
)
def test_unicode_and_posix_property_classes_match_as_in_java(java_pattern, accepted, refused):
    pattern = compile_pattern(java_pattern)

    assert [value for value in accepted if not pattern.fullmatch(value)] == []
    assert [value for value in refused if pattern.fullmatch(value)] == []


def test_surrogate_pair_escapes_stand_for_supplementary_code_points():
    pattern = compile_pattern(r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*")

    assert pattern.fullmatch("table 🚀 ok\t")
    assert not pattern.fullmatch("line\nbreak")


def test_shorthand_classes_are_ascii_only_as_in_java():
    assert compile_pattern(r"[\w+=,.@-]+").fullmatch("Role_Name+=,.@-1")
    assert not compile_pattern(r"[\w+=,.@-]+").fullmatch("Rôle")
    assert not compile_pattern(r"\d+").fullmatch("٣")
    assert not compile_pattern(r"\s").fullmatch("\u3000")


def test_dot_stops_at_any_line_terminator_as_in_java():
    pattern = compile_pattern(r"(?!\s*$).+")

    assert pattern.fullmatch("a b")
    assert not pattern.fullmatch("   ")
    assert not pattern.fullmatch("a\rb")
    assert compile_pattern(r"(?s).+").fullmatch("a\nb")


def test_hyphen_after_a_class_escape_is_literal_as_in_java():
    pattern = compile_pattern(r"[\w-.]+")

    assert pattern.fullmatch("a-b.c")
    assert not pattern.fullmatch("a/b")


def test_pattern_without_translation_is_skipped_not_enforced():
    assert compile_pattern(r"\p{javaLowerCase}+") is None
    assert r"\p{javaLowerCase}+" in skipped_patterns()


def test_every_pattern_of_the_checked_services_translates():
    loader = botocore.session.get_session().get_component("data_loader")
    untranslated = {
        (service, name): shape["pattern"]
        for service in CHECKED_SERVICES
        for name, shape in loader.load_service_model(service, "service-2")["shapes"].items()
        if "pattern" in shape and compile_pattern(shape["pattern"]) is None
    }

    assert untranslated == {}


# --- Decoding requests -------------------------------------------------------------------------


def wsgi_environ(service: str, operation: str, params: dict) -> dict:
    """The WSGI environ of the request botocore would send for this call."""
    session = botocore.session.get_session()
    model = session.get_service_model(service).operation_model(operation)
    serializer = botocore.serialize.create_serializer(model.service_model.resolved_protocol)
    request = serializer.serialize_to_request(params, model)
    body = request["body"]
    if isinstance(body, dict):
        body = urlencode(body).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": BytesIO(body),
        "HTTP_AUTHORIZATION": (
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/"
            f"{model.service_model.signing_name}/aws4_request, SignedHeaders=host, Signature=0"
        ),
    }
    for header, value in request["headers"].items():
        key = header.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return environ


def test_json_request_is_identified_and_its_body_left_readable():
    params = processing_job("preprocess-1")
    environ = wsgi_environ("sagemaker", "CreateProcessingJob", params)

    info = identify(environ)

    assert (info.service, info.operation, info.protocol) == (
        "sagemaker",
        "CreateProcessingJob",
        "json",
    )
    assert info.params == params
    assert json.loads(environ["wsgi.input"].read()) == params


def test_service_signing_under_another_name_is_found_by_its_model():
    params = {"Namespace": "churn", "MetricData": [{"MetricName": "auc", "Value": 0.91}]}
    environ = wsgi_environ("cloudwatch", "PutMetricData", params)

    assert "/monitoring/aws4_request" in environ["HTTP_AUTHORIZATION"]
    assert identify(environ) == RequestInfo("cloudwatch", "PutMetricData", "json", params)


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        (
            "iam",
            "CreateRole",
            {
                "RoleName": "churn",
                "AssumeRolePolicyDocument": "{}",
                "MaxSessionDuration": 3600,
                "Tags": [{"Key": "a", "Value": "b"}, {"Key": "c", "Value": "d"}],
            },
        ),
        (
            "sns",
            "CreateTopic",
            {"Name": "alerts", "Attributes": {"DisplayName": "Alerts", "FifoTopic": "false"}},
        ),
        (
            "sts",
            "AssumeRole",
            {"RoleArn": ROLE_ARN, "RoleSessionName": "ci", "DurationSeconds": 900},
        ),
        (  # flattened lists of renamed members: Item.1.ItemName=..., Item.1.Attribute.1.Name=...
            "sdb",
            "BatchPutAttributes",
            {
                "DomainName": "runs",
                "Items": [
                    {"Name": "run-1", "Attributes": [{"Name": "auc", "Value": "0.9"}]},
                    {
                        "Name": "run-2",
                        "Attributes": [{"Name": "f1", "Value": "1", "Replace": True}],
                    },
                ],
            },
        ),
    ],
)
def test_query_request_params_decode_to_what_boto3_sent(service, operation, params):
    info = identify(wsgi_environ(service, operation, params))

    assert (info.service, info.operation, info.protocol) == (service, operation, "query")
    assert info.params == params


def test_unsigned_and_rest_requests_are_not_identified():
    unsigned = wsgi_environ("sagemaker", "ListModels", {})
    del unsigned["HTTP_AUTHORIZATION"]
    rest = wsgi_environ("s3", "ListBuckets", {})

    assert identify(unsigned) is None
    assert identify(rest) is None


@pytest.mark.parametrize(
    ("operation", "read_only"),
    [
        ("DescribeProcessingJob", True),
        ("ListModelPackages", True),
        ("BatchGetMetrics", True),
        ("CreateProcessingJob", False),
        ("UpdateModelPackage", False),
        ("Listener", False),
    ],
)
def test_read_only_operations_are_told_apart_by_name(operation, read_only):
    assert RequestInfo("sagemaker", operation, "json", {}).is_read_only is read_only


def test_query_protocol_error_is_aws_error_response_xml():
    info = RequestInfo("iam", "CreateRole", "query", {"RoleName": "x" * 65})

    status, headers, body = error_response(info, validate(info))

    assert status == "400 Bad Request"
    assert ("Content-Type", "text/xml") in headers
    assert body.startswith(
        b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
        b"<Type>Sender</Type><Code>ValidationError</Code><Message>2 validation errors detected: "
    )
