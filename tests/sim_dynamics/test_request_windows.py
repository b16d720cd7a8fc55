"""Per-window request statistics computed from the records, checked on hand-made requests."""

from __future__ import annotations

import math

import numpy as np

from sim.results.timeseries import merge, request_windows


def test_windows_bin_by_arrival_for_rate_and_by_end_for_latency_and_errors():
    arrival = np.array([1.0, 2.0, 3.0, 11.0, 12.0, 19.0])
    end = np.array([1.5, 2.1, 12.0, 11.2, 12.4, np.nan])  # the last never finished
    status = np.array([200, 200, 200, 503, 200, 0])
    w = request_windows(arrival, end, status, period=10.0, horizon=20.0)
    assert w["t"].tolist() == [10.0, 20.0]
    assert w["rps"].tolist() == [0.3, 0.3]
    assert w["completed"].tolist() == [2, 3]
    assert w["errors_503"].tolist() == [0, 1]
    assert w["errors_502"].tolist() == [0, 0]
    # Window 1: latencies 0.5 and 0.1; window 2: 9.0 and 0.4 (the 503 is not a latency).
    assert math.isclose(w["p50"][0], np.percentile([0.5, 0.1], 50))
    assert math.isclose(w["p99"][1], np.percentile([9.0, 0.4], 99))


def test_merge_joins_sampler_rows_and_windows_on_time():
    rows = [{"t": 10.0, "desired": 2}, {"t": 20.0, "desired": 3}]
    windows = {"t": np.array([10.0, 20.0]), "rps": np.array([1.0, 2.0])}
    assert merge(rows, windows) == [
        {"t": 10.0, "desired": 2, "rps": 1.0},
        {"t": 20.0, "desired": 3, "rps": 2.0},
    ]
