"""Ack latency of signed Slack events while hundreds of jobs are in flight.

    .venv/bin/python -m bench.ack_latency                  # defaults: 200 jobs, 1000 events, 20/s
    .venv/bin/python -m bench.ack_latency --profile        # also py-spy the app (if installed)

Four processes, all on 127.0.0.1:

- **fakes** (`python -m bench.ack_latency --serve-fakes`): FakeSlack, FakeTwelveLabs (analysis
  tasks take `--task-seconds`, so every job stays in flight for the whole run) and a tiny media
  server that serves a real `make_video(5)` mp4 at `/media/<name>.mp4` (the fake TwelveLabs
  fetches URL assets itself), plus `/stats` (counts of what the fakes saw, computed in-process).
- **app**: `gistbot run` (HTTP mode, PORT=0, cwd a temporary directory) with
  GIST_MAX_CONCURRENT_ANALYSES=256 and the default polling and progress settings.
- **floor** (`--serve-floor`, off with `--no-floor`): a bare aiohttp server that answers
  `POST /slack/events` with an empty 200. Every event is also sent there, half a period after
  the app's copy: its latency is what this machine's loopback, client and server stack cost at
  that moment, so a miss can be told apart from a busy machine (other processes' CPU use and
  the disk write rate are recorded too).
- **this process**: the load generator. One persistent `httpx.AsyncClient`; every request is
  signed before its clock starts; latency = send → response headers.

Phases:
1. *idle*: `--idle-events` events that create no job (chatter, edits) at `--rate`, app idle.
2. *warm-up*: `--jobs` messages with distinct direct video links; wait until the fake
   TwelveLabs has created that many analysis tasks (each job polls its task from then on).
3. *loaded*: `--events` events at a steady `--rate` (open loop: a slow answer does not delay the
   next send), a mix of new links (each one a new job), chatter and `message_changed` edits,
   sampling the app's `/healthz` (jobs in flight, and its own latency) once a second.

Writes `bench/out/ack_latency-<UTC stamp>.json` (and `ack_latency-latest.json`); prints a summary.
The goal from the issue: p99 ≤ 20 ms while loaded. About 90 s with the defaults.
`run(argv)` / `summary(data)` are what `bench.run_all` calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from bench._common import (
    OUT_DIR,
    REPO,
    MediaSite,
    app_env,
    gistbot_exe,
    log_problems,
    machine_info,
    running_fakes,
    serve,
    summarize_ms,
    until_signalled,
    write_result,
)
from bench._load import (
    GOAL_P99_MS,
    Load,
    Monitor,
    Shot,
    shots_report,
    start_profiler,
    top_frames,
    wait_for_tasks,
)
from bench._proc import Child, CpuMeter, start_child

NAME = "ack_latency"

# The mix while loaded: one new link (a new job) in four events, two chatter, one edit.
DEFAULT_MIX = "link,chatter,changed,chatter"
IDLE_MIX = "chatter,changed"


# --------------------------------------------------------------------------- fakes process


def serve_fakes(task_seconds: float, asset_seconds: float) -> int:
    """The `--serve-fakes` process: both fakes (their own threads) and the media server."""
    from tests.videos import make_video

    video = make_video(5.0).read_bytes()
    with running_fakes(
        asset_processing_s=asset_seconds, task_processing_s=task_seconds, index_processing_s=1.0
    ) as (slack, tl):

        async def stats(request: web.Request) -> web.Response:
            calls = Counter(f"{c.method} {c.template}" for c in list(tl.calls))
            tasks = Counter(t.status for t in list(tl.tasks.values()))
            assets = Counter(a.status for a in list(tl.assets.values()))
            slack_calls = Counter(c.method for c in slack.calls())
            return web.json_response(
                {
                    "tl_calls": dict(calls),
                    "tl_calls_total": sum(calls.values()),
                    "tl_tasks": dict(tasks),
                    "tl_assets": dict(assets),
                    "slack_calls": dict(slack_calls),
                    "slack_calls_total": sum(slack_calls.values()),
                }
            )

        async def main() -> None:
            site = MediaSite(default=video)
            await site.start([web.get("/stats", stats)])
            info = {
                "slack_api_url": slack.api_url,
                "tl_base_url": tl.base_url,
                "media_url": site.url,
                "stats_url": f"{site.origin}/stats",
                "video_bytes": len(video),
            }
            print(json.dumps(info), flush=True)
            try:
                await until_signalled()
            finally:
                await site.stop()

        asyncio.run(main())
    return 0


def serve_floor() -> int:
    """The `--serve-floor` process: the same server stack as the app (aiohttp) answering
    `POST /slack/events` with an empty 200 after reading the body, and nothing else. Sent the
    same signed requests at the same time as the app, it shows what this machine's loopback,
    client and server stack cost on their own."""

    async def events(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/slack/events", events)
        runner, origin = await serve(app)
        print(f"floor ready on {origin}", flush=True)
        try:
            await until_signalled()
        finally:
            await runner.cleanup()

    asyncio.run(main())
    return 0


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Procs:
    app: Child
    fakes: Child
    floor: Child | None

    def pids(self) -> dict[str, int]:
        pids = {"app": self.app.proc.pid, "fakes": self.fakes.proc.pid, "generator": os.getpid()}
        if self.floor is not None:
            pids["floor"] = self.floor.proc.pid
        return pids


async def measure(
    args: argparse.Namespace, fakes: dict[str, Any], procs: Procs, workdir: Path
) -> dict[str, Any]:
    app_url = procs.app.first_line.rsplit(" ", 1)[-1]
    floor_url = procs.floor.first_line.rsplit(" ", 1)[-1] + "/slack/events" if procs.floor else None
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with (
        httpx.AsyncClient(timeout=30.0, limits=limits) as client,
        httpx.AsyncClient(timeout=30.0) as side,
    ):
        load = Load(client, app_url, fakes["media_url"])
        monitor = Monitor(side, app_url, fakes["stats_url"])
        result: dict[str, Any] = {}

        def twins(shots: list[Shot]) -> list[Shot]:
            return [load.floor_twin(s, floor_url) for s in shots] if floor_url else []

        # 1. idle: events that create no job, the app doing nothing else.
        idle_mix = IDLE_MIX.split(",")
        idle = [load.build(idle_mix[i % len(idle_mix)]) for i in range(args.idle_events)]
        idle_floor = twins(idle)
        cpu = CpuMeter(procs.pids())
        elapsed = await load.steady(idle, args.rate, idle_floor)
        result["idle"] = shots_report(idle, elapsed)
        result["idle"]["floor"] = summarize_ms([s.latency_ms for s in idle_floor if s.latency_ms])
        result["idle"]["cpu_percent"] = cpu.read()

        # 2. warm-up: `jobs` new links; wait until each has an analysis task at the fake.
        started = time.monotonic()
        warm = [load.build("link") for _ in range(args.jobs)]
        await load.burst(warm, concurrency=8)
        stats = await wait_for_tasks(monitor, args.jobs, args.warmup_timeout)
        result["warmup"] = {
            "events": len(warm),
            "acks": shots_report(warm),
            "seconds_to_all_tasks": round(time.monotonic() - started, 2),
            "fakes_at_end": stats,
        }

        # 3. loaded: the steady mix, with monitoring (and optionally a profiler).
        mix = args.mix.split(",")
        shots = [load.build(mix[i % len(mix)]) for i in range(args.events)]
        floor = twins(shots)
        stop = asyncio.Event()
        monitor_task = asyncio.create_task(monitor.run(stop))
        before = await monitor.stats()
        profiler = None
        profile_out = workdir / "app-profile.txt"
        if args.profile:
            profiler = start_profiler(procs.app.proc.pid, args.events / args.rate, profile_out)
        cpu = CpuMeter(procs.pids())
        elapsed = await load.steady(shots, args.rate, floor)
        cpu_percent = cpu.read()
        after = await monitor.stats()
        stop.set()
        await monitor_task
        if profiler is not None:
            try:
                profiler.wait(60)
            except subprocess.TimeoutExpired:
                profiler.kill()
                profiler.wait(10)

        in_flight = [s["jobs_in_flight"] for s in monitor.samples if "jobs_in_flight" in s]
        unfinished = [
            sum(n for st, n in s["tl_tasks"].items() if st not in ("ready", "failed"))
            for s in monitor.samples
            if "tl_tasks" in s
        ]

        def delta(key: str) -> dict[str, float]:
            return {
                k: round((v - before[key].get(k, 0)) / elapsed, 2)
                for k, v in after[key].items()
                if v - before[key].get(k, 0)
            }

        loaded = shots_report(shots, elapsed)
        t0 = min(s.sent for s in shots)
        loaded.update(
            {
                "floor": summarize_ms([s.latency_ms for s in floor if s.latency_ms]),
                "mix": dict(Counter(s.kind for s in shots)),
                "target_rate_per_s": args.rate,
                "jobs_in_flight": {
                    "min": min(in_flight, default=None),
                    "max": max(in_flight, default=None),
                    "at_start": in_flight[0] if in_flight else None,
                    "at_end": in_flight[-1] if in_flight else None,
                },
                "tl_tasks_unfinished": {
                    "min": min(unfinished, default=None),
                    "max": max(unfinished, default=None),
                },
                "healthz": summarize_ms(
                    [s["healthz_ms"] for s in monitor.samples if "healthz_ms" in s]
                ),
                "background_calls_per_s": {
                    "twelvelabs": delta("tl_calls"),
                    "slack": delta("slack_calls"),
                },
                "cpu_percent": cpu_percent,
                "samples": monitor.samples,
                # Every event: [kind, ms after the first send, latency ms]; `t0_monotonic` is
                # CLOCK_MONOTONIC (shared by all processes) at the first send.
                "t0_monotonic": t0,
                "series": [
                    [s.kind, round(s.sent - t0, 4), round(s.latency_ms or -1.0, 3)] for s in shots
                ],
                "floor_series": [
                    [round(s.sent - t0, 4), round(s.latency_ms or -1.0, 3)] for s in floor
                ],
                "slowest": [
                    {
                        "kind": s.kind,
                        "ms": round(s.latency_ms or 0.0, 3),
                        "at_s": round(s.sent - t0, 3),
                    }
                    for s in sorted(shots, key=lambda s: -(s.latency_ms or 0.0))[:20]
                ],
                "slowest_floor": [
                    {"ms": round(s.latency_ms or 0.0, 3), "at_s": round(s.sent - t0, 3)}
                    for s in sorted(floor, key=lambda s: -(s.latency_ms or 0.0))[:10]
                ],
            }
        )
        result["loaded"] = loaded
        if profiler is not None and profile_out.exists():
            kept = OUT_DIR / f"{NAME}-profile.txt"
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(profile_out, kept)
            result["profile"] = {"raw": str(kept.relative_to(REPO)), **top_frames(profile_out)}
        return result


def run_processes(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-ack-"))
    children: list[Child] = []
    try:
        me = [sys.executable, "-m", "bench.ack_latency"]
        fakes_argv = [
            *me,
            "--serve-fakes",
            "--task-seconds",
            str(args.task_seconds),
            "--asset-seconds",
            str(args.asset_seconds),
        ]
        fakes_child = start_child(
            "fakes",
            fakes_argv,
            cwd=REPO,
            env=None,
            stderr_path=workdir / "fakes.stderr",
            ready="{",
            timeout_s=120,
        )
        children.append(fakes_child)
        fakes: dict[str, Any] = json.loads(fakes_child.first_line)
        floor: Child | None = None
        if not args.no_floor:
            floor = start_child(
                "floor",
                [*me, "--serve-floor"],
                cwd=REPO,
                env=None,
                stderr_path=workdir / "floor.stderr",
                ready="floor ready on",
                timeout_s=60,
            )
            children.append(floor)
        app = start_child(
            "gistbot",
            shlex.split(args.app_command) if args.app_command else [str(gistbot_exe()), "run"],
            cwd=workdir,
            env=app_env(
                fakes["slack_api_url"],
                fakes["tl_base_url"],
                workdir,
                GIST_MAX_CONCURRENT_ANALYSES="256",
            ),
            stderr_path=workdir / "app.stderr",
            ready="gistbot ready on",
            timeout_s=60,
        )
        children.append(app)
        result = asyncio.run(measure(args, fakes, Procs(app, fakes_child, floor), workdir))
        result["app_log_warnings"] = log_problems(workdir / "app.stderr")
        return result
    finally:
        for child in reversed(children):
            child.stop()
        if args.keep_workdir:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def fmt(stats: dict[str, Any]) -> str:
    if not stats.get("n"):
        return "no samples"
    return (
        f"p50 {stats['p50_ms']:.2f}  p90 {stats['p90_ms']:.2f}  p99 {stats['p99_ms']:.2f}  "
        f"max {stats['max_ms']:.2f} ms  (n={stats['n']})"
    )


def summary(data: dict[str, Any]) -> str:
    """The human summary of `run()`'s data."""
    out: list[str] = []
    r = data["result"]
    idle, loaded = r["idle"], r["loaded"]
    out.append(f"ack latency, {data['machine']['cpus']} CPUs, python {data['machine']['python']}")
    out.append(f"  idle ({idle['achieved_rate_per_s']}/s, events that create no job):")
    out.append(f"    app      {fmt(idle['all'])}")
    out.append(f"    floor    {fmt(idle['floor'])}")
    out.append(f"    CPU %    {idle['cpu_percent']}")
    out.append(
        f"  warm-up: {r['warmup']['events']} links acked {fmt(r['warmup']['acks']['all'])}; "
        f"all tasks created after {r['warmup']['seconds_to_all_tasks']} s"
    )
    inflight, unfinished = loaded["jobs_in_flight"], loaded["tl_tasks_unfinished"]
    out.append(
        f"  loaded ({loaded['achieved_rate_per_s']}/s; jobs in flight in the app "
        f"{inflight['min']}..{inflight['max']}; unfinished TwelveLabs tasks "
        f"{unfinished['min']}..{unfinished['max']}):"
    )
    out.append(f"    all      {fmt(loaded['all'])}")
    for kind, stats in loaded["by_kind"].items():
        out.append(f"    {kind:<8} {fmt(stats)}")
    out.append(f"    healthz  {fmt(loaded['healthz'])}")
    out.append(f"    floor    {fmt(loaded['floor'])}")
    out.append(
        f"    statuses {loaded['statuses']}; over {GOAL_P99_MS:g} ms: {loaded['over_goal']}; "
        f"send lateness p99 {loaded['send_lateness_ms']['p99']} ms"
    )
    out.append(f"    CPU %    {loaded['cpu_percent']}")
    out.append(f"    background calls/s: {loaded['background_calls_per_s']}")
    verdict = "MET" if loaded["all"]["p99_ms"] <= GOAL_P99_MS else "MISSED"
    out.append(f"  goal p99 <= {GOAL_P99_MS:g} ms while loaded: {verdict}")
    cpu = loaded["cpu_percent"]
    if cpu["others"] > 50:
        out.append(
            f"  note: other processes used {cpu['others']}% CPU (of {cpu['machine_capacity']}%) "
            "during the run; compare with `floor`, and rerun on a quiet machine"
        )
    if "profile" in r:
        out.append(f"  profile of the app's event-loop thread: {r['profile']['raw']}")
        for frame, n in r["profile"]["self"][:12]:
            out.append(f"    {n:6d}  {frame}")
    out.append(f"  -> {data['json']}")
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.ack_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--jobs", type=int, default=200, help="jobs put in flight first")
    p.add_argument("--events", type=int, default=1000, help="events measured while loaded")
    p.add_argument("--rate", type=float, default=20.0, help="events per second")
    p.add_argument("--idle-events", type=int, default=200, help="events measured while idle")
    p.add_argument("--mix", default=DEFAULT_MIX, help="comma cycle of link, chatter, changed")
    p.add_argument(
        "--task-seconds",
        type=float,
        default=300.0,
        help="fake analysis time (must outlast the run)",
    )
    p.add_argument("--asset-seconds", type=float, default=0.5)
    p.add_argument("--warmup-timeout", type=float, default=180.0)
    p.add_argument("--profile", action="store_true", help="py-spy the app while loaded")
    p.add_argument("--keep-workdir", action="store_true")
    p.add_argument(
        "--app-command",
        help="run the app with this command instead of `gistbot run` (e.g. an instrumented "
        "wrapper, for investigation); it must print the same ready line",
    )
    p.add_argument(
        "--no-floor",
        action="store_true",
        help="do not send the same requests to a bare aiohttp server alongside",
    )
    p.add_argument("--serve-fakes", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for kind in args.mix.split(","):
        if kind not in ("link", "chatter", "changed"):
            p.error(f"--mix: unknown kind {kind!r}")
    return args


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (argv as on the command line), write its JSON, return the data."""
    args = parse_args(argv)
    started = time.monotonic()
    result = run_processes(args)
    p99 = result["loaded"]["all"].get("p99_ms")
    data: dict[str, Any] = {
        "benchmark": NAME,
        "goal": {
            "p99_ms_max": GOAL_P99_MS,
            "p99_ms": p99,
            "met": p99 is not None and p99 <= GOAL_P99_MS,
        },
        "config": {k: v for k, v in vars(args).items() if not k.startswith("serve_")}
        | {
            "app_env": {
                "GIST_MAX_CONCURRENT_ANALYSES": 256,
                "GIST_PROGRESS_INTERVAL_S": "default",
                "GIST_POLL_INITIAL_S": "default",
                "GIST_POLL_MAX_INTERVAL_S": "default",
            }
        },
        "machine": machine_info(),
        "wall_s": round(time.monotonic() - started, 1),
        "result": result,
    }
    data["json"] = str(write_result(NAME, data).relative_to(REPO))
    return data


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_fakes:
        return serve_fakes(args.task_seconds, args.asset_seconds)
    if args.serve_floor:
        return serve_floor()
    print(summary(run(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
