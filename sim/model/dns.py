"""Name resolution: browser cache -> OS cache -> recursive resolver -> (root, .us, quorum.us).

Think of looking up a phone number: first the sticky note on your monitor (the browser's host
cache), then your own address book (the OS stub resolver's cache), then you ring directory
enquiries (the ISP's recursive resolver) who either remembers it, or knows whom to call at
the ``.us`` registry and only needs to call Quorum, or has to start from the operator (the
root). Every answer comes with a lifetime (the record's TTL) after which it must be asked again.

Facts (sim/FACTS.md, "DNS"): RFC 1034 5.3.3 resolution chain; Chromium
keeps an OS-resolved answer a fixed 60 s; the ELB record's TTL is 60 s; a warm resolver answers
in 1-20 ms, with only the authoritative step missing 30-80 ms, a full miss 100-400 ms; a lost
UDP packet adds about 1 s (the stub's retransmit timer).

Each browser (``clients`` of them) has its own browser and OS cache; all share one resolver.
Resolution costs no SimPy event: :meth:`Resolver.resolve` returns the time it takes and which
cache answered, and the request charges that time in its first timeout.
"""

from __future__ import annotations

import math

import numpy as np

from sim.config import DnsConfig
from sim.layers import AUTHORITATIVE, BROWSER_CACHE, FULL_MISS, OS_CACHE, RESOLVER_CACHE
from sim.model.distributions import make


class Resolver:
    """The caches of ``clients`` browsers and their machines, and one shared resolver."""

    def __init__(self, config: DnsConfig, rng: np.random.Generator) -> None:
        self.config = config
        self.address = config.address
        self.browser_expiry = [-math.inf] * config.clients
        self.os_expiry = [-math.inf] * config.clients
        self.resolver_expiry = -math.inf  # the quorum.us record at the resolver
        self.tld_expiry = config.tld_ttl if config.resolver_warm else -math.inf
        self._os = make(config.os_hit).sampler(rng)
        self._hit = make(config.resolver_hit).sampler(rng)
        self._auth = make(config.authoritative_miss).sampler(rng)
        self._full = make(config.full_miss).sampler(rng)
        self._loss = config.packet_loss
        self._uniform = _uniform_sampler(rng) if self._loss > 0 else None

    def resolve(self, client: int, now: float, cached: bool | None = None) -> tuple[float, str]:
        """``(seconds, outcome)`` for ``client`` resolving at ``now``.

        ``cached`` lets a caller that tracks its own browser cache (a user session) decide:
        ``True`` is a browser-cache hit, ``False`` a browser-cache miss.
        """
        expiry = self.browser_expiry
        if cached is None:
            cached = now < expiry[client]
        if cached:
            return 0.0, BROWSER_CACHE
        c = self.config
        if now < self.os_expiry[client]:
            expiry[client] = now + c.browser_ttl
            return self._os(), OS_CACHE
        if now < self.resolver_expiry:
            seconds, outcome = self._hit(), RESOLVER_CACHE
        elif now < self.tld_expiry:
            seconds, outcome = self._auth(), AUTHORITATIVE
            self.resolver_expiry = now + c.record_ttl
        else:
            seconds, outcome = self._full(), FULL_MISS
            self.tld_expiry = now + c.tld_ttl
            self.resolver_expiry = now + c.record_ttl
        if self._uniform is not None and self._uniform() < self._loss:
            seconds += c.retransmit
        # The OS keeps the answer for what is left of its TTL; the browser a fixed lifetime.
        self.os_expiry[client] = self.resolver_expiry
        expiry[client] = now + c.browser_ttl
        return seconds, outcome


def _uniform_sampler(rng: np.random.Generator):
    buffer: list[float] = []

    def next_uniform() -> float:
        if not buffer:
            buffer.extend(rng.random(4096).tolist())
        return buffer.pop()

    return next_uniform
