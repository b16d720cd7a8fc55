"""Helpers the chapters share: the "predict, then run" self-checks.

A self-check works like a driving examiner: it compares what you said would happen with what
the model (or the real app) did, says whether you got it, and, either way, says why. Every
exercise of every chapter is one function here, so the tests in ``tests/notebooks`` can feed it
a right and a wrong answer without running the notebook.

A chapter's prediction cell starts as ``prediction = None``; checking an unanswered prediction
is not an error (the notebooks also run unattended), it only asks for an answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True, slots=True)
class Feedback:
    """The verdict on one prediction: ``correct`` plus a sentence saying why."""

    correct: bool | None  # None: not answered yet
    message: str

    def __str__(self) -> str:
        mark = {True: "✓ Right.", False: "✗ Not quite.", None: "…"}[self.correct]
        return f"{mark} {self.message}"

    def _repr_html_(self) -> str:
        colour = {True: "#1b7f3b", False: "#b3261e", None: "#555555"}[self.correct]
        return f'<p style="color:{colour};font-weight:600">{escape(str(self))}</p>'


UNANSWERED = Feedback(None, "Write your prediction in the cell above, run it, then run this one.")


def read_number(answer: object, hint: str) -> float | Feedback:
    """The answer as a number, or the feedback to give instead: :data:`UNANSWERED` when there
    is none, or what is wrong with it followed by ``hint``."""
    if answer is None:
        return UNANSWERED
    try:
        return float(answer)
    except (TypeError, ValueError):
        return Feedback(False, f"{answer!r} is not a number. {hint}")


def check_number(
    answer: float | None, expected: float, *, rel_tol: float = 0.15, why: str, hint: str
) -> Feedback:
    """Right when ``answer`` is within ``rel_tol`` of ``expected`` (relative)."""
    value = read_number(answer, hint)
    if isinstance(value, Feedback):
        return value  # unanswered, or not a number
    if math.isclose(value, expected, rel_tol=rel_tol, abs_tol=1e-9):
        return Feedback(True, why)
    return Feedback(False, f"You said {value:g}; the answer is about {expected:g}. {hint}")


def check_choice(answer: str | None, expected: str, *, why: str, hints: dict[str, str]) -> Feedback:
    """Right when ``answer`` names ``expected`` (case and spacing ignored).

    ``hints`` maps each wrong choice to what that choice overlooks.
    """
    if answer is None:
        return UNANSWERED
    said = str(answer).strip().lower()
    if said == expected.lower():
        return Feedback(True, why)
    allowed = sorted({expected.lower(), *(k.lower() for k in hints)})
    if said not in allowed:
        return Feedback(False, f"{answer!r} is not one of the choices: {', '.join(allowed)}.")
    return Feedback(False, hints.get(said, hints.get(answer, "")) or f"It is {expected}.")


def check_steps(
    answer: float | None,
    steps: dict[str, float],
    *,
    expected: float | None = None,
    unit: str = "s",
    why: str,
    hint: str,
) -> Feedback:
    """Right when ``answer`` is the sum of ``steps`` (or the measured ``expected``) within less
    than half the smallest step, so an answer that leaves any one step out cannot pass.

    ``steps`` maps each step, named as the hint should name it, to its length. A wrong answer
    that matches some of the steps gets a hint naming the ones it left out."""
    value = read_number(answer, hint)
    if isinstance(value, Feedback):
        return value  # unanswered, or not a number
    total = sum(steps.values()) if expected is None else expected
    tolerance = 0.45 * min(v for v in steps.values() if v > 0)
    if abs(value - total) <= tolerance:
        return Feedback(True, why)
    said = f"You said {value:g} {unit}; the answer is about {total:.0f} {unit}."
    names = list(steps)
    best: tuple[float, list[str]] | None = None
    for mask in range(1 << len(names)):
        chosen = [n for i, n in enumerate(names) if mask >> i & 1]
        gap = abs(value - sum(steps[n] for n in chosen))
        if best is None or gap < best[0]:
            best = (gap, chosen)
    assert best is not None
    gap, chosen = best
    left_out = [n for n in names if n not in chosen]
    if left_out and gap <= tolerance:
        missing = "; ".join(f"{n} ({steps[n]:g} {unit})" for n in left_out)
        return Feedback(False, f"{said} Your number leaves out: {missing}. {hint}")
    if value > total:
        return Feedback(False, f"{said} That is more than all the steps together. {hint}")
    return Feedback(False, f"{said} {hint}")


# --- Chapter 0: start here -------------------------------------------------------------------


def ch0_capacity(prediction: int | None, *, instances: int, workers: int) -> Feedback:
    """How many requests can be in service at once with sync Gunicorn workers?"""
    hint = "Each sync worker holds exactly one request; count workers on every instance."
    if prediction is not None and prediction == workers != instances * workers:
        hint = f"{workers} is one instance's workers; there are {instances} instances."
    elif prediction is not None and prediction == instances != instances * workers:
        hint = f"That is one request per instance; each instance runs {workers} workers."
    return check_number(
        prediction,
        instances * workers,
        rel_tol=0.0,
        why=(
            f"A sync worker serves one request at a time, so {instances} instances x "
            f"{workers} workers = {instances * workers} requests in service; the next one waits "
            "in a listen backlog (the `queue` layer)."
        ),
        hint=hint,
    )


# --- Chapter 5: Gunicorn -----------------------------------------------------------------------


def ch5_more_workers(prediction: str | None, *, throughput: dict[int, float]) -> Feedback:
    """From (2 x cores) + 1 sync workers to many more on the same cores: more, same, or less
    throughput? ``throughput`` maps workers per instance to the simulated requests/s."""
    few, many = min(throughput), max(throughput)
    ratio = throughput[many] / throughput[few] if throughput[few] else float("inf")
    expected = "more" if ratio > 1.1 else "less" if ratio < 0.9 else "same"
    return check_choice(
        prediction,
        expected,
        why=(
            f"{many} workers served {throughput[many]:.1f} req/s against {throughput[few]:.1f} "
            f"with {few}: the vCPUs were the limit, so extra workers only wait for a core "
            "(the `app` layer's wait grows instead of the `queue` layer's)."
            if expected == "same"
            else f"Throughput went from {throughput[few]:.1f} to {throughput[many]:.1f} req/s."
        ),
        hints={
            "more": "More workers help only while workers are the bottleneck. Look at the CPU "
            "utilisation: once the cores are busy, a worker waiting for a core serves nobody.",
            "less": "Workers cost memory and context switches, but the model's cores keep the "
            "same pace; the extra workers just wait for a core.",
            "same": "Here the workers, not the cores, were the bottleneck: look at the "
            "utilisation row.",
        },
    )


def ch5_timeout_status(prediction: str | int | None, *, status_counts: dict[str, int]) -> Feedback:
    """During the slow-query episode, which status do clients get: 502 or 504?"""
    n502, n504 = status_counts.get("502", 0), status_counts.get("504", 0)
    expected = "502" if n502 >= n504 else "504"
    return check_choice(
        None if prediction is None else str(prediction),
        expected,
        why=(
            f"{n502} responses were 502 and {n504} were 504. Gunicorn kills a worker that is "
            "silent for 30 s, before nginx's 60 s proxy_read_timeout runs out, so nginx sees "
            "the connection close and answers 502 Bad Gateway."
            if expected == "502"
            else f"{n504} responses were 504 and {n502} were 502: the proxy's timeout "
            "expired before Gunicorn's did."
        ),
        hints={
            "504": "A 504 needs nginx (or the load balancer) to give up waiting first. Which "
            "timeout is shorter: Gunicorn's 30 s or nginx's 60 s?",
            "502": "Compare the two timeouts in this run's settings: which one fires first?",
        },
    )


# --- Chapter 7: PostgreSQL ---------------------------------------------------------------------


def ch7_connections_needed(
    prediction: int | None, *, instances: int, workers: int, threads: int
) -> Feedback:
    """How many database connections does the fleet hold with persistent connections?"""
    need = instances * workers * threads
    factors = {"instances": instances, "workers": workers, "threads": threads}
    hint = "Django opens one connection per thread, and every instance has its own threads."
    for name, n in factors.items():
        rest = need // n
        if prediction is not None and n > 1 and prediction == rest:
            hint = f"Your number leaves out the {name} ({n}): multiply by it too. {hint}"
            break
    return check_number(
        prediction,
        need,
        rel_tol=0.0,
        why=(
            f"Every worker thread, once started, keeps its own connection: at most"
            f" {instances} instances x {workers} workers x {threads} threads = {need}."
        ),
        hint=hint,
    )


def ch7_threads_started(answer: str | None, *, rows: list[dict[str, float]]) -> Feedback:
    """Did the lab's load start ``"all"`` the threads of its largest fleet, or ``"fewer"``?
    ``rows``: the recorded connections experiment (``explore.connections_measured``)."""
    last = max(rows, key=lambda r: r["instances"])
    started, configured = int(last["threads_started"]), int(last["threads_configured"])
    expected = "fewer" if started < configured else "all"
    why = (
        f"At {last['instances']:.0f} instances the {last['users']:.0f} users started {started}"
        f" of the {configured} threads: a gthread worker starts a thread only when a request"
        " finds none of its started threads idle, so each worker has as many threads (and"
        " connections) as it ever had requests at once, not one per thread configured."
    )
    if expected == "all":
        why = (
            f"At {last['instances']:.0f} instances the {last['users']:.0f} users kept enough"
            f" requests in flight to start all {configured} threads, each holding a connection."
        )
    hints = {
        "all": (
            "Threads are started as requests need them: count the requests that can be in"
            f" flight at once ({last['users']:.0f} users, one request each)."
        ),
        "fewer": "Count the requests in flight against the threads of every worker.",
    }
    return check_choice(answer, expected, why=why, hints=hints)


def ch7_persistent_saving(
    prediction_ms: float | None, *, db_ms: dict[str, float], queries: int
) -> Feedback:
    """Milliseconds of ``db`` time a request saves when connections persist (CONN_MAX_AGE>0).

    ``db_ms`` holds the mean ``db`` layer time per request for ``"per_request"`` and
    ``"persistent"`` connections; ``queries`` is the number of queries a request runs. The
    saving is one connection set-up, which the question names; a tenth of it either way
    allows for the run's randomness, while a set-up per query, or none, is far outside."""
    saved = db_ms["per_request"] - db_ms["persistent"]
    hint = (
        "With CONN_MAX_AGE = 0 every request pays one connection set-up before its first "
        "query; the queries themselves cost the same either way."
    )
    value = read_number(prediction_ms, hint)
    if isinstance(value, Feedback):
        return value  # unanswered, or not a number
    if queries > 1 and abs(value - saved * queries) <= 0.1 * saved * queries:
        hint = (
            f"That is a set-up for each of the {queries} queries: a request opens its "
            f"connection once and runs all its queries on it. {hint}"
        )
    if abs(value - saved) <= 0.1 * saved:
        return Feedback(
            True,
            f"The db layer went from {db_ms['per_request']:.1f} ms to "
            f"{db_ms['persistent']:.1f} ms: {saved:.1f} ms saved, about one connection set-up "
            "(fork a backend, authenticate) per request.",
        )
    return Feedback(False, f"You said {value:g}; the answer is about {saved:.1f} ms. {hint}")


# --- Chapter 2: load balancing -----------------------------------------------------------------


def ch2_routing(prediction: str | None, *, p95: dict[str, float]) -> Feedback:
    """Which routing gives the lower p95 latency under uneven request costs?

    ``p95`` maps ``"round_robin"`` and ``"least_outstanding_requests"`` to seconds."""
    rr, lor = p95["round_robin"], p95["least_outstanding_requests"]
    expected = "least_outstanding_requests" if lor < rr else "round_robin"
    return check_choice(
        prediction,
        expected,
        why=(
            f"p95 was {lor * 1000:.0f} ms with least outstanding requests against "
            f"{rr * 1000:.0f} ms with round robin. Round robin deals requests out like cards, "
            "so an instance stuck with a few expensive ones still gets its turn; least "
            "outstanding requests sends the next one where the fewest are in progress."
            if expected == "least_outstanding_requests"
            else f"p95 was {rr * 1000:.0f} ms with round robin against {lor * 1000:.0f} ms: "
            "with even costs the two hardly differ."
        ),
        hints={
            "round_robin": "Round robin ignores how busy an instance is. When one request "
            "costs 10x another, what happens to the requests dealt to the instance that got "
            "the expensive ones?",
            "least_outstanding_requests": "Look at the sigma you set: with even costs, "
            "counting outstanding requests has nothing to correct.",
        },
    )


def ch2_detection(
    prediction_s: float | None, *, crashed_at: float, unhealthy_at: float, interval: float,
    threshold: int, timeout: float
) -> Feedback:  # fmt: skip
    """Seconds from a crash until the load balancer marks the instance unhealthy.

    The crash comes as a check starts, so the checks that fail start at the crash and every
    ``interval`` after it; the last one is known to have failed when its ``timeout`` runs out.
    The measured time must be those steps: the chapter's run is checked against them here."""
    took = unhealthy_at - crashed_at
    steps = {
        f"the wait from the first of the {threshold} failing checks to the last": (
            (threshold - 1) * interval
        ),
        "the last check's timeout": timeout,
    }
    return check_steps(
        prediction_s,
        steps,
        expected=took,
        why=(
            f"It took {took:g} s: {threshold} checks in a row must fail. The first starts as "
            f"the instance crashes, the next {interval:g} s later, and the last failure is only "
            f"known when its {timeout:g} s timeout runs out: {(threshold - 1) * interval:g} + "
            f"{timeout:g} s."
        ),
        hint=f"Count: the unhealthy threshold is {threshold} failed checks, {interval:g} s "
        f"apart, and a check that gets no answer fails after the {timeout:g} s timeout.",
    )


# --- Chapter 1: DNS ----------------------------------------------------------------------------


def ch1_browser_hits(prediction: int | None, *, outcomes: list[str], ttl: float) -> Feedback:
    """How many of a browser's page loads found quorum.us in its own cache? A count the
    clock decides exactly, so only the exact count is right."""
    hits = sum(1 for o in outcomes if o == "browser-cache")
    hint = (
        f"Walk the clock: the answer is kept {ttl:g} s from the lookup that fetched it. "
        "Which loads fall inside that window?"
    )
    if prediction is not None and prediction == len(outcomes) - 1 != hits:
        hint = (
            f"Only the first load missing leaves out the expiry: after {ttl:g} s the answer "
            f"is gone and the next load asks again. {hint}"
        )
    elif prediction is not None and prediction == len(outcomes) != hits:
        hint = f"The very first load finds an empty cache. {hint}"
    elif isinstance(prediction, int | float) and abs(prediction - hits) <= 2:
        hint = (
            f"Close: mind the boundary. A load exactly {ttl:g} s after the lookup finds the "
            f"answer expired. {hint}"
        )
    return check_number(
        prediction,
        hits,
        rel_tol=0.0,
        why=(
            f"{hits} of {len(outcomes)} loads were answered by the browser's cache. The cache "
            f"keeps the answer {ttl:g} s, so only the first load after it expires asks the OS "
            "(and, if the OS cache expired too, the resolver)."
        ),
        hint=hint,
    )


def ch1_valid_address(prediction: str | None, *, address: str) -> Feedback:
    """Is ``address`` a valid IPv4 address: ``"valid"`` or ``"invalid"``?"""
    import ipaddress

    try:
        ipaddress.IPv4Address(address)
        expected, reason = "valid", f"{address} has four octets, each 0-255."
    except ValueError:
        big = [o for o in address.split(".") if o.isdigit() and int(o) > 255]
        reason = (
            f"{address} has the octet {big[0]}, and an octet is one byte: 0-255."
            if big
            else f"{address} is not four numbers 0-255 separated by dots."
        )
        expected = "invalid"
    return check_choice(
        prediction,
        expected,
        why=reason,
        hints={
            "valid": f"Look at each of the four numbers. {reason}",
            "invalid": f"Check again: {reason}",
        },
    )


# --- Chapter 3: auto-scaling -------------------------------------------------------------------


def ch3_outage(prediction_s: float | None, *, outage_s: float, steps: dict[str, float]) -> Feedback:
    """With min 1, for how many seconds do users get 503s after the only instance dies?

    ``steps`` are the run's own steps, in order, each with its length in seconds: noticing the
    crash, launching, booting, passing the healthy checks. An answer passes within less than
    half the shortest step of the measured outage, so one that leaves a step out fails, and
    the hint names the steps it left out."""
    plan = " + ".join(f"{v:g}" for v in steps.values())
    return check_steps(
        prediction_s,
        steps,
        expected=outage_s,
        why=(
            f"Users got 503s for about {outage_s:.0f} s, the steps one after another: "
            + "; ".join(f"{name} {v:g} s" for name, v in steps.items())
            + f" ({plan} = {sum(steps.values()):g} s)."
        ),
        hint="Add up the steps a replacement goes through: "
        + ", ".join(steps)
        + ". Nothing serves until the last one is done.",
    )


def ch3_cheapest_policy(
    prediction: tuple[float, int] | None,
    *,
    settings: dict[tuple[float, int], tuple[float, float]],
    limit_s: float,
) -> Feedback:
    """Of the week's sweep, which (target CPU %, minimum instances) is the cheapest that keeps
    every minute's p95 under ``limit_s``?

    ``settings`` maps each setting swept to what its week measured: (the worst minute's p95 in
    seconds, instance-hours). A choice among them, so no tolerance: only the cheapest setting
    under the line passes. A cheaper one is told its worst minute (over the line), a dearer
    one the instance-hours it costs on top."""
    if prediction is None:
        return UNANSWERED
    targets = sorted({t for t, _ in settings})
    minimums = sorted({m for _, m in settings})
    swept = (
        f"targets {', '.join(f'{t:g}' for t in targets)} % and minimums "
        f"{', '.join(str(m) for m in minimums)}, written (target, minimum), e.g. "
        f"({targets[0]:g}, {minimums[0]})"
    )
    try:
        target, minimum = (float(x) for x in prediction)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return Feedback(False, f"{prediction!r} is not a setting of the sweep: {swept}.")
    said = next(
        (k for k in settings if math.isclose(k[0], target) and math.isclose(k[1], minimum)), None
    )
    if said is None:
        return Feedback(False, f"{prediction!r} is not a setting of the sweep: {swept}.")
    under = {k: v for k, v in settings.items() if v[0] < limit_s}
    if not under:
        return Feedback(False, f"No setting of the sweep stays under {limit_s * 1000:.0f} ms.")
    best = min(under, key=lambda k: under[k][1])
    peak, hours = settings[said]
    name = f"{said[0]:g} % with min {said[1]}"
    hint = (
        "The worst minute is a morning's climb, while the group is still launching and warming"
        " up: a lower target or a higher minimum leaves headroom for it, and both cost"
        " instance-hours."
    )
    if peak < limit_s and hours <= under[best][1]:
        cheaper = {k: v for k, v in settings.items() if v[1] < hours}
        closest = min(cheaper, key=lambda k: cheaper[k][0]) if cheaper else None
        why = (
            f"{name}: {hours:.0f} instance-hours for the week, its worst minute"
            f" {peak * 1000:.0f} ms."
        )
        if closest is not None:
            why += (
                f" Every cheaper setting crosses the line somewhere in the week; the closest,"
                f" {closest[0]:g} % with min {closest[1]}, reaches"
                f" {cheaper[closest][0] * 1000:.0f} ms."
            )
        return Feedback(True, why)
    if peak >= limit_s:
        return Feedback(
            False,
            f"{name} costs {hours:.0f} instance-hours, but its worst minute reaches"
            f" {peak * 1000:.0f} ms, over {limit_s * 1000:.0f} ms. {hint}",
        )
    return Feedback(
        False,
        f"{name} stays under the line ({peak * 1000:.0f} ms) but costs {hours:.0f}"
        f" instance-hours, {hours - under[best][1]:.0f} more than the cheapest setting that"
        f" also does. {hint}",
    )


# --- Chapter 4: nginx --------------------------------------------------------------------------


def ch4_which_timeout(
    prediction: str | int | None, *, status_counts: dict[str, int], gunicorn_timeout: float,
    proxy_read_timeout: float
) -> Feedback:  # fmt: skip
    """With these two timeouts, do slow requests end as 502 or 504?"""
    n502, n504 = status_counts.get("502", 0), status_counts.get("504", 0)
    expected = "502" if n502 >= n504 else "504"
    first = "Gunicorn's" if gunicorn_timeout < proxy_read_timeout else "the proxies'"
    return check_choice(
        None if prediction is None else str(prediction),
        expected,
        why=(
            f"{n502} were 502 and {n504} were 504: {first} timeout fired first "
            f"(Gunicorn {gunicorn_timeout:g} s, nginx {proxy_read_timeout:g} s, and the load "
            "balancer's idle timeout 60 s). 502: the upstream closed the connection; 504: a "
            "proxy stopped waiting."
        ),
        hints={
            "502": f"Gunicorn now waits {gunicorn_timeout:g} s. Which proxy gives up before "
            "that, and what does a proxy answer when it gives up?",
            "504": f"Gunicorn kills the worker after {gunicorn_timeout:g} s, before any proxy "
            "gives up: what does nginx see then?",
        },
    )


# --- Chapter 6: Django -------------------------------------------------------------------------


def ch6_naive_queries(
    prediction: int | None, *, queries: int, sponsors: int, votes: int
) -> Feedback:
    """How many SQL queries does the naive bill page run?"""
    base = queries - sponsors - votes
    steps = {
        "the queries for the bill, its committee and the two lists": base,
        "one query per sponsor": sponsors,
        "one query per vote": votes,
    }
    return check_steps(
        prediction,
        {k: float(v) for k, v in steps.items() if v > 0},
        expected=float(queries),
        unit="queries",
        why=(
            f"The page ran {queries} queries: {base} for the bill, its committee and the two "
            f"lists, then one per sponsor ({sponsors}) and one per vote ({votes}). That is the "
            "N+1 pattern: 1 query for a list, N more for the rows it points to."
        ),
        hint=f"Read the naive code: which lines run once, and which run once per row? This "
        f"bill has {sponsors} sponsors and {votes} votes.",
    )


# --- Chapter 9: developer access ---------------------------------------------------------------


def ch9_count(prediction: int | None, *, count: int, what: str, command: str) -> Feedback:
    """A count read off a log with the shell: right only when exact."""
    return check_number(
        prediction,
        count,
        rel_tol=0.0,
        why=f"There are {count} {what}. One way: `{command}`.",
        hint=f"Filter the lines first, then count them; for example `{command}`.",
    )


def ch9_top(prediction: str | None, *, counts: dict[str, int], command: str) -> Feedback:
    """Which value is the most frequent? ``counts`` maps each value to its count."""
    top = max(counts, key=lambda k: counts[k])
    others = {k: f"{k} appears {n} times; {top} appears {counts[top]}. Try `{command}`."
              for k, n in counts.items() if k != top}  # fmt: skip
    return check_choice(
        prediction,
        top,
        why=f"{top} appears {counts[top]} times, more than any other. `{command}` shows it.",
        hints=others,
    )


def ch9_column(prediction: int | None, *, header: list[str], name: str) -> Feedback:
    """Which field number (1-based, as ``cut -f`` counts) holds column ``name``?"""
    number = header.index(name) + 1
    return check_number(
        prediction,
        number,
        rel_tol=0.0,
        why=f"`{name}` is field {number}: `cut -d, -f{number}` prints it (cut counts from 1).",
        hint="Print the header one field per line with `head -1 FILE | tr , '\\n' | cat -n`; "
        "cut counts fields from 1, not 0.",
    )


# --- Chapter 8: the whole path -----------------------------------------------------------------


def ch8_model_vs_lab(prediction: str | None, *, measured: float, simulated: float) -> Feedback:
    """At one load level, is the model's p95 ``"above"`` or ``"below"`` the lab's?"""
    expected = "below" if simulated < measured else "above"
    return check_choice(
        prediction,
        expected,
        why=(
            f"The model said {simulated * 1000:.0f} ms, the lab measured {measured * 1000:.0f} "
            "ms. "
            + (
                "The model is optimistic here: its vCPUs share their time at no cost, where "
                "the kernel pays for every switch between processes, and it charges locust's "
                "CPU as an even slow-down rather than the bursts it is (see the cpu_ columns)."
                if expected == "below"
                else "The model is pessimistic here: it charges every page the CPU the "
                "calibration measured, and at this level a page cost the lab less (the lab's "
                "cores over its requests per second)."
            )
        ),
        hints={
            "above": "Look at the cpu_locust and cpu_other columns: who else used the cores "
            "while the lab was measured, and what does switching between them cost?",
            "below": "Compare the two p95 columns at this level again, then the lab's CPU per "
            "request (cpu_lab / measured_rps) with the calibration's.",
        },
    )


# --- Chapter 10: servers and DevOps ------------------------------------------------------------


def ch10_back_after_kill(
    prediction_s: float | None, *, exited: float, spawned: float, running: float, startsecs: float
) -> Feedback:
    """Seconds from a SIGKILLed Gunicorn master's exit until supervisord's log says RUNNING.

    The times are the log's own: ``exited`` (``exited: ... not expected``), ``spawned`` and
    ``running`` (``success: ... startsecs``). An answer passes within a quarter of
    ``startsecs``, so one that leaves startsecs out (an instant restart) cannot pass."""
    took = running - exited
    respawn_ms = (spawned - exited) * 1000
    hint = (
        f"supervisord restarts an exit it did not ask for at once (autorestart=true), but "
        f"calls the new process RUNNING only once it has stayed up startsecs ({startsecs:g} s)."
    )
    value = read_number(prediction_s, hint)
    if isinstance(value, Feedback):
        return value  # unanswered, or not a number
    if abs(value - took) <= 0.25 * startsecs:
        return Feedback(
            True,
            f"{took:.2f} s: supervisord spawned web-1 again {respawn_ms:.0f} ms after it died, "
            f"then waited startsecs ({startsecs:g} s) before calling it RUNNING "
            f"({running - spawned:.2f} s after the spawn: it looks a few times a second).",
        )
    if value < took - 0.25 * startsecs:
        hint = f"The spawn is that quick ({respawn_ms:.0f} ms); the wait is after it. {hint}"
    else:
        hint = f"Nothing is waited before the spawn: no timeout, no back-off. {hint}"
    return Feedback(False, f"You said {value:g} s; the log says {took:.2f} s. {hint}")


def ch10_cut_request(
    prediction_s: float | None, *, started: float, term: float, killed: float, ended: float,
    request_s: float, graceful_timeout: float
) -> Feedback:  # fmt: skip
    """How long the client of a ``request_s`` request waited when ``supervisorctl restart``
    came during it: until supervisord's SIGKILL, ``stopwaitsecs`` after its TERM, whichever
    Gunicorn's ``graceful_timeout`` would have allowed. Times are the recording's."""
    lead, stopwaitsecs, waited = term - started, killed - term, ended - started
    steps = {
        "the request's time before the restart's TERM": lead,
        "supervisord's stopwaitsecs before its SIGKILL": stopwaitsecs,
    }
    hint = (
        f"TERM asks Gunicorn to finish its requests (it would allow graceful_timeout, "
        f"{graceful_timeout:g} s), but supervisord sends SIGKILL to the whole group after "
        f"stopwaitsecs ({stopwaitsecs:.0f} s). Which comes first?"
    )
    value = read_number(prediction_s, hint)
    if isinstance(value, Feedback):
        return value  # unanswered, or not a number
    tolerance = 0.45 * min(steps.values())
    if abs(value - waited) > tolerance:
        if abs(value - request_s) <= tolerance:
            return Feedback(
                False,
                f"You said {value:g} s: the request finishing. It got {waited:.1f} s. {hint}",
            )
        if abs(value - (lead + graceful_timeout)) <= tolerance:
            return Feedback(
                False,
                f"You said {value:g} s: Gunicorn's graceful timeout after the TERM. "
                f"It got {waited:.1f} s. {hint}",
            )
    return check_steps(
        value,
        steps,
        expected=waited,
        why=(
            f"The client lost its connection after {waited:.1f} s without an answer: "
            f"{lead:.1f} s before the TERM, then {stopwaitsecs:.1f} s of stopwaitsecs, and "
            f"supervisord's SIGKILL ended the worker {request_s - waited:.1f} s before the "
            f"request would have been done. Gunicorn's own {graceful_timeout:g} s never came "
            "into it."
        ),
        hint=hint,
    )


def ch10_recap_ok(prediction: int | None, *, host: str, steps: dict[str, int]) -> Feedback:
    """The ``ok=`` count of ``host`` in the play recap: its tasks that ran (changed or not;
    skipped ones do not count), play by play. ``steps`` maps each play's share, named as the
    hint should name it, to its count; a play left out is named."""
    total = sum(steps.values())
    feedback = check_steps(
        prediction,
        {k: float(v) for k, v in steps.items() if v > 0},
        expected=float(total),
        unit="tasks",
        why=(
            f"{host}: ok={total}: "
            + " + ".join(f"{v} ({k})" for k, v in steps.items())
            + ". A play with run_once runs its tasks once, on the first host of the batch; "
            "serial: 1 runs the roll's tasks on each instance, one instance after the other."
        ),
        hint="Count by play: which plays ran on every instance, and which ran once, on the "
        "first host? Skipped tasks are not ok.",
    )
    # A count is exact: one task off is a task miscounted, not a rounding.
    if feedback.correct and float(prediction) != total:
        return Feedback(False, f"Close, but a count is exact: it is {total}. {feedback.message}")
    return feedback


# --- Chapter 11: the frontend -----------------------------------------------------------------


def ch11_rounds(prediction_ms: float | None, *, steps: dict[str, float]) -> Feedback:
    """How long after its HTML is a page of 8 files loaded over 6 connections per host?

    ``steps`` are the run's own rounds, in order, each with its length in ms: the first six
    files side by side (each opening its connection), then the last two on connections already
    open. An answer passes within less than half the shorter round, so one that forgets the
    second round (or counts a round per file) fails, and the hint names what it left out."""
    plan = " + ".join(f"{v:.1f}" for v in steps.values())
    return check_steps(
        prediction_ms,
        steps,
        unit="ms",
        why=(
            "Six connections carry six files at once; the 7th and 8th wait for two of them: "
            + "; ".join(f"{name} {v:.1f} ms" for name, v in steps.items())
            + f" ({plan} = {sum(steps.values()):.1f} ms)."
        ),
        hint="The browser opens at most 6 connections to a host: count the rounds, and what "
        "each round costs (a new connection costs more than one already open).",
    )


#: How much busier the instances' vCPUs may be for each choice of ``ch11_django_cpu``.
CPU_CHOICES = {"the same": (0.0, 1.25), "double": (1.25, 3.0), "ten times": (3.0, math.inf)}


def ch11_django_cpu(prediction: str | None, *, vcpus: dict[str, float]) -> Feedback:
    """Moving a typical page's files from the CDN to Django: the instances' vCPUs are busy
    ``the same``, ``double`` or ``ten times``? ``vcpus`` holds the two runs' utilisations
    (``cdn`` and ``django``); the answer is the choice their ratio falls in."""
    ratio = vcpus["django"] / vcpus["cdn"]
    expected = next(k for k, (low, high) in CPU_CHOICES.items() if low <= ratio < high)
    said = f"{vcpus['cdn']:.0%} with the CDN, {vcpus['django']:.0%} with Django: x{ratio:.1f}."
    return check_choice(
        prediction,
        expected,
        why=f"{said} Each file costs little CPU, but a page has many files, and every page"
        " brings them all: a CDN takes that work off the instances entirely.",
        hints={
            "the same": f"{said} One file is cheap for WhiteNoise, but count the files per page"
            " against the one HTML they come with.",
            "double": f"{said} Each file is cheap; it is their number that adds up.",
            "ten times": f"{said} The HTML's own Django work (its view, its queries) stays the"
            " bigger part of each page's CPU than you thought.",
        },
    )


def ch11_cached_bytes(
    prediction: int | None, *, again: int, encoded: int, decoded: int, files: int
) -> Feedback:
    """On the second visit to the trace page, how many bytes did the browser transfer for its
    ``files`` static files? ``again`` is what the recording says (the sum of their
    ``transferSize``); ``encoded`` and ``decoded`` the first visit's compressed and
    uncompressed body sizes, the two near misses."""
    if prediction is None:
        return UNANSWERED
    try:
        value = int(prediction)
    except (TypeError, ValueError):
        return Feedback(False, f"{prediction!r} is not a whole number of bytes.")
    why = (
        f"{again:,} bytes: the {files} files came from the browser's own cache (deliveryType"
        ' "cache"). Their names carry a hash of their content and WhiteNoise sends them with a'
        " far-future Cache-Control, so the browser does not even ask whether they changed."
    )
    if value == again:
        return Feedback(True, why)
    if value == encoded:
        return Feedback(False, f"{encoded:,} bytes is what the compressed files weighed on the"
                        " first visit; the second time nothing crossed the network for them."
                        " Look at deliveryType.")  # fmt: skip
    if value == decoded:
        return Feedback(False, f"{decoded:,} bytes is the files' size once uncompressed, on the"
                        " first visit; what did the second visit transfer? Look at deliveryType"
                        " and transferSize.")  # fmt: skip
    return Feedback(False, f"You said {value:,}; the recording says {again:,}. Look at the"
                    " second visit's transferSize and deliveryType.")  # fmt: skip


# --- Chapter 12: deployment --------------------------------------------------------------------


def ch12_no_drain(
    prediction: int | None, *, failed: int, rate: float, seconds: float, delay: float
) -> Feedback:
    """How many requests fail when an instance taking ``rate`` requests/s of ``seconds`` s
    each leaves the load balancer with a deregistration delay of only ``delay`` s.

    Little's law says about ``rate * (seconds - delay)`` are still running when it stops; the
    run's own count is the answer, within a quarter of that estimate (so the whole in-flight
    count, or only the ones the delay lets finish, do not pass)."""
    estimate = rate * max(seconds - delay, 0.0)
    hint = (
        f"Little's law: the instance holds about {rate:g} x {seconds:g} = {rate * seconds:g} "
        f"requests at once. The delay lets each of them run {delay:g} s more: which are "
        "still running when it stops?"
    )
    value = read_number(prediction, hint)
    if isinstance(value, Feedback):
        return value  # unanswered, or not a number
    tolerance = max(0.25 * estimate, 1.0)
    if abs(value - failed) <= tolerance:
        return Feedback(
            True,
            f"{failed} requests were cut (502). It held about {rate * seconds:g} at once; the "
            f"{delay:g} s let those with less than {delay:g} s to go finish, and the ones that "
            f"started in the last {seconds - delay:g} s, about {rate:g} x {seconds - delay:g} "
            f"= {estimate:g}, were still running.",
        )
    if value == 0:
        hint = f"A {delay:g} s delay waits {delay:g} s, not until the requests are done. {hint}"
    elif abs(value - rate * seconds) <= tolerance:
        hint = f"That is every request it held; the {delay:g} s let some finish. {hint}"
    return Feedback(False, f"You said {value:g}; the run cut {failed}. {hint}")


def ch12_web2_after_bad(prediction: str | None, *, web2: str, old: str, bad: str) -> Feedback:
    """After the bad deploy stopped, does web-2 run the ``old`` release or the ``bad`` one?
    ``web2`` is what the recording says it runs; the release names count as answers too."""
    if prediction is not None and str(prediction).strip() in (old, bad):
        prediction = "old" if str(prediction).strip() == old else "bad"
    expected = "old" if web2 == old else "bad"
    return check_choice(
        prediction,
        expected,
        why=(
            f"web-2 still runs {old}: with serial: 1 it waits for web-1 to finish, and "
            "web-1's failure (max_fail_percentage: 0, any_errors_fatal) ended the play before "
            "web-2's turn. web-1 itself went back to the old release before it rejoined nginx."
            if expected == "old"
            else f"web-2 runs {bad}: the roll went on past web-1."
        ),
        hints={
            "bad": "The play rolls one instance at a time (serial: 1) and its first failure "
            "stops everything (max_fail_percentage: 0): did web-2's turn ever come?",
            "old": "Read the recap: which hosts did the roll play reach?",
        },
    )


#: What an old release does against a schema a migration changed, and why.
MIGRATIONS = {
    "add a nullable column": ("works", "the old code never names the new column, and inserts "
                              "leave it NULL"),
    "add a table": ("works", "the old code never reads it"),
    "add an index": ("works", "queries keep their meaning (build it CONCURRENTLY on a big "
                    "table, or writes wait)"),
    "rename a column": ("breaks", "the old code still selects the old name, which is gone: "
                        "every query that names it fails"),
    "drop a column": ("breaks", "the old code still selects it"),
    "add a NOT NULL column without a default": ("breaks", "the old code inserts rows without "
                                                "it, and the database refuses them"),
}  # fmt: skip


def ch12_migration(
    prediction: str | None, *, operation: str, old_requests: int, overlap_s: float
) -> Feedback:
    """Migrations run before the roll; while it lasts the old release runs against the new
    schema. Does it ``works`` or ``breaks`` after ``operation``? ``old_requests`` and
    ``overlap_s`` are the recording's: the old release's answers after the new one's first."""
    expected, reason = MIGRATIONS[operation]
    during = (
        f"In the recorded deploy the old release answered {old_requests} requests in the "
        f"{overlap_s:.0f} s after the new one's first answer"
    )
    outcome = (
        ": each of them would have been a 500. Expand first, contract a release later."
        if expected == "breaks"
        else ", and each of them worked."
    )
    return check_choice(
        prediction,
        expected,
        why=f"It {expected}: {reason}. {during}{outcome}",
        hints={
            "works": "Migrations run before the first instance switches, so the old code meets "
            f"the new schema for the whole roll. {during}. What does the old code still ask "
            "the database for?",
            "breaks": "Would the old code notice? Only a change to something it reads or writes "
            f"can break it, and here {reason}.",
        },
    )
