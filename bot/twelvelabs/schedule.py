"""When to poll: the plain backoff, or polls placed where this deployment's resources finish.

`ReadyTimes` remembers, in memory and per process, how long recent resources of one kind took
(from creation to `ready`) and how big they were (video seconds, bytes). For a new resource of
a known size it predicts a spread of likely finishing times: how time has followed size so
far, with the scatter history shows. `plan()` turns that spread into a schedule with no more
polls, in expectation, than `BUDGET` times what the plain backoff would make for the same
finishing times (`BUDGET_WITH_WEBHOOKS` while webhooks bring the news), and of those the one
with the least mean lag:

- `Window`: sparse polls until the spread begins, dense ones while most of it is passing,
  then a backoff. Best when the spread is narrow (time follows size).
- `Hazard`: each wait as long as makes (the share of still-waiting resources that finish
  during it) × (its length) a constant: the spacing that minimises the mean lag for a given
  number of polls (√(S/f)). Late polls are cheap (few resources still wait), so it polls
  more densely as the spread runs out. Best when the spread is wide (size predicts little).

Both are fitted to, and judged on, `Spread`: the samples smoothed into a continuous
distribution, so a schedule is not tuned to exactly where a few samples happened to fall.
Until enough resources have finished (a new process, the CLI), or when a prediction would need
more polls than that, the plain `Backoff` runs: the prior is today's schedule, never worse.

Schedules are pure functions of the time since the resource was created, so a wait woken
early (a webhook) simply carries on from wherever it is.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "BUDGET",
    "BUDGET_WITH_WEBHOOKS",
    "Backoff",
    "Hazard",
    "ReadyTimes",
    "Schedule",
    "Window",
    "cost",
    "plan",
]

# Polls the learned schedule may spend, in expectation, relative to the plain backoff; while
# webhooks are arriving they bring the news, polling is only the safety net: no extra polls.
BUDGET = 1.3
BUDGET_WITH_WEBHOOKS = 1.0
# Dense spacings tried, in units of the backoff's first interval (1 s by default), finest
# first; the first that fits the budget wins.
DENSE_STEPS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)
# The part of the predicted spread covered densely (lower and upper quantile).
LOW_Q, HIGH_Q = 0.05, 0.95
# Hazard: its finest spacing (× the backoff's first interval) and the bisection on its constant.
HAZARD_MIN_STEP = 1.0
HAZARD_ROUNDS = 14


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


def _late_wait(late_s: float, step_s: float, cap_s: float) -> float:
    """Past the predicted spread: a wait that grows with how late the resource is."""
    return min(cap_s, max(step_s, 0.5 * late_s + step_s))


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
        return _late_wait(elapsed_s - self.hi, self.dense_s, self.sparse_s)


class Spread:
    """Finishing times as a smooth distribution: the CDF through the sorted samples ((j + ½)/m
    at the j-th), linear between them and out to one gap beyond either end. Schedules are fitted
    to, and judged on, the spread, not on exactly where a few samples happened to fall."""

    POINTS = 64  # evenly spaced quantiles that stand for the spread when judging a schedule

    def __init__(self, ordered: Sequence[float]) -> None:
        m = len(ordered)
        first = max(ordered[1] - ordered[0] if m > 1 else 0.0, 0.02 * ordered[0], 1e-3)
        last = max(ordered[-1] - ordered[-2] if m > 1 else 0.0, 0.02 * ordered[-1], 1e-3)
        self.xs = [max(0.0, ordered[0] - first), *ordered, ordered[-1] + last]
        self.ps = [0.0, *((j + 0.5) / m for j in range(m)), 1.0]

    def cdf(self, x: float) -> float:
        i = bisect.bisect_right(self.xs, x)
        if i == 0:
            return 0.0
        if i == len(self.xs):
            return 1.0
        x0, x1, p0, p1 = self.xs[i - 1], self.xs[i], self.ps[i - 1], self.ps[i]
        return p0 + (p1 - p0) * (x - x0) / (x1 - x0)

    def quantile(self, q: float) -> float:
        i = bisect.bisect_left(self.ps, q)
        if i == 0:
            return self.xs[0]
        x0, x1, p0, p1 = self.xs[i - 1], self.xs[i], self.ps[i - 1], self.ps[i]
        return x0 + (x1 - x0) * (q - p0) / (p1 - p0)

    def points(self) -> list[float]:
        return [self.quantile((i + 0.5) / self.POINTS) for i in range(self.POINTS)]

    def wait(self, at: float, k: float) -> float:
        """The shortest d with (share of those still waiting at `at` that finish by at + d)
        · d ≥ k: piecewise quadratic in d, solved on the segment where it crosses."""
        done = self.cdf(at)
        target = k * (1.0 - done)
        prev_d = prev_gain = 0.0
        for j in range(bisect.bisect_right(self.xs, at), len(self.xs)):
            d, gain = self.xs[j] - at, self.ps[j] - done
            if gain * d >= target:
                if d <= prev_d:
                    return d  # a jump (samples tied): it crosses right here
                slope = (gain - prev_gain) / (d - prev_d)
                if slope <= 0:
                    return target / gain
                b = prev_gain - slope * prev_d
                return (-b + math.sqrt(b * b + 4 * slope * target)) / (2 * slope)
            prev_d, prev_gain = d, gain
        return math.inf


@dataclass(frozen=True)
class Hazard:
    """Polls at `times` (precomputed from a predicted spread), then a wait that grows with
    how late the resource is (×1.5 per poll) from `min_s` up to `max_s`."""

    times: tuple[float, ...]
    min_s: float
    max_s: float

    @classmethod
    def spread(cls, spread: Spread, k: float, min_s: float, max_s: float) -> Hazard:
        """Each wait the shortest d with q(d)·d ≥ `k`, q(d) the share of the resources still
        waiting that finish within d (kept between `min_s` and `max_s`): the spacing that
        minimises the mean lag for its number of polls (d ∝ √(S/f))."""
        times: list[float] = []
        at = 0.0
        while at < spread.xs[-1]:
            at += min(max_s, max(min_s, spread.wait(at, k)))
            times.append(at)
        return cls(tuple(times), min_s, max_s)

    def next_delay(self, elapsed_s: float) -> float:
        i = bisect.bisect_right(self.times, elapsed_s + 1e-9)
        if i < len(self.times):
            return self.times[i] - elapsed_s
        last = self.times[-1] if self.times else 0.0
        return _late_wait(elapsed_s - last, self.min_s, self.max_s)


def cost(make: Callable[[], Schedule], ordered: Sequence[float]) -> tuple[float, float]:
    """(Mean fetches, mean lag) until the first fetch at or after each of `ordered` (sorted):
    one walk of the schedule, since its fetch times do not depend on when a resource ends."""
    schedule, at = make(), 0.0
    times: list[float] = []
    while len(times) < 10_000:
        at += schedule.next_delay(at)
        times.append(at)
        if at >= ordered[-1]:
            break
    polls = lag = 0.0
    for ready in ordered:
        i = min(bisect.bisect_left(times, ready), len(times) - 1)
        polls += i + 1
        lag += max(0.0, times[i] - ready)
    return polls / len(ordered), lag / len(ordered)


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

    Of the finest `Window` and the finest `Hazard` whose expected polls fit `budget` times the
    plain backoff's, the one with the least mean lag; the plain backoff when there is nothing
    to go on or nothing fits.
    """
    backoff = (initial_s, factor, max_interval_s)
    if not samples:
        return Backoff(*backoff)
    ordered = sorted(samples)
    low, high = _quantile(ordered, LOW_Q), _quantile(ordered, HIGH_Q)
    spread = Spread(ordered)
    points = spread.points()
    allowed = budget * cost(lambda: Backoff(*backoff), points)[0]
    fitting = [
        (cost(_fixed(candidate), points)[1], candidate)
        for candidate in (
            _window(points, low, high, allowed, initial_s, max_interval_s),
            _hazard(spread, points, allowed, initial_s, max_interval_s),
        )
        if candidate is not None
    ]
    if not fitting:
        return Backoff(*backoff)
    return min(fitting, key=lambda lag_and_schedule: lag_and_schedule[0])[1]


def _window(
    ordered: Sequence[float],
    low: float,
    high: float,
    allowed: float,
    initial_s: float,
    max_interval_s: float,
) -> Window | None:
    """The finest dense spacing whose expected polls fit."""
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
        if cost(_fixed(window), ordered)[0] <= allowed:
            return window
    return None


def _hazard(
    spread: Spread,
    points: Sequence[float],
    allowed: float,
    initial_s: float,
    max_interval_s: float,
) -> Hazard | None:
    """The smallest constant whose expected polls fit (bisection: polls fall as it grows)."""
    min_s = HAZARD_MIN_STEP * initial_s
    if min_s <= 0 or min_s >= max_interval_s:
        return None

    def make(k: float) -> Hazard:
        return Hazard.spread(spread, k, min_s, max_interval_s)

    lo, hi = math.log(1e-3), math.log(max_interval_s)
    best = make(math.exp(hi))
    if cost(_fixed(best), points)[0] > allowed:
        return None
    for _ in range(HAZARD_ROUNDS):
        mid = (lo + hi) / 2
        candidate = make(math.exp(mid))
        if cost(_fixed(candidate), points)[0] <= allowed:
            best, hi = candidate, mid
        else:
            lo = mid
    return best


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
