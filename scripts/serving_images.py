"""Regenerate ``_serving_images`` in cookiecutter.json from the SageMaker SDK.

    python scripts/serving_images.py [--check]

A generated repository names its serving image in ``pipeline.toml`` (``[registry]
inference_image_uri``) instead of asking the SageMaker SDK at run time: the SDK takes seconds to
import in a task. The image of each region comes from the SDK's own table, through this script,
run in an environment that has the SDK (a baked project's); each baked project's tests compare
its region's URI with the SDK again.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
KEY = "_serving_images"


def images(framework: str, version: str) -> dict[str, str]:
    from sagemaker.core import image_uris

    config = image_uris.config_for_framework(framework)
    regions = config["inference"]["versions"][version]["registries"]
    found = {}
    for region in sorted(regions):
        try:
            found[region] = image_uris.retrieve(framework, region, version)
        except ValueError:  # a region of a partition this template does not serve (iso)
            continue
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    args = parser.parse_args(argv)
    path = TEMPLATE / "cookiecutter.json"
    text = path.read_text()
    table = json.loads(text)[KEY]
    fresh = {
        "framework": table["framework"],
        "version": table["version"],
        "uris": images(table["framework"], table["version"]),
    }
    if args.check:
        return 0 if fresh == table else 1
    # only this entry is rewritten: the rest of the file keeps its hand-made layout
    block = json.dumps({KEY: fresh}, indent=2)[2:-2]  # the entry, indented as in the file
    path.write_text(re.sub(rf'(?s)\n  "{KEY}": {{.*?\n  }},\n', lambda _: f"\n{block},\n", text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
