"""What each IAM role did: the actions its sessions' requests needed, for least privilege.

Every request signed with an assumed role's credentials is recorded against that role as the
IAM actions AWS would authorize for it: ``<service prefix>:<Operation>`` for the API operations
(``sagemaker:DescribeEndpoint``), the object actions for S3's (``GetObject`` and
``HeadObject`` both need ``s3:GetObject``, uploads ``s3:PutObject``), and what AWS checks
besides: ``kms:GenerateDataKey`` / ``kms:Decrypt`` for objects in a bucket encrypted with a KMS
key, ``iam:PassRole`` for a SageMaker resource created to run as a role (a model's
``ExecutionRoleArn``, a job's ``RoleArn``), ``sagemaker:AddTags`` for tags given on creation.
``GET /_local_aws/role-actions`` answers ``{role ARN: [actions]}``: tests compare them with the
roles' policies (every action used is granted, nothing granted goes unused). Nothing is
refused here: policies are not evaluated.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from urllib.parse import parse_qs, unquote

from moto.backends import get_backend
from moto.iam.models import get_account_id_from, iam_backends

from local_aws.capability import Capability, Context
from local_aws.validation.identify import identify

ROUTE = "/_local_aws/role-actions"
STATE = "role actions"
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/[^/]+/[^/]+/([\w-]+)/")
_IAM_PREFIXES = {"monitoring": "cloudwatch"}
#: Operations IAM never checks (no permission is needed to call them).
_ALWAYS_ALLOWED = {("sts", "GetCallerIdentity")}
#: S3 requests that carry (parts of) an object being written.
_UPLOAD_QUERIES = ("uploads", "uploadId", "partNumber")
_LIST_QUERIES = {
    "list-type", "prefix", "delimiter", "continuation-token", "max-keys", "encoding-type",
    "start-after",
}  # fmt: skip


class RoleActions:
    def __init__(self):
        self.by_role: dict[str, set[str]] = defaultdict(set)
        self.roles: dict[str, str | None] = {}  # access key → role ARN (None: not a role's)
        self.lock = threading.Lock()

    def role_of(self, access_key: str) -> str | None:
        if access_key not in self.roles:
            account = get_account_id_from(access_key)
            found = None
            for partition in iam_backends[account].values():
                key = partition.access_keys.get(access_key)
                if key is not None:
                    found = getattr(key, "role_arn", None)
            self.roles[access_key] = found
        return self.roles[access_key]


def observe(context: Context, environ: dict) -> None:
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return
    state: RoleActions = context.shared[STATE]
    role = state.role_of(match.group(1))
    if role is None:
        return
    actions = _actions(environ, match.group(2), role)
    if actions:
        with state.lock:
            state.by_role[role].update(actions)


def _actions(environ: dict, signing_name: str, role: str) -> list[str]:
    if signing_name == "s3":
        return _s3_actions(environ, role)
    info = identify(environ)
    if info is None or (info.service, info.operation) in _ALWAYS_ALLOWED:
        return []
    # IAM's prefix is the signing name, but for the few services that sign as another name
    prefix = _IAM_PREFIXES.get(signing_name, signing_name)
    actions = [f"{prefix}:{info.operation}"]
    if info.service == "sagemaker" and info.operation.startswith("Create"):
        # a resource that runs as a role passes it; tags given on creation need AddTags
        if info.params.get("ExecutionRoleArn") or info.params.get("RoleArn"):
            actions.append("iam:PassRole")
        if info.params.get("Tags"):
            actions.append("sagemaker:AddTags")
    return actions


def _s3_actions(environ: dict, role: str) -> list[str]:
    path = unquote(environ.get("PATH_INFO", "")).lstrip("/")
    bucket, _, key = path.partition("/")
    method = environ["REQUEST_METHOD"]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if not bucket:
        return []
    if not key:
        return ["s3:ListBucket"] if method == "GET" and not set(query) - _LIST_QUERIES else []
    if method == "HEAD" and not query:
        return ["s3:GetObject"]  # the object's metadata: nothing to decrypt
    if method == "GET" and not query:
        return ["s3:GetObject", *_kms(bucket, role, "kms:Decrypt")]
    if method in ("PUT", "POST") and not query:
        return ["s3:PutObject", *_kms(bucket, role, "kms:GenerateDataKey")]
    if method in ("PUT", "POST") and set(query) & set(_UPLOAD_QUERIES):
        # a multipart upload: KMS encrypts each part and decrypts them to complete it
        return ["s3:PutObject", *_kms(bucket, role, "kms:GenerateDataKey", "kms:Decrypt")]
    return []


def _kms(bucket_name: str, role: str, *actions: str) -> list[str]:
    """The KMS action AWS also checks for an object of a bucket encrypted with a KMS key."""
    account = role.split(":")[4]
    try:
        bucket = get_backend("s3")[account]["aws"].get_bucket(bucket_name)
    except Exception:  # another account's bucket, or none
        return []
    rule = (bucket.encryption or {}).get("Rule", {})
    default = rule.get("ApplyServerSideEncryptionByDefault", {})
    return list(actions) if default.get("SSEAlgorithm") == "aws:kms" else []


def _route(context: Context):
    def app(environ, start_response):
        state: RoleActions = context.shared[STATE]
        with state.lock:
            body = json.dumps({role: sorted(acts) for role, acts in state.by_role.items()})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body.encode()]

    return app


def install(context: Context) -> None:
    context.shared[STATE] = RoleActions()


CAPABILITY = Capability(
    name="role actions",
    requires=("AWS services",),
    install=install,
    observe=observe,
    routes={ROUTE: _route},
)
