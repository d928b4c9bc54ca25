"""Analysis ready → gist in the thread: gistbot against a fixed 5 s poller, same ready times.

    .venv/bin/python -m bench.reply_latency [--scenarios duration,uniform,webhook]
        [--warmup 20] [--gists 40] [--noise 0.1]

Each scenario runs `gistbot run` (HTTP mode, its own process, *production* poll settings: no
GIST_POLL_* set) against FakeSlack, FakeTwelveLabs and a media server, all threads of this
process. A gist is a message with a link to a real mp4 of D seconds (D from 5 to 55 s). The
fake makes each analysis task ready T seconds after its creation:

- `duration`: T = D · e^N(0, noise) (at least 5 s): analysis time follows the video's length,
  as a deployment's would; gistbot learns it from the warm-up gists.
- `uniform`: T uniform in 5–60 s, unrelated to anything gistbot can see (polling alone).
- `webhook`: as `uniform`, plus TwelveLabs webhooks: the fake POSTs a signed
  `analyze.task.ready` to `/twelvelabs/webhook` `--webhook-delay` s after the task is ready.

Per scenario, `--warmup` gists run first (what the app learns from), then `--gists` measured
ones, started `--stagger` s apart. For each measured gist:

- ready = when the fake made the task ready; seen = the first `GET /analyze/tasks/{id}` at or
  after it; reply = when the result message (with its Regenerate button) appeared in the fake
  Slack thread. Reply lag = reply − ready; poll lag = seen − ready; after-poll = reply − seen.
- task polls = that task's `GET`s.
- Reference (computed for the same ready times): a fixed 5 s poller — the official SDK's
  default — reads at creation, +5 s, +10 s …: poll lag 5·⌈T/5⌉ − T, polls ⌈T/5⌉ + 1, and its
  reply lag adds this gist's own after-poll time. The old gistbot schedule (1 s ×1.5 → 10 s)
  is computed the same way, for comparison.

Ratios are gistbot / reference. Goal: reply lag median ≤ 1 s and p90 ≤ 2 s with task polls ≤
1.5× the reference's. The load average is recorded with every scenario. Results:
bench/out/reply_latency-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench._common import SIGNING_SECRET, app_env, gistbot_exe, machine_info, write_result
from bench._proc import start_child
from bot.twelvelabs.schedule import Backoff, Schedule

NAME = "reply_latency"
SCENARIOS = ("duration", "uniform", "webhook")
DURATIONS = tuple(5.0 + 2.5 * i for i in range(21))  # 5 … 55 s
WEBHOOK_SECRET = "whsec_bench"
REF_INTERVAL_S = 5.0
MIN_T, MAX_T = 5.0, 60.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.reply_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list")
    p.add_argument("--warmup", type=int, default=20, help="gists before the measured ones")
    p.add_argument("--gists", type=int, default=40, help="measured gists per scenario")
    p.add_argument("--noise", type=float, default=0.1, help="σ of T/D's log (duration)")
    p.add_argument("--webhook-delay", type=float, default=0.0, help="s after ready")
    p.add_argument("--stagger", type=float, default=0.25, help="s between gist starts")
    p.add_argument("--asset-seconds", type=float, default=2.0, help="fake asset processing")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep-workdir", action="store_true")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- one gist


@dataclass
class Gist:
    n: int
    duration: float
    channel: str
    ts: str
    url: str
    measured: bool
    task_id: str | None = None
    created: float | None = None  # monotonic: the task create's arrival at the fake
    ready: float | None = None
    seen: float | None = None
    reply: float | None = None
    polls: int = 0
    poll_offsets: list[float] = field(default_factory=list)  # s after the task's creation
    asset_ready: float | None = None
    asset_seen: float | None = None
    asset_polls: int = 0
    error: str | None = None

    @property
    def processing(self) -> float:
        assert self.ready is not None and self.created is not None
        return self.ready - self.created


def fixed_poller(processing: float, interval: float = REF_INTERVAL_S) -> tuple[float, int]:
    """(poll lag, polls) of a poller reading at creation and every `interval` s after."""
    k = math.ceil(processing / interval - 1e-9)
    return k * interval - processing, k + 1


def schedule_poller(processing: float, make: Callable[[], Schedule]) -> tuple[float, int]:
    schedule, at, polls = make(), 0.0, 0
    while True:
        at += schedule.next_delay(at)
        polls += 1
        if at >= processing:
            return at - processing, polls


def quantiles(values: Sequence[float]) -> dict[str, float | int]:
    s = sorted(values)
    if not s:
        return {"n": 0}

    def q(p: float) -> float:
        pos = p * (len(s) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)

    return {
        "n": len(s),
        "median": round(q(0.5), 3),
        "p90": round(q(0.9), 3),
        "max": round(s[-1], 3),
        "mean": round(statistics.fmean(s), 3),
    }


# ---------------------------------------------------------------------------- one scenario


class Scenario:
    def __init__(self, name: str, args: argparse.Namespace, videos: dict[float, bytes]) -> None:
        from tests.fakes.slack import FakeSlack
        from tests.fakes.twelvelabs import FakeTwelveLabs

        self.name = name
        self.args = args
        self.videos = videos
        self.rng = random.Random(f"{args.seed}-{name}")
        self.slack = FakeSlack(bot_token="xoxb-bench-token")
        self.tl = FakeTwelveLabs(
            api_key="tlk-bench-key-123456",
            asset_processing_s=args.asset_seconds,
            index_processing_s=1.0,
        )
        self.tl.task_processing_for = self.task_time
        self.gists: list[Gist] = []
        self.media_url = ""

    def task_time(self, task: Any) -> float:
        """T for a task the fake just created (runs in the fake's thread)."""
        if self.name == "duration":
            d = float(task.duration or 30.0)
            return max(MIN_T, d * math.exp(self.rng.gauss(0.0, self.args.noise)))
        return self.rng.uniform(MIN_T, MAX_T)

    async def serve_media(self) -> Any:
        from aiohttp import web

        async def media(request: web.Request) -> web.Response:
            d = float(request.match_info["d"])
            return web.Response(body=self.videos[d], content_type="video/mp4")

        app = web.Application()
        app.router.add_get("/media/{n}/{d}/clip.mp4", media)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.media_url = f"http://127.0.0.1:{runner.addresses[0][1]}/media"
        return runner

    async def run(self, workdir: Path) -> dict[str, Any]:
        from tests.slack_driver import SlackDriver

        load_before = [round(x, 2) for x in os.getloadavg()]
        self.slack.start()
        tl_url = self.tl.start()
        media = await self.serve_media()
        env = app_env(self.slack.api_url, tl_url, workdir)
        env["GIST_MAX_CONCURRENT_UPLOADS"] = "64"
        if self.name == "webhook":
            env["TWELVELABS_WEBHOOK_SECRET"] = WEBHOOK_SECRET
        app = None
        try:
            app = start_child(
                "gistbot",
                [str(gistbot_exe()), "run"],
                cwd=workdir,
                env=env,
                stderr_path=workdir / "app.stderr",
                ready="gistbot ready on",
                timeout_s=60,
            )
            app_url = app.first_line.rsplit(" ", 1)[-1]
            if self.name == "webhook":
                self.tl.configure(
                    webhook_url=app_url + "/twelvelabs/webhook",
                    webhook_secret=WEBHOOK_SECRET,
                    webhook_delay_s=self.args.webhook_delay,
                )
            async with httpx.AsyncClient(timeout=30.0) as client:
                driver = SlackDriver(app_url=app_url, signing_secret=SIGNING_SECRET, client=client)
                offset = time.time() - time.monotonic()
                await self.wave(driver, self.args.warmup, measured=False)
                await self.wave(driver, self.args.gists, measured=True)
                self.collect(offset)
        finally:
            if app is not None:
                app.stop()
            await media.cleanup()
            self.tl.stop()
            self.slack.stop()
        warnings = [
            line
            for line in (workdir / "app.stderr").read_text("utf-8", "replace").splitlines()
            if " WARNING " in line or " ERROR " in line or "Traceback" in line
        ]
        return self.report(load_before, warnings[:10])

    async def wave(self, driver: Any, count: int, *, measured: bool) -> None:
        from tests.slack_driver import message_event, next_ts

        batch: list[Gist] = []
        for _ in range(count):
            n = len(self.gists)
            d = self.rng.choice(DURATIONS)
            gist = Gist(
                n, d, f"C0RL{n:05d}", next_ts(), f"{self.media_url}/{n}/{d:g}/clip.mp4", measured
            )
            self.gists.append(gist)
            batch.append(gist)
            await driver.post_event(message_event(gist.channel, gist.ts, f"cut <{gist.url}>"))
            await asyncio.sleep(self.args.stagger)
        deadline = time.monotonic() + MAX_T + 120.0
        while time.monotonic() < deadline:
            if all(self.result_time(g) is not None for g in batch):
                return
            await asyncio.sleep(0.2)
        for g in batch:
            if self.result_time(g) is None:
                g.error = "no result in time"

    def result_time(self, gist: Gist) -> float | None:
        """Wall time the thread first showed the finished gist, or None."""
        for message in self.slack.thread(gist.channel, gist.ts):
            states = [(v.time, v.blocks) for v in message.edits]
            states.append((message.updated_at or message.posted_at, message.blocks))
            for at, blocks in states:
                if "gist_regenerate" in str(blocks):
                    return at
        return None

    def collect(self, offset: float) -> None:
        calls = list(self.tl.calls)
        assets = {a.url: a for a in self.tl.assets.values() if a.url}
        tasks = {t.video.get("asset_id"): t for t in self.tl.tasks.values()}
        creates = {
            c.body.get("custom_id"): c.at
            for c in reversed(calls)
            if c.method == "POST" and c.template == "/analyze/tasks" and isinstance(c.body, dict)
        }
        for g in self.gists:
            wall = self.result_time(g)
            asset = assets.get(g.url)
            task = tasks.get(asset.id) if asset is not None else None
            if wall is None or asset is None or task is None:
                g.error = g.error or "incomplete"
                continue
            g.reply = wall - offset
            g.task_id = task.id
            g.created = creates.get(task.custom_id)
            g.ready = self.tl.mark_task_ready_at.get(task.id)
            polls = [c.at for c in calls if c.method == "GET" and c.path.endswith("/" + task.id)]
            g.polls = len(polls)
            if g.created is not None:
                g.poll_offsets = [round(t - g.created, 3) for t in polls]
            g.seen = min((t for t in polls if g.ready is not None and t >= g.ready), default=None)
            a_polls = [c.at for c in calls if c.method == "GET" and c.path.endswith("/" + asset.id)]
            g.asset_polls = len(a_polls)
            g.asset_ready = asset.ready_at
            g.asset_seen = min(
                (t for t in a_polls if asset.ready_at is not None and t >= asset.ready_at),
                default=None,
            )
            if g.created is None or g.ready is None or g.seen is None:
                g.error = "incomplete"

    def report(self, load_before: list[float], warnings: list[str]) -> dict[str, Any]:
        done = [g for g in self.gists if g.measured and g.error is None]
        assert all(g.reply is not None and g.seen is not None for g in done)
        reply = [g.reply - g.ready for g in done]  # type: ignore[operator]
        poll = [g.seen - g.ready for g in done]  # type: ignore[operator]
        after = [g.reply - g.seen for g in done]  # type: ignore[operator]
        ref = [fixed_poller(g.processing) for g in done]
        old = [schedule_poller(g.processing, lambda: Backoff(1.0, 1.5, 10.0)) for g in done]
        ref_reply = [lag + a for (lag, _), a in zip(ref, after, strict=True)]
        old_reply = [lag + a for (lag, _), a in zip(old, after, strict=True)]
        polls = statistics.fmean(g.polls for g in done) if done else 0.0
        ref_polls = statistics.fmean(p for _, p in ref) if done else 0.0
        mine, theirs = quantiles(reply), quantiles(ref_reply)
        asset_lag = [g.asset_seen - g.asset_ready for g in done if g.asset_seen and g.asset_ready]
        result: dict[str, Any] = {
            "scenario": self.name,
            "measured": len(done),
            "failed": [(g.n, g.error) for g in self.gists if g.error],
            "loadavg_before": load_before,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "task_processing_s": quantiles([g.processing for g in done]),
            "gistbot": {
                "reply_lag_s": mine,
                "poll_lag_s": quantiles(poll),
                "after_poll_s": quantiles(after),
                "task_polls_mean": round(polls, 2),
                "asset_poll_lag_s": quantiles(asset_lag),
                "asset_polls_mean": round(statistics.fmean(g.asset_polls for g in done), 2)
                if done
                else None,
            },
            "fixed_5s_poller": {
                "reply_lag_s": theirs,
                "poll_lag_s": quantiles([lag for lag, _ in ref]),
                "task_polls_mean": round(ref_polls, 2),
            },
            "old_backoff_computed": {
                "reply_lag_s": quantiles(old_reply),
                "task_polls_mean": round(statistics.fmean(p for _, p in old), 2) if done else None,
            },
            "app_warnings": warnings,
        }
        if done:
            result["ratio_vs_fixed_5s"] = {
                "reply_median": round(float(mine["median"]) / float(theirs["median"]), 3),
                "reply_p90": round(float(mine["p90"]) / float(theirs["p90"]), 3),
                "task_polls": round(polls / ref_polls, 3),
            }
            result["goal"] = {
                "reply_median_le_1s": mine["median"] <= 1.0,
                "reply_p90_le_2s": mine["p90"] <= 2.0,
                "polls_le_1_5x": polls <= 1.5 * ref_polls,
            }
            result["goal"]["met"] = all(result["goal"].values())
        result["gists"] = [vars(g) for g in self.gists]
        return result


# ---------------------------------------------------------------------------- driver


def render_videos() -> dict[float, bytes]:
    from tests.videos import make_video

    return {d: make_video(d, width=64, height=64, fps=1).read_bytes() for d in DURATIONS}


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    videos = render_videos()
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    for name in names:
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-reply-{name}-"))
        t0 = time.monotonic()
        try:
            results.append(asyncio.run(Scenario(name, args, videos).run(workdir)))
        finally:
            if args.keep_workdir:
                print(f"work directory kept: {workdir}", file=sys.stderr)
            else:
                shutil.rmtree(workdir, ignore_errors=True)
        print(f"reply_latency: {name} done in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    data: dict[str, Any] = {
        "benchmark": NAME,
        "command": "python -m bench.reply_latency " + " ".join(argv or sys.argv[1:]),
        "config": vars(args),
        "machine": machine_info(),
        "wall_s": round(time.monotonic() - started, 1),
        "scenarios": results,
    }
    data["output"] = str(write_result(NAME, data))
    return data


def summary(data: dict[str, Any]) -> str:
    out = [f"reply_latency  (load avg at start {data['machine']['loadavg_1_5_15']})"]
    for r in data["scenarios"]:
        g, f, o = r["gistbot"], r["fixed_5s_poller"], r["old_backoff_computed"]
        if not r["measured"]:
            out.append(f"  {r['scenario']}: nothing measured; failures {r['failed'][:3]}")
            continue
        gl, fl, ol = g["reply_lag_s"], f["reply_lag_s"], o["reply_lag_s"]
        ratio = r["ratio_vs_fixed_5s"]
        out += [
            f"  {r['scenario']:<8} n={r['measured']} (load {r['loadavg_before']} → "
            f"{r['loadavg_after']}; T median {r['task_processing_s']['median']} s)",
            f"    gistbot      reply lag median {gl['median']} s, p90 {gl['p90']} s, max "
            f"{gl['max']} s; task polls {g['task_polls_mean']} (after-poll median "
            f"{g['after_poll_s']['median']} s)",
            f"    fixed 5 s    reply lag median {fl['median']} s, p90 {fl['p90']} s, max "
            f"{fl['max']} s; task polls {f['task_polls_mean']}",
            f"    old backoff  reply lag median {ol['median']} s, p90 {ol['p90']} s; task polls "
            f"{o['task_polls_mean']} (computed)",
            f"    ratio gistbot/fixed-5s: median {ratio['reply_median']}, p90 "
            f"{ratio['reply_p90']}, polls {ratio['task_polls']}  → goal "
            f"{'MET' if r['goal']['met'] else 'NOT met'} {r['goal']}",
            f"    assets: poll lag median {g['asset_poll_lag_s'].get('median')} s, "
            f"{g['asset_polls_mean']} polls",
        ]
        if r["failed"]:
            out.append(f"    failures: {r['failed'][:5]}")
    out.append(f"  results: {data['output']}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    print(summary(run(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
