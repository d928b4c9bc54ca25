"""The polling schedules and what they learn (pure: no server, no clock)."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from bot.twelvelabs.schedule import (
    BUDGET,
    BUDGET_WITH_WEBHOOKS,
    Backoff,
    ReadyTimes,
    Schedule,
    Window,
    expected_polls,
    plan,
)

PROD = {"initial_s": 1.0, "factor": 1.5, "max_interval_s": 10.0}


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
    assert isinstance(schedule, Window)
    assert schedule.dense_s == 1.0 and schedule.lo < min(samples) and schedule.hi > max(samples)
    backoff = expected_polls(lambda: Backoff(1.0, 1.5, 10.0), samples)
    assert expected_polls(lambda: schedule, samples) <= BUDGET * backoff
    # Every sample is seen within one dense step.
    for ready in samples:
        assert fetch_times(schedule, ready)[-1] - ready <= 1.0


def test_a_vague_prediction_gets_coarser_polls_never_more_than_the_budget() -> None:
    rng = random.Random(7)
    samples = [rng.uniform(5, 60) for _ in range(100)]
    schedule = plan(samples, **PROD)
    backoff = expected_polls(lambda: Backoff(1.0, 1.5, 10.0), samples)
    assert expected_polls(lambda: schedule, samples) <= BUDGET * backoff
    if isinstance(schedule, Window):
        assert schedule.dense_s > 1.0


def test_dense_spacing_scales_with_the_initial_interval() -> None:
    schedule = plan([0.3] * 10, initial_s=0.02, factor=1.5, max_interval_s=0.05)
    assert isinstance(schedule, Window) and schedule.dense_s == pytest.approx(0.02)
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
    assert expected_polls(lambda: relaxed, samples) <= BUDGET_WITH_WEBHOOKS * backoff
    usual = plan(samples, **PROD)
    if isinstance(relaxed, Window) and isinstance(usual, Window):
        assert relaxed.dense_s >= usual.dense_s
