"""A request's journey: its generator, driven from event to event without a ``simpy.Process``.

Think of a relay baton rather than a runner with a support crew: ``simpy.Process`` gives every
process an initialisation event, a completion event and general-purpose bookkeeping, which is
right for long-lived actors and a noticeable share of the cost for a request that lives a few
hundred milliseconds and does nothing but wait for timeouts. A :class:`Journey` starts its
generator at once, hands each yielded event a callback that resumes it, and fires a ``done``
event at the end only if somebody asked for one. It keeps SimPy's semantics where the model
needs them: values of events are sent in, failed events are thrown in, and :meth:`interrupt`
raises ``simpy.Interrupt`` inside the generator (scheduled as urgently as SimPy does).

A journey's generator may also yield a plain ``float``: a delay of that many seconds, the
request's own ``env.timeout(delay)`` without the ``Timeout`` object (its constructor, its
``schedule`` call and its value are most of what a timeout costs, and a request waits out
about ten of them). The wake-up goes into SimPy's queue exactly as ``env.timeout`` would put
it there (same time, priority and next event id), so the order of events, and with it every
result, is the same. Delays must be non-negative Python floats (they are sampled durations or
differences already checked against a deadline); ``env.timeout`` is still the way to get an
event to combine (``ticket | timeout``) or to hand to somebody else.
"""

from __future__ import annotations

from collections.abc import Generator
from heapq import heappush

import simpy
from simpy.events import NORMAL, URGENT


class Wake:
    """What a yielded delay puts in SimPy's queue: the least an event needs to be processed
    (``callbacks``; ``_ok`` and ``_value`` say it succeeded with no value)."""

    __slots__ = ("callbacks",)
    _ok = True
    _value = None

    def __init__(self, callback) -> None:
        self.callbacks = [callback]


class _Start:
    # A succeeded "event" that starts the generator through the same path as every resume.
    _ok = True
    _value = None


class Journey:
    """Drive ``generator`` (which yields SimPy events or float delays) from now on."""

    __slots__ = ("done", "env", "generator", "resume", "target")

    def __init__(
        self, env: simpy.Environment, generator: Generator, done: simpy.Event | None = None
    ) -> None:
        self.env = env
        self.generator = generator
        self.done = done  # succeeded with the generator's return value, if given
        self.target: simpy.Event | Wake | None = None
        # One bound method for the whole journey, not a new one at every event.
        self.resume = self._resume
        self._resume(_Start)

    @property
    def is_alive(self) -> bool:
        return self.generator is not None

    def _resume(self, event) -> None:
        # The only function between SimPy's scheduler and the generator: it runs once per
        # event of every request, so it does the sending, the skipping of events already
        # processed and the scheduling of delays itself rather than calling helpers.
        generator = self.generator
        # Woken by its own Wake, the journey is the only thing SimPy does at this instant
        # (a Wake has no other callback), which allows the shortcut below.
        alone = event.__class__ is Wake
        try:
            if event._ok:
                target = generator.send(event._value)
            else:
                event._defused = True
                target = generator.throw(event._value)
            while True:
                if target.__class__ is float:
                    env = self.env
                    at = env._now + target
                    queue = env._queue
                    if alone and (not queue or at < queue[0][0]):
                        # The wake-up would be the very next event: SimPy would pop it at
                        # once and call nothing but this journey, so move the clock and go
                        # on without the round trip through the queue. (Its event id would
                        # only have ordered it among events due at the same time; there
                        # are none, and the others keep their order.)
                        env._now = at
                        target = generator.send(None)
                        continue
                    wake = Wake(self.resume)
                    # What env.timeout(delay) does, minus the Timeout object.
                    heappush(queue, (at, NORMAL, next(env._eid), wake))
                    target = wake
                    break
                if target.callbacks is not None:
                    target.callbacks.append(self.resume)
                    break
                target = generator.send(target._value)  # already processed: go on at once
        except StopIteration as stop:
            # Let go of the generator and of the bound method (which points back here): a
            # finished journey leaves no reference cycle behind (see Engine.run on the GC).
            self.generator = self.target = self.resume = None
            if self.done is not None:
                self.done.succeed(stop.value)
            return
        self.target = target

    def interrupt(self, cause: object = None) -> None:
        """Throw ``simpy.Interrupt(cause)`` into the generator, before anything else now."""
        event = simpy.Event(self.env)
        event._ok = True
        event._value = None
        event.callbacks.append(lambda _: self._interrupted(cause))
        self.env.schedule(event, URGENT)

    def _interrupted(self, cause: object) -> None:
        if self.generator is None:
            return
        target = self.target
        if target is not None and target.callbacks is not None:
            target.callbacks.remove(self.resume)
        failed = simpy.Event(self.env)
        failed._ok = False
        failed._value = simpy.Interrupt(cause)
        self._resume(failed)
