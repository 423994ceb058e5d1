"""Fixtures shared by the template's tests, the ``--fast`` switch and each tier's minutes."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest
from baking import ensure_project_env

#: The tiers, by marker; the others (the options, template updates) count as "options".
TIERS = ("answers", "contract", "slow")
_SECONDS: dict[str, float] = defaultdict(float)


def pytest_addoption(parser):
    parser.addoption(
        "--fast",
        action="store_true",
        help="bake the default answers only (one bake per tier instead of the whole matrix)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    started = time.monotonic()
    try:
        return (yield)
    finally:
        tier = next((tier for tier in TIERS if item.get_closest_marker(tier)), "options")
        _SECONDS["end to end" if tier == "slow" else tier] += time.monotonic() - started


def pytest_terminal_summary(terminalreporter):
    if _SECONDS:
        terminalreporter.section("minutes per tier")
        for tier, seconds in _SECONDS.items():
            terminalreporter.write_line(f"{tier:>12}: {seconds / 60:5.1f} min")


@pytest.fixture(scope="session")
def project_env() -> Path:
    """The environment every baked project's tools run in, built once from the lock file."""
    return ensure_project_env()
