"""Fixtures shared by the template's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from baking import ensure_project_env


@pytest.fixture(scope="session")
def project_env() -> Path:
    """The environment every baked project's tools run in, built once from the lock file."""
    return ensure_project_env()
