"""This project's root and configuration, for the developer tools.

The tools import the pipeline package from ``plugins/`` as Airflow does; the Makefile puts that
folder on ``PYTHONPATH`` (and pytest's configuration does for the tests).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from {{ cookiecutter.package_name }}_pipeline.config import PipelineConfig

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@cache
def config() -> PipelineConfig:
    """The pipeline config with the ``local`` environment (the local AWS plays dev)."""
    return PipelineConfig.load(PROJECT_ROOT / "pipeline.toml", environment="local")
