"""Numbered slots (Gunicorn slots, vCPUs, database CPUs) that cost no event when one is free.

Think of a car park with numbered bays and a barrier: when a bay is free you drive straight in
and nobody has to phone you; only when it is full do you take a ticket and wait for a call.
``simpy.Resource`` always phones (every request is an event the scheduler must process, even
when a server is idle). Most requests in a healthy system find a free worker and a free vCPU,
so :class:`Slots` hands a free slot over at once and creates an event only for those who must
queue (first come, first served).

A request takes a free slot with :meth:`acquire` (no event at all) and, when there is none,
waits in line by yielding the pool itself (``core = yield vcpus``): the engine joins the queue
and, if the request is cut short while waiting, leaves it again. A request that would wait
only to keep the slot for a known time yields a hold instead (``yield vcpus, burst``, as a
CPU burst does when every vCPU is busy): the engine takes the slot when its turn comes, keeps
it and gives it back (``sim/engine/kernel.py``), handing it straight on to the next in line
as :meth:`release` would. Other processes use :meth:`wait` and :meth:`cancel` themselves.

It also keeps the books a sampler or the statistics read: how many slots are busy now and the
busy-slot-seconds so far (``busy_time()``), for utilisation.
"""

from __future__ import annotations

from collections import deque

import simpy


class Slots:
    """``capacity`` numbered slots with a FIFO queue of waiters.

    >>> env = simpy.Environment(); cpus = Slots(env, 2)
    >>> cpus.acquire(), cpus.acquire(), cpus.acquire()
    (0, 1, None)
    >>> ticket = cpus.wait(); cpus.release(0); env.run(); ticket.value
    0
    """

    __slots__ = ("_area", "_last", "busy", "capacity", "env", "free", "waiters")

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        self.env = env
        self.capacity = capacity
        self.free = list(range(capacity - 1, -1, -1))  # pop() hands out slot 0 first
        self.busy = 0
        self.waiters: deque = deque()  # tickets, first come first served
        self._area = 0.0
        self._last = env.now

    def _account(self) -> None:
        now = self.env.now
        self._area += self.busy * (now - self._last)
        self._last = now

    def acquire(self) -> int | None:
        """A free slot's number now, or ``None`` (then :meth:`wait`). Never jumps the queue."""
        if self.free and not self.waiters:
            now = self.env.now
            self._area += self.busy * (now - self._last)
            self._last = now
            self.busy += 1
            return self.free.pop()
        return None

    def wait(self, ticket=None) -> simpy.Event:
        """Join the queue; the event's value is the slot number handed over. ``ticket``: a
        place in line of the caller's own making (anything with ``succeed(slot)``,
        ``triggered`` and ``value``, as the engine's journeys bring), else a new event."""
        if ticket is None:
            ticket = self.env.event()
        self.waiters.append(ticket)
        return ticket

    def release(self, slot: int) -> None:
        """Give ``slot`` back: straight to the longest waiter if there is one."""
        if self.waiters:
            self.waiters.popleft().succeed(slot)
        else:
            now = self.env.now
            self._area += self.busy * (now - self._last)
            self._last = now
            self.busy -= 1
            self.free.append(slot)

    def cancel(self, ticket: simpy.Event) -> None:
        """Leave the queue (timed out, interrupted); a slot already handed over goes back."""
        if ticket.triggered:
            self.release(ticket.value)
        else:
            self.waiters.remove(ticket)

    @property
    def queued(self) -> int:
        """How many are waiting."""
        return len(self.waiters)

    def busy_time(self) -> float:
        """Busy-slot-seconds since the start (utilisation = its growth / capacity / time)."""
        self._account()
        return self._area
