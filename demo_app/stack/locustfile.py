"""Locust users for the lab: visitors reading the legislative tracker through quorum.us.

Like the regulars of a library: most glance at the front page, search the catalogue and open a
few records; some use the API. The weights below are that mix; each user paces itself to
``LAB_USER_RATE`` requests per second (``constant_throughput``), so the offered load is about
users x rate, independent of how fast the lab answers (until it saturates).

Names resolve through the lab's DNS, not /etc/hosts: ``socket.getaddrinfo`` is wrapped so
``quorum.us`` is asked of the lab's server (with a cache honouring the TTL) and everything else
resolves as usual. TLS trusts only the lab's CA.

Run by ``python -m demo_app.stack load`` (see load.py), which sets ``LAB_STATE_DIR`` and
``LAB_USER_RATE``.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

from locust import HttpUser, constant_throughput, events, task

from demo_app.stack.certs import tls_files
from demo_app.stack.config import ZONE, LabConfig
from demo_app.stack.dns import CachingResolver

CFG = LabConfig.load(Path(os.environ.get("LAB_STATE_DIR", "var/lab")))
if CFG is None:
    raise SystemExit("no lab plan: run `python -m demo_app.stack up` first")
RATE = float(os.environ.get("LAB_USER_RATE", "1.0"))
#: Each user draws its pages from its own generator, seeded from this and its number.
SEED = int(os.environ.get("LAB_LOAD_SEED", "2026"))
SEARCHES = ("health", "energy", "tax", "education", "water", "veterans", "act", "")

_resolver = CachingResolver(CFG.dns_port)
_system_getaddrinfo = socket.getaddrinfo


def _lab_getaddrinfo(host, port, *args, **kwargs):
    if isinstance(host, str) and (host == ZONE or host.endswith("." + ZONE)):
        found = _resolver.lookup(host)
        if found.address is None:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: NXDOMAIN from the lab's DNS")
        host = found.address
    return _system_getaddrinfo(host, port, *args, **kwargs)


socket.getaddrinfo = _lab_getaddrinfo

#: Ids to visit, learned from the API once per locust process.
IDS: dict[str, list[int]] = {"bills": [], "legislators": []}


@events.test_start.add_listener
def learn_ids(environment, **_kwargs) -> None:
    import requests

    for kind in IDS:
        reply = requests.get(
            f"{CFG.site}/api/{kind}/", verify=str(tls_files(CFG.path("tls")).ca), timeout=30
        )
        reply.raise_for_status()
        IDS[kind] = [row["id"] for row in reply.json()["results"]] or [1]


class Visitor(HttpUser):
    host = CFG.site
    wait_time = constant_throughput(RATE)
    started = 0

    def on_start(self) -> None:
        self.client.verify = str(tls_files(CFG.path("tls")).ca)
        Visitor.started += 1
        self.rng = random.Random(SEED * 1000 + Visitor.started)

    @task(3)
    def dashboard(self) -> None:
        self.client.get("/", name="/")

    @task(3)
    def search_bills(self) -> None:
        q = self.rng.choice(SEARCHES)
        self.client.get(f"/bills/?q={q}&page={self.rng.randint(1, 3)}", name="/bills/?q=")

    @task(3)
    def bill_detail(self) -> None:
        bill = self.rng.choice(IDS["bills"] or [1])
        self.client.get(f"/bills/{bill}/", name="/bills/[id]/")

    @task(1)
    def legislator(self) -> None:
        who = self.rng.choice(IDS["legislators"] or [1])
        self.client.get(f"/legislators/{who}/", name="/legislators/[id]/")

    @task(1)
    def api_bills(self) -> None:
        self.client.get("/api/bills/", name="/api/bills/")
