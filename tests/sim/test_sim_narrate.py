"""The narration tells every outcome the layers define, each in its own words."""

from __future__ import annotations

import pytest

import sim
from sim import layers
from sim.results.narrate import narrate, sentence
from sim.results.records import Record

SCENARIO = sim.load("baseline", ["load_balancer.idle_timeout=2.0", "nginx.proxy_read_timeout=45.0"])

#: For every outcome a layer may stamp: a phrase its sentence must contain.
SAYS = {
    layers.BROWSER_CACHE: "browser's own cache",
    layers.OS_CACHE: "operating system",
    layers.RESOLVER_CACHE: "recursive resolver had",
    layers.AUTHORITATIVE: "authoritative server",
    layers.FULL_MISS: "root server",
    layers.SPILLOVER: "503 (spillover)",
    layers.NO_TARGET: "no healthy instance",
    layers.IDLE_TIMEOUT: "idle timeout (2 s)",
    layers.BACKLOG_FULL: "listen backlog full (2048): 502",
    layers.GATEWAY_TIMEOUT: "no answer within 45 s: 504",
    layers.INSTANCE_STOPPED: "502",
    layers.WORKER_TIMEOUT: "silent 30 s and was killed: 502",
    layers.BAD_DEPLOY: "Django answered 500",
    layers.TOO_MANY_CLIENTS: "too many clients already",
}


def request(layer: str, outcome: str) -> list[Record]:
    """A request that got as far as ``layer``, which stamped ``outcome``."""
    status = layers.STATUS.get(outcome, 200)
    order = ["dns", "connect", "lb", "queue", "app", "db", "download"]
    rows = []
    t = 0.0
    for name in order[: order.index(layer) + 1]:
        stamp = outcome if name == layer else ("full-miss" if name == "dns" else "ok")
        instance, worker = (1, 3) if name in ("queue", "app", "db") else (None, None)
        rows.append(Record(7, name, t, t, t + 0.01, 0.0, 0.01, instance, worker, stamp, status))
        t += 0.01
    if layer == "lb" and status == 200:  # an ok lb names the instance the queue row has
        rows.append(Record(7, "queue", t, t, t + 0.01, 0.0, 0.01, 1, 3, "ok", 200))
    return rows


CASES = [(layer, outcome) for outcome, where in layers.OUTCOMES.items() for layer in where]


def test_every_outcome_has_a_case():
    assert set(SAYS) | {layers.OK} == set(layers.OUTCOMES)
    assert set(layers.FAILURES) == set(layers.STATUS)


@pytest.mark.parametrize(("layer", "outcome"), CASES, ids=[f"{la}-{o}" for la, o in CASES])
def test_each_outcome_is_told_in_its_own_words(layer, outcome):
    rows = request(layer, outcome)
    record = next(r for r in rows if r.layer == layer)
    said = sentence(record, rows, SCENARIO)
    if outcome == layers.OK:
        assert "None" not in said and said != outcome
    else:
        assert SAYS[outcome] in said, said
    if outcome in layers.STATUS:
        assert str(layers.STATUS[outcome]) in said, said


def test_the_load_balancers_timeout_is_not_told_as_nginxs():
    on_queue = sentence(request("queue", layers.IDLE_TIMEOUT)[-1], [], SCENARIO)
    in_surge = sentence(request("lb", layers.IDLE_TIMEOUT)[-1], [], SCENARIO)
    for said in (on_queue, in_surge):
        assert "load balancer" in said and "2 s" in said and "45 s" not in said
    assert "chose instance" not in in_surge


def test_a_whole_narration_names_the_status_and_every_layer():
    rows = request("db", layers.TOO_MANY_CLIENTS)
    text = narrate(rows, 7, SCENARIO, ", the first that failed")
    assert "Request 7, the first that failed: HTTP 500" in text
    for layer in ("dns", "connect", "lb", "queue", "app", "db"):
        assert f" {layer} " in text
