"""Web identity federation as STS checks it: GitHub's OIDC tokens against roles' trust policies.

A private local AWS trusts a key made here for GitHub's issuer (``$LOCAL_AWS_OIDC_JWKS``), as
STS trusts the keys GitHub publishes; the tokens are signed with it (or another key), as GitHub
signs a workflow job's token.
"""

from __future__ import annotations

import base64
import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from local_aws.process import LocalAWSProcess
from tests.support import PROJECT_ROOT, REGION

pytestmark = pytest.mark.timeout(300)

ISSUER = "https://token.actions.githubusercontent.com"
PROVIDER = "token.actions.githubusercontent.com"
ACCOUNT = "333333333333"
REPOSITORY = "example-org/customer-model"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict:
    numbers = key.public_key().public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    return {
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
        "n": b64(numbers.n.to_bytes(size, "big")),
        "e": b64(numbers.e.to_bytes(3, "big")),
    }


def token(key: rsa.RSAPrivateKey, sub: str, aud: str = "sts.amazonaws.com", ttl: int = 300) -> str:
    """A job's OIDC token as GitHub issues it (the claims STS reads)."""
    header = {"alg": "RS256", "typ": "JWT", "kid": "github"}
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": aud, "sub": sub, "iat": now - 5, "nbf": now - 5}
    claims["exp"] = now + ttl
    signed = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signed}.{b64(signature)}"


def trust(condition: dict) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{PROVIDER}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": condition,
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def github_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def sts(tmp_path_factory, github_key):
    """STS of a local AWS that trusts ``github_key`` for GitHub's issuer, with the roles of a
    prod account as the infrastructure template makes them."""
    folder = tmp_path_factory.mktemp("web-identity")
    keys = folder / "jwks.json"
    keys.write_text(json.dumps({ISSUER: {"keys": [jwk(github_key, "github")]}}))
    process = LocalAWSProcess(
        folder / "state",
        config=PROJECT_ROOT / "pipeline.toml",
        env={"LOCAL_AWS_OIDC_JWKS": str(keys)},
    )
    process.start()
    try:
        client = boto3.client("sts", endpoint_url=process.endpoint_url, region_name=REGION)
        bootstrap = client.assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/bootstrap", RoleSessionName="tests"
        )["Credentials"]
        iam = boto3.client(
            "iam",
            endpoint_url=process.endpoint_url,
            region_name=REGION,
            aws_access_key_id=bootstrap["AccessKeyId"],
            aws_secret_access_key=bootstrap["SecretAccessKey"],
            aws_session_token=bootstrap["SessionToken"],
        )
        iam.create_open_id_connect_provider(
            Url=ISSUER, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
        )
        aud = {f"{PROVIDER}:aud": "sts.amazonaws.com"}
        iam.create_role(
            RoleName="deploy",
            AssumeRolePolicyDocument=trust(
                {"StringEquals": {**aud, f"{PROVIDER}:sub": f"repo:{REPOSITORY}:environment:prod"}}
            ),
        )
        iam.create_role(
            RoleName="plan",
            AssumeRolePolicyDocument=trust(
                {
                    "StringEquals": aud,
                    "StringLike": {f"{PROVIDER}:sub": f"repo:{REPOSITORY}:pull_request"},
                }
            ),
        )
        yield client, process.endpoint_url
    finally:
        process.stop()


def assume(sts, role: str, web_token: str) -> dict:
    client, _ = sts
    return client.assume_role_with_web_identity(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
        RoleSessionName="github-actions",
        WebIdentityToken=web_token,
    )


def test_an_environment_token_assumes_the_deploy_role_and_acts_in_its_account(sts, github_key):
    answer = assume(sts, "deploy", token(github_key, f"repo:{REPOSITORY}:environment:prod"))

    credentials = answer["Credentials"]
    identity = boto3.client(
        "sts",
        endpoint_url=sts[1],
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    ).get_caller_identity()
    assert identity["Account"] == ACCOUNT
    assert ":assumed-role/deploy/" in identity["Arn"]


def test_a_pull_request_token_plans_but_cannot_deploy(sts, github_key):
    pull_request = token(github_key, f"repo:{REPOSITORY}:pull_request")

    assert assume(sts, "plan", pull_request)["Credentials"]["AccessKeyId"]
    with pytest.raises(ClientError) as refused:
        assume(sts, "deploy", pull_request)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("wrong key", "InvalidIdentityToken"),
        ("expired", "ExpiredTokenException"),
        ("wrong audience", "InvalidIdentityToken"),
        ("another repository", "AccessDenied"),
        ("another environment", "AccessDenied"),
    ],
)
def test_tokens_sts_would_refuse_are_refused_with_its_code(sts, github_key, case, code):
    sub = f"repo:{REPOSITORY}:environment:prod"
    web_token = {
        "wrong key": lambda: token(
            rsa.generate_private_key(public_exponent=65537, key_size=2048), sub
        ),
        "expired": lambda: token(github_key, sub, ttl=-60),
        "wrong audience": lambda: token(github_key, sub, aud="https://github.com/example-org"),
        "another repository": lambda: token(github_key, "repo:someone/else:environment:prod"),
        "another environment": lambda: token(github_key, f"repo:{REPOSITORY}:environment:dev"),
    }[case]()

    with pytest.raises(ClientError) as refused:
        assume(sts, "deploy", web_token)

    assert refused.value.response["Error"]["Code"] == code
