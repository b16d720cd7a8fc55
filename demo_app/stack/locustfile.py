"""Locust users for the lab: visitors reading the legislative tracker through quorum.us.

Like the regulars of a library: most glance at the front page, search the catalogue and open a
few records; some use the API. The mix is ``mix.py`` (calibrate draws from it too). Each user
sends a request, waits for its answer, then thinks for an exponential time of mean
1 / ``LAB_USER_RATE`` seconds, and again: a closed loop, as the simulation's ``[users]`` with
``think_time = { kind = "exponential", mean = 1 / rate }`` (``compare`` runs both). A user
offers ``rate`` requests per second while answers are quick, so ``users x rate`` is the load
offered to an idle lab; a slow lab slows its own traffic down, as people do. A user keeps its
connection alive (``requests.Session``), so TCP and TLS are paid once per user.

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

from locust import HttpUser, events, task

from demo_app.stack.certs import tls_files
from demo_app.stack.config import ZONE, LabConfig
from demo_app.stack.dns import CachingResolver
from demo_app.stack.mix import choose

CFG = LabConfig.load(Path(os.environ.get("LAB_STATE_DIR", "var/lab")))
if CFG is None:
    raise SystemExit("no lab plan: run `python -m demo_app.stack up` first")
RATE = float(os.environ.get("LAB_USER_RATE", "1.0"))
#: Each user draws its pages from its own generator, seeded from this and its number.
SEED = int(os.environ.get("LAB_LOAD_SEED", "2026"))

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
    started = 0

    def on_start(self) -> None:
        self.client.verify = str(tls_files(CFG.path("tls")).ca)
        Visitor.started += 1
        self.rng = random.Random(SEED * 1000 + Visitor.started)

    def wait_time(self) -> float:
        """The think time after each answer: exponential, mean 1 / RATE seconds.

        Locust calls it once the task's request has been answered (or failed), so a user never
        has two requests out: the simulation's ``[users]`` with an exponential think time of
        the same mean. Random rather than constant times keep users spawned in the same second
        from staying in step and arriving in bursts; while answers are quick, the sum over
        users is about a Poisson stream of users x RATE.
        """
        return self.rng.expovariate(RATE)

    @task
    def visit(self) -> None:
        path, name = choose(self.rng, IDS)
        self.client.get(path, name=name)
