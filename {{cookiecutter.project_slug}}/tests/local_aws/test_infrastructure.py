"""The infrastructure template: valid CloudFormation that, deployed, gives the pipeline its AWS.

The template is deployed to the local AWS with plain boto3, exactly as to an AWS account, with the
names of pipeline.toml (made unique per deployment: the server is shared by the whole session).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import boto3
import pytest
from cfnlint.api import lint
from cfnlint.decode.cfn_yaml import loads

from local_aws.process import LocalAWSProcess
from tests.support import CONFIG, PROJECT_ROOT, REGION

pytestmark = pytest.mark.timeout(300)

TEMPLATE = PROJECT_ROOT / "ci" / "infrastructure" / "pipeline.yaml"
_LOCAL = CONFIG["environments"]["local"]
#: The environment the local AWS plays.
ENVIRONMENT = {**CONFIG["environments"][_LOCAL["extends"]], **_LOCAL}

#: Each template parameter, the pipeline.toml value it must carry, and the longest name AWS takes.
PARAMETERS = {
    "ProjectSlug": (CONFIG["project"]["slug"], 32),
    "ArtifactBucketName": (ENVIRONMENT["bucket"], 63),
    "RawDataPrefix": (CONFIG["data"]["raw_prefix"], None),
    "RawDataQueueName": (CONFIG["data"]["raw_data_queue"], 80),
    "ApprovalEventsQueueName": (CONFIG["registry"]["approval_events_queue"], 80),
    "TopicName": (CONFIG["notifications"]["topic_name"], 256),
    "SageMakerRoleName": (ENVIRONMENT["role_name"], 64),
    "ModelPackageGroupName": (CONFIG["registry"]["model_package_group"], 63),
    "ProblemType": (CONFIG["data"]["problem_type"], None),
    "TargetColumn": (CONFIG["data"]["target_column"], None),
}


def unique_parameters() -> dict[str, str]:
    """pipeline.toml's names, each with the same unique suffix."""
    token = uuid.uuid4().hex[:8]
    return {
        key: value if limit is None else f"{value[: limit - 9].rstrip('.-')}-{token}"
        for key, (value, limit) in PARAMETERS.items()
    }


def deploy(cloudformation, parameters: dict[str, str], stack_name: str) -> dict[str, str]:
    """Create the stack as CI does; return its outputs."""
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@pytest.fixture(scope="module")
def stack(aws_client) -> dict:
    parameters = unique_parameters()
    name = f"{parameters['ProjectSlug']}-pipeline"
    return {
        "name": name,
        "parameters": parameters,
        **deploy(aws_client("cloudformation"), parameters, name),
    }


def receive_all(sqs, queue_url: str, wait: int = 2) -> list[dict]:
    """Every message now in the queue (deleted), waiting up to ``wait`` seconds for the first."""
    messages = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0 if messages else wait
    ).get("Messages"):
        messages += batch
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"]) for message in messages]


# --- the template itself -------------------------------------------------------------------------


def test_template_passes_cfn_lint():
    """cfn-lint's rules include that every resource type exists and every reference resolves."""
    problems = lint(TEMPLATE.read_text(), regions=[REGION])

    assert not problems, "\n".join(str(problem) for problem in problems)


CHECKOV = "checkov==3.2.495"


def test_templates_pass_checkov_each_skip_justified():
    """checkov's CloudFormation checks, in an environment of its own (its pins are not ours)."""
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv runs checkov: run the tests through make"
    result = subprocess.run(
        [uv, "tool", "run", "--from", CHECKOV, "checkov", "--directory", str(TEMPLATE.parent)]
        + ["--framework", "cloudformation", "--compact", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for path in TEMPLATE.parent.glob("*.yaml"):
        for name, resource in loads(path.read_text())["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert len(skip.get("comment", "")) > 40, f"{path.name}: {name} skips {skip['id']}"


def test_template_defaults_are_the_names_in_pipeline_toml():
    parameters = loads(TEMPLATE.read_text())["Parameters"]

    assert {key: parameters[key]["Default"] for key in PARAMETERS} == {
        key: value for key, (value, _) in PARAMETERS.items()
    }


# --- deployed ------------------------------------------------------------------------------------


def test_stack_creates_every_resource(aws_client, stack):
    resources = aws_client("cloudformation").list_stack_resources(StackName=stack["name"])

    summaries = resources["StackResourceSummaries"]
    assert {r["ResourceStatus"] for r in summaries} == {"CREATE_COMPLETE"}
    assert {r["LogicalResourceId"]: r["ResourceType"] for r in summaries} == {
        name: resource["Type"]
        for name, resource in loads(TEMPLATE.read_text())["Resources"].items()
    }
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}
    assert physical["ArtifactBucket"] == stack["ArtifactBucketName"]
    assert physical["RawDataQueue"] == stack["RawDataQueueUrl"]
    assert physical["ModelPackageGroup"] == stack["ModelPackageGroupArn"]
    assert physical["RawDataQueuePolicy"].startswith(f"{stack['name']}-RawDataQueuePolicy-")


def test_bucket_is_kms_encrypted_versioned_and_not_public(aws_client, stack):
    s3, bucket = aws_client("s3"), stack["ArtifactBucketName"]
    assert bucket == stack["parameters"]["ArtifactBucketName"]

    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": stack["ArtifactKeyArn"],
    }
    assert rule["BucketKeyEnabled"] is True
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert set(
        s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values()
    ) == {True}
    key = f"{stack['parameters']['ProjectSlug']}/reports/encrypted.json"
    s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == stack["ArtifactKeyArn"]
    key_id = stack["ArtifactKeyArn"].rsplit("/", 1)[1]
    assert aws_client("kms").get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_raw_data_object_sends_exactly_one_s3_event_to_the_queue(aws_client, stack):
    s3, sqs = aws_client("s3"), aws_client("sqs")
    bucket, queue_url = stack["ArtifactBucketName"], stack["RawDataQueueUrl"]
    slug, raw_prefix = stack["parameters"]["ProjectSlug"], stack["parameters"]["RawDataPrefix"]
    # S3 sends a test event when the notification is set up; consumers must skip it.
    assert [event.get("Event") for event in receive_all(sqs, queue_url)] == ["s3:TestEvent"]

    s3.put_object(Bucket=bucket, Key=f"{slug}/data/processed/ignored.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=bucket, Key=f"{slug}/{raw_prefix}/raw.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=bucket, Key=f"other/{raw_prefix}/ignored.csv", Body=b"a\n1\n")

    (event,) = receive_all(sqs, queue_url)
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["awsRegion"] == REGION
    assert record["s3"]["bucket"]["name"] == bucket
    assert record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert record["s3"]["object"]["key"] == f"{slug}/{raw_prefix}/raw.csv"
    assert record["s3"]["object"]["size"] == 4
    assert stack["RawDataQueueArn"].endswith(f":{stack['parameters']['RawDataQueueName']}")


def test_queue_policy_lets_only_the_bucket_send(aws_client, stack):
    attributes = aws_client("sqs").get_queue_attributes(
        QueueUrl=stack["RawDataQueueUrl"], AttributeNames=["Policy"]
    )["Attributes"]

    (statement,) = json.loads(attributes["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == stack["RawDataQueueArn"]
    assert statement["Condition"]["ArnEquals"] == {
        "aws:SourceArn": f"arn:aws:s3:::{stack['ArtifactBucketName']}"
    }


def test_sagemaker_job_runs_as_the_execution_role(aws_client, stack):
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    bucket, slug = stack["ArtifactBucketName"], stack["parameters"]["ProjectSlug"]
    s3.put_object(Bucket=bucket, Key=f"{slug}/data/samples/rows.csv", Body=b"a\n1\n2\n")
    name = f"infra-{uuid.uuid4().hex[:10]}"
    count_rows = (
        "import pathlib, sys; source, target = map(pathlib.Path, sys.argv[1:]); "
        "rows = (source / 'rows.csv').read_text().splitlines(); "
        "(target / 'count.txt').write_text(str(len(rows) - 1))"
    )
    sm.create_processing_job(
        ProcessingJobName=name,
        RoleArn=stack["SageMakerRoleArn"],
        ProcessingResources={
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 5,
            }
        },
        StoppingCondition={"MaxRuntimeInSeconds": 300},
        AppSpecification={
            "ImageUri": ENVIRONMENT["image_uri"],
            "ContainerEntrypoint": ["python3", "-c", count_rows],
            "ContainerArguments": ["/opt/ml/processing/input", "/opt/ml/processing/output"],
        },
        ProcessingInputs=[
            {
                "InputName": "raw",
                "S3Input": {
                    "S3Uri": f"s3://{bucket}/{slug}/data/samples/rows.csv",
                    "LocalPath": "/opt/ml/processing/input",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "count",
                    "S3Output": {
                        "S3Uri": f"s3://{bucket}/{slug}/runs/{name}",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    )

    deadline = time.monotonic() + 120
    while (job := sm.describe_processing_job(ProcessingJobName=name))["ProcessingJobStatus"] in (
        "InProgress",
        "Stopping",
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    output = s3.get_object(Bucket=bucket, Key=f"{slug}/runs/{name}/count.txt")
    assert output["Body"].read() == b"2"
    assert output["ServerSideEncryption"] == "aws:kms"


def test_execution_role_is_trusted_by_sagemaker_with_the_jobs_policy(aws_client, stack):
    iam, role_name = aws_client("iam"), stack["parameters"]["SageMakerRoleName"]
    role = iam.get_role(RoleName=role_name)["Role"]
    assert role["Arn"] == stack["SageMakerRoleArn"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}

    (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    statements = {statement["Sid"]: statement for statement in document["Statement"]}
    assert statements["ReadWriteProjectArtifacts"]["Resource"] == (
        f"arn:aws:s3:::{stack['ArtifactBucketName']}/{stack['parameters']['ProjectSlug']}/*"
    )
    assert statements["UseArtifactKey"]["Resource"] == stack["ArtifactKeyArn"]


def test_topic_is_encrypted_with_the_artifact_key(aws_client, stack):
    attributes = aws_client("sns").get_topic_attributes(TopicArn=stack["TopicArn"])["Attributes"]

    assert stack["TopicArn"].endswith(f":{stack['parameters']['TopicName']}")
    assert attributes["KmsMasterKeyId"] == stack["ArtifactKeyArn"].rsplit("/", 1)[1]


def test_model_package_group_takes_versions(aws_client, stack):
    sm, name = aws_client("sagemaker"), stack["parameters"]["ModelPackageGroupName"]

    group = sm.describe_model_package_group(ModelPackageGroupName=name)
    version = sm.create_model_package(
        ModelPackageGroupName=name,
        InferenceSpecification={
            "Containers": [
                {"Image": ENVIRONMENT["image_uri"], "ModelDataUrl": "s3://b/model.tar.gz"}
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )
    assert group["ModelPackageGroupArn"] == stack["ModelPackageGroupArn"]
    assert group["ModelPackageGroupStatus"] == "Completed"
    # what the group's models predict, which the training DAG checks before it trains
    tags = sm.list_tags(ResourceArn=group["ModelPackageGroupArn"])["Tags"]
    assert {tag["Key"]: tag["Value"] for tag in tags} == {
        "problem_type": CONFIG["data"]["problem_type"],
        "target_column": CONFIG["data"]["target_column"],
    }
    # SageMaker writes resource names into ARNs in lower case.
    assert version["ModelPackageArn"].endswith(f"/{name.lower()}/1")


def test_stack_update_applies_a_changed_template_and_parameter(aws_client):
    cloudformation, s3, sqs = (aws_client(service) for service in ("cloudformation", "s3", "sqs"))
    parameters = unique_parameters()
    name = f"{parameters['ProjectSlug']}-pipeline"
    outputs = deploy(cloudformation, parameters, name)
    receive_all(sqs, outputs["RawDataQueueUrl"])
    template = TEMPLATE.read_text().replace("Sid: AccountIamPolicies", "Sid: AccountAdministrators")

    cloudformation.update_stack(
        StackName=name,
        TemplateBody=template,
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in {**parameters, "RawDataPrefix": "data/incoming"}.items()
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )

    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == outputs
    kms = aws_client("kms")
    policy = kms.get_key_policy(KeyId=outputs["ArtifactKeyArn"], PolicyName="default")["Policy"]
    assert [st["Sid"] for st in json.loads(policy)["Statement"]] == [
        "AccountAdministrators",
        "CloudWatchAlarmsNotify",
    ]
    slug, bucket = parameters["ProjectSlug"], outputs["ArtifactBucketName"]
    s3.put_object(Bucket=bucket, Key=f"{slug}/{parameters['RawDataPrefix']}/old.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key=f"{slug}/data/incoming/new.csv", Body=b"a")
    events = [e for e in receive_all(sqs, outputs["RawDataQueueUrl"]) if "Records" in e]
    assert [e["Records"][0]["s3"]["object"]["key"] for e in events] == [
        f"{slug}/data/incoming/new.csv"
    ]


def test_deploying_the_same_stack_again_is_refused(aws_client, stack):
    cloudformation = aws_client("cloudformation")

    with pytest.raises(cloudformation.exceptions.AlreadyExistsException):
        deploy(cloudformation, stack["parameters"], stack["name"])


def test_deleting_the_stack_keeps_the_bucket_key_and_registry(aws_client):
    cloudformation, parameters = aws_client("cloudformation"), unique_parameters()
    name = f"{parameters['ProjectSlug']}-pipeline"
    outputs = deploy(cloudformation, parameters, name)

    cloudformation.delete_stack(StackName=name)

    assert aws_client("s3").head_bucket(Bucket=outputs["ArtifactBucketName"])
    key = aws_client("kms").describe_key(KeyId=outputs["ArtifactKeyArn"])["KeyMetadata"]
    assert key["Enabled"]
    sm = aws_client("sagemaker")
    assert sm.describe_model_package_group(
        ModelPackageGroupName=parameters["ModelPackageGroupName"]
    )
    sqs, sns = aws_client("sqs"), aws_client("sns")
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName=parameters["RawDataQueueName"])
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_topic_attributes(TopicArn=outputs["TopicArn"])


def test_stack_and_its_resources_survive_a_restart_and_can_then_be_deleted(tmp_path):
    process = LocalAWSProcess(state_dir=tmp_path / "state", config=PROJECT_ROOT / "pipeline.toml")
    parameters = unique_parameters()
    name = f"{parameters['ProjectSlug']}-pipeline"

    def client(service: str):
        return boto3.client(service, endpoint_url=process.endpoint_url, region_name=REGION)

    with process:
        outputs = deploy(client("cloudformation"), parameters, name)
        receive_all(client("sqs"), outputs["RawDataQueueUrl"])
        process.stop()
        process.start()

        (restored,) = client("cloudformation").describe_stacks(StackName=name)["Stacks"]
        assert restored["StackStatus"] == "CREATE_COMPLETE"
        assert {o["OutputKey"]: o["OutputValue"] for o in restored["Outputs"]} == outputs
        key = f"{parameters['ProjectSlug']}/{parameters['RawDataPrefix']}/after-restart.csv"
        client("s3").put_object(Bucket=outputs["ArtifactBucketName"], Key=key, Body=b"a\n1\n")
        (event,) = receive_all(client("sqs"), outputs["RawDataQueueUrl"])
        assert event["Records"][0]["s3"]["object"]["key"] == key
        assert client("kms").describe_key(KeyId=outputs["ArtifactKeyArn"])["KeyMetadata"]
        assert client("sagemaker").describe_model_package_group(
            ModelPackageGroupName=parameters["ModelPackageGroupName"]
        )
        client("cloudformation").delete_stack(StackName=name)
        sqs = client("sqs")
        with pytest.raises(sqs.exceptions.QueueDoesNotExist):
            sqs.get_queue_url(QueueName=parameters["RawDataQueueName"])


def test_an_approval_change_reaches_the_approval_events_queue(aws_client, stack):
    """SageMaker's state-change event, through the stack's rule, as the promotion DAG reads it."""
    sm, sqs = aws_client("sagemaker"), aws_client("sqs")
    group = stack["parameters"]["ModelPackageGroupName"]
    queue = stack["ApprovalEventsQueueUrl"]
    arn = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": ENVIRONMENT["image_uri"]}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    registered = [event for event in receive_all(sqs, queue) if event["resources"] == [arn]]

    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    sm.update_model_package(ModelPackageArn=arn, ApprovalDescription="no status change")
    approved = receive_all(sqs, queue)

    assert [event["detail"]["ModelApprovalStatus"] for event in registered] == [
        "PendingManualApproval"
    ]
    (event,) = approved
    assert event["source"] == "aws.sagemaker"
    assert event["detail-type"] == "SageMaker Model Package State Change"
    assert event["resources"] == [arn]
    assert event["detail"]["ModelPackageArn"] == arn
    assert event["detail"]["ModelPackageGroupName"] == group
    assert event["detail"]["ModelApprovalStatus"] == "Approved"
    assert "IamIdentity" in event["detail"]["LastModifiedBy"]


# --- the promotion roles ------------------------------------------------------------------------

PROMOTION_TEMPLATE = PROJECT_ROOT / "ci" / "infrastructure" / "promotion.yaml"


def test_promotion_template_passes_cfn_lint():
    problems = lint(PROMOTION_TEMPLATE.read_text(), regions=[REGION])

    assert not problems, "\n".join(str(problem) for problem in problems)


def test_promotion_template_defaults_are_the_names_in_pipeline_toml():
    parameters = loads(PROMOTION_TEMPLATE.read_text())["Parameters"]
    environments = CONFIG["environments"]

    assert {
        key: parameters[key]["Default"]
        for key in (
            "ProjectSlug",
            "ModelPackageGroupName",
            "RegistryReadRoleName",
            "PlanRoleName",
            "DeployRoleName",
            "WatchRoleName",
            "ImageRepositoryName",
            "SageMakerRoleName",
            "SourceAccountId",
            "StagingAccountId",
            "ProdAccountId",
        )
    } == {
        "ProjectSlug": CONFIG["project"]["slug"],
        "ModelPackageGroupName": CONFIG["registry"]["model_package_group"].lower(),
        "RegistryReadRoleName": environments["dev"]["registry_read_role_name"],
        "PlanRoleName": environments["staging"]["plan_role_name"],
        "DeployRoleName": environments["staging"]["deploy_role_name"],
        "WatchRoleName": environments["staging"]["watch_role_name"],
        "ImageRepositoryName": environments["dev"]["image_uri"].split("/")[1].split(":")[0],
        "SageMakerRoleName": environments["dev"]["role_name"],
        "SourceAccountId": environments["dev"]["account_id"],
        "StagingAccountId": environments["staging"]["account_id"],
        "ProdAccountId": environments["prod"]["account_id"],
    }
    assert environments["prod"]["plan_role_name"] == environments["staging"]["plan_role_name"]
    assert environments["prod"]["deploy_role_name"] == environments["staging"]["deploy_role_name"]
    assert environments["prod"]["watch_role_name"] == environments["staging"]["watch_role_name"]
