"""The self-checks of chapters 1-9: a right answer passes, a wrong one gets its hint.

Each exercise function computes its verdict from the numbers a chapter produced; these tests
feed it made-up numbers of both kinds, so a verdict that ignored them would fail here.
"""

from __future__ import annotations

import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
import course  # noqa: E402

# --- chapter 5: Gunicorn -------------------------------------------------------------------


def test_ch5_more_workers_follows_the_numbers():
    flat = {5: 108.6, 17: 108.7}
    assert course.ch5_more_workers("same", throughput=flat).correct is True
    wrong = course.ch5_more_workers("more", throughput=flat)
    assert wrong.correct is False and "CPU utilisation" in wrong.message
    growing = {5: 50.0, 17: 90.0}
    assert course.ch5_more_workers("more", throughput=growing).correct is True
    assert course.ch5_more_workers("same", throughput=growing).correct is False


def test_ch5_timeout_status_follows_the_counts():
    gunicorn_first = {"502": 160, "504": 0}
    right = course.ch5_timeout_status(502, status_counts=gunicorn_first)
    assert right.correct is True and "30 s" in right.message
    wrong = course.ch5_timeout_status("504", status_counts=gunicorn_first)
    assert wrong.correct is False and "shorter" in wrong.message
    nginx_first = {"502": 0, "504": 40}
    assert course.ch5_timeout_status("504", status_counts=nginx_first).correct is True


# --- chapter 7: PostgreSQL -----------------------------------------------------------------


def test_ch7_connections_needed_multiplies_the_fleet():
    right = course.ch7_connections_needed(24, instances=2, workers=3, threads=4)
    assert right.correct is True and "2 instances x 3" in right.message
    wrong = course.ch7_connections_needed(12, instances=2, workers=3, threads=4)
    assert wrong.correct is False and "every instance" in wrong.message


def test_ch7_persistent_saving_is_the_difference():
    db_ms = {"per_request": 40.0, "persistent": 12.0}
    assert course.ch7_persistent_saving(27, db_ms=db_ms).correct is True
    wrong = course.ch7_persistent_saving(2, db_ms=db_ms)
    assert wrong.correct is False and "connection set-up" in wrong.message


# --- chapter 2: load balancing -------------------------------------------------------------


def test_ch2_routing_picks_the_lower_p95():
    uneven = {"round_robin": 1.5, "least_outstanding_requests": 0.55}
    right = course.ch2_routing("least_outstanding_requests", p95=uneven)
    assert right.correct is True and "1500 ms" in right.message
    wrong = course.ch2_routing("round_robin", p95=uneven)
    assert wrong.correct is False and "expensive" in wrong.message
    flipped = {"round_robin": 0.30, "least_outstanding_requests": 0.31}
    assert course.ch2_routing("round_robin", p95=flipped).correct is True


def test_ch2_detection_measures_from_the_crash():
    timing = dict(crashed_at=60.0, unhealthy_at=75.0, interval=10.0, threshold=2, timeout=5.0)
    right = course.ch2_detection(15, **timing)
    assert right.correct is True and "2 checks in a row" in right.message
    wrong = course.ch2_detection(60, **timing)
    assert wrong.correct is False and "unhealthy threshold is 2" in wrong.message


# --- chapter 1: DNS ------------------------------------------------------------------------


def test_ch1_browser_hits_counts_the_outcomes():
    outcomes = ["authoritative", "browser-cache", "browser-cache"] * 10
    right = course.ch1_browser_hits(20, outcomes=outcomes, ttl=60.0)
    assert right.correct is True and "20 of 30" in right.message
    wrong = course.ch1_browser_hits(30, outcomes=outcomes, ttl=60.0)
    assert wrong.correct is False and "Walk the clock" in wrong.message


def test_ch1_valid_address_names_the_bad_octet():
    right = course.ch1_valid_address("invalid", address="12.34.56.789")
    assert right.correct is True and "789" in right.message
    wrong = course.ch1_valid_address("valid", address="12.34.56.789")
    assert wrong.correct is False and "0-255" in wrong.message
    assert course.ch1_valid_address("valid", address="203.0.113.10").correct is True


# --- chapter 3: auto-scaling ---------------------------------------------------------------


def test_ch3_outage_compares_with_the_measured_hole():
    right = course.ch3_outage(120, outage_s=110.0, launch=17.0, boot=60.0)
    assert right.correct is True and "110 s" in right.message
    wrong = course.ch3_outage(10, outage_s=110.0, launch=17.0, boot=60.0)
    assert wrong.correct is False and "launch (17 s)" in wrong.message


# --- chapter 4: nginx ----------------------------------------------------------------------


def test_ch4_which_timeout_follows_the_counts():
    raised = dict(status_counts={"502": 0, "504": 92}, gunicorn_timeout=90.0,
                  proxy_read_timeout=60.0)  # fmt: skip
    right = course.ch4_which_timeout(504, **raised)
    assert right.correct is True and "the proxies' timeout fired first" in right.message
    wrong = course.ch4_which_timeout("502", **raised)
    assert wrong.correct is False and "Gunicorn now waits 90 s" in wrong.message
    default = dict(status_counts={"502": 170, "504": 0}, gunicorn_timeout=30.0,
                   proxy_read_timeout=60.0)  # fmt: skip
    assert course.ch4_which_timeout("502", **default).correct is True


# --- chapter 6: Django ---------------------------------------------------------------------


def test_ch6_naive_queries_uses_the_measured_count():
    right = course.ch6_naive_queries(105, queries=108, sponsors=8, votes=96)
    assert right.correct is True and "N+1" in right.message
    wrong = course.ch6_naive_queries(3, queries=108, sponsors=8, votes=96)
    assert wrong.correct is False and "8 sponsors and 96 votes" in wrong.message


# --- chapter 9: developer access -----------------------------------------------------------


def test_ch9_count_is_exact():
    right = course.ch9_count(45, count=45, what="502 responses", command="wc -l")
    assert right.correct is True and "45 502 responses" in right.message
    wrong = course.ch9_count(60, count=45, what="502 responses", command="awk ... | wc -l")
    assert wrong.correct is False and "awk ... | wc -l" in wrong.message


def test_ch9_top_names_the_most_frequent():
    counts = {"/": 350, "/healthz": 88, "/api/bills/": 83}
    assert course.ch9_top("/", counts=counts, command="uniq -c").correct is True
    wrong = course.ch9_top("/healthz", counts=counts, command="uniq -c")
    assert wrong.correct is False and "/healthz appears 88 times" in wrong.message


def test_ch9_column_counts_from_one():
    header = ["Type", "Name", "Request Count", "Failure Count", "Median Response Time"]
    assert course.ch9_column(5, header=header, name="Median Response Time").correct is True
    wrong = course.ch9_column(4, header=header, name="Median Response Time")
    assert wrong.correct is False and "from 1" in wrong.message


def test_recorded_lab_files_are_there_and_small():
    data = NOTEBOOKS / "data"
    for name in ("nginx-access.log", "nginx-error.log", "web-1.access.log", "load_stats.csv",
                 "compare.csv", "calibrated.toml", "README.md"):  # fmt: skip
        path = data / name
        assert path.is_file(), f"{path} is missing: see notebooks/data/README.md"
        assert path.stat().st_size < 500_000, f"{path} is too big for the repository"
    fields = (data / "nginx-access.log").read_text().splitlines()[0].split("\t")
    assert len(fields) == 13, "nginx-access.log is not in the lab's 13-field format"


# --- chapter 8: the whole path -------------------------------------------------------------


def test_ch8_model_vs_lab_compares_the_two_p95s():
    right = course.ch8_model_vs_lab("below", measured=1.91, simulated=0.16)
    assert right.correct is True and "optimistic" in right.message
    wrong = course.ch8_model_vs_lab("above", measured=1.91, simulated=0.16)
    assert wrong.correct is False and "cpu_other" in wrong.message
    pessimistic = course.ch8_model_vs_lab("above", measured=2.2, simulated=31.2)
    assert pessimistic.correct is True and "locust" in pessimistic.message
