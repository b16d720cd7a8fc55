"""The kernel's scheduler: how Django's CPU bursts share an instance's vCPUs.

Think of two chess masters giving a simultaneous exhibition: they walk from board to board, so
every game in progress moves on, each the more slowly the more boards there are; with two
boards or fewer each game has a master to itself. No player waits for a game to end before his
own begins.

An instance runs its Gunicorn workers as operating-system threads, and the Linux scheduler
gives each runnable thread slices of a few milliseconds in turn on the vCPUs it has, far
shorter than a request's bursts. Two ways to model that (``[instances] cpu_discipline``,
``sim/FACTS.md``, "The kernel's scheduler"):

- ``fcfs``: a burst takes a vCPU and holds it to the end, the others queue in order of arrival
  (:class:`~sim.model.slots.Slots`). Simple and fast; right when bursts are short next to a
  time slice, or when there are no more runnable threads than vCPUs.
- ``ps`` (processor sharing, :class:`SharedCores` below): the time slices taken to the limit.
  The ``n`` bursts in progress on ``c`` vCPUs share them equally, each progressing at
  ``min(1, c / n)`` seconds of CPU per second. Nobody waits in line, everybody slows down: a
  short burst is not stuck behind a long one, and a long one is stretched by everyone else.

How :class:`SharedCores` computes it, event by event. Everything in progress moves at the same
rate, so one number describes all of them: the *virtual clock* ``V``, the CPU seconds a burst
in progress has received since ``V`` was 0, which advances at ``min(1, c / n)`` between
events. A burst of ``w`` CPU seconds joining at ``V0`` is done when ``V`` reaches ``V0 + w``.
The next to finish is the smallest such finish (a heap); the real time it takes is what ``V``
still has to go divided by the rate. Only when a burst joins or leaves does the rate change,
and only then is the next one planned again: one wake-up pending per instance, never one per
burst. A pending wake-up that comes early (more bursts joined since) only plans again; one
that would come too late (a burst left) is replaced, and does nothing when it comes.

A burst that starts with a vCPU to itself (no more bursts than vCPUs) runs at full speed for
as long as nobody else joins: its request simply waits out its work, as with ``fcfs``, and
costs the cores no wake-up at all. Only when a join leaves more bursts than vCPUs do the cores
take such a burst over (its request then waits for the cores to say it is done), and from then
on it is shared like the others. Most bursts of a lightly loaded instance never are.

A Gunicorn ``sync`` worker's deadline (its ``timeout``) may cut a burst short; so may a crash.
Either way the burst leaves at that moment, having received ``V - V0`` CPU seconds, which is
what the request is charged as time on a vCPU (the rest of its time in the burst is time
spent waiting for its turn). The busy-vCPU-seconds a sampler reads are ``min(n, c)`` over time.
"""

from __future__ import annotations

import heapq
import itertools
import math

import simpy


class Burst:
    """One CPU burst on :class:`SharedCores`.

    While it has a vCPU to itself, ``rider`` is the request's journey, which waits out the
    work itself, and ``event`` is None. Shared, ``event`` succeeds when its work is done or
    when its ``deadline`` comes first (then ``expired`` is true). ``attained`` is the CPU time
    it received, set when it leaves."""

    __slots__ = (
        "attained",
        "deadline",
        "due",
        "event",
        "expired",
        "finish",
        "rider",
        "running",
        "start",
        "work",
    )

    def __init__(self, work: float, start: float, deadline: float) -> None:
        self.work = work
        self.start = start  # the virtual clock when it joined
        self.finish = start + work  # ... and when it will be done
        self.deadline = deadline
        self.attained = 0.0
        self.running = True
        self.expired = False
        self.rider = None  # the journey waiting out its work, while it has a vCPU to itself
        self.due = math.inf  # ... and when that wait ends
        self.event: simpy.Event | None = None  # what to wait for once shared


class SharedCores:
    """``capacity`` vCPUs shared equally by the bursts in progress (processor sharing).

    ``start(work, deadline, journey)`` returns a :class:`Burst`: with a vCPU to itself and a
    ``journey`` given, the journey waits out ``work`` itself (``burst.event`` is None) and
    calls ``leave(burst)`` when done or cut short; otherwise it waits for ``burst.event``.
    ``busy`` and ``busy_time()`` are the books the statistics read, as
    :class:`~sim.model.slots.Slots` keeps them.
    """

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        self.env = env
        self.capacity = capacity
        self.running = 0  # bursts in progress
        self._virtual = 0.0  # V: CPU seconds each burst in progress has received since 0
        self._last = env.now  # when V and the busy area were last brought up to date
        self._area = 0.0  # busy-vCPU-seconds
        self._finishes: list[tuple[float, int, Burst]] = []  # (finish, order, burst)
        self._deadlines: list[tuple[float, int, Burst]] = []  # (deadline, order, burst)
        self._order = itertools.count()  # ties are broken by order of joining
        self._riders: list[Burst] = []  # bursts with a vCPU to themselves, their journeys waiting
        # The one pending wake-up: when it comes (``_wake_at``) and its number (``_wake``; a
        # replaced one that comes anyway does nothing). The plan: when the next thing is due
        # (``_plan_at``) and which finish that is (``_due``; -inf for a deadline).
        self._wake = 0
        self._wake_at = math.inf
        self._plan_at = math.inf
        self._due = -math.inf

    @property
    def busy(self) -> int:
        """vCPUs busy now: every one while there are at least as many bursts."""
        return min(self.running, self.capacity)

    def busy_time(self) -> float:
        """Busy-vCPU-seconds since the start (utilisation = its growth / capacity / time)."""
        self._advance()
        return self._area

    def start(self, work: float, deadline: float = math.inf, journey=None) -> Burst:
        """A burst of ``work`` CPU seconds joins now; it is cut short at ``deadline``.
        ``journey`` (the kernel's, optional) may wait out the work itself while the burst has
        a vCPU to itself."""
        self._advance()
        burst = Burst(work, self._virtual, deadline)
        self.running += 1
        if journey is not None and self.running <= self.capacity:
            burst.rider = journey
            burst.due = self.env.now + work  # what the journey's own wait will come to
            self._riders.append(burst)
            return burst
        if self.running > self.capacity and self._riders:
            self._take_over()
        self._manage(burst)
        self._replan()
        return burst

    def leave(self, burst: Burst) -> None:
        """Take ``burst`` out now: a burst with a vCPU to itself whose journey has waited out
        its work, or any burst cut short (its request was)."""
        if not burst.running:
            return
        self._advance()
        if burst.rider is not None:
            # It ran at full speed all along (a join would have taken it over).
            self._riders.remove(burst)
            now = self.env.now
            burst.attained = burst.work if now >= burst.due else now - burst.due + burst.work
            burst.running = False
            burst.rider = None
            self.running -= 1
            return  # the others ran at full speed too, and still do: nothing to plan again
        self._stop(burst)
        self._replan()

    # -- the mechanics --------------------------------------------------------------------
    def _advance(self) -> None:
        # Bring V and the busy area up to now, at the rate of the bursts in progress since
        # the last change (there was none in between: every change calls this first).
        now = self.env.now
        n = self.running
        if n:
            c = self.capacity
            elapsed = now - self._last
            self._virtual += elapsed if n <= c else elapsed * c / n
            self._area += (n if n <= c else c) * elapsed
        self._last = now

    def _manage(self, burst: Burst) -> None:
        # From now on the cores say when ``burst`` is done (or expired).
        burst.event = simpy.Event(self.env)
        order = next(self._order)
        heapq.heappush(self._finishes, (burst.finish, order, burst))
        if burst.deadline != math.inf:
            heapq.heappush(self._deadlines, (burst.deadline, order, burst))

    def _take_over(self) -> None:
        # A join leaves more bursts than vCPUs: the bursts that had one to themselves slow
        # down too, so their journeys wait for the cores instead of their own wake-ups.
        riders, self._riders = self._riders, []
        for burst in riders:
            journey, burst.rider = burst.rider, None
            self._manage(burst)
            journey.wait_instead(burst.event)

    def _stop(self, burst: Burst) -> None:
        burst.attained = self._virtual - burst.start
        burst.running = False
        self.running -= 1
        # Its heap entries stay where they are and are skipped when they reach the top.

    def _replan(self) -> None:
        # When the next thing is due: the first finish, or a deadline before it.
        finishes, deadlines = self._finishes, self._deadlines
        while finishes and not finishes[0][2].running:
            heapq.heappop(finishes)
        while deadlines and not deadlines[0][2].running:
            heapq.heappop(deadlines)
        if not finishes:
            self._plan_at = math.inf
            return
        n, c, now = self.running, self.capacity, self.env.now
        due = finishes[0][0]
        # (A burst due now may be a rounding error past V's step: never plan in the past.)
        at = now + max(due - self._virtual, 0.0) * (1.0 if n <= c else n / c)
        if deadlines and deadlines[0][0] < at:
            at, due = deadlines[0][0], -math.inf
        self._plan_at, self._due = at, due
        # A wake-up already pending at or before that time will do: when it comes early it
        # only plans again. Only a plan earlier than it needs a new one (the old one, when it
        # comes, is not the one that counts and does nothing).
        if self._wake_at <= at:
            return
        self._wake += 1
        self._wake_at = at
        wake = self._wake
        self.env.timeout(at - now).callbacks.append(lambda _: self._woken(wake))

    def _woken(self, wake: int) -> None:
        if wake != self._wake:  # replaced by an earlier one
            return
        self._wake_at = math.inf
        self._advance()
        now = self.env.now
        if now == self._plan_at and self._due > self._virtual:
            # The plan this wake-up was for still holds (every change since would have
            # planned again), so its burst is done now exactly: set V to its finish rather
            # than trust the rounding of V's steps (bursts that must finish together then do).
            self._virtual = self._due
        finishes, deadlines = self._finishes, self._deadlines
        v = self._virtual
        while finishes and finishes[0][0] <= v:
            burst = heapq.heappop(finishes)[2]
            if burst.running:
                self._stop(burst)
                burst.attained = burst.work
                burst.event.succeed()
        while deadlines and deadlines[0][0] <= now:
            burst = heapq.heappop(deadlines)[2]
            if burst.running:
                self._stop(burst)
                burst.expired = True
                burst.event.succeed()
        self._replan()
