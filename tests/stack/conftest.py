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


@pytest.fixture(scope="session")
def need_git() -> str:
    found = shutil.which("git")
    if not found:
        skip_or_fail("git is not installed (sudo apt-get install git)")
    return found


@pytest.fixture(scope="session")
def need_ansible() -> str:
    from demo_app.stack.config import LabError
    from demo_app.stack.deploy import ansible_playbook

    try:
        return ansible_playbook()
    except LabError as exc:
        skip_or_fail(str(exc))
