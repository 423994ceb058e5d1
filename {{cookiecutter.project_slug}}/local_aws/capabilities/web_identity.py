"""Web identity federation checked as IAM and STS check it (GitHub's OIDC tokens, say).

moto's ``AssumeRoleWithWebIdentity`` returns credentials for any role and any token. Here the
token is checked the way STS checks it before any credentials are given:

- it is a JWT signed (RS256) by a key the local AWS trusts for its issuer (``iss``); STS fetches
  the issuer's keys, which this machine cannot, so they come from the file
  ``$LOCAL_AWS_OIDC_JWKS`` names: ``{"<issuer URL>": {"keys": [<JWK>, ...]}}``;
- the role's account has an IAM OIDC provider for that issuer, and the token's ``aud`` is one of
  the provider's client IDs;
- the token has not expired (``exp``);
- the role exists and its trust policy allows ``sts:AssumeRoleWithWebIdentity`` to that provider
  (``Principal.Federated``), every ``Condition`` met: ``StringEquals`` / ``StringLike`` (``*`` and
  ``?`` wildcards) and their ``ForAnyValue:`` forms on ``<provider>:aud`` and ``<provider>:sub``;
  a ``Deny`` statement that matches wins.

Refusals carry STS's codes: ``InvalidIdentityToken``, ``ExpiredTokenException``,
``IDPCommunicationError`` (no trusted keys for the issuer) and ``AccessDenied`` (answered with
HTTP 400 here, 403 on AWS). Other condition
keys and operators are not evaluated: a statement that uses them does not match.
"""

from __future__ import annotations

import base64
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto.backends import get_backend
from moto.sts.exceptions import STSClientError
from moto.sts.responses import TokenResponse

from local_aws.capability import Capability, Context, patch

SETTING = "LOCAL_AWS_OIDC_JWKS"
ACTION = "sts:AssumeRoleWithWebIdentity"


class Refused(STSClientError):
    """What STS answers for a token or role it does not accept."""


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def trusted_keys() -> dict[str, list[dict]]:
    """The issuers' public keys (JWKs) this local AWS trusts, from ``$LOCAL_AWS_OIDC_JWKS``."""
    path = os.environ.get(SETTING)
    if not path:
        return {}
    document = json.loads(Path(path).read_text())
    return {issuer.rstrip("/"): value.get("keys", []) for issuer, value in document.items()}


def _public_key(jwk: dict) -> rsa.RSAPublicKey:
    numbers = rsa.RSAPublicNumbers(
        int.from_bytes(_b64(jwk["e"]), "big"), int.from_bytes(_b64(jwk["n"]), "big")
    )
    return numbers.public_key()


def verified_claims(token: str, keys: dict[str, list[dict]]) -> dict:
    """The token's claims, once its signature is one of its issuer's trusted keys'."""
    try:
        header_part, payload_part, signature_part = token.split(".")
        header, claims = json.loads(_b64(header_part)), json.loads(_b64(payload_part))
        signature = _b64(signature_part)
    except ValueError as error:
        raise Refused("InvalidIdentityToken", "The web identity token is not a JWT.") from error
    issuer = str(claims.get("iss", "")).rstrip("/")
    if header.get("alg") != "RS256":
        raise Refused("InvalidIdentityToken", f"Unsupported token algorithm {header.get('alg')}.")
    candidates = [
        key
        for key in keys.get(issuer, [])
        if "kid" not in header or key.get("kid") == header["kid"]
    ]
    if not keys.get(issuer):
        raise Refused(
            "IDPCommunicationError",
            f"Could not get the signing keys of {issuer}: the local AWS trusts none for it "
            f"(${SETTING}).",
        )
    signed = f"{header_part}.{payload_part}".encode()
    for jwk in candidates:
        try:
            _public_key(jwk).verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            return claims
        except (InvalidSignature, KeyError, ValueError):
            continue
    raise Refused("InvalidIdentityToken", "The web identity token's signature is not valid.")


def unverified_claims(token: str) -> dict:
    try:
        return json.loads(_b64(token.split(".")[1]))
    except (ValueError, IndexError) as error:
        raise Refused("InvalidIdentityToken", "The web identity token is not a JWT.") from error


def check(token: str, role_arn: str, now: datetime) -> None:
    """Refuse (``Refused``) unless STS would let this token assume ``role_arn``.

    In STS's order: the issuer's provider in the account, the signature, the times, the
    audience, then the role's trust policy.
    """
    claims = unverified_claims(token)
    account = role_arn.split(":")[4]
    partition = role_arn.split(":")[1]
    host = str(claims["iss"]).removeprefix("https://").rstrip("/")
    provider_arn = f"arn:{partition}:iam::{account}:oidc-provider/{host}"
    iam = get_backend("iam")[account][partition]
    provider = iam.open_id_providers.get(provider_arn)
    if provider is None:
        raise Refused(
            "InvalidIdentityToken",
            f"No OpenIDConnect provider found in your account for {claims['iss']}",
        )
    claims = verified_claims(token, trusted_keys())
    not_before = datetime.fromtimestamp(float(claims.get("nbf", 0)), UTC)
    if not_before > now:
        raise Refused("InvalidIdentityToken", "The token is not valid yet (nbf).")
    expires = datetime.fromtimestamp(float(claims.get("exp", 0)), UTC)
    if expires <= now:
        raise Refused(
            "ExpiredTokenException",
            f"Token expired: current date/time {now:%Y-%m-%dT%H:%M:%SZ} must be before the "
            f"expiration date/time {expires:%Y-%m-%dT%H:%M:%SZ}",
        )
    audiences = claims.get("aud")
    audiences = audiences if isinstance(audiences, list) else [audiences]
    if not set(audiences) & set(provider.client_id_list):
        raise Refused("InvalidIdentityToken", "Incorrect token audience")
    role_name = role_arn.rsplit("/", 1)[-1]
    role = next((r for r in iam.roles.values() if r.name == role_name), None)
    policy = json.loads(role.assume_role_policy_document) if role else {"Statement": []}
    context = {f"{host}:aud": audiences, f"{host}:sub": [claims.get("sub", "")]}
    statements = _listed(policy.get("Statement", []))
    denied = any(_matches(s, provider_arn, context, "Deny") for s in statements)
    if denied or not any(_matches(s, provider_arn, context, "Allow") for s in statements):
        raise Refused("AccessDenied", f"Not authorized to perform {ACTION}")


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _like(value: str, pattern: str) -> bool:
    """IAM's ``StringLike``: ``*`` any run of characters, ``?`` one; nothing else is special."""
    expression = "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern
    )
    return re.fullmatch(expression, value, flags=re.DOTALL) is not None


def _matches(statement: dict, provider_arn: str, context: dict[str, list[str]], effect) -> bool:
    if statement.get("Effect") != effect:
        return False
    actions = _listed(statement.get("Action", []))
    if not any(_like(ACTION, action) for action in actions):
        return False
    principal = statement.get("Principal", {})
    federated = _listed(principal.get("Federated", [])) if isinstance(principal, dict) else []
    if provider_arn not in federated:
        return False
    for operator, tests in statement.get("Condition", {}).items():
        kind = operator.removeprefix("ForAnyValue:")
        if kind not in ("StringEquals", "StringLike"):
            return False  # not evaluated here: the statement does not match
        for key, expected in tests.items():
            if not any(
                value == pattern if kind == "StringEquals" else _like(value, pattern)
                for value in context.get(key, [])  # the token's claims are single strings
                for pattern in _listed(expected)
            ):
                return False
    return True


def _checked(original):
    def assume_role_with_web_identity(self: TokenResponse):
        check(
            self._get_param("WebIdentityToken") or "",
            self._get_param("RoleArn") or "",
            datetime.now(UTC),
        )
        return original(self)

    return assume_role_with_web_identity


def install(context: Context) -> None:
    patch(TokenResponse, "assume_role_with_web_identity", _checked)


CAPABILITY = Capability(
    name="web identity",
    persists=("iam", "sts"),
    requires=("AWS services",),
    install=install,
)
