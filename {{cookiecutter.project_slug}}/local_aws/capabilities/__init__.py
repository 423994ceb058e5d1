"""What the local AWS adds to moto, one capability per module (see ``local_aws.capability``).

Adding one is writing its module, with a ``CAPABILITY`` record, and naming it in ``MODULES``;
the server and the state store take everything else from the record.
"""

from __future__ import annotations

import importlib

from local_aws.capability import Capability, load_extra

#: The capabilities, in the order they are installed and recover.
MODULES = [
    "aws_services",
    "s3_storage",
    "sqs_polling",
    "cloudformation",
    "model_registry",
    "approval_events",
    "processing_jobs",
    "training_jobs",
    "endpoints",
    "sagemaker_runtime",
    "transform_jobs",
    "cloudwatch_alarms",
    "web_identity",
    "role_actions",
]


def capabilities() -> list[Capability]:
    """Every capability: this package's, then those ``$LOCAL_AWS_CAPABILITIES`` adds."""
    found = [importlib.import_module(f"{__name__}.{name}").CAPABILITY for name in MODULES]
    return found + load_extra()
