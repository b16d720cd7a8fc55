"""``make bench``'s trace-middleware benchmark: it measures and prints, never fails on speed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from demo_support import REPO

from demo_app.bench import block_ratios


def test_block_ratios_compare_medians_part_by_part():
    cpu = {True: [2.0, 2.0, 9.0, 3.0, 3.0, 3.0], False: [1.0, 1.0, 1.0, 2.0, 2.0, 9.0]}
    assert block_ratios(cpu, blocks=2) == [2.0 / 1.0, 3.0 / 2.0]


@pytest.mark.slow
def test_bench_prints_cpu_per_request_and_their_ratio():
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    done = subprocess.run(
        [sys.executable, "-m", "demo_app.bench", "--pairs", "20"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    plain = float(re.search(r"without tracing: +([\d.]+) ms", out).group(1))
    traced = float(re.search(r"with tracing: +([\d.]+) ms", out).group(1))
    ratio = float(re.search(r"traced / untraced: +([\d.]+)", out).group(1))
    assert plain > 0 and traced > 0
    assert ratio == pytest.approx(traced / plain, abs=0.002)  # printed rounded to 3 places
    assert "20 alternating request pairs" in out


@pytest.mark.parametrize(
    ("value", "message"),
    [("3", "--pairs must be at least 10, got 3"), ("many", "invalid int value: 'many'")],
)
def test_bench_refuses_bad_pairs_in_one_line(value, message):
    done = subprocess.run(
        [sys.executable, "-m", "demo_app.bench", "--pairs", value],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m demo_app.bench: ")
    assert message in lines[0]
