"""A burst of links: how soon the last gist arrives, against a naive bot, and under a rate limit.

    .venv/bin/python -m bench.burst [--links 300] [--over 10] [--rate-limit 50]     # ~2–3 min

Three runs, each on fresh fakes in this process (the fake TwelveLabs takes `--asset-seconds`
to make an asset ready and `--task-seconds` to finish an analysis; a media site serves the
same small mp4 under every name, so every link is a new video and nothing is a cache hit):

1. **gistbot**: `gistbot run` (HTTP mode, a subprocess, its own SQLite file, the default
   GIST_MAX_CONCURRENT_ANALYSES and indexing; polls `--poll-initial` growing ×1.5 up to
   `--poll-max`) gets `--links` signed message events, one link each, evenly over `--over`
   seconds. Time to last gist = first event sent → the last result in a thread (the fake
   Slack's clock).
2. **naive**: the same events to the naive bot of `bench/_naive.py` (every link at once:
   asset, poll, task, poll, reply; no bound, no retries, the same poll schedule).
3. **limited**: gistbot again, against a fake TwelveLabs that allows `--rate-limit` API calls
   a second (a token bucket `--rate-burst` deep) and answers 429 with Retry-After beyond it.

Prints the times, the ratio gistbot/naive (the issue's goal: ≤ 1.5), the limited run's
failures and 429s, and the load average; writes bench/out/burst-*.json (each run's app log
alongside, kept: bench/out/burst-<run>-<UTC time>-app.log).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench._common import (
    OUT_DIR,
    REPO,
    SIGNING_SECRET,
    MediaSite,
    app_env,
    loadavg,
    log_problems,
    machine_info,
    running_fakes,
    summarize_ms,
    write_result,
)
from bench._proc import CpuMeter, start_child
from tests.e2e.proc import AppProcess, stored_jobs
from tests.fakes.slack import FakeSlack, Message
from tests.fakes.twelvelabs import Call, FakeTwelveLabs
from tests.slack_driver import SlackDriver, message_event, next_ts

NAME = "burst"
CHANNEL = "C0BURST"
GOAL_RATIO = 1.5


@dataclass
class Link:
    index: int
    url: str
    ts: str
    sent_at: float = 0.0  # wall clock, like the fake Slack's message times
    ack: int | None = None
    result_at: float | None = None
    error: bool = False

    @property
    def settled(self) -> bool:
        return self.result_at is not None or self.error


def gistbot_overrides(args: argparse.Namespace) -> dict[str, str]:
    return {
        "LOG_LEVEL": "INFO",
        "GIST_POLL_INITIAL_S": str(args.poll_initial),
        "GIST_POLL_MAX_INTERVAL_S": str(args.poll_max),
        "GIST_SHUTDOWN_GRACE_S": "2",
    }


# --------------------------------------------------------------------------- one burst


async def send_burst(
    driver: SlackDriver, slack: FakeSlack, links: list[Link], over_s: float
) -> None:
    """One message event per link, evenly spread over `over_s` (open loop)."""

    async def post(link: Link, event: dict[str, Any]) -> None:
        link.sent_at = time.time()
        try:
            link.ack = (await driver.post_event(event)).status_code
        except httpx.HTTPError:
            link.ack = 0

    start = time.perf_counter()
    tasks = []
    for link in links:
        event = message_event(CHANNEL, link.ts, f"new cut for review {link.url}")
        slack.add_user_message(CHANNEL, event)
        delay = start + link.index * over_s / len(links) - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(link, event)))
    await asyncio.gather(*tasks)


def look(slack: FakeSlack, links: list[Link], *, naive: bool) -> None:
    """Read the threads of unsettled links: a result (gistbot's has a Regenerate button; the
    naive bot's is any reply that isn't an error) or an error (:x:). One read of the channel
    (the fake's lock, and the GIL the fakes share with this loop, are held briefly)."""
    threads: dict[str | None, list[Message]] = {}
    for message in slack.messages(CHANNEL):
        threads.setdefault(message.thread_ts, []).append(message)
    for link in links:
        if link.settled:
            continue
        for message in threads.get(link.ts, []):
            text = str(message.blocks) + message.text
            if message.deleted:
                continue
            if ":x:" in text:
                link.error = True
            elif "gist_regenerate" in text or naive:
                link.result_at = message.updated_at or message.posted_at


async def wait_settled(
    slack: FakeSlack, links: list[Link], *, naive: bool, deadline: float, alive: Any
) -> bool:
    while time.monotonic() < deadline and alive():
        look(slack, links, naive=naive)
        if all(link.settled for link in links):
            return True
        await asyncio.sleep(0.2)
    look(slack, links, naive=naive)
    return all(link.settled for link in links)


def slots(links: list[Link], tl: FakeTwelveLabs, wall_offset: float) -> dict[str, Any]:
    """When each link's analysis slot was held, seen from the fake: from the first poll of
    its asset to the last poll of its task (that span is inside the bot's concurrency limit;
    the naive bot has none). `wall_offset` turns the fake's monotonic times into wall time."""
    first_get: dict[str, float] = {}
    last_task_get: dict[str, float] = {}
    for call in list(tl.calls):
        rid = call.path.rsplit("/", 1)[-1]
        if call.method == "GET" and call.template == "/assets/{id}":
            first_get.setdefault(rid, call.at)
        elif call.method == "GET" and call.template == "/analyze/tasks/{id}":
            last_task_get[rid] = call.at
    task_of = {str(t.video.get("asset_id")): tid for tid, t in list(tl.tasks.items())}
    by_name = {f"{link.url.rsplit('/', 1)[-1]}": link for link in links}
    spans: list[tuple[float, float]] = []
    waits: list[float] = []
    to_asset: list[float] = []
    for asset_id, asset in list(tl.assets.items()):
        link = by_name.get(asset.filename)
        start, task = first_get.get(asset_id), task_of.get(asset_id)
        end = last_task_get.get(task) if task else None
        if link is None or start is None or end is None:
            continue
        to_asset.append(1000.0 * (asset.created_at.timestamp() - link.sent_at))
        spans.append((start, end))
        waits.append(1000.0 * (start + wall_offset - link.sent_at))
    if not spans:
        return {}
    t0 = min(s for s, _ in spans)
    horizon = max(e for _, e in spans) - t0
    series = []
    for step in range(int(horizon / 0.5) + 1):
        t = t0 + step * 0.5
        series.append(sum(1 for s, e in spans if s <= t < e))
    return {
        "peak_in_slot": max(series),
        "in_slot_every_500ms": series,
        "link_to_asset_created": summarize_ms(to_asset),
        "link_to_slot": summarize_ms(waits),
        "slot_held": summarize_ms([1000.0 * (e - s) for s, e in spans]),
    }


def _every(calls: list[Call], step_s: float) -> list[list[int]]:
    """[calls, of which 429] in each `step_s` window from the first call."""
    if not calls:
        return []
    t0 = calls[0].at
    out: list[list[int]] = []
    for call in calls:
        slot = int((call.at - t0) / step_s)
        while len(out) <= slot:
            out.append([0, 0])
        out[slot][0] += 1
        out[slot][1] += call.status == 429
    return out


def figures(links: list[Link], slack: FakeSlack, tl: FakeTwelveLabs) -> dict[str, Any]:
    first = min(link.sent_at for link in links)
    done = [link for link in links if link.result_at is not None]
    last = max((link.result_at for link in done if link.result_at), default=None)
    calls = list(tl.calls)
    return {
        "links": len(links),
        "results": len(done),
        "errors": sum(link.error for link in links),
        "unsettled": sum(not link.settled for link in links),
        "acks_not_2xx": sum(not (200 <= (link.ack or 0) < 300) for link in links),
        "sending_s": round(max(link.sent_at for link in links) - first, 2),
        "time_to_last_gist_s": round(last - first, 2) if last is not None else None,
        "time_to_result": summarize_ms(
            [1000.0 * (link.result_at - link.sent_at) for link in done if link.result_at]
        ),
        "tl_calls_total": len(calls),
        "tl_calls": dict(Counter(f"{c.method} {c.template}" for c in calls).most_common()),
        "tl_statuses": dict(Counter(str(c.status) for c in calls)),
        "tl_429s": tl.rate_limited,
        "tl_429s_by_endpoint": dict(
            Counter(f"{c.method} {c.template}" for c in calls if c.status == 429).most_common()
        ),
        "tl_calls_429s_every_2s": _every(calls, 2.0),
        "slack_calls": dict(Counter(c.method for c in slack.calls()).most_common()),
    }


async def one_run(kind: str, args: argparse.Namespace, video: bytes) -> dict[str, Any]:
    """One burst against `kind` ("gistbot", "naive" or "limited") on fresh fakes."""
    naive = kind == "naive"
    knobs: dict[str, Any] = {
        "asset_processing_s": args.asset_seconds,
        "task_processing_s": args.task_seconds,
        "index_processing_s": args.asset_seconds,
    }
    if kind == "limited":
        knobs.update(rate_limit_per_s=args.rate_limit, rate_limit_burst=args.rate_burst)
    # One log per run, kept: an odd run is often only understood after a few more.
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_path = OUT_DIR / f"{NAME}-{kind}-{stamp}-app.log"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    load_before = loadavg()
    with (
        running_fakes(**knobs) as (slack, tl),
        tempfile.TemporaryDirectory(prefix="bench-burst-", ignore_cleanup_errors=True) as tmp,
    ):
        site = MediaSite(default=video)
        await site.start()
        workdir = Path(tmp)
        app: AppProcess | None = None
        child = None
        try:
            if naive:
                child = start_child(
                    "naive",
                    [
                        sys.executable,
                        *("-m", "bench.burst", "--serve-naive"),
                        *("--slack-api", slack.api_url, "--tl-base", str(tl.base_url)),
                        *("--poll-initial", str(args.poll_initial)),
                        *("--poll-max", str(args.poll_max)),
                    ],
                    cwd=REPO,
                    stderr_path=log_path,
                    ready="naive ready on",
                )
                url, pid = child.first_line.rsplit(" ", 1)[-1], child.pid
                alive = lambda: child.proc.poll() is None  # noqa: E731
            else:
                env = app_env(slack.api_url, str(tl.base_url), workdir, **gistbot_overrides(args))
                app = AppProcess(env, workdir, log_path)
                url = await app.start()
                assert app.proc is not None
                pid = app.proc.pid
                alive = lambda: app.proc is not None and app.proc.returncode is None  # noqa: E731
            driver = SlackDriver(app_url=url, signing_secret=SIGNING_SECRET, timeout=10.0)
            links = [
                Link(i, f"{site.url}/{kind}-{i:04d}.mp4", next_ts()) for i in range(args.links)
            ]
            cpu = CpuMeter({"bot": pid, "fakes": os.getpid()})
            started = time.monotonic()
            await send_burst(driver, slack, links, args.over)
            settled = await wait_settled(
                slack, links, naive=naive, deadline=started + args.timeout, alive=alive
            )
            out = figures(links, slack, tl)
            out["slots"] = slots(links, tl, time.time() - time.monotonic())
            out.update(
                kind=kind,
                all_settled=settled,
                wall_s=round(time.monotonic() - started, 1),
                cpu_percent=cpu.read(),
                loadavg_before=load_before,
                loadavg_after=loadavg(),
                log=str(log_path.relative_to(REPO)),
            )
            if app is not None:
                jobs = stored_jobs(workdir / "gistbot.sqlite3")
                out["job_states"] = dict(Counter(str(j.get("state")) for j in jobs))
                out["job_errors"] = dict(
                    Counter(str(j["error_code"]) for j in jobs if j.get("error_code"))
                )
                out["log_problems"] = log_problems(log_path)
            return out
        finally:
            if app is not None and app.proc is not None:
                try:
                    await app.terminate(15.0)
                except TimeoutError:
                    await app.kill()
            if child is not None:
                child.stop()
            await site.stop()


# --------------------------------------------------------------------------- report


def summary(data: dict[str, Any]) -> str:
    runs = data["runs"]
    a = data["args"]
    out = [
        f"burst of {a['links']} links over {a['over']:g} s; fake asset {a['asset_seconds']:g} s, "
        f"task {a['task_seconds']:g} s; polls {a['poll_initial']:g} s ×1.5 up to "
        f"{a['poll_max']:g} s; {data['machine']['cpus']} CPUs",
        f"{'':28}" + "".join(f"{k:>12}" for k in runs),
    ]
    rows = (
        ("time to last gist (s)", "time_to_last_gist_s"),
        ("results", "results"),
        ("errors", "errors"),
        ("unsettled", "unsettled"),
        ("acks not 2xx", "acks_not_2xx"),
        ("sending took (s)", "sending_s"),
        ("TwelveLabs calls", "tl_calls_total"),
        ("429s from the fake", "tl_429s"),
        ("load avg before (1 min)", "loadavg_before"),
        ("load avg after (1 min)", "loadavg_after"),
    )

    def cells(*path: str) -> str:
        """Each run's value at `path` (nested keys); a list's first item (load averages)."""
        row = []
        for run in runs.values():
            value: Any = run
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            row.append(f"{(value[0] if isinstance(value, list) else value)!s:>12}")
        return "".join(row)

    for label, key in rows:
        out.append(f"{label:28}" + cells(key))
    for q in ("p50_ms", "p90_ms", "max_ms"):
        out.append(f"{'link → result ' + q:28}" + cells("time_to_result", q))
    out.append(f"{'bot CPU %':28}" + cells("cpu_percent", "bot"))
    out.append(f"{'fakes CPU % (this process)':28}" + cells("cpu_percent", "fakes"))
    out.append(f"{'other processes CPU %':28}" + cells("cpu_percent", "others"))
    out.append(f"{'peak analyses in flight':28}" + cells("slots", "peak_in_slot"))
    for q in ("p50_ms", "max_ms"):
        out.append(f"{'link → first asset poll ' + q[:3]:28}" + cells("slots", "link_to_slot", q))
    ratio = data.get("ratio_gistbot_to_naive")
    if ratio is not None:
        verdict = "MET" if ratio <= GOAL_RATIO else "MISSED"
        out.append(f"ratio gistbot/naive: {ratio:.2f} (goal ≤ {GOAL_RATIO:g}: {verdict})")
    if "limited" in runs:
        lim = runs["limited"]
        out.append(
            f"limited to {a['rate_limit']:g} calls/s: {lim['errors']} errors, "
            f"{lim['unsettled']} unsettled, {lim['tl_429s']} of {lim['tl_calls_total']} calls "
            f"answered 429, last gist after {lim['time_to_last_gist_s']} s"
        )
    out.append(f"-> {data['json']}")
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__)
    p.add_argument("--links", type=int, default=300)
    p.add_argument("--over", type=float, default=10.0, help="seconds the links are sent over")
    p.add_argument("--asset-seconds", type=float, default=0.5)
    p.add_argument("--task-seconds", type=float, default=1.0)
    p.add_argument("--poll-initial", type=float, default=0.2, help="GIST_POLL_INITIAL_S")
    p.add_argument("--poll-max", type=float, default=1.0, help="GIST_POLL_MAX_INTERVAL_S")
    p.add_argument("--rate-limit", type=float, default=50.0, help="limited run: calls/s")
    p.add_argument("--rate-burst", type=float, default=50.0, help="limited run: bucket size")
    p.add_argument("--timeout", type=float, default=300.0, help="bound on each run, s")
    kinds = ["gistbot", "naive", "limited"]
    p.add_argument("--runs", nargs="+", default=kinds, choices=kinds)
    p.add_argument("--serve-naive", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--slack-api", help=argparse.SUPPRESS)
    p.add_argument("--tl-base", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from tests.videos import make_video

    args = parse_args(argv)
    video = make_video(5.0).read_bytes()
    runs: dict[str, Any] = {}
    for kind in args.runs:
        runs[kind] = asyncio.run(one_run(kind, args, video))
    data: dict[str, Any] = {
        "benchmark": NAME,
        "machine": machine_info(),
        "args": {
            k: v for k, v in vars(args).items() if k not in ("serve_naive", "slack_api", "tl_base")
        },
        "gistbot_env": gistbot_overrides(args),
        "runs": runs,
    }
    g, n = runs.get("gistbot", {}), runs.get("naive", {})
    if g.get("time_to_last_gist_s") and n.get("time_to_last_gist_s"):
        data["ratio_gistbot_to_naive"] = round(
            g["time_to_last_gist_s"] / n["time_to_last_gist_s"], 2
        )
    data["json"] = str(write_result(NAME, data).relative_to(REPO))
    return data


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_naive:
        from bench._naive import Poll, serve_naive

        return serve_naive(args.slack_api, args.tl_base, Poll(args.poll_initial, args.poll_max))
    print(summary(run(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
