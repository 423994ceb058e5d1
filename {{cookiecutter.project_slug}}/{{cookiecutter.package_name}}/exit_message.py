"""A processing job's last word: why it failed, in one line, for ``DescribeProcessingJob``.

SageMaker Processing reports a failed container only as ``AlgorithmError: See job logs``; what
the container writes to ``/opt/ml/output/message`` comes back as the job's ``ExitMessage`` (its
first 1 KB). The job request names that file in ``EXIT_MESSAGE_FILE``, so the scripts take the
path from the job, like every other path; run by hand, they write no message.
"""

import os
import sys
from collections.abc import Callable
from pathlib import Path

ENV_VAR = "EXIT_MESSAGE_FILE"
MAX_BYTES = 1024


def write(text: str) -> None:
    """Leave ``text`` (cut to 1 KB of UTF-8) as the job's exit message."""
    path = os.environ.get(ENV_VAR)
    if not path:
        return
    data = text.strip().encode("utf-8")[:MAX_BYTES].decode("utf-8", errors="ignore")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(data, encoding="utf-8")


def run(main: Callable[[], int | None]) -> None:
    """Run a script's ``main`` and exit with its status; an exception becomes the exit message."""
    try:
        status = main()
    except Exception as error:
        write(f"{type(error).__name__}: {error}")
        raise
    sys.exit(status)
