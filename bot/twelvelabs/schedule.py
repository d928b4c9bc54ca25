"""When to poll: the plain backoff, or polls placed where this deployment's resources finish.

`ReadyTimes` remembers, in memory and per process, how long recent resources of one kind took
(from creation to `ready`) and how big they were (video seconds, bytes). For a new resource of
a known size it predicts a spread of likely finishing times: how time has followed size so
far, with the scatter history shows. `plan()` turns that spread into a `Window` schedule:
sparse polls until the spread begins, dense ones while most of it is passing, then a backoff —
with no more polls, in expectation, than `BUDGET` times what the plain backoff would make for
the same finishing times (`BUDGET_WITH_WEBHOOKS` while webhooks bring the news). Until enough
resources have finished (a new process, the CLI), or when a prediction would need more polls
than that, the plain `Backoff` runs: the prior is today's schedule, never something worse.

Schedules are pure functions of the time since the resource was created, so a wait woken
early (a webhook) simply carries on from wherever it is.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "BUDGET",
    "BUDGET_WITH_WEBHOOKS",
    "Backoff",
    "ReadyTimes",
    "Schedule",
    "Window",
    "expected_polls",
    "plan",
]

# Polls the learned schedule may spend, in expectation, relative to the plain backoff; while
# webhooks are arriving they bring the news, polling is only the safety net: no extra polls.
BUDGET = 1.2
BUDGET_WITH_WEBHOOKS = 1.0
# Dense spacings tried, in units of the backoff's first interval (1 s by default), finest
# first; the first that fits the budget wins.
DENSE_STEPS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)
# The part of the predicted spread covered densely (lower and upper quantile).
LOW_Q, HIGH_Q = 0.05, 0.95
PROBES = 32


class Schedule(Protocol):
    def next_delay(self, elapsed_s: float) -> float:
        """Seconds to wait before the next fetch, `elapsed_s` after the resource's creation.

        Asked before every fetch, the first one included (0: fetch at once).
        """
        ...


class Backoff:
    """The plain schedule: fetch at once, then wait `initial_s` growing ×`factor` to `cap_s`."""

    def __init__(self, initial_s: float, factor: float, cap_s: float) -> None:
        self.initial_s = max(0.0, initial_s)
        self.factor = factor
        self.cap_s = cap_s
        self._next: float | None = None

    def next_delay(self, elapsed_s: float) -> float:
        if self._next is None:
            self._next = self.initial_s
            return 0.0
        delay = self._next
        grown = delay * self.factor if delay > 0 else self.initial_s
        self._next = min(self.cap_s, grown)
        return delay


@dataclass(frozen=True)
class Window:
    """Sparse (≤ `sparse_s` apart, evenly) until `lo`, every `dense_s` until `hi`, then
    a wait that grows with how late the resource is (×1.5 per poll), up to `sparse_s`."""

    lo: float
    hi: float
    dense_s: float
    sparse_s: float

    def next_delay(self, elapsed_s: float) -> float:
        if elapsed_s < self.lo:
            gap = self.lo - elapsed_s
            return gap / max(1, math.ceil(gap / self.sparse_s - 1e-9))
        if elapsed_s < self.hi:
            return min(self.dense_s, max(self.hi - elapsed_s, self.dense_s / 2))
        late = elapsed_s - self.hi
        return min(self.sparse_s, max(self.dense_s, 0.5 * late + self.dense_s))


def expected_polls(make: Callable[[], Schedule], samples: Sequence[float]) -> float:
    """Mean number of fetches until (and including) the first at or after each sample."""
    total = 0
    for ready in samples:
        schedule = make()
        at, polls = 0.0, 0
        while polls < 10_000:
            at += schedule.next_delay(at)
            polls += 1
            if at >= ready:
                break
        total += polls
    return total / max(1, len(samples))


def _fixed(schedule: Schedule) -> Callable[[], Schedule]:
    return lambda: schedule


def _quantile(ordered: Sequence[float], q: float) -> float:
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def plan(
    samples: Sequence[float] | None,
    *,
    initial_s: float,
    factor: float,
    max_interval_s: float,
    budget: float = BUDGET,
) -> Schedule:
    """The schedule for a resource whose finishing time (s after creation) is like `samples`.

    The finest dense spacing whose expected polls fit `budget` times the plain backoff's;
    the plain backoff when there is nothing to go on or nothing fits.
    """
    backoff = (initial_s, factor, max_interval_s)
    if not samples:
        return Backoff(*backoff)
    ordered = sorted(samples)
    low, high = _quantile(ordered, LOW_Q), _quantile(ordered, HIGH_Q)
    # Expectations over at most PROBES evenly spaced quantiles: the same answer, less work
    # (this runs on the event loop at the start of every wait).
    if len(ordered) > PROBES:
        ordered = [_quantile(ordered, (i + 0.5) / PROBES) for i in range(PROBES)]
    allowed = budget * expected_polls(lambda: Backoff(*backoff), ordered)
    for step in DENSE_STEPS:
        dense = step * initial_s
        if dense <= 0 or dense >= max_interval_s:
            break
        window = Window(
            lo=max(0.0, low * 0.97 - dense),
            hi=high * 1.03 + dense / 2,
            dense_s=dense,
            sparse_s=max_interval_s,
        )
        if expected_polls(_fixed(window), ordered) <= allowed:
            return window
    return Backoff(*backoff)


class ReadyTimes:
    """How long recent resources of one kind took to finish, and how big they were.

    In memory, per process: the newest `keep` finished resources. `predict(size)` fits
    log(time) = a + b·log(size) to them (least squares, b kept within 0…1.5: from "size does
    not matter" to "a bit worse than proportional") and returns the fit at `size` with each
    past resource's own deviation from the fit applied: a spread as wide as history shows.
    Without a size, the plain finishing times of resources that had none are the prediction.
    """

    def __init__(self, keep: int = 100, min_samples: int = 5) -> None:
        self.min_samples = min_samples
        self._sized: deque[tuple[float, float]] = deque(maxlen=keep)  # (log size, log took)
        self._unsized: deque[float] = deque(maxlen=keep)

    def __len__(self) -> int:
        return len(self._sized) + len(self._unsized)

    def observe(self, took_s: float, size: float | None = None) -> None:
        if not math.isfinite(took_s) or took_s <= 0:
            return
        if size is not None and math.isfinite(size) and size > 0:
            self._sized.append((math.log(size), math.log(took_s)))
        else:
            self._unsized.append(float(took_s))

    def predict(self, size: float | None = None) -> list[float] | None:
        """Likely finishing times (s after creation), or None with too little to go on."""
        if size is None or not math.isfinite(size) or size <= 0:
            if len(self._unsized) < self.min_samples:
                return None
            return sorted(self._unsized)
        if len(self._sized) < self.min_samples:
            return None
        xs = [x for x, _ in self._sized]
        ys = [y for _, y in self._sized]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mx) ** 2 for x in xs)
        # All of one size so far: assume time grows with size, the usual case for video.
        b = 1.0 if var < 1e-9 else sum((x - mx) * (y - my) for x, y in self._sized) / var
        b = min(1.5, max(0.0, b))
        a = my - b * mx
        at = a + b * math.log(size)
        return sorted(math.exp(at + (y - a - b * x)) for x, y in self._sized)
