"""A request's journey: its generator, driven from event to event without a ``simpy.Process``.

Think of a relay baton rather than a runner with a support crew: ``simpy.Process`` gives every
process an initialisation event, a completion event and general-purpose bookkeeping, which is
right for long-lived actors and a noticeable share of the cost for a request that lives a few
hundred milliseconds and does nothing but wait for timeouts. A :class:`Journey` starts its
generator at once, hands each yielded event a callback that resumes it, and fires a ``done``
event at the end only if somebody asked for one. It keeps SimPy's semantics where the model
needs them: values of events are sent in, failed events are thrown in, and :meth:`interrupt`
raises ``simpy.Interrupt`` inside the generator (scheduled as urgently as SimPy does).
"""

from __future__ import annotations

from collections.abc import Generator

import simpy
from simpy.events import URGENT


class Journey:
    """Drive ``generator`` (which yields SimPy events) from now on."""

    __slots__ = ("done", "env", "generator", "target")

    def __init__(
        self, env: simpy.Environment, generator: Generator, done: simpy.Event | None = None
    ) -> None:
        self.env = env
        self.generator = generator
        self.done = done  # succeeded with the generator's return value, if given
        self.target: simpy.Event | None = None
        self._advance(generator.send, None)

    @property
    def is_alive(self) -> bool:
        return self.generator is not None

    def _resume(self, event: simpy.Event) -> None:
        if event._ok:
            self._advance(self.generator.send, event._value)
        else:
            event._defused = True
            self._advance(self.generator.throw, event._value)

    def _advance(self, step, value) -> None:
        try:
            target = step(value)
            while target.callbacks is None:  # already processed: go on at once
                target = self.generator.send(target._value)
        except StopIteration as stop:
            self.generator = self.target = None
            if self.done is not None:
                self.done.succeed(stop.value)
            return
        self.target = target
        target.callbacks.append(self._resume)

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
            target.callbacks.remove(self._resume)
        self._advance(self.generator.throw, simpy.Interrupt(cause))
