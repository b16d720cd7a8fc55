"""Shared fixtures for the stack lab's tests: nginx present (or skip, never in CI)."""

from __future__ import annotations

import os
import shutil

import pytest


def skip_or_fail(reason: str) -> None:
    """Skip locally with the reason; in CI (CI=true) a missing service is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: not skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def need_nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        skip_or_fail("nginx is not installed (sudo apt-get install nginx)")
    return found


@pytest.fixture(scope="session")
def need_awk() -> str:
    found = shutil.which("awk")
    if not found:
        skip_or_fail("awk is not installed (sudo apt-get install gawk)")
    return found
