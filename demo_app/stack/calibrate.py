"""Measure the lab's per-layer service times at low load and write a scenario for the sim.

Like weighing each ingredient before trusting a recipe's cooking time: one request at a time
(no queue, no contention), over one connection kept alive as each locust user keeps its own
(:class:`KeptAlive`: no TLS handshake per probe), we read what every layer says it spent.
The app's ``Server-Timing`` gives ``queue``, ``app`` and ``db``; nginx's access log gives its
whole ``$request_time`` and the instance's ``$upstream_response_time``, so nginx's own hop is
their difference. Each probe URL carries a ``_cal=<n>`` marker, so its log line is found
exactly.

Probes: the calibration endpoint (``cpu_ms=0``: Django's fixed overhead; ``queries=20``: the
cost of one query; ``cpu_ms=20``: the CPU dial is honoured), then the real pages in the same
mix as the locustfile, each kind of page exactly its weight's share. The page samples become
the simulation's Django service time, as Django reported it: the time a request spends in the
view is what its response waits for. The lab's processes spend more CPU per page than that
(nginx's TLS and access log, Gunicorn's HTTP parsing, closing the connection and logging,
Django's ``request_finished``), and under load that CPU comes from the cores the workers need.
It is charged as ``django.cpu_after``, CPU after the response: it takes the cores, so it moves
the knee, but adds no latency of its own (the time nginx and Gunicorn add inside the path is
measured apart, as ``nginx.latency``). Scaling the samples up instead would count that in-path
time twice and make every light-load answer slower than the lab's.

That CPU per page is read twice: while the pages are probed one at a time, and under a steady
closed loop of locust's users past the capacity the first reading implies
(:data:`STEADY_FRACTION`, :func:`under_load`, ``--load-seconds``). With the cores saturated a
page costs the lab the most (more processes to switch between, caches shared), and that is
where compare's curve bends: its knee follows from this reading. One request at a time it
swings by a third from run to run on a shared machine; ``--load-seconds 0`` keeps it anyway.

What the scenario says about this stack, and why (also written into the file):

- every instance, nginx, the database and the load generator share this machine's cores, but
  the sim gives each instance vCPUs of its own: ``--cpu split`` (the default) divides the cores
  among the instances (at least 1 each), ``--cpu pooled`` models one instance holding every
  worker and every core (the OS pools them); the truth lies between the two;
- the database runs on the same cores (SQLite inside the worker, or a local PostgreSQL), so its
  time is folded into Django's CPU (``django.queries = 0``) rather than modelled as a separate
  server with CPUs of its own;
- the client sits on the same machine: DNS, connect and download cost nothing, and the sim's
  end-to-end latency is nginx's ``$request_time``;
- the kernel time-slices the cores among the workers, so the vCPUs share their time
  (``cpu_discipline = "ps"``): against compare's recording, processor sharing came closer to
  the lab's p95 than first come, first served at seven levels of eight (sim/FACTS.md, "The
  kernel's scheduler").

While the cost is read, a speedometer times a fixed reference work in the background
(``speed.py``): how fast the machine ran then, kept in ``<state>/calibration.json``,
against which ``compare`` sets how fast the machine runs at each level (and, with ``--demand
speed``, scales the cost by it).

Flow: running lab -> sequential probes -> Server-Timing + access-log lines -> fitted
distributions -> ``<state>/calibrated.toml`` (validated by the sim's loader, then written)
+ the machine's speed -> ``<state>/calibration.json``.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from demo_app.stack import cpu as cpu_meter
from demo_app.stack import speed
from demo_app.stack.client import LabClient, Reply
from demo_app.stack.config import ZONE, LabConfig, LabError
from demo_app.stack.drills import LogTail, field
from demo_app.stack.lab import require_running
from demo_app.stack.load import run_load
from demo_app.stack.mix import PAGES, in_proportion
from demo_app.stack.templating import write_atomically


@dataclass(frozen=True)
class Probe:
    """One request: what the app said (Server-Timing) and what nginx logged, in seconds."""

    path: str
    queue: float
    app: float
    db: float
    request_time: float
    upstream_time: float

    @property
    def django(self) -> float:
        """The whole time in Django (the app excludes its queries; add them back)."""
        return self.app + self.db

    @property
    def nginx_hop(self) -> float:
        return max(0.0, self.request_time - self.upstream_time)

    @property
    def instance_hop(self) -> float:
        """Gunicorn and the socket between nginx and Django: upstream time minus Django."""
        return max(0.0, self.upstream_time - self.django)


class KeptAlive(LabClient):
    """The lab's client over one connection kept alive, as each locust user keeps its own.

    A new connection per request would make nginx do a TLS handshake for every probe, CPU the
    load never spends (its users pay one handshake each), and the CPU per page the scenario is
    scaled to would include it. A connection nginx closed is opened again, once per request."""

    def __init__(self, cfg: LabConfig, timeout: float = 30.0):
        super().__init__(cfg, timeout)
        self.conn: http.client.HTTPSConnection | None = None
        self.connections = 0  # opened so far
        self.peer = ""  # address:port of the connection open now

    def _open(self, host: str) -> http.client.HTTPSConnection:
        address = self.address(host)
        conn = self.connect(host, address)  # kept open for the requests that follow
        self.connections += 1
        self.peer = f"{address}:{self.cfg.https_port}"
        return conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def get(self, path: str, host: str = ZONE, headers: dict[str, str] | None = None) -> Reply:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = self._open(host)
            start = time.perf_counter()
            try:
                self.conn.request(
                    "GET", path, headers={"Host": f"{host}:{self.cfg.https_port}"} | (headers or {})
                )
                response = self.conn.getresponse()
                body = response.read()
            except (http.client.HTTPException, OSError):
                self.close()  # nginx closed an idle connection: open another, once
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.close()
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                body,
                time.perf_counter() - start,
                self.peer,
            )
        raise AssertionError("unreachable")


def probe(cfg: LabConfig, client: LabClient, paths: list[str], tag: str) -> list[Probe]:
    """Send ``paths`` one at a time; join each with its nginx log line through ``_cal``."""
    access = LogTail(cfg.logs / "nginx-access.log")
    timings = {}
    for n, path in enumerate(paths):
        marker = f"_cal={tag}{n}"
        url = path + ("&" if "?" in path else "?") + marker
        reply = client.get(url)
        if reply.status != 200:
            raise LabError(f"calibration request {url} answered {reply.status}")
        timings[marker] = (path, reply.server_timing)
    time.sleep(0.3)  # nginx writes its line after the response
    logged = {}
    for line in access.new_lines():
        uri = field(line, 4)
        if "_cal=" in uri:
            marker = "_cal=" + uri.split("_cal=")[1].split("&")[0]
            logged[marker] = (float(field(line, 7)), float(field(line, 10).split(",")[-1]))
    probes = []
    for marker, (path, timing) in timings.items():
        if marker not in logged:
            continue
        request_time, upstream_time = logged[marker]
        probes.append(
            Probe(
                path,
                timing.get("queue", 0.0) / 1000,
                timing.get("app", 0.0) / 1000,
                timing.get("db", 0.0) / 1000,
                request_time,
                upstream_time,
            )
        )
    if len(probes) < max(1, len(paths) // 2):
        raise LabError(f"only {len(probes)} of {len(paths)} probes found in the nginx log")
    return probes


def learn_ids(client: LabClient) -> dict[str, list[int]]:
    """The bill and legislator ids on the API's first pages (the locustfile does the same)."""
    ids = {}
    for kind in ("bills", "legislators"):
        reply = client.get(f"/api/{kind}/")
        if reply.status != 200:
            raise LabError(f"/api/{kind}/ answered {reply.status}: is the sample data loaded?")
        ids[kind] = [row["id"] for row in json.loads(reply.body)["results"]] or [1]
    return ids


@dataclass(frozen=True)
class Fit:
    """A lognormal with the samples' mean and variance (sigma of the logarithm)."""

    mean: float
    sigma: float

    @classmethod
    def of(cls, samples: list[float]) -> Fit:
        mean = statistics.fmean(samples)
        var = statistics.pvariance(samples) if len(samples) > 1 else 0.0
        return cls(mean, math.sqrt(math.log(1 + var / mean**2)) if mean > 0 else 0.0)


def vcpus_per_instance(cfg: LabConfig, cores: int | None = None) -> int:
    cores = cores or os.cpu_count() or 1
    return max(1, cores // cfg.instances)


#: How the sim should see one machine's cores shared by every instance (it gives each instance
#: vCPUs of its own): ``split`` divides the cores among the instances; ``pooled`` models the
#: lab as one instance holding every worker and every core, as the OS scheduler pools them.
CPU_MODELS = ("split", "pooled")


def instances_section(cfg: LabConfig, cores: int, cpu_model: str) -> tuple[int, int, int, str]:
    """(instance count, vCPUs each, workers each, the comment explaining it)."""
    if cpu_model == "pooled":
        why = (
            f"# pooled: the lab's {cfg.instances} instances x {cfg.workers} workers share this\n"
            f"# machine's {cores} cores as one pool, so the sim sees one instance with all of them."
        )
        return 1, cores, cfg.instances * cfg.workers, why
    why = (
        f"# split: all instances share this machine's {cores} cores (and so do nginx and the\n"
        "# load generator); the sim gives each instance cores / instances of them, at least 1."
    )
    return cfg.instances, vcpus_per_instance(cfg, cores), cfg.workers, why


def cpu_after(pages: list[Probe], cpu_per_page: float | None) -> float:
    """CPU seconds a page costs the lab beyond the time Django reports for it (at least 0).

    The lab's processes (nginx's TLS, Gunicorn's HTTP parsing and WSGI, Django, the database)
    use more CPU than Django's own clock shows, and under load it is taken from the same cores
    the workers need; the scenario charges it after each response (``django.cpu_after``)."""
    mean = statistics.fmean(p.django for p in pages)
    if not cpu_per_page or mean <= 0:
        return 0.0
    return max(0.0, cpu_per_page - mean)


#: The steady load under which the CPU per page is read again: this fraction of the capacity
#: the one-at-a-time reading implies, as compare's closed loop of users offers it (past the
#: knee: the cores saturated, as at compare's highest levels).
STEADY_FRACTION = 1.3


def under_load(cfg: LabConfig, cpu_per_page: float, cores: int, seconds: int) -> tuple[float, int]:
    """(CPU seconds the lab's processes used per request, users) under a steady closed loop
    of locust's users at :data:`STEADY_FRACTION` of the capacity ``cpu_per_page`` implies,
    for ``seconds``: the lab's CPU over the run divided by the requests nginx logged in it."""
    from demo_app.stack.compare import THINK  # compare's users, as compare runs them

    users = max(1, round(STEADY_FRACTION * cores / cpu_per_page * THINK))
    access = LogTail(cfg.logs / "nginx-access.log")
    before = cpu_meter.snapshot(cfg)
    started = time.time()
    run_load(cfg, users, float(users), seconds, 1 / THINK, "calibrate-steady",
             figure=False, quiet=True)  # fmt: skip
    after = cpu_meter.snapshot(cfg)
    ended = time.time()
    done = 0
    for line in access.new_lines():
        try:
            finished = float(field(line, 13))
        except ValueError:
            continue
        done += started <= finished <= ended and field(line, 8) != "-"
    if done == 0:
        raise LabError(
            f"no request completed in {seconds} s of steady load ({users} users): see `status`"
        )
    return cpu_meter.lab_seconds(before, after) / done, users


def scenario_text(
    cfg: LabConfig,
    pages: list[Probe],
    cores: int,
    cpu_model: str = "split",
    cpu_per_page: float | None = None,
    basis: str = "while the pages were probed",
) -> str:
    """The calibrated scenario as TOML (the sim's sections; every number explained).

    ``cpu_per_page``: CPU seconds the lab's processes used per page (``None`` when unknown),
    read as ``basis`` says: what it adds to Django's samples is charged after the response
    (:func:`cpu_after`)."""
    django = sorted(round(p.django, 6) for p in pages)
    fit = Fit.of(django)
    reported = statistics.fmean(p.django for p in pages)
    after = cpu_after(pages, cpu_per_page)
    after_text = (
        f"# After the response: the lab's processes used {cpu_per_page * 1000:.1f} ms of CPU per"
        f" page\n# {basis},\n# while Django reported {reported * 1000:.1f} ms one at a time."
        " The rest (nginx's TLS and log,\n# Gunicorn's parsing, closing and log) takes the"
        " cores but adds no latency of its own:\n# the in-path hop is nginx.latency.\n"
        if after > 0
        else "# No CPU beyond Django's own was measured: nothing after the response.\n"
    )
    lb = statistics.median(p.nginx_hop for p in pages)
    hop = statistics.median(p.instance_hop for p in pages)
    samples = ", ".join(f"{s:.6f}" for s in django)
    count, vcpus, workers, why = instances_section(cfg, cores, cpu_model)
    routing = "round_robin" if cfg.balance == "round_robin" else "least_outstanding_requests"
    description = (
        f"the local stack lab: {cfg.instances} Gunicorn instances x {cfg.workers} sync workers"
        f" behind nginx, on {cores} shared cores"
    )
    return f"""# The local stack lab, calibrated by `python -m demo_app.stack calibrate`.
# Measured one request at a time on this machine ({cores} cores), {len(pages)} page requests
# in the locustfile's mix. Regenerate it after changing the lab; do not edit by hand.
description = "{description}"

[run]
duration = 300.0
warmup = 30.0
drain = 60.0
seed = 1

[arrivals]
rate = 5.0  # compare sets each level with --set arrivals.rate=...

# The client runs on the same machine and resolves through a cache: these layers cost nothing,
# so the sim's end-to-end latency is what nginx logs as $request_time.
[dns]
os_hit = 0.0
resolver_hit = 0.0
authoritative_miss = 0.0
full_miss = 0.0

[network]
connect = 0.0
download = 0.0

[load_balancer]
routing = "{routing}"  # nginx upstream: {cfg.balance}
latency = {lb:.6f}  # median nginx hop: $request_time - $upstream_response_time

[instances]
{why}
count = {count}
vcpus = {vcpus}
# The kernel time-slices the cores among the workers: processor sharing came closer to the
# lab than first come, first served (sim/FACTS.md, "The kernel's scheduler").
cpu_discipline = "ps"

[nginx]
latency = {hop:.6f}  # median Gunicorn + socket hop: upstream time - time in Django

[gunicorn]
worker_class = "sync"
workers = {workers}
threads = 1
timeout = {float(cfg.timeout)}

# Time in Django per request, queries included (the database shares the same cores, so its
# time is charged to the instance's vCPUs), as Django reported it one request at a time.
# Lognormal fit: mean {fit.mean:.6f} s, sigma {fit.sigma:.3f}.
{after_text}[django]
queries = 0
cpu_per_query = 0.0
cpu = {{ kind = "empirical", samples = [{samples}] }}
cpu_after = {{ kind = "constant", mean = {after:.6f} }}
"""


def run(
    cfg: LabConfig,
    requests: int = 60,
    seed: int = 2026,
    cpu_model: str = "split",
    load_seconds: int = 20,
) -> int:
    if not 10 <= requests <= 2000:
        raise LabError(f"--requests {requests} is out of range: use 10-2000")
    if load_seconds != 0 and not 5 <= load_seconds <= 300:
        raise LabError(f"--load-seconds {load_seconds} is out of range: use 0 (none) or 5-300")
    if cpu_model not in CPU_MODELS:
        raise LabError(f"--cpu {cpu_model!r} is unknown: use one of {', '.join(CPU_MODELS)}")
    require_running(cfg)
    import sim

    client = KeptAlive(cfg)  # as locust's users: one TLS handshake, not one per probe
    rng = random.Random(seed)
    ids = learn_ids(client)
    # Warm every worker on every kind of page first (template loading, first connections):
    # a long load test pays those costs once, so the samples should not contain them.
    for _ in range(cfg.instances * cfg.workers * 2):
        for _weight, _name, template in PAGES:
            client.get(template.format(q="tax", page=1, bill=ids["bills"][0],
                                       legislator=ids["legislators"][0]))  # fmt: skip
    n = max(10, requests // 3)
    before = cpu_meter.snapshot(cfg)
    overhead = probe(cfg, client, ["/calibrate/?cpu_ms=0"] * n, "o")
    queries = probe(cfg, client, ["/calibrate/?queries=20"] * n, "q")
    cpu = probe(cfg, client, ["/calibrate/?cpu_ms=20"] * n, "c")
    visits = in_proportion(rng, ids, requests)  # the locustfile's mix, exactly
    paging = cpu_meter.snapshot(cfg)
    with speed.Speedometer() as meter:  # the machine's speed while the cost is read
        pages = probe(cfg, client, [path for path, _ in visits], "p")
    after = cpu_meter.snapshot(cfg)
    names = dict(visits)
    used = cpu_meter.share(before, after)
    cpu_per_page = cpu_meter.lab_seconds(paging, after) / len(pages)

    def ms(values) -> str:
        values = list(values)
        return f"{statistics.fmean(values) * 1000:7.2f}"

    print(f"calibrate {len(pages)} pages + {3 * n} calibration requests, one at a time")
    print(f"{'probe':<24}{'queue':>8}{'app':>8}{'db':>8}{'nginx':>8}{'gunicorn':>9}  (mean ms)")
    for label, group in (
        ("cpu_ms=0 (overhead)", overhead),
        ("queries=20", queries),
        ("cpu_ms=20", cpu),
        ("pages (the mix)", pages),
    ):
        print(
            f"{label:<24}{ms(p.queue for p in group)}{ms(p.app for p in group)}"
            f"{ms(p.db for p in group)}{ms(p.nginx_hop for p in group)}"
            f"{ms(p.instance_hop for p in group):>9}"
        )
    per_query = statistics.fmean(p.db for p in queries) / 20
    dial = statistics.fmean(p.app for p in cpu) - statistics.fmean(p.app for p in overhead)
    print(f"one query {per_query * 1000:.3f} ms; cpu_ms=20 adds {dial * 1000:.1f} ms of app time")
    by_page: dict[str, list[float]] = {}
    for p in pages:
        by_page.setdefault(names[p.path], []).append(p.django)
    for key, values in sorted(by_page.items()):
        print(f"  {key:<22} {len(values):4d} x  Django {ms(values)} ms")

    print(f"machine   {used.line()}")
    if used.other > 0.25:
        print(
            f"warning   other processes used {used.other:.2f} cores while measuring: the samples "
            "include their interference; calibrate again on a quiet machine"
        )
    cores = os.cpu_count() or 1
    print(
        f"cpu       the lab used {cpu_per_page * 1000:.1f} ms of CPU per page one at a time;"
        f" Django reported {statistics.fmean(p.django for p in pages) * 1000:.1f} ms"
    )
    basis = "while the pages were probed one at a time"
    if load_seconds:
        with speed.Speedometer() as meter:
            steady, users = under_load(cfg, cpu_per_page, cores, load_seconds)
        print(
            f"cpu       under a steady load ({users} users, {load_seconds} s) the lab used"
            f" {steady * 1000:.1f} ms of CPU per request"
        )
        cpu_per_page = steady  # what a saturated lab pays, and steadier than one at a time
        basis = f"under a steady load of {users} users (compare's closed loop)"
    text = scenario_text(cfg, pages, cores, cpu_model, cpu_per_page, basis)
    out = cfg.path("calibrated.toml")
    candidate = out.with_name("calibrated.new.toml")
    candidate.write_text(text)
    try:
        sim.load(str(candidate))
    except sim.ConfigError as exc:
        candidate.unlink()
        raise LabError(f"the sim refused the calibrated scenario: {exc}") from None
    candidate.unlink()
    write_atomically(out, text)
    speed.save(speed.record_path(cfg), meter.reference, len(meter.readings))
    print(
        f"speed     the machine's reference work took {meter.reference * 1000:.1f} ms of CPU"
        f" while the cost was read (median of {len(meter.readings)}); compare sets the"
        " machine's speed at each level against it (--demand speed scales the cost by it)"
    )
    fit = Fit.of([p.django for p in pages])
    count, vcpus, workers, _why = instances_section(cfg, cores, cpu_model)
    print(
        f"scenario  {out}: Django CPU empirical ({len(pages)} samples,"
        f" mean {fit.mean * 1000:.1f} ms,"
        f" lognormal sigma {fit.sigma:.2f}), then"
        f" {cpu_after(pages, cpu_per_page) * 1000:.1f} ms after the response; cpu {cpu_model}:"
        f" {count} instance(s) x {workers} workers, {vcpus} vCPU each ({cores} cores on this"
        " machine)"
    )
    return 0


def calibrated_path(cfg: LabConfig) -> Path:
    return cfg.path("calibrated.toml")
