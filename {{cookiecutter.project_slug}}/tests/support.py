"""Constants the tests share: the project's config and what AWS setup they assume."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((PROJECT_ROOT / "pipeline.toml").read_text())
ACCOUNTS = {
    name: env["account_id"] for name, env in CONFIG["environments"].items() if "account_id" in env
}
REGION = CONFIG["environments"]["dev"]["region"]
SAGEMAKER_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
