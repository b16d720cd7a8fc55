"""A page's static files (``[assets]``, sim/model/assets.py): exact timelines worked out by hand,
the refusals of bad settings, determinism, and the defaults measured on the demo app's files.

Every cost is zero or a constant (tests/sim/sim_helpers.py). A file of 1,000 bytes over a
connection of 8 Mbit/s takes 8,000 / 8,000,000 = 1 ms to arrive.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_helpers import layer, quiet, run

import sim
from sim.cli import main
from sim.config import ConfigError
from sim.config.core import DEMO_PAGE_ASSETS

REPO = Path(__file__).resolve().parents[2]

#: Files of 1,000 bytes over 8 Mbit/s: 1 ms each.
FILES = ["assets.enabled=true", "assets.bandwidth=8.0"]


def sizes(n: int) -> str:
    return "assets.sizes=[" + ", ".join(["1000.0"] * n) + "]"


def timeline(result, page: int = 0) -> list[tuple]:
    """(file, connection, source, start, end) of one page's files, to the microsecond."""
    return [
        (a.asset, a.connection, a.source, round(a.start, 6), round(a.end, 6))
        for a in result.assets_of(page)
    ]


def cdn(*more: str):
    # HTML: 1 s of Django; the edge: 10 ms a round trip, so a new connection costs 20 ms.
    return quiet(*FILES, "assets.cdn=true", "assets.edge_latency=0.01", *more)


def test_eight_files_over_six_connections_come_in_two_rounds():
    _, result = run(cdn("assets.hit_ratio=1.0", sizes(8), "assets.connections=6"), [0.0])
    # The HTML is in at 1.0. Round one: six new connections, each 20 ms to open, 10 ms to
    # ask, 1 ms of bytes. Round two: files 7 and 8 on the two connections free first (the
    # lowest numbers, all free at once), already open: 11 ms.
    first = [(i, i, "edge-hit", 1.0, 1.031) for i in range(6)]
    assert timeline(result) == [*first, (6, 0, "edge-hit", 1.031, 1.042),
                                (7, 1, "edge-hit", 1.031, 1.042)]  # fmt: skip
    assert result.run.requests[0].page_end == pytest.approx(1.042)
    summary = result.summary["assets"]
    assert summary["page_load"]["mean"] == pytest.approx(1.042)
    assert summary["after_html"]["mean"] == pytest.approx(0.042)
    assert summary["blocked"] == pytest.approx(2 * 0.031 / 8)  # files 7 and 8 waited 31 ms


def test_one_connection_fetches_the_files_one_after_the_other():
    _, result = run(cdn("assets.hit_ratio=1.0", sizes(3), "assets.connections=1"), [0.0])
    assert [t[3:] for t in timeline(result)] == [(1.0, 1.031), (1.031, 1.042), (1.042, 1.053)]


def test_a_cdn_miss_adds_the_origin_fetch():
    hit = cdn("assets.hit_ratio=1.0", sizes(1), "assets.nginx_file=0.002")
    miss = cdn("assets.hit_ratio=0.0", sizes(1), "assets.nginx_file=0.002",
               "assets.origin_latency=0.02", "load_balancer.latency=0.001",
               "nginx.latency=0.0005")  # fmt: skip
    _, by_hit = run(hit, [0.0])
    _, by_miss = run(miss, [0.0])
    assert timeline(by_hit) == [(0, 0, "edge-hit", 1.0, 1.031)]
    # The HTML itself now costs the two hops too (1.0015); the file: 20 ms to open, 10 ms to
    # the edge, then the edge asks the region (20 ms), the load balancer (1 ms) and nginx
    # (0.5 ms), nginx reads the file (2 ms), 1 ms of bytes.
    assert timeline(by_miss) == [(0, 0, "edge-miss", 1.0015, 1.056)]
    (record,) = by_miss.asset_records
    assert record.instance == 0 and record.worker is None  # nginx: no Gunicorn worker


def test_without_the_cdn_the_pages_own_connection_is_reused():
    s = quiet(*FILES, "assets.cdn=false", "assets.rtt=0.01", "assets.nginx_file=0.002",
              "network.connect=0.05", sizes(3), "assets.connections=2")  # fmt: skip
    _, result = run(s, [0.0])
    # The HTML: 50 ms to connect, 1 s of Django: in at 1.05. Connection 1 is the HTML's: file 1
    # costs 10 + 2 + 1 ms; connection 2 is opened first (50 ms). File 3 takes connection 1
    # again when it is free, at 1.063.
    assert timeline(result) == [
        (0, 0, "nginx", 1.05, 1.063),
        (1, 1, "nginx", 1.05, 1.113),
        (2, 0, "nginx", 1.063, 1.076),
    ]
    assert [a.connect for a in result.asset_records] == [0.0, 0.05, 0.0]


def django_files(*more: str):
    # One Gunicorn worker; each file takes it and 0.1 s of a vCPU; no round trips.
    return quiet(*FILES, "assets.cdn=false", "assets.rtt=0.0", "assets.server=django",
                 "assets.whitenoise_cpu=0.1", sizes(2), *more)  # fmt: skip


def test_files_served_by_django_take_the_worker_from_the_pages():
    s = django_files("django.cpu=0.1")
    _, result = run(s, [0.0, 0.15])
    # Page 0's HTML has the worker 0-0.1; its two files reach the instance at 0.1: file 1
    # takes the worker until 0.2, file 2 waits for it until 0.3. Page 1's HTML, arriving at
    # 0.15, queues behind both files: its worker from 0.3 to 0.4, then its own files.
    assert timeline(result, 0) == [(0, 0, "django", 0.1, 0.201), (1, 1, "django", 0.1, 0.301)]
    assert [round(a.wait, 6) for a in result.assets_of(0)] == [0.0, 0.1]
    assert [a.worker for a in result.assets_of(0)] == [0, 0]
    queue = {r.request: round(r.wait, 6) for r in layer(result, "queue")}
    assert queue == {0: 0.0, 1: 0.15}
    # The same pages with nginx serving the files: page 1's HTML waits for no file.
    _, by_nginx = run(quiet(*FILES, "assets.cdn=false", "assets.rtt=0.0", sizes(2),
                            "django.cpu=0.1"), [0.0, 0.15])  # fmt: skip
    assert {r.request: round(r.wait, 6) for r in layer(by_nginx, "queue")} == {0: 0.0, 1: 0.0}


def test_a_full_backlog_refuses_a_file_with_a_502():
    _, result = run(django_files("django.cpu=0.1", "gunicorn.backlog=0"), [0.0])
    (served, refused) = result.assets_of(0)
    assert (served.status, served.outcome) == (200, "ok")
    assert (refused.status, refused.outcome, round(refused.end, 6)) == (502, "backlog-full", 0.1)
    assert result.summary["assets"]["failed"] == 1
    assert result.summary["status_counts"]["200"] == 1  # the page's HTML was fine


def test_django_files_share_time_sliced_vcpus():
    s = django_files("django.cpu=0.1", "gunicorn.workers=2", "instances.vcpus=1",
                     "instances.cpu_discipline=ps")  # fmt: skip
    _, result = run(s, [0.0])
    # Two bursts of 0.1 s on one vCPU, time-sliced: both done at 0.3, each stretched by 0.1.
    assert timeline(result) == [(0, 0, "django", 0.1, 0.301), (1, 1, "django", 0.1, 0.301)]
    assert [round(a.wait, 6) for a in result.asset_records] == [0.1, 0.1]


def test_the_same_seed_gives_the_same_files_and_another_seed_others():
    base = ["run.duration=30", "run.warmup=5", "assets.enabled=true"]
    first = sim.run(sim.load("assets_cdn", base[:2]))
    again = sim.run(sim.load("assets_cdn", base[:2]))
    other = sim.run(sim.load("assets_cdn", [*base[:2], "run.seed=2"]))
    assert first.files()["assets.csv"] == again.files()["assets.csv"]
    assert first.files()["assets.csv"] != other.files()["assets.csv"]
    assert first.summary["assets"]["fetched"] == 30 * first.summary["assets"]["pages"]


def test_files_switched_off_change_nothing_and_say_so():
    plain = sim.run(sim.load("baseline", ["run.duration=60", "run.warmup=10"]))
    args = ["run.duration=60", "run.warmup=10", "assets.connections=2"]
    scenario, notes = sim.loader.load_noted("baseline", args)
    off = sim.run(scenario)
    assert off.text() == plain.text()
    assert "assets" not in off.summary and "assets.csv" not in off.files()
    assert any(n.startswith("assets.connections changes nothing: [assets] is off") for n in notes)


def test_files_leave_the_html_as_it_was():
    # The files draw from a stream of their own: the pages' own layers do not move.
    args = ["run.duration=60", "run.warmup=10"]
    plain = sim.run(sim.load("baseline", args))
    paged = sim.run(sim.load("baseline", [*args, "assets.enabled=true"]))
    assert paged.records == plain.records
    a = paged.summary["assets"]
    assert a["page_load"]["p50"] > paged.summary["latency"]["end_to_end"]["p50"]
    assert list(paged.summary)[-1] == "assets"


@pytest.mark.parametrize(
    "override, message",
    [
        ("assets.sizes=[]", "assets.sizes = []: must list 1 to 1,000 file sizes in bytes"),
        ("assets.sizes=[100.0, 0.0]", "assets.sizes[1] = 0.0: must be a number in (0, "),
        ("assets.sizes=[2e8]", "assets.sizes[0] = 200000000.0: must be a number in (0, 100,000,"),
        ("assets.connections=0", "assets.connections = 0: must be an integer in [1, 1,000]"),
        ("assets.bandwidth=0", "assets.bandwidth = 0.0: must be a number in (0, 100,000] Mbit/s"),
        ("assets.hit_ratio=1.5", "assets.hit_ratio = 1.5: must be a probability in [0, 1]"),
        ("assets.server='whitenoise'", 'assets.server = "whitenoise": must be one of "nginx", "dj'),
        ("assets.edge_latency=-1", "assets.edge_latency.mean = -1.0: must be a number in [0,"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_naming_the_value_and_what_is_allowed(override, message):
    with pytest.raises(ConfigError) as caught:
        sim.load("assets_cdn", [override])
    assert str(caught.value).startswith(message)


def test_a_bad_setting_on_the_command_line_is_one_line_and_exit_status_2(capsys):
    assert main(["run", "assets_cdn", "--set", "assets.connections=0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        "error: assets.connections = 0: must be an integer in [1, 1,000]"
    ]


def test_the_fluid_engine_refuses_files_in_one_line(capsys):
    assert main(["run", "assets_django", "--engine", "fluid"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "assets.enabled = true" in err[0] and "--engine des" in err[0]


def test_an_mm_c_scenario_refuses_files():
    with pytest.raises(ConfigError, match=r"^assets.enabled = true: must be false for theory"):
        sim.load("mm_c", ["assets.enabled=true"])


def test_the_default_files_are_the_demo_apps_stylesheet_and_script():
    base = (REPO / "demo_app" / "templates" / "base.html").read_text()
    referenced = re.findall(r"\{% static '([^']+)' %\}", base)
    assert referenced == ["demo_app/site.css", "demo_app/site.js"]
    on_disk = [(REPO / "demo_app" / "static" / path).stat().st_size for path in referenced]
    assert list(DEMO_PAGE_ASSETS) == on_disk == [7408, 582]  # as FACTS.md says
    assert sum(on_disk) == 7990
    trace = REPO / "demo_app" / "tracing" / "static" / "tracing" / "trace.js"
    assert trace.stat().st_size == 6696  # the trace page's own script
    assert sim.loads("[assets]\nenabled = true").assets.sizes == DEMO_PAGE_ASSETS


def test_the_trace_and_the_waterfall_show_the_files():
    result = sim.run(sim.load("assets_cdn", ["run.duration=20", "run.warmup=5"]))
    told = result.trace()
    assert "The page's static files: 30 over at most 6 connections" in told
    assert told.count(" file ") >= 30 and "page loaded (the HTML and its files)" in told
    assert "waiting for a free connection" in told  # 30 files, 6 connections: five rounds
    from sim.figures import plots

    rid = sim.results.narrate.pick(result.records, "typical", result.run.window)
    fig = plots.waterfall(result.records, rid, "t", result.assets_of(rid))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[:7] == ["dns", "connect", "lb", "queue", "app", "db", "download"]
    assert labels[7:] == [f"file {i} ({s})" for i, s in zip(range(1, 31), ["26 KB"] * 24 +
                          ["20 KB"] * 4 + ["66 KB"] * 2, strict=True)]  # fmt: skip


def _kept(name: str) -> dict[str, tuple[str, str]]:
    """The numbers of a kept output the README's table quotes, as printed."""
    text = (REPO / "sim" / "scenarios" / f"{name}.out").read_text()
    page = re.search(r"page load   mean ([\d.]+) ms, p50 [\d.]+, p95 ([\d.]+)", text)
    file = re.search(r"a file mean ([\d.]+) ms, p95 ([\d.]+) ms", text)
    html = re.search(r"latency     mean [\d.]+ ms, p50 [\d.]+, p95 ([\d.]+)", text)
    util = re.search(r"utilisation workers ([\d.]+) %, vCPUs ([\d.]+) %", text)
    return {
        "page load, mean / p95": (f"{page[1]} / {page[2]} ms",),
        "a file, mean / p95": (f"{file[1]} / {file[2]} ms",),
        "the HTML alone, p95": (f"{html[1]} ms",),
        "Gunicorn workers busy": (f"{util[1]} %",),
        "vCPUs busy": (f"{util[2]} %",),
    }


def test_the_readme_quotes_the_kept_outputs_of_the_two_scenarios():
    readme = (REPO / "sim" / "README.md").read_text()
    cdn, django = _kept("assets_cdn"), _kept("assets_django")
    for row in cdn:
        line = f"| {row} | {cdn[row][0]} | {django[row][0]} |"
        assert line in readme, line
    # "the instances' vCPUs are twice as busy"
    ratio = float(django["vCPUs busy"][0][:-2]) / float(cdn["vCPUs busy"][0][:-2])
    assert "twice as busy" in readme and 1.9 <= ratio <= 2.1


def test_settings_the_chosen_path_never_reads_say_so():
    _, notes = sim.loader.load_noted(
        "assets_cdn", ["assets.rtt=0.05", "assets.whitenoise_cpu=0.01"]
    )
    assert notes == [
        "assets.rtt changes nothing: assets.cdn is true: files come from the edge"
        " (assets.edge_latency)",
        'assets.whitenoise_cpu changes nothing: assets.server is "nginx": no file reaches Django',
    ]
    _, notes = sim.loader.load_noted("assets_django", ["assets.hit_ratio=0.5"])
    assert notes == [
        "assets.hit_ratio changes nothing: assets.cdn is false: every file comes from the instances"
    ]
    for name in ("assets_cdn", "assets_django"):  # the shipped scenarios use what they set
        assert sim.loader.load_noted(name)[1] == []


@st.composite
def with_files(draw) -> list[str]:
    n = draw(st.integers(1, 14))
    sizes = ", ".join(str(draw(st.floats(1.0, 200_000.0))) for _ in range(n))
    kind = draw(st.sampled_from(["constant", "exponential", "lognormal"]))
    return [
        "run.duration=10",
        "run.warmup=1",
        f"arrivals.rate={draw(st.floats(0.5, 40))}",
        f"instances.vcpus={draw(st.integers(1, 3))}",
        f"instances.cpu_discipline={draw(st.sampled_from(['fcfs', 'ps']))}",
        f"gunicorn.workers={draw(st.integers(1, 4))}",
        f"gunicorn.backlog={draw(st.integers(0, 20))}",
        f"users.enabled={draw(st.sampled_from(['false', 'true']))}",
        f"users.count={draw(st.integers(1, 20))}",
        "assets.enabled=true",
        f"assets.sizes=[{sizes}]",
        f"assets.connections={draw(st.integers(1, 8))}",
        f"assets.bandwidth={draw(st.floats(0.5, 100))}",
        f"assets.cdn={draw(st.sampled_from(['true', 'false']))}",
        f"assets.hit_ratio={draw(st.floats(0, 1))}",
        f'assets.server="{draw(st.sampled_from(["nginx", "django"]))}"',
        f'assets.edge_latency={{ kind = "{kind}", mean = {draw(st.floats(1e-4, 0.05))} }}',
        f'assets.rtt={{ kind = "{kind}", mean = {draw(st.floats(1e-4, 0.08))} }}',
        f'assets.whitenoise_cpu={{ kind = "{kind}", mean = {draw(st.floats(1e-4, 0.05))} }}',
    ]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(with_files(), st.integers(0, 2**32 - 1))
def test_random_pages_with_files_never_crash_and_their_files_add_up(sets, seed):
    result = sim.run(sim.load("baseline", sets), seed)
    s = result.scenario.assets
    assert result.run.counters["sent"] == result.run.counters["finished"]
    pages = {r.id: r for r in result.run.requests if r.status == 200}
    by_page: dict[int, list] = {}
    for f in result.asset_records:
        by_page.setdefault(f.page, []).append(f)
        assert f.status in (200, 502) and f.start >= f.ready
        parts = f.connect + f.service + f.wait + f.transfer
        assert parts == pytest.approx(f.end - f.start, abs=1e-9)
    assert set(by_page) == set(pages)  # every page that loaded fetched its files, no other
    for page, files in by_page.items():
        assert [f.asset for f in files] == list(range(len(s.sizes)))
        assert pages[page].page_end == pytest.approx(max(f.end for f in files))
        # never more files in flight at once than the browser's connections
        events = sorted([(f.start, 1) for f in files] + [(f.end, -1) for f in files])
        in_flight = peak = 0
        for _, step in events:
            in_flight += step
            peak = max(peak, in_flight)
        assert peak <= s.connections


def test_the_size_estimate_counts_the_files_of_each_page():
    from sim.engine import size

    plain, paged = sim.load("assets_cdn", ["assets.enabled=false"]), sim.load("assets_cdn")
    extra = size.estimate(paged).bytes - size.estimate(plain).bytes
    assert extra == pytest.approx(size.expected_requests(paged) * 30 * size.BYTES_PER_FILE)
