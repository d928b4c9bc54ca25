"""What waiting costs: API calls per gist and the lag between "task ready" and the printed result.

    .venv/bin/python -m bench.polling_cost [--runs 3] [--task-seconds 60] [--asset-seconds 3]

The fake TwelveLabs API runs in this process (a thread) so its `mark_task_ready_at` and call log
share this process's `time.monotonic()` clock. Each run is `gistbot gist <small mp4> --json` as
a subprocess with the *production* poll settings (no GIST_POLL_* variables: the settings'
defaults, today 1.0 s growing ×1.5 to 10 s) and indexing on (the default). Per run:

- calls per endpoint, from the fake's call log (everything the CLI sent for that one gist);
- result lag = first byte of the JSON on the CLI's stdout − the moment the fake marked the
  analysis task ready; split into poll lag (the task poll that saw `ready` − ready) and the
  rest (parse, validate, print);
- the same poll lag for the asset (first asset poll at/after the asset became ready − ready).
Results: bench/out/polling_cost-*.json.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._common import cli_env, machine_info, write_result
from bench._proc import run_cli
from bot.settings import TwelveLabsSettings
from bot.twelvelabs.client import TwelveLabsClient
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.videos import make_video

T_TASK_POLL = ("GET", "/analyze/tasks/{id}")
T_ASSET_POLL = ("GET", "/assets/{id}")
T_TASK_CREATE = ("POST", "/analyze/tasks")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.polling_cost", description=__doc__)
    p.add_argument("--runs", type=int, default=3, help="gists to run (each ≥ task-seconds)")
    p.add_argument("--task-seconds", type=float, default=60.0, help="fake analysis time")
    p.add_argument("--asset-seconds", type=float, default=3.0, help="fake asset processing time")
    p.add_argument("--video-seconds", type=float, default=10.0, help="length of the test mp4")
    p.add_argument("--timeout", type=float, default=None, help="per run (default task + 120 s)")
    return p.parse_args(argv)


def _default(name: str) -> float:
    value = TwelveLabsSettings.model_fields[name].default
    assert isinstance(value, float)
    return value


def _factor() -> float:
    import inspect

    value = inspect.signature(TwelveLabsClient).parameters["poll_factor"].default
    assert isinstance(value, float)
    return value


def poll_schedule(initial: float, factor: float, cap: float, until: float) -> list[float]:
    """Offsets (s after the first poll) at which `poll_until` fetches, up to `until`."""
    at, interval, out = 0.0, initial, [0.0]
    while at < until:
        at += interval
        out.append(round(at, 2))
        interval = min(cap, interval * factor)
    return out


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def one_run(
    fake: FakeTwelveLabs, video: Path, api_key: str, args: argparse.Namespace
) -> dict[str, Any]:
    fake.reset()
    base_url = fake.base_url
    assert base_url is not None
    workdir = Path(tempfile.mkdtemp(prefix="gistbot-bench-poll-"))
    try:
        run = run_cli(
            ["gist", str(video), "--json"],
            env=cli_env(api_key, base_url),  # no GIST_POLL_*: production defaults
            cwd=workdir,
            timeout_s=args.timeout or args.task_seconds + 120.0,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = run.json_out()
    if run.returncode != 0 or out is None or run.stdout_first_at is None:
        tail = "\n".join(line for _, line in run.stderr_lines[-15:])
        raise RuntimeError(f"gistbot exited {run.returncode} (timed out: {run.timed_out}):\n{tail}")
    calls = list(fake.calls)
    task_id = out["analysis_task_id"]
    asset_id = out["video"]["asset_id"]
    ready = fake.mark_task_ready_at[task_id]
    asset_ready = fake.assets[asset_id].ready_at
    by_endpoint = Counter(f"{c.method} {c.template}" for c in calls)
    task_polls = [c.at for c in calls if (c.method, c.template) == T_TASK_POLL]
    asset_polls = [c.at for c in calls if (c.method, c.template) == T_ASSET_POLL]
    created = min(c.at for c in calls if (c.method, c.template) == T_TASK_CREATE)
    seen = min(t for t in task_polls if t >= ready)
    asset_seen = (
        min((t for t in asset_polls if t >= asset_ready), default=None)
        if asset_ready is not None
        else None
    )
    return {
        "returncode": run.returncode,
        "cli_wall_s": round(run.ended - run.started, 2),
        "task_id": task_id,
        "calls_total": len(calls),
        "calls_by_endpoint": dict(sorted(by_endpoint.items())),
        "task_processing_s": round(ready - created, 3),
        "task_polls_at_s": [round(t - created, 2) for t in task_polls],
        "result_lag_s": round(run.stdout_first_at - ready, 3),
        "result_lag_to_exit_s": round(run.ended - ready, 3),
        "task_poll_lag_s": round(seen - ready, 3),
        "after_poll_s": round(run.stdout_first_at - seen, 3),
        "asset_poll_lag_s": (
            round(asset_seen - asset_ready, 3)
            if asset_seen is not None and asset_ready is not None
            else None
        ),
        "asset_polls": len(asset_polls),
        "cli_start_to_task_create_s": round(created - run.started, 2),
    }


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)

    api_key = "tl-bench-" + secrets.token_hex(4)
    video = make_video(args.video_seconds)
    fake = FakeTwelveLabs(
        api_key=api_key,
        asset_processing_s=args.asset_seconds,
        task_processing_s=args.task_seconds,
        index_processing_s=args.asset_seconds,
    )
    fake.start()
    runs: list[dict[str, Any]] = []
    try:
        for i in range(args.runs):
            t = time.monotonic()
            runs.append(one_run(fake, video, api_key, args))
            r = runs[-1]
            print(
                f"polling_cost: run {i + 1}/{args.runs}: {r['calls_total']} calls, "
                f"result lag {r['result_lag_s']} s ({time.monotonic() - t:.0f} s)",
                file=sys.stderr,
            )
    finally:
        fake.stop()

    initial, cap = _default("gist_poll_initial_s"), _default("gist_poll_max_interval_s")
    factor = _factor()
    schedule = poll_schedule(initial, factor, cap, args.task_seconds)
    endpoints = sorted({k for r in runs for k in r["calls_by_endpoint"]})
    result: dict[str, Any] = {
        "benchmark": "polling_cost",
        "command": "python -m bench.polling_cost " + " ".join(argv or []),
        "machine": machine_info(),
        "params": {
            "runs": args.runs,
            "task_processing_s": args.task_seconds,
            "asset_processing_s": args.asset_seconds,
            "video_seconds": args.video_seconds,
            "poll_initial_s": initial,
            "poll_factor": factor,
            "poll_max_interval_s": cap,
            "index_enabled": _default_bool("gist_index_enabled"),
        },
        "expected_task_poll_offsets_s": schedule,
        # With polls every `cap` s once the interval has grown, a task that becomes ready at a
        # random moment waits cap/2 s on average and up to cap s for the next poll.
        "predicted": {
            "task_poll_lag_s": round(
                min(t for t in schedule if t >= args.task_seconds) - args.task_seconds, 2
            ),
            "task_polls": len(schedule),
            "random_ready_lag_mean_s": cap / 2,
            "random_ready_lag_max_s": cap,
        },
        "calls_per_gist": {
            "total": _stats([float(r["calls_total"]) for r in runs]),
            "by_endpoint": {
                e: _stats([float(r["calls_by_endpoint"].get(e, 0)) for r in runs])
                for e in endpoints
            },
        },
        "result_lag_s": _stats([r["result_lag_s"] for r in runs]),
        "task_poll_lag_s": _stats([r["task_poll_lag_s"] for r in runs]),
        "after_poll_s": _stats([r["after_poll_s"] for r in runs]),
        "asset_poll_lag_s": _stats(
            [r["asset_poll_lag_s"] for r in runs if r["asset_poll_lag_s"] is not None]
        ),
        "runs": runs,
    }
    result["output"] = str(write_result("polling_cost", result))
    return result


def _default_bool(name: str) -> bool:
    value = TwelveLabsSettings.model_fields[name].default
    assert isinstance(value, bool)
    return value


def summary(result: dict[str, Any]) -> str:
    p = result["params"]
    calls = result["calls_per_gist"]
    polls = calls["by_endpoint"].get("GET /analyze/tasks/{id}", {}).get("mean")
    asset_polls = calls["by_endpoint"].get("GET /assets/{id}", {}).get("mean")
    lag, poll_lag = result["result_lag_s"], result["task_poll_lag_s"]
    rest = result["after_poll_s"]
    return "\n".join(
        [
            f"polling_cost  ({p['runs']} runs; task {p['task_processing_s']:g} s, asset "
            f"{p['asset_processing_s']:g} s; polls {p['poll_initial_s']:g} s ×{p['poll_factor']:g}"
            f" → {p['poll_max_interval_s']:g} s)",
            f"  API calls per gist: {calls['total']['mean']:g} "
            f"(task polls {polls}, asset polls {asset_polls})",
            "  by endpoint: "
            + ", ".join(f"{e} {s['mean']:g}" for e, s in calls["by_endpoint"].items()),
            f"  ready → JSON printed: mean {lag['mean']} s (min {lag['min']}, max {lag['max']});"
            f" of which poll lag mean {poll_lag['mean']} s, rest {rest['mean']} s",
            f"  predicted from the schedule: poll lag {result['predicted']['task_poll_lag_s']} s "
            f"for a {p['task_processing_s']:g} s task; for a random ready time mean "
            f"{result['predicted']['random_ready_lag_mean_s']:g} s, max "
            f"{result['predicted']['random_ready_lag_max_s']:g} s",
            f"  results: {result['output']}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    result = run(argv)
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
