"""``python -m ci.promote``: see ``ci/promote/cli.py``."""

from .cli import main

raise SystemExit(main())
