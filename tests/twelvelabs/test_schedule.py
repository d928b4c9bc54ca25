"""The polling schedules and what they learn (pure: no server, no clock)."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Callable, Sequence

import pytest

from bot.twelvelabs.schedule import (
    BUDGET,
    BUDGET_WITH_WEBHOOKS,
    Backoff,
    Hazard,
    ReadyTimes,
    Schedule,
    Spread,
    Window,
    cost,
    plan,
)

PROD = {"initial_s": 1.0, "factor": 1.5, "max_interval_s": 10.0}


def expected_polls(make: Callable[[], Schedule], samples: Sequence[float]) -> float:
    """Mean fetches until (and including) the first at or after each sample: a fresh schedule
    walked per sample, independently of `cost()`, which plan() itself uses."""
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


def fetch_times(schedule: Schedule, until: float) -> list[float]:
    """The offsets at which a wait on this schedule fetches, up to the first ≥ `until`."""
    at, out = 0.0, []
    while True:
        at += schedule.next_delay(at)
        out.append(round(at, 3))
        if at >= until:
            return out


def test_backoff_is_the_old_schedule() -> None:
    assert fetch_times(Backoff(1.0, 1.5, 2.0), 6.0) == [0.0, 1.0, 2.5, 4.5, 6.5]
    assert fetch_times(Backoff(1.0, 1.5, 10.0), 40.0)[:6] == [0.0, 1.0, 2.5, 4.75, 8.125, 13.188]


def test_window_is_sparse_then_dense_then_backs_off() -> None:
    window = Window(lo=20.0, hi=24.0, dense_s=1.0, sparse_s=10.0)
    times = fetch_times(window, 40.0)
    # No fetch at once: 20 s in two even steps, then every second, then growing waits.
    assert times[:7] == [10.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0]
    late = [b - a for a, b in itertools.pairwise(times[6:])]
    assert late == sorted(late) and late[0] > 1.0 and max(late) <= 10.0


def test_no_history_means_the_plain_backoff() -> None:
    assert isinstance(plan(None, **PROD), Backoff)
    assert isinstance(plan([], **PROD), Backoff)


def test_a_tight_prediction_gets_dense_polls_within_the_budget() -> None:
    samples = [30.0 * (1 + 0.05 * math.sin(i)) for i in range(25)]  # 28.5 … 31.5 s
    schedule = plan(samples, **PROD)
    assert isinstance(schedule, Window | Hazard)
    backoff = expected_polls(lambda: Backoff(1.0, 1.5, 10.0), samples)
    assert expected_polls(lambda: schedule, samples) <= BUDGET * backoff
    # Every sample is seen within one step of the initial interval; no fetch before 20 s.
    for ready in samples:
        assert fetch_times(schedule, ready)[-1] - ready <= 1.0
    assert sum(t < 20.0 for t in fetch_times(schedule, 40.0)) <= 2


def test_a_vague_prediction_never_costs_more_than_the_budget() -> None:
    rng = random.Random(7)
    samples = [rng.uniform(5, 60) for _ in range(100)]
    schedule = plan(samples, **PROD)
    backoff = expected_polls(lambda: Backoff(1.0, 1.5, 10.0), samples)
    # plan() takes expectations over 32 quantiles of the 100: within a hair of the budget.
    assert expected_polls(lambda: schedule, samples) <= BUDGET * backoff * 1.02


def test_a_wide_spread_gets_denser_polls_as_it_runs_out_and_beats_the_window() -> None:
    """Uniform 5–60 s: a poll late in the spread is cheap (few resources still wait)."""
    rng = random.Random(3)
    samples = sorted(rng.uniform(5, 60) for _ in range(100))
    schedule = plan(samples, **PROD)
    assert isinstance(schedule, Hazard)
    times = [t for t in fetch_times(schedule, 60.0) if t <= 60.0]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    third = len(gaps) // 3
    early, late = statistics.mean(gaps[:third]), statistics.mean(gaps[-third:])
    assert early > 1.5 * late and min(gaps) >= 1.0 - 1e-9  # never finer than the initial
    plain_polls, plain_lag = cost(lambda: Backoff(1.0, 1.5, 10.0), samples)
    polls, lag = cost(lambda: schedule, samples)
    assert polls <= BUDGET * plain_polls * 1.02 and lag < plain_lag / 3
    low, high = samples[5], samples[95]  # the best Window for the same budget lags more
    window = min(
        (
            Window(lo=low * 0.97 - d, hi=high * 1.03 + d / 2, dense_s=d, sparse_s=10.0)
            for d in (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)
        ),
        key=lambda w: (cost(lambda: w, samples)[0] > polls, cost(lambda: w, samples)[1]),
    )
    assert cost(lambda: window, samples)[1] > lag


def test_the_spread_is_a_smooth_cdf_through_the_samples() -> None:
    spread = Spread([10.0, 20.0, 30.0, 40.0])
    assert [spread.cdf(x) for x in (0.0, 10.0, 15.0, 40.0, 50.0, 60.0)] == pytest.approx(
        [0.0, 0.125, 0.25, 0.875, 1.0, 1.0]
    )
    for q in (0.01, 0.2, 0.5, 0.9, 0.99):
        assert spread.cdf(spread.quantile(q)) == pytest.approx(q)
    tied = Spread([0.3] * 10)  # all alike: a step at 0.3, a little slope either side
    assert tied.cdf(0.2999) < 0.06 and tied.cdf(0.3) == pytest.approx(0.95)


def test_hazard_waits_follow_the_rule() -> None:
    """Each wait is the shortest d with (share of the waiting that finish within d)·d ≥ k:
    on a uniform spread, d = √(k·S·width), denser as the spread runs out."""
    spread = Spread([5.0 + i for i in range(56)])  # 5 … 60 s, one a second: linear CDF
    for at, k in ((5.5, 0.1), (20.0, 0.1), (40.0, 0.3), (58.0, 0.05)):
        d = spread.wait(at, k)
        waiting = 1.0 - spread.cdf(at)
        assert (spread.cdf(at + d) - spread.cdf(at)) * d == pytest.approx(k * waiting)
        assert d == pytest.approx(math.sqrt(k * waiting * 56), rel=0.02)
    schedule = Hazard.spread(spread, k=0.1, min_s=1.0, max_s=10.0)
    gaps = [b - a for a, b in itertools.pairwise(schedule.times)]
    assert gaps[1] > gaps[-2] and min(gaps) >= 1.0 - 1e-9 and max(gaps) <= 10.0
    assert schedule.times[-1] >= 60.0
    late = fetch_times(schedule, 120.0)[len(schedule.times) - 1 :]
    steps = [b - a for a, b in itertools.pairwise(late)]
    assert steps == sorted(steps) and max(steps) <= 10.0  # late: a growing wait


def test_dense_spacing_scales_with_the_initial_interval() -> None:
    schedule = plan([0.3] * 10, initial_s=0.02, factor=1.5, max_interval_s=0.05)
    times = fetch_times(schedule, 0.3)
    assert not isinstance(schedule, Backoff) and times[-1] - 0.3 <= 0.02 + 1e-9
    assert min(b - a for a, b in itertools.pairwise([0.0, *times])) >= 0.02 - 1e-9
    # Nothing finer than the max interval allows: the plain backoff.
    assert isinstance(plan([0.3] * 10, initial_s=0.1, factor=1.5, max_interval_s=0.1), Backoff)


def test_ready_times_need_a_few_samples_then_follow_size() -> None:
    times = ReadyTimes(min_samples=3)
    times.observe(10.0, size=10.0)
    times.observe(20.0, size=20.0)
    assert times.predict(15.0) is None  # too little to go on
    times.observe(40.0, size=40.0)
    # Time proportional to size, exactly: every past task predicts the same.
    assert times.predict(15.0) == pytest.approx([15.0, 15.0, 15.0])
    assert times.predict(100.0) == pytest.approx([100.0] * 3)


def test_ready_times_keep_the_spread_history_shows() -> None:
    times = ReadyTimes(min_samples=3)
    for size, took in [(10.0, 9.0), (10.0, 11.0), (20.0, 18.0), (20.0, 22.0)]:
        times.observe(took, size=size)
    predicted = times.predict(30.0)
    assert predicted is not None and predicted == sorted(predicted)
    assert predicted[0] == pytest.approx(27.0, rel=0.01) and predicted[-1] == pytest.approx(
        33.0, rel=0.01
    )


def test_ready_times_ignore_a_size_that_does_not_matter() -> None:
    rng = random.Random(3)
    times = ReadyTimes()
    for _ in range(100):
        times.observe(rng.uniform(5, 60), size=rng.uniform(5, 60))
    short, long = times.predict(5.0), times.predict(60.0)
    assert short is not None and long is not None
    # Scaling by size would make the 60 s prediction 12x the 5 s one; it is about the same.
    assert 0.5 < statistics.median(long) / statistics.median(short) < 2.0
    assert 20 < statistics.median(short) < 45


def test_one_size_so_far_means_time_grows_with_size() -> None:
    times = ReadyTimes(min_samples=2)
    times.observe(10.0, size=10.0)
    times.observe(12.0, size=10.0)
    assert times.predict(20.0) == pytest.approx([20.0, 24.0])


def test_ready_times_without_size_and_bad_observations() -> None:
    times = ReadyTimes(min_samples=2)
    times.observe(-1.0)
    times.observe(float("nan"))
    times.observe(3.0)
    assert times.predict() is None and len(times) == 1
    times.observe(5.0, size=None)
    assert times.predict() == [3.0, 5.0]
    assert times.predict(12.0) is None  # no sized history
    times.observe(4.0, size=0.0)  # a size of 0 counts as none
    assert times.predict() == [3.0, 4.0, 5.0]


def test_ready_times_keep_only_the_newest() -> None:
    times = ReadyTimes(keep=3, min_samples=1)
    for took in (1.0, 2.0, 3.0, 4.0):
        times.observe(took)
    assert times.predict() == [2.0, 3.0, 4.0]


def test_with_webhooks_arriving_polls_cost_no_more_than_the_backoff() -> None:
    rng = random.Random(11)
    samples = [rng.uniform(5, 60) for _ in range(100)]
    backoff = expected_polls(lambda: Backoff(1.0, 1.5, 10.0), samples)
    relaxed = plan(samples, **PROD, budget=BUDGET_WITH_WEBHOOKS)
    # Expectations over 32 quantiles of the 100: within a hair of the budget.
    assert expected_polls(lambda: relaxed, samples) <= BUDGET_WITH_WEBHOOKS * backoff * 1.02
    usual = plan(samples, **PROD)
    if isinstance(relaxed, Window) and isinstance(usual, Window):
        assert relaxed.dense_s >= usual.dense_s
