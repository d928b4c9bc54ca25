"""Ack latency of signed Slack events while a thousand jobs are in flight, against a no-op
Bolt app receiving the same events in the same run.

    .venv/bin/python -m bench.ack_latency                  # 1000 jobs in flight (~3 min)
    .venv/bin/python -m bench.ack_latency --profile        # also py-spy the app (if installed)

Five processes, all on 127.0.0.1 (the helper servers are in `bench/_ack_servers.py`):

- **fakes** (`python -m bench.ack_latency --serve-fakes`): FakeSlack, FakeTwelveLabs (analysis
  tasks take `--task-seconds`, so every job stays in flight for the whole run) and a tiny media
  server that serves a real `make_video(5)` mp4 at `/media/<name>.mp4` (the fake TwelveLabs
  fetches URL assets itself), plus `/stats` (counts of what the fakes saw, computed in-process).
- **app**: `gistbot run` (HTTP mode, PORT=0, cwd a temporary directory) with
  GIST_MAX_CONCURRENT_ANALYSES=`--analyses-cap` (256, the setting's maximum) and the default
  polling and progress settings.
- **bolt** (`--serve-bolt`, off with `--no-bolt`): the reference the goal names, a no-op Bolt
  `AsyncApp` served by aiohttp like gistbot, verifying every signature, whose message listener
  only parses the event like gistbot's intake (links classified, job records built) and acks.
- **floor** (`--serve-floor`, off with `--no-floor`): a bare aiohttp server that answers
  `POST /slack/events` with an empty 200: what this machine's loopback, client and server
  stack cost at that moment, so a miss can be told apart from a busy machine (other
  processes' CPU use and the disk write rate are recorded too).

Every event goes to the app, then the same signed request to bolt a third of a period later
and to the floor two thirds later (no two copies compete for the CPU at once).
- **this process**: the load generator. One persistent `httpx.AsyncClient`; every request is
  signed before its clock starts; latency = send → response headers.

Phases:
1. *idle*: `--idle-events` events that create no job (chatter, edits) at `--rate`, app idle.
2. *warm-up*: `--jobs` messages with distinct direct video links; wait until the app has that
   many jobs in flight and the fake TwelveLabs min(jobs, cap) analysis tasks (each polled
   from then on; the rest wait for a turn).
3. *loaded*: `--events` events at a steady `--rate` (open loop: a slow answer does not delay the
   next send), a mix of new links (each one a new job), chatter and `message_changed` edits,
   sampling the app's `/healthz` (jobs in flight, and its own latency) once a second.

Writes `bench/out/ack_latency-<UTC stamp>.json` (and `ack_latency-latest.json`); prints a summary.
The goal from the issue, while loaded: gistbot's p99 ≤ 1.5 × the no-op Bolt app's, and no ack
over 30 ms.
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

from bench._ack_servers import serve_bolt, serve_fakes, serve_floor
from bench._common import (
    OUT_DIR,
    REPO,
    app_env,
    gistbot_exe,
    log_problems,
    machine_info,
    write_result,
)
from bench._load import (
    GOAL_MAX_MS,
    GOAL_P99_RATIO,
    Load,
    Monitor,
    Shot,
    latencies,
    loaded_detail,
    monitored,
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


# --------------------------------------------------------------------------- the benchmark

REFS = ("bolt", "floor")  # reference servers, in the order their copies are sent


@dataclass
class Procs:
    app: Child
    fakes: Child
    refs: dict[str, Child]

    def pids(self) -> dict[str, int]:
        pids = {"app": self.app.proc.pid, "fakes": self.fakes.proc.pid, "generator": os.getpid()}
        pids.update({name: child.proc.pid for name, child in self.refs.items()})
        return pids

    def ref_urls(self) -> dict[str, str]:
        return {name: url_of(child) + "/slack/events" for name, child in self.refs.items()}


def url_of(child: Child) -> str:
    return child.first_line.rsplit(" ", 1)[-1]


async def steady_phase(
    load: Load, shots: list[Shot], rate: float, procs: Procs
) -> tuple[dict[str, Any], dict[str, list[Shot]]]:
    """Send `shots` (and their copies to the references) at `rate`; the app's report with each
    reference's latencies and the CPU use alongside."""
    copies = {
        name: [load.twin(s, url, name) for s in shots] for name, url in procs.ref_urls().items()
    }
    cpu = CpuMeter(procs.pids())
    elapsed = await load.steady(shots, rate, list(copies.values()))
    report = shots_report(shots, elapsed)
    report["cpu_percent"] = cpu.read()
    for name, sent in copies.items():
        report[name] = latencies(sent)
    return report, copies


async def warm_up(args: argparse.Namespace, load: Load, monitor: Monitor) -> dict[str, Any]:
    """`jobs` new links; wait until they are in flight and the first `cap` have a task."""
    started = time.monotonic()
    warm = [load.build("link") for _ in range(args.jobs)]
    await load.burst(warm, concurrency=8)
    tasks = min(args.jobs, args.analyses_cap)
    stats = await wait_for_tasks(monitor, tasks, args.jobs, args.warmup_timeout)
    return {
        "events": len(warm),
        "acks": shots_report(warm),
        "seconds_to_all_tasks": round(time.monotonic() - started, 2),
        "fakes_at_end": stats,
    }


async def loaded_phase(
    args: argparse.Namespace, load: Load, monitor: Monitor, procs: Procs, workdir: Path
) -> dict[str, Any]:
    """The steady mix with jobs in flight, monitored (and optionally profiled)."""
    mix = args.mix.split(",")
    shots = [load.build(mix[i % len(mix)]) for i in range(args.events)]
    stop = asyncio.Event()
    monitor_task = asyncio.create_task(monitor.run(stop))
    before = await monitor.stats()
    profiler = None
    profile_out = workdir / "app-profile.txt"
    if args.profile:
        profiler = start_profiler(procs.app.proc.pid, args.events / args.rate, profile_out)
    report, copies = await steady_phase(load, shots, args.rate, procs)
    after = await monitor.stats()
    stop.set()
    await monitor_task
    if profiler is not None:
        try:
            profiler.wait(60)
        except subprocess.TimeoutExpired:
            profiler.kill()
            profiler.wait(10)
    elapsed = len(shots) / report["achieved_rate_per_s"]
    report.update(mix=dict(Counter(s.kind for s in shots)), target_rate_per_s=args.rate)
    report.update(monitored(monitor, before, after, elapsed))
    report.update(loaded_detail(shots, copies))
    if profiler is not None and profile_out.exists():
        kept = OUT_DIR / f"{NAME}-profile.txt"
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(profile_out, kept)
        report["profile"] = {"raw": str(kept.relative_to(REPO)), **top_frames(profile_out)}
    return report


async def measure(
    args: argparse.Namespace, fakes: dict[str, Any], procs: Procs, workdir: Path
) -> dict[str, Any]:
    app_url = url_of(procs.app)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with (
        httpx.AsyncClient(timeout=30.0, limits=limits) as client,
        httpx.AsyncClient(timeout=30.0) as side,
    ):
        load = Load(client, app_url, fakes["media_url"])
        monitor = Monitor(side, app_url, fakes["stats_url"])
        # 1. idle: events that create no job, the app doing nothing else.
        idle_mix = IDLE_MIX.split(",")
        idle = [load.build(idle_mix[i % len(idle_mix)]) for i in range(args.idle_events)]
        result: dict[str, Any] = {"idle": (await steady_phase(load, idle, args.rate, procs))[0]}
        # 2. warm-up, 3. loaded.
        result["warmup"] = await warm_up(args, load, monitor)
        result["loaded"] = await loaded_phase(args, load, monitor, procs, workdir)
        if "profile" in result["loaded"]:
            result["profile"] = result["loaded"].pop("profile")
        return result


def start_refs(args: argparse.Namespace, me: list[str], workdir: Path) -> dict[str, Child]:
    refs: dict[str, Child] = {}
    for name in REFS:
        if getattr(args, f"no_{name}"):
            continue
        refs[name] = start_child(
            name,
            [*me, f"--serve-{name}"],
            cwd=REPO,
            env=None,
            stderr_path=workdir / f"{name}.stderr",
            ready=f"{name} ready on",
            timeout_s=60,
        )
    return refs


def run_processes(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-ack-"))
    children: list[Child] = []
    try:
        me = [sys.executable, "-m", "bench.ack_latency"]
        fakes_argv = [
            *me,
            *("--serve-fakes", "--task-seconds", str(args.task_seconds)),
            *("--asset-seconds", str(args.asset_seconds)),
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
        refs = start_refs(args, me, workdir)
        children.extend(refs.values())
        app = start_child(
            "gistbot",
            shlex.split(args.app_command) if args.app_command else [str(gistbot_exe()), "run"],
            cwd=workdir,
            env=app_env(
                fakes["slack_api_url"],
                fakes["tl_base_url"],
                workdir,
                GIST_MAX_CONCURRENT_ANALYSES=str(args.analyses_cap),
            ),
            stderr_path=workdir / "app.stderr",
            ready="gistbot ready on",
            timeout_s=60,
        )
        children.append(app)
        result = asyncio.run(measure(args, fakes, Procs(app, fakes_child, refs), workdir))
        result["app_log_warnings"] = log_problems(workdir / "app.stderr")
        result["bolt_log_warnings"] = (
            log_problems(workdir / "bolt.stderr") if "bolt" in refs else []
        )
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


def goal(loaded: dict[str, Any]) -> dict[str, Any]:
    """p99 ≤ 1.5 × the no-op Bolt app's and max ≤ 30 ms, while loaded."""
    p99, top = loaded["all"].get("p99_ms"), loaded["all"].get("max_ms")
    ref = loaded.get("bolt", {}).get("p99_ms")
    ratio = round(p99 / ref, 2) if p99 is not None and ref else None
    return {
        "p99_ratio_max": GOAL_P99_RATIO,
        "max_ms_max": GOAL_MAX_MS,
        "p99_ms": p99,
        "bolt_p99_ms": ref,
        "p99_ratio": ratio,
        "max_ms": top,
        "met": ratio is not None
        and ratio <= GOAL_P99_RATIO
        and top is not None
        and top <= GOAL_MAX_MS,
    }


def summary(data: dict[str, Any]) -> str:
    """The human summary of `run()`'s data."""
    out: list[str] = []
    r = data["result"]
    idle, loaded = r["idle"], r["loaded"]
    m = data["machine"]
    out.append(f"ack latency, {m['cpus']} CPUs, python {m['python']}, load {m['loadavg_1_5_15']}")
    out.append(f"  idle ({idle['achieved_rate_per_s']}/s, events that create no job):")
    out.append(f"    gistbot  {fmt(idle['all'])}")
    for name in REFS:
        if name in idle:
            out.append(f"    {name:<8} {fmt(idle[name])}")
    out.append(
        f"  warm-up: {r['warmup']['events']} links acked {fmt(r['warmup']['acks']['all'])}; "
        f"in flight with their tasks after {r['warmup']['seconds_to_all_tasks']} s"
    )
    inflight, unfinished = loaded["jobs_in_flight"], loaded["tl_tasks_unfinished"]
    out.append(
        f"  loaded ({loaded['achieved_rate_per_s']}/s; jobs in flight in the app "
        f"{inflight['min']}..{inflight['max']}; unfinished TwelveLabs tasks "
        f"{unfinished['min']}..{unfinished['max']}):"
    )
    out.append(f"    gistbot  {fmt(loaded['all'])}")
    for kind, stats in loaded["by_kind"].items():
        out.append(f"      {kind:<8} {fmt(stats)}")
    for name in REFS:
        if name in loaded:
            out.append(f"    {name:<8} {fmt(loaded[name])}")
    out.append(f"    healthz  {fmt(loaded['healthz'])}")
    out.append(
        f"    statuses {loaded['statuses']}; over {GOAL_MAX_MS:g} ms: {loaded['over_goal']}; "
        f"send lateness p99 {loaded['send_lateness_ms']['p99']} ms"
    )
    out.append(f"    CPU %    {loaded['cpu_percent']}")
    out.append(f"    background calls/s: {loaded['background_calls_per_s']}")
    g = data["goal"]
    out.append(
        f"  p99 gistbot/no-op Bolt: {g['p99_ratio']} (goal ≤ {GOAL_P99_RATIO:g}); "
        f"max {g['max_ms']} ms (goal ≤ {GOAL_MAX_MS:g}): {'MET' if g['met'] else 'MISSED'}"
    )
    cpu = loaded["cpu_percent"]
    if cpu["others"] > 50:
        out.append(
            f"  note: other processes used {cpu['others']}% CPU (of {cpu['machine_capacity']}%) "
            "during the run; compare with `bolt` and `floor`, and rerun on a quiet machine"
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
    p.add_argument("--jobs", type=int, default=1000, help="jobs put in flight first")
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
    p.add_argument(
        "--analyses-cap", type=int, default=256, help="the app's GIST_MAX_CONCURRENT_ANALYSES"
    )
    p.add_argument("--warmup-timeout", type=float, default=300.0)
    p.add_argument("--profile", action="store_true", help="py-spy the app while loaded")
    p.add_argument("--keep-workdir", action="store_true")
    p.add_argument(
        "--app-command",
        help="run the app with this command instead of `gistbot run` (e.g. an instrumented "
        "wrapper, for investigation); it must print the same ready line",
    )
    p.add_argument("--no-bolt", action="store_true", help="no no-op Bolt app alongside")
    p.add_argument("--no-floor", action="store_true", help="no bare aiohttp server alongside")
    p.add_argument("--serve-fakes", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--serve-bolt", action="store_true", help=argparse.SUPPRESS)
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
    data: dict[str, Any] = {
        "benchmark": NAME,
        "goal": goal(result["loaded"]),
        "config": {k: v for k, v in vars(args).items() if not k.startswith("serve_")}
        | {
            "app_env": {
                "GIST_MAX_CONCURRENT_ANALYSES": args.analyses_cap,
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
    if args.serve_bolt:
        return serve_bolt()
    print(summary(run(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
