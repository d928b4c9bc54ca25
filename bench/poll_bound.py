"""The best any polling schedule can do when finishing times are uniform 5–60 s, unpredicted.

    .venv/bin/python -m bench.poll_bound [--after-poll 0.08] [--budget 1.5]     # ~2 min, no I/O

Issue 11's goal 1 asks for a reply lag median ≤ 1 s and p90 ≤ 2 s with task polls ≤ 1.5× a
fixed 5 s poller's. `bench/reply_latency.py` measures gistbot in its `uniform` scenario (ready
times uniform in 5–60 s, unrelated to anything gistbot can see). This computes, exactly, what
the best schedule *could* do there, so the measured figure can be read against it:

- A schedule is its poll times s₀ < s₁ < … after the task's creation. For T uniform on
  [5, 60], a task ready in (sᵢ₋₁, sᵢ] is seen at sᵢ after i + 1 polls, with lag sᵢ − T; the
  lag's distribution and the expected polls follow in closed form (no sampling). Reply lag =
  poll lag + `--after-poll` (the time from the poll that sees the task to the reply in the
  thread, as reply_latency measures it).
- Reference: the fixed 5 s poller (polls at 0, 5, 10 …).
- Searched: every schedule of the shape an optimum has here — one poll at 5 s, a gap, evenly
  spaced polls, then denser ones to 60 s — over a fine grid (~100,000 schedules). Why that
  shape: a poll at s costs P(T > s) (late polls are cheap: few tasks are still waiting), and
  the two quantile goals are piecewise linear in the poll density with kinks at 1 and 0.5
  polls/s, so the optimal density takes those values or 0 (a linear programme's corners).
- Also shown: gistbot's own schedule, `plan()` from bot/twelvelabs/schedule.py, given 100
  finished tasks from the same distribution and the production poll settings.

Prints: the fewest polls any searched schedule needs to meet both goals (and that as a ratio
of the reference's); the best median and p90 within `--budget` × the reference's polls; and
gistbot's figures. Writes bench/out/poll_bound-*.json.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench._common import loadavg, machine_info, write_result
from bot.twelvelabs.schedule import plan

NAME = "poll_bound"
LO, HI = 5.0, 60.0
GOAL_MEDIAN_S, GOAL_P90_S = 1.0, 2.0


@dataclass(frozen=True)
class Figures:
    polls: float
    median_s: float
    p90_s: float


def figures(polls_at: Sequence[float], after_poll: float) -> Figures:
    """Exact expected polls and reply-lag quantiles for T ~ U[LO, HI]."""
    pieces: list[float] = []  # the length of each poll interval inside [LO, HI]
    expected, prev = 0.0, -math.inf
    for i, at in enumerate(polls_at):
        length = max(0.0, min(at, HI) - max(prev, LO))
        if length > 0:
            pieces.append(length)
            expected += (i + 1) * length / (HI - LO)
        prev = at
        if at >= HI:
            break
    else:
        raise ValueError("the schedule must reach HI")

    def quantile(q: float) -> float:
        lo, hi = 0.0, max(pieces)
        for _ in range(60):  # bisection on the lag's CDF, Σ min(x, Lᵢ) / (HI − LO)
            mid = (lo + hi) / 2
            if sum(min(mid, p) for p in pieces) / (HI - LO) < q:
                lo = mid
            else:
                hi = mid
        return hi + after_poll

    return Figures(expected, quantile(0.5), quantile(0.9))


def fixed(interval: float) -> list[float]:
    return [interval * k for k in range(math.ceil(HI / interval) + 1)]


def shaped(gap: float, even: float, dense_from: float, dense: float) -> list[float]:
    """A poll at LO, none for `gap` s, every `even` s, every `dense` s from `dense_from`."""
    out = [LO] if gap > 0 else []
    at = LO + gap
    while at < dense_from:
        out.append(at)
        at += even
    while not out or out[-1] < HI:
        out.append(at)
        at += dense
    return out


def frange(lo: float, hi: float, step: float) -> list[float]:
    return [round(lo + step * k, 6) for k in range(round((hi - lo) / step) + 1)]


def search(after_poll: float) -> list[tuple[Figures, tuple[float, float, float, float]]]:
    found = []
    for gap in frange(0.0, 20.0, 1.0):
        for even in frange(1.0, 4.0, 0.1):
            for dense_from in frange(20.0, 60.0, 2.0):
                for dense in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5):
                    params = (gap, even, dense_from, dense)
                    found.append((figures(shaped(*params), after_poll), params))
    return found


def gistbot(after_poll: float, seed: int) -> Figures:
    rng = random.Random(seed)
    history = [rng.uniform(LO, HI) for _ in range(100)]
    schedule = plan(history, initial_s=1.0, factor=1.5, max_interval_s=10.0)
    at, polls = 0.0, []
    while not polls or polls[-1] < HI:
        at += schedule.next_delay(at)
        polls.append(at)
    return figures(polls, after_poll)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.poll_bound", description=__doc__)
    p.add_argument("--after-poll", type=float, default=0.08, help="poll → reply, s")
    p.add_argument("--budget", type=float, default=1.5, help="polls allowed / reference's")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    started, load_before = time.monotonic(), loadavg()

    ref = figures(fixed(5.0), args.after_poll)
    allowed = args.budget * ref.polls
    found = search(args.after_poll)
    meeting = [f for f in found if f[0].median_s <= GOAL_MEDIAN_S and f[0].p90_s <= GOAL_P90_S]
    cheapest = min(meeting, key=lambda f: f[0].polls) if meeting else None
    affordable = [f for f in found if f[0].polls <= allowed]
    best_p90 = min(affordable, key=lambda f: (f[0].p90_s, f[0].median_s))
    best_median = min(
        (f for f in affordable if f[0].p90_s <= best_p90[0].p90_s * 1.05),
        key=lambda f: f[0].median_s,
    )
    data: dict[str, Any] = {
        "machine": machine_info(),
        "args": vars(args),
        "schedules_searched": len(found),
        "reference": asdict(ref),
        "cheapest_meeting_goal": asdict(cheapest[0]) if cheapest else None,
        "cheapest_params": cheapest[1] if cheapest else None,
        "best_p90_within_budget": asdict(best_p90[0]),
        "best_median_within_budget": asdict(best_median[0]),
        "gistbot_plan": asdict(gistbot(args.after_poll, args.seed)),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(summary(data))
    out = write_result(NAME, data)
    print(f"-> {out}")
    return data


def summary(data: dict[str, Any]) -> str:
    ref = data["reference"]
    budget = data["args"]["budget"]

    def line(label: str, fig: dict[str, float] | None) -> str:
        if fig is None:
            return f"{label:<44} none of the searched schedules"
        return (
            f"{label:<44} polls {fig['polls']:5.2f} ({fig['polls'] / ref['polls']:4.2f}×)  "
            f"median {fig['median_s']:4.2f} s  p90 {fig['p90_s']:4.2f} s"
        )

    return "\n".join(
        [
            f"poll_bound: T uniform {LO:g}–{HI:g} s, reply = poll + "
            f"{data['args']['after_poll']:g} s; {data['schedules_searched']} schedules",
            line("fixed 5 s poller (reference)", ref),
            line("fewest polls meeting median ≤1 s, p90 ≤2 s", data["cheapest_meeting_goal"]),
            line(f"best p90 within {budget:g}× the polls", data["best_p90_within_budget"]),
            line(f"best median within {budget:g}× (p90 ≤ +5 %)", data["best_median_within_budget"]),
            line("gistbot's plan() after 100 such tasks", data["gistbot_plan"]),
            f"load avg {data['loadavg_before'][0]:.2f} → {data['loadavg_after'][0]:.2f}; "
            f"{data['wall_s']:.0f} s",
        ]
    )


if __name__ == "__main__":
    run()
