"""Light, steady traffic through the whole path, recording every request: the drills' probe.

Like a few regular customers walking in one after another while you rearrange the shop: each
one's visit is written down (when, how long, what answer, which cashier), so afterwards you can
say exactly who was turned away and how much slower the queue got. Locust is the crowd
(``load.py``); this is the handful of regulars, small enough to keep every sample.

Flow: N threads x (GET through DNS + TLS + nginx -> :class:`Sample`) -> list of samples ->
:func:`summarize` (failures, latency before/after an event, instances seen).
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass

from demo_app.stack.client import LabClient
from demo_app.stack.config import LabConfig


@dataclass(frozen=True)
class Sample:
    start: float  # seconds since the traffic began
    seconds: float
    status: int  # 0: no HTTP answer at all (connection error)
    instance: str | None
    error: str = ""
    release: str | None = None  # the app's X-Release: which code answered

    @property
    def failed(self) -> bool:
        return self.status == 0 or self.status >= 500


class Traffic:
    """``threads`` clients, each sending GET ``path`` then pausing ``pause`` seconds."""

    def __init__(self, cfg: LabConfig, path: str = "/healthz", threads: int = 2, pause=0.05):
        self.cfg, self.path, self.threads, self.pause = cfg, path, threads, pause
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.t0 = 0.0

    def __enter__(self) -> Traffic:
        self.t0 = time.perf_counter()
        for _ in range(self.threads):
            worker = threading.Thread(target=self._client, daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=90)

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def _client(self) -> None:
        client = LabClient(self.cfg, timeout=60)
        while not self._stop.is_set():
            start = self.now()
            try:
                reply = client.get(self.path)
                release = reply.headers.get("x-release")
                sample = Sample(start, reply.seconds, reply.status, reply.instance, "", release)
            # HTTPException: an answer cut short (IncompleteRead) or no answer at all.
            except (OSError, LookupError, http.client.HTTPException) as exc:
                sample = Sample(start, self.now() - start, 0, None, type(exc).__name__)
            with self._lock:
                self.samples.append(sample)
            self._stop.wait(self.pause)


@dataclass(frozen=True)
class Summary:
    requests: int
    failed: int
    p50_before_ms: float
    p50_after_ms: float
    max_after_ms: float
    instances: dict[str, int]

    def lines(self) -> list[str]:
        seen = ", ".join(f"{k} {v}" for k, v in sorted(self.instances.items()))
        return [
            f"requests  {self.requests}, failed {self.failed}",
            f"latency   p50 {self.p50_before_ms:.1f} ms before, {self.p50_after_ms:.1f} ms after;"
            f" worst after {self.max_after_ms:.1f} ms (the blip)",
            f"served by {seen}",
        ]


def summarize(samples: list[Sample], event_at: float) -> Summary:
    """Failures and latency before/after the moment ``event_at`` (seconds since start)."""
    before = sorted(s.seconds for s in samples if s.start < event_at)
    after = sorted(s.seconds for s in samples if s.start >= event_at)
    instances: dict[str, int] = {}
    for s in samples:
        if s.instance:
            instances[s.instance] = instances.get(s.instance, 0) + 1
    return Summary(
        requests=len(samples),
        failed=sum(s.failed for s in samples),
        p50_before_ms=_median(before) * 1000,
        p50_after_ms=_median(after) * 1000,
        max_after_ms=(after[-1] if after else 0.0) * 1000,
        instances=instances,
    )


def _median(values: list[float]) -> float:
    if not values:
        return float("nan")
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
