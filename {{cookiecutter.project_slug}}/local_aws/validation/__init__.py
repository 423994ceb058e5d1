"""Request checks: every request is held to its AWS service model before moto sees it.

botocore checks only types and required members before it sends a request, and moto accepts
almost anything, while AWS refuses any request that breaks a constraint of its service model: a
103-character job name with underscores, an instance type that does not exist, a list longer
than allowed. This module derives those constraints from botocore's service models, for every
operation of every service, and refuses such requests the way AWS does:

* JSON protocol (SageMaker, CloudWatch Logs, EventBridge, SQS, CloudWatch, ...): HTTP 400
  ``ValidationException`` with AWS's message, e.g. ``1 validation error detected: Value 'x_y'
  at 'processingJobName' failed to satisfy constraint: Member must satisfy regular expression
  pattern: ...``; a value of the wrong JSON type gets ``SerializationException``.
* Query protocol (STS, IAM, SNS; SQS and CloudWatch from older clients): HTTP 400
  ``<ErrorResponse>`` XML with code ``ValidationError``.

Checked, at any depth: required members, value types, string patterns (Java regular
expressions, matched against the whole value as Java's ``Matcher.matches()`` does), lengths of
strings, blobs, lists and maps, numeric ranges and enums. Not checked: "exactly one member" of
union structures and rules between members, which need each service's own logic, and the few
patterns that cannot be translated from Java (skipped and logged, so they never refuse a value).

Only signed requests in the JSON or query protocol are checked. Everything else passes through
unchecked: REST protocols (S3, SageMaker runtime, feature store runtime, ...), Smithy RPC v2
CBOR, the EC2 protocol, unsigned requests, and services or operations botocore does not know.
"""

from local_aws.validation.checks import validate
from local_aws.validation.identify import MalformedRequest, RequestInfo, identify
from local_aws.validation.java_regex import compile_pattern, skipped_patterns, translate_pattern
from local_aws.validation.middleware import ValidatingMiddleware, error_response

__all__ = [
    "MalformedRequest",
    "RequestInfo",
    "ValidatingMiddleware",
    "compile_pattern",
    "error_response",
    "identify",
    "skipped_patterns",
    "translate_pattern",
    "validate",
]
