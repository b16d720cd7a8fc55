"""The kernel: how a request's generator is driven, and SimPy's step loop. The only code of the
project that touches SimPy's private attributes (``env._now``, ``_queue``, ``_eid``,
``event._ok``, ``_value``, ``_defused``), for speed.

Think of a relay baton rather than a runner with a support crew: ``simpy.Process`` gives every
process an initialisation event, a completion event and general-purpose bookkeeping, which is
right for long-lived actors and a noticeable share of the cost for a request that lives a few
hundred milliseconds and mostly waits. A :class:`Journey` starts its generator at once, hands
each yielded event a callback that resumes it, and fires a ``done`` event at the end only if
somebody asked for one (processed on the spot when it would be the very next event anyway, as
a delay's wake-up is). It keeps SimPy's semantics where the model needs them: values of events
are sent in, failed events are thrown in, and :meth:`Journey.interrupt` raises
``simpy.Interrupt`` inside the generator (scheduled as urgently as SimPy does).

What a journey's generator may yield:

- a ``float``: wait that many seconds. The request's own ``env.timeout(delay)`` without the
  ``Timeout`` object (its constructor, its ``schedule`` call and its value are most of what a
  timeout costs): the wake-up goes into SimPy's queue exactly as ``env.timeout`` would put it
  there (same time, priority and next event id), so the order of events is the same; and a
  wake-up that is the very next event anyway skips the queue. Delays must be non-negative
  Python floats.
- a :class:`~sim.model.slots.Slots` pool: take one of its slots (its number is sent back), at
  once when one is free (no event at all), else waiting in line with a :class:`Ticket`, which
  goes into SimPy's queue itself when the slot is handed over, where ``pool.wait()``'s event
  would.
- a ``(pool, seconds)`` pair, a *hold*: take one of the pool's slots, keep it ``seconds``
  (a float), give it back, in one step: what ``slot = yield pool``, ``yield seconds`` and
  ``pool.release(slot)`` in a ``finally`` do, event for event, without resuming the
  generator in between. It is resumed at the end, with the time the slot was taken
  (:attr:`Journey.held_since` says it too, for a hold cut short: None while still in line).
- any SimPy event: wait for it.

A hold is a cloakroom ticket rather than a queue you stand in yourself: once in line, a
request is not woken to take its slot, hold it and give it back; the kernel does each of those
where the request would have. A slot handed to a ticket for a hold makes the ticket's hop start
the hold (:meth:`Ticket.start`: the end of the hold goes into SimPy's queue, with the event id
the delay would have taken then). And when a hold ends by handing its slot to the next in
line for a hold, that ticket's hop would be the very next event unless something else is due
at the same instant: it is processed when the ending hold's event is over, without the round
trip through the queue (:meth:`Journey._hand_on`, :meth:`Ticket.turn`). With two vCPUs to
nine workers nearly every burst waits in line, and each then costs one event instead of two.

The model reads the clock as ``env.now``; :class:`Environment` makes that a plain attribute.

A journey may carry a deadline (:meth:`Journey.set_deadline`): whatever it waits for, if the
deadline comes first the wait ends at the deadline, a place in a pool's line is given up, and
the deadline's exception is thrown in. Gunicorn's arbiter killing a silent worker is such a
deadline (``sim/model/instance.py``). (An event yielded as such is waited for whatever the
deadline: time-sliced vCPUs enforce it on their bursts themselves, ``sim/model/cpu.py``.) A
delay is simply cut at the deadline. A wait in line with a deadline means, in plain SimPy,
``ticket | env.timeout(deadline - now)``: a timeout and a condition per wait, and the timeout
stays in the queue until it falls due although the slot nearly always comes first. Here the
deadline is filed in the environment's book instead (once per journey), and a look-out in
SimPy's queue, shortly before it falls due, arms it (puts its hop in the queue, with the event
id the timeout took) only if the journey is still in line then; the condition's hop is taken
only when something else is due at that instant too (else it would be the very next event).

:meth:`Journey.wait_instead` turns a wait for a delay into a wait for an event: time-sliced
vCPUs let a burst with a vCPU to itself be waited out as a plain delay, and take it over when
a join leaves it sharing.

:func:`run_until` is ``env.run(until=...)`` with SimPy's step loop written out.
``tests/sim/test_sim_scheduling.py`` checks that all of this computes exactly what plain SimPy
(``Timeout`` objects, ``env.run``) computes.
"""

from __future__ import annotations

import gc
import itertools
import math
from bisect import insort
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from heapq import heappop, heappush

import simpy
from simpy.events import NORMAL, PENDING, URGENT

from sim.model.slots import Slots


class Environment(simpy.Environment):
    """SimPy's environment with the clock as a plain attribute: the model reads ``env.now``
    a few dozen times per request, and a property call each time is a measurable share of a
    run. SimPy's own code keeps using ``_now``, which here is the property."""

    now: float = 0.0  # shadows SimPy's read-only property; set per instance

    @property
    def _now(self) -> float:  # type: ignore[override]
        return self.now

    @_now.setter
    def _now(self, value: float) -> None:
        self.now = value

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        # Deadlines of journeys waiting in a pool's line (see Journey._line_up): filed here by
        # when they fall due, with one look-out in SimPy's queue for the earliest. A list kept
        # in order, read from ``_read`` on: deadlines are nearly always filed in the order
        # they fall due (a worker's timeout after its start), so filing one is an append and
        # the look-out passes over those no longer due (most of them) without a heap's work.
        self._book: list[tuple[float, int, Filed]] = []
        self._read = 0
        self._filed = itertools.count()
        self._lookouts = itertools.count(1)
        self._lookout_at = math.inf

    def schedule(self, event, priority=NORMAL, delay: float = 0) -> None:
        """SimPy's ``schedule``, reading the clock as the attribute it is here."""
        heappush(self._queue, (self.now + delay, priority, next(self._eid), event))

    def _file(self, filed: Filed) -> None:
        # A journey with a deadline waits in a pool's line for the first time: keep its
        # deadline in the book, and make sure a look-out comes before it falls due.
        book = self._book
        entry = (filed.at, next(self._filed), filed)
        if not book or filed.at >= book[-1][0]:
            book.append(entry)
        else:  # out of order: in its place among those still to be read
            insort(book, entry, lo=self._read)
        early = _early(filed.at)
        if early < self._lookout_at:
            self._plan_lookout(early)

    def _plan_lookout(self, early: float) -> None:
        self._lookout_at = early
        # URGENT and a negative number: before anything else due then, so that the deadline
        # hops it arms (due a little later, never earlier) are in the queue before their turn.
        heappush(self._queue, (early, URGENT, -next(self._lookouts), Wake(self._look_out)))

    def _look_out(self, _event) -> None:
        # Deadlines about to fall due: arm those whose journeys wait in a line now; the others
        # (finished, between waits, or their deadline changed) are dropped from the book.
        now = self.now
        if now == self._lookout_at:
            self._lookout_at = math.inf
        book, read = self._book, self._read
        end = len(book)
        while read < end:
            at, _, filed = book[read]
            journey = filed.journey
            if journey is not None:
                if _early(at) > now:
                    break
                filed.journey = journey.filed = None
                ticket = journey.ticket
                if ticket is not None and ticket.eid is not None:
                    ticket.arm()
            read += 1
        if read == end:
            book.clear()
            read = 0
        elif read > 1024 and 2 * read > end:  # let go of what was read
            del book[:read]
            read = 0
        self._read = read
        if book and _early(book[read][0]) < self._lookout_at:
            self._plan_lookout(_early(book[read][0]))


class Wake:
    """What a yielded delay puts in SimPy's queue: the least an event needs to be processed
    (``callbacks``; ``_ok`` and ``_value`` say it succeeded with no value). A journey uses
    its own again once SimPy has processed it (``callbacks`` None)."""

    __slots__ = ("_ok", "callbacks")
    _value = None

    def __init__(self, callback) -> None:
        self.callbacks = [callback]
        self._ok = True  # (a slot: SimPy's loop reads it for every event, and reads a slot faster)


def _let_go(target, resume) -> None:
    # Stop waiting for ``target`` (still to be processed): the kernel's own Wakes and Tickets
    # get a new, empty list (a journey's list may be shared by its Wake and Tickets), any
    # other event loses ``resume`` from its callbacks.
    callbacks = target.callbacks
    if callbacks:
        if target.__class__ is Wake or target.__class__ is Ticket:
            target.callbacks = []
        else:
            callbacks.remove(resume)


#: How much earlier than a deadline (relative) its look-out comes.
EARLY = 1e-13


def _early(at: float) -> float:
    # A little before ``at``: a deadline waited for from ``now`` falls due at ``now + (at -
    # now)``, as ``env.timeout`` computes it, which rounding may put an ulp or two before
    # ``at``; the look-out comes this much earlier (it changes nothing, whenever it comes).
    return at - abs(at) * EARLY


class Filed:
    """A journey's deadline in the environment's book (``journey`` None: no longer due)."""

    __slots__ = ("at", "journey")

    def __init__(self, journey: Journey, at: float) -> None:
        self.journey = journey
        self.at = at


class Ticket:
    """A journey's place in a pool's line: what :meth:`Slots.release
    <sim.model.slots.Slots.release>` hands a slot to (``succeed``). It goes into SimPy's queue
    itself, where ``pool.wait()``'s event would, and resumes the journey when its turn comes.

    With a deadline it stands for SimPy's ``ticket | env.timeout(deadline - now)``: whichever
    of the two comes first (the slot handed over, or the deadline, armed by the environment's
    look-out) triggers the condition, and the journey resumes when the condition's own event
    would be processed; at once when nothing else is due at that instant, since that event
    would be the very next one.

    For a hold (``yield (pool, seconds)``) its hop does not resume the journey but starts the
    hold (:meth:`start`); handed over by the end of another hold, its hop is taken when that
    event is over (:meth:`turn`), and ``hop`` keeps its event id until then."""

    __slots__ = (
        "_ok",
        "armed",
        "at",
        "callbacks",
        "decided",
        "eid",
        "hold",
        "hop",
        "journey",
        "triggered",
        "value",
    )
    _value = None

    def __init__(self, journey: Journey, callbacks, hold: float | None = None) -> None:
        self._ok = True  # (a slot, as a Wake's)
        self.journey = journey
        self.callbacks = callbacks
        self.hold = hold  # to hold the slot this long (None: to take it)
        self.triggered = False
        self.value = None
        self.eid: int | None = None  # with a deadline: the timeout's place among its equals
        self.at = math.inf  # ... and when it falls due
        self.decided = False  # the condition has triggered (or the wait was abandoned)
        self.armed = False  # the deadline's hop is in the queue

    def succeed(self, value: int) -> None:
        """The pool hands slot ``value`` over now."""
        self.triggered = True
        self.value = value
        env = self.journey.env
        heappush(env._queue, (env.now, NORMAL, next(env._eid), self))

    def arm(self) -> None:
        """Put the deadline's hop in SimPy's queue, where the timeout would have been."""
        if not self.armed:
            self.armed = True
            heappush(self.journey.env._queue, (self.at, NORMAL, self.eid, Wake(self.decide)))

    def decide(self, _event=None) -> None:
        # The first of the ticket's hop and the deadline's: the condition triggers now.
        if self.decided:
            return
        self.decided = True
        journey = self.journey
        env = journey.env
        queue = env._queue
        if queue and queue[0][0] <= env.now:  # others due now: the condition's event waits
            wake = Wake(journey.resume)
            heappush(queue, (env.now, NORMAL, next(env._eid), wake))
            journey.target = wake
        else:
            journey.resume(self)

    def start(self, _event=None) -> None:
        # The ticket's hop, for a place in line to hold a slot: where the journey would take
        # the slot it was handed and yield the hold's seconds, the end of the hold goes into
        # the queue at once (with the event id the delay would take now), without resuming
        # the generator. With a deadline, this is the condition triggering, as in decide().
        if self.decided:
            return
        self.decided = True
        journey = self.journey
        env = journey.env
        queue = env._queue
        now = env.now
        if self.eid is not None and queue and queue[0][0] <= now:
            # Others due now: the condition's event waits (the hold starts in _resume).
            wake = Wake(journey.resume)
            heappush(queue, (now, NORMAL, next(env._eid), wake))
            journey.target = wake
            return
        journey.holding, journey.slot, journey.held_since = journey.pool, self.value, now
        journey.pool = journey.ticket = None
        at = now + self.hold
        deadline = journey.deadline
        if at > deadline:  # cut short, as a delay is
            at = now + (deadline - now)
            journey.expired = True
        wake = journey.wake
        if wake is not None and wake.callbacks is None:  # processed: use again
            wake.callbacks = journey.calls
        else:
            wake = journey.wake = Wake(journey.resume)
        heappush(queue, (at, NORMAL, next(env._eid), wake))
        journey.target = wake

    def turn(self) -> None:
        # The hop of a ticket handed its slot by a journey ending its hold (Journey._hand_on),
        # now that the journey's event is over: processed here (start) if it is the very next
        # event, as SimPy's step would pop it at once, else into the queue at its place.
        env = self.journey.env
        queue = env._queue
        now = env.now
        if not queue or queue[0][0] > now or queue[0] > (now, NORMAL, self.hop):
            self.start()
        else:
            heappush(queue, (now, NORMAL, self.hop, self))


#: The callbacks of a ticket with a deadline, and of one to hold a slot: one tuple for all
#: (SimPy only iterates them).
_DECIDE = (Ticket.decide,)
_START = (Ticket.start,)


class _Start:
    # A succeeded "event" that starts the generator through the same path as every resume.
    _ok = True
    _value = None


class Journey:
    """Drive ``generator`` (which yields floats, pools or SimPy events) from now on."""

    __slots__ = (
        "calls",
        "deadline",
        "done",
        "env",
        "expired",
        "filed",
        "generator",
        "held_since",
        "holding",
        "on_deadline",
        "pool",
        "resume",
        "slot",
        "spare",
        "target",
        "ticket",
        "wake",
    )

    def __init__(
        self, env: simpy.Environment, generator: Generator, done: simpy.Event | None = None
    ) -> None:
        self.env = env
        self.generator = generator
        self.done = done  # succeeded with the generator's return value, if given
        self.target = None  # the event (or Wake) it waits for
        self.deadline = math.inf
        self.on_deadline: type[BaseException] | None = None
        self.expired = False  # the wake-up now due is the deadline's
        self.pool: Slots | None = None  # waiting in this pool's line ...
        self.ticket: Ticket | None = None  # ... with this ticket
        self.spare: Ticket | None = None  # the last ticket, to be used again if done with
        self.filed: Filed | None = None  # the deadline in the environment's book
        self.holding: Slots | None = None  # holding slot ``slot`` of this pool ...
        self.slot = 0
        self.held_since: float | None = None  # ... since then (None: still in line)
        # One bound method for the whole journey, not a new one at every event, in one list
        # its Wake and its Tickets share as their callbacks.
        self.resume = self._resume
        self.calls = [self.resume]
        self.wake: Wake | None = None  # its own Wake, used again once processed
        self._resume(_Start)

    @property
    def is_alive(self) -> bool:
        return self.generator is not None

    def set_deadline(self, at: float, exception: type[BaseException] | None = None) -> None:
        """From now on, throw ``exception`` in at ``at`` if the generator is still waiting
        then (``math.inf``: no deadline)."""
        self.deadline = at
        self.on_deadline = exception
        if self.filed is not None:  # the one in the book is no longer due
            self.filed.journey = self.filed = None

    def _resume(self, event) -> None:
        # The only function between SimPy's scheduler and the generator: it runs once per
        # event of every request, so it does the sending, the taking of free slots and the
        # scheduling of delays itself rather than calling helpers.
        generator = self.generator
        # Woken by its own Wake, the journey is the only thing SimPy does at this instant
        # (a Wake has no other callback), which allows the shortcut below.
        # (So is a ticket: it has no other callback either.)
        cls = event.__class__
        alone = cls is Wake or cls is Ticket
        # A ticket to hold a slot, handed the slot this journey gave back (see _hand_on):
        # its hop is due now, after this event, but not yet in the queue.
        handed = None
        try:
            if self.holding is not None:  # a hold is over, or cut short by the deadline
                # The slot goes back first, where the model's ``finally`` would give it back.
                pool, self.holding = self.holding, None
                if pool.waiters:
                    handed = self._hand_on(pool)
                else:
                    pool.release(self.slot)
                if self.expired:
                    self.expired = False
                    target = generator.throw(self.on_deadline())
                else:
                    target = generator.send(self.held_since)
            elif alone and not self.expired and self.pool is None:  # the usual: a delay is over
                target = generator.send(None)
            elif self.expired:
                self.expired = False
                target = generator.throw(self.on_deadline())
            elif self.pool is not None:  # woken from a pool's line
                pool, ticket, self.pool, self.ticket = self.pool, self.ticket, None, None
                if ticket.triggered:
                    if ticket.hold is None:
                        target = generator.send(ticket.value)
                    else:  # a hold's slot: held from now on, without resuming the generator
                        self.holding, self.slot, self.held_since = pool, ticket.value, self.env.now
                        target = ticket.hold
                else:  # the deadline's timeout came first: give the place in line up
                    pool.cancel(ticket)
                    target = generator.throw(self.on_deadline())
            elif event._ok:
                target = generator.send(event._value)
            else:
                event._defused = True
                target = generator.throw(event._value)
            while True:
                cls = target.__class__
                if cls is not float:
                    if cls is tuple:  # a hold: (pool, seconds)
                        pool, target = target
                        if not pool.free or pool.waiters:  # (what acquire() looks at first)
                            # In line, its ticket an event of its own.
                            self.held_since = None
                            target = self._line_up(pool, target)
                            break
                        # A free slot: taken at once, no event; the end of the hold is a
                        # delay's (below).
                        self.slot = pool.acquire()
                        self.holding = pool
                        self.held_since = self.env.now
                    elif cls is Slots:
                        if target.free and not target.waiters:  # (what acquire() looks at)
                            # A free slot: taken at once, no event.
                            target = generator.send(target.acquire())
                            continue
                        # Every slot taken: a place in line, its ticket an event of its own.
                        target = self._line_up(target)
                        break
                    elif target.callbacks is not None:  # an event
                        target.callbacks.append(self.resume)
                        break
                    else:  # an event already processed: go on at once
                        target = generator.send(target._value)
                        continue
                # A delay (or a hold's).
                env = self.env
                now = env.now
                at = now + target
                if at > self.deadline:
                    at = now + (self.deadline - now)
                    self.expired = True
                queue = env._queue
                if alone and handed is None and (not queue or at < queue[0][0]):
                    # The wake-up would be the very next event: SimPy would pop it at once
                    # and call nothing but this journey, so move the clock and go on without
                    # the round trip through the queue. (Its event id would only have
                    # ordered it among events due at the same time; there are none, and the
                    # others keep their order.)
                    env.now = at
                    value = None
                    if self.holding is not None:  # the end of a hold
                        value = self.held_since
                        pool, self.holding = self.holding, None
                        if pool.waiters:
                            handed = self._hand_on(pool)
                        else:
                            pool.release(self.slot)
                    if self.expired:
                        self.expired = False
                        target = generator.throw(self.on_deadline())
                    else:
                        target = generator.send(value)
                    continue
                wake = self.wake
                if wake is not None and wake.callbacks is None:  # processed: use again
                    wake.callbacks = self.calls
                else:
                    wake = self.wake = Wake(self.resume)
                # What env.timeout(delay) does, minus the Timeout object.
                heappush(queue, (at, NORMAL, next(env._eid), wake))
                target = wake
                break
        except StopIteration as stop:
            # Let go of the generator and of the bound method (which points back here): a
            # finished journey leaves no reference cycle behind (see Engine.run on the GC).
            self.generator = self.target = self.resume = self.calls = self.wake = None
            self.spare = None
            if self.filed is not None:
                self.filed.journey = self.filed = None
            done = self.done
            if done is not None:
                queue = self.env._queue
                if alone and handed is None and (not queue or queue[0][0] > self.env.now):
                    # ``done`` would be the very next event (nothing else is due now, and
                    # nothing else is done at this instant): process it here, as SimPy's
                    # step would, without the round trip through the queue.
                    if done._value is not PENDING:
                        raise RuntimeError(f"{done} has already been triggered") from None
                    done._ok, done._value = True, stop.value
                    callbacks, done.callbacks = done.callbacks, None
                    for callback in callbacks:
                        callback(done)
                else:
                    done.succeed(stop.value)
            if handed is not None:
                handed.turn()
            return
        self.target = target
        if handed is not None:
            handed.turn()

    def _hand_on(self, pool: Slots) -> Ticket | None:
        # The end of a hold, with others in the pool's line: the slot goes to the first. When
        # it waits to hold a slot too, it is handed the slot here and its hop takes its event
        # id now, as Ticket.succeed would, but goes into the queue only when this event is
        # over (Ticket.turn): until then nothing looks at the queue but this journey's
        # shortcuts, which stand aside while a hop is pending.
        waiters = pool.waiters
        if waiters[0].callbacks is _START:
            ticket = waiters.popleft()
            ticket.triggered = True
            ticket.value = self.slot
            ticket.hop = next(self.env._eid)
            return ticket
        pool.release(self.slot)
        return None

    def _line_up(self, pool: Slots, hold: float | None = None) -> Ticket:
        # Every slot taken: a place in the pool's line, with a ticket of its own (to hold a
        # slot ``hold`` seconds, or to take one).
        callbacks = self.calls if hold is None else _START
        ticket = self.spare
        if ticket is not None and not ticket.armed:
            # Its last ticket, done with: nothing holds it any more (it is out of every line,
            # its hop was processed, and no deadline's hop is armed on it), so it serves again
            # rather than a new one being made.
            ticket.callbacks = callbacks
            ticket.hold = hold
            ticket.triggered = False
            ticket.value = ticket.eid = None
            ticket.at = math.inf
            ticket.decided = False
        else:
            ticket = self.spare = Ticket(self, callbacks, hold)
        pool.waiters.append(ticket)  # (what pool.wait(ticket) does)
        self.pool = pool
        self.ticket = ticket
        if self.deadline == math.inf:
            return ticket
        # A place in line with a deadline: SimPy's ``ticket | env.timeout(deadline - now)``
        # without the condition and the timeout. The timeout's place among events due at
        # the same time is its event id, taken now as env.timeout would; its hop goes into
        # the queue only if the journey is still in a line shortly before the deadline (the
        # environment's look-out arms it then), so the queue does not fill with timeouts
        # that never fire. A deadline that close already is armed at once.
        env = self.env
        now = env.now
        delay = self.deadline - now
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")  # as env.timeout would
        if hold is None:  # (a hold's ticket starts it, deciding the same way)
            ticket.callbacks = _DECIDE
        ticket.eid = next(env._eid)
        ticket.at = now + delay
        if now >= self.deadline - abs(self.deadline) * EARLY:  # _early(deadline), inline
            ticket.arm()
        elif self.filed is None:
            self.filed = Filed(self, self.deadline)
            env._file(self.filed)
        return ticket

    def wait_instead(self, event: simpy.Event) -> None:
        """Stop waiting for the delay the generator yielded and wait for ``event`` instead:
        time-sliced vCPUs (``sim/model/cpu.py``) take over a burst whose request was waiting
        out its work on a vCPU of its own. The delay's wake-up stays in SimPy's queue with
        nothing to call; the deadline, if any, is now the event's business."""
        if self.target is not None:
            _let_go(self.target, self.resume)
        self.expired = False
        self.target = event
        event.callbacks.append(self.resume)

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
        if self.pool is not None:  # leave the line it was waiting in
            pool, ticket, self.pool, self.ticket = self.pool, self.ticket, None, None
            self.spare = None  # (its hop may still be in the queue: not to be used again)
            ticket.decided = True  # neither its hop nor the deadline's resumes anything now
            if ticket.callbacks is not None:
                ticket.callbacks = []
            pool.cancel(ticket)
        elif self.holding is not None:  # give the slot back, as the model's ``finally`` would
            pool, self.holding = self.holding, None
            pool.release(self.slot)
        if target is not None:
            _let_go(target, self.resume)
        self.expired = False
        failed = simpy.Event(self.env)
        failed._ok = False
        failed._value = simpy.Interrupt(cause)
        self._resume(failed)


def run_until(env: simpy.Environment, at: float) -> None:
    """``env.run(until=at)``, with SimPy's ``Environment.step`` written out in the loop.

    A run processes several events per request, and calling ``step`` for each (a method
    call and a ``try`` block around a single ``heappop``) is a measurable share of the cost.
    Everything else is SimPy's own: the stop is an urgent event at ``at`` taking its place in
    the queue as ``env.run`` puts it there (and ends the loop from its callback, as SimPy's
    ``StopSimulation`` does, rather than being looked for at every event), callbacks run in
    order with the event's ``callbacks`` set to ``None`` first, and a failed event nobody
    defused crashes the run with a copy of its exception.
    """
    if at <= env.now:
        raise ValueError(f"until ({at}) must be greater than the current simulation time")
    stop = simpy.Event(env)
    stop._ok, stop._value = True, None
    stop.callbacks.append(_stop)
    env.schedule(stop, URGENT, at - env.now)
    queue = env._queue
    try:
        while True:
            env.now, _, _, event = heappop(queue)  # never empty: the stop is still in it
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc
    except _Stopped:
        return


class _Stopped(Exception):
    """Raised by the stop of :func:`run_until` to end its loop."""


def _stop(_event) -> None:
    raise _Stopped


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (a caller that paused it already
    keeps it paused). A run, and the records built from it, make hundreds of thousands of
    short-lived objects and keep a growing heap of finished requests: the collector's passes
    walk that heap again and again (a sixth of a run, half of building its records) to find
    almost nothing, since a finished request leaves no reference cycle. Memory is still freed
    by reference counting.

    When the block ends, the objects it left (the finished requests, the records) are moved to
    the collector's oldest generation as they are (``gc.freeze`` then ``gc.unfreeze``), rather
    than walked at once by the young generation's first pass after the pause, which would
    examine every one of them for nothing; a full collection still looks at them, as at any
    long-lived object."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.freeze()
            gc.unfreeze()
            gc.enable()
