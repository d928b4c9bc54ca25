"""A repeated video: time from its event to the cached reply, and the TwelveLabs calls it made.

    .venv/bin/python -m bench.cached_reply                 # 20 repeats of each kind

The app runs as `gistbot run` (HTTP mode, its own process, cwd a temporary directory); FakeSlack,
FakeTwelveLabs and a tiny media server (a real `make_video(5)` mp4) run in threads of this
process, so their state is read directly, without HTTP.

First, two originals are gisted and their results awaited: an upload (`FakeSlack.add_file`) and
a direct link. Once the fakes are quiet (background indexing submitted), each repeat posts the
same video again in a new message, in a channel of its own:

- `file_id`: the same Slack file (same file id) → cache hit on the Slack file key;
- `url`: the same direct link → cache hit on the URL key;
- `sha256`: the same bytes as a *new* Slack file → downloaded, hashed, cache hit on the SHA-256.

Each repeat measures event post → the result message (the one with a Regenerate button) appearing
in the fake Slack thread, polled every `--poll-ms`; the ack latency of the post; the fake
TwelveLabs calls made between the post and the result (must be 0) and in a short window after it;
and the Slack calls the repeat cost (with their times). Writes
`bench/out/cached_reply-<UTC stamp>.json` (and `cached_reply-latest.json`) and prints a summary.
About 25 s. `run(argv)` / `summary(data)` are what `bench.run_all` calls.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench._common import (
    BOT_TOKEN,
    REPO,
    SIGNING_SECRET,
    TL_KEY,
    MediaSite,
    app_env,
    gistbot_exe,
    log_problems,
    machine_info,
    summarize_ms,
    write_result,
)
from bench._proc import Child, CpuMeter, start_child

NAME = "cached_reply"
KINDS = ("file_id", "url", "sha256")


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Latencies in ms to 2 decimals, no p99 (20 repeats per kind)."""
    return summarize_ms(values, quantiles=(50, 90), digits=2)


@dataclass
class Repeat:
    kind: str
    channel: str
    ts: str
    reply_ms: float | None = None  # post → result seen in the fake's thread (polled)
    reply_server_ms: float | None = None  # post → the fake stored the result (its own clock)
    ack_ms: float | None = None
    ack_status: int | None = None
    tl_calls: int = 0  # between the post and the result
    tl_calls_after: int = 0  # in the settle window after the result
    slack_calls: dict[str, int] | None = None
    slack_timeline: list[tuple[str, float]] | None = None  # (method, ms after the post)
    downloads: int = 0
    same_title: bool | None = None
    error: str | None = None


def per_repeat(reps: list[Repeat]) -> dict[str, float]:
    total: Counter[str] = Counter()
    for r in reps:
        total.update(r.slack_calls or {})
    return {k: round(v / (len(reps) or 1), 2) for k, v in sorted(total.items())}


def is_result(message: Any) -> bool:
    return "gist_regenerate" in str(message.blocks)


def title_of(message: Any) -> str | None:
    for block in message.blocks or []:
        if block.get("type") == "header":
            text = block.get("text") or {}
            return str(text.get("text"))
    return None


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from tests.fakes.slack import FakeSlack
        from tests.fakes.twelvelabs import FakeTwelveLabs

        self.args = args
        self.slack = FakeSlack(bot_token=BOT_TOKEN)
        self.tl = FakeTwelveLabs(
            api_key=TL_KEY, asset_processing_s=0.2, task_processing_s=0.5, index_processing_s=0.2
        )
        self.video = b""
        self.media_url = ""
        self._seq = 0
        self.app_pid = 0

    def channel(self) -> str:
        self._seq += 1
        return f"C0CACHE{self._seq:04d}"

    async def wait_result(self, channel: str, ts: str, timeout_s: float) -> Any:
        """Poll the fake's thread every `--poll-ms` until the result message is there."""
        interval = self.args.poll_ms / 1000.0
        deadline = time.monotonic() + timeout_s
        while True:
            for message in self.slack.thread(channel, ts):
                if is_result(message):
                    return message
            if time.monotonic() > deadline:
                raise TimeoutError(f"no result in {channel} thread {ts} after {timeout_s:g}s")
            await asyncio.sleep(interval)

    async def quiet(self, seconds: float, timeout_s: float = 30.0) -> None:
        """Wait until neither fake has received a call for `seconds`."""
        deadline = time.monotonic() + timeout_s
        last = (len(self.tl.calls), len(self.slack.calls()))
        since = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            now = (len(self.tl.calls), len(self.slack.calls()))
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= seconds:
                return
        raise TimeoutError("the fakes did not go quiet")

    async def original(
        self, driver: Any, event: dict[str, Any], channel: str, ts: str
    ) -> dict[str, Any]:
        t0 = time.monotonic()
        calls0 = len(self.tl.calls)
        resp = await driver.post_event(event)
        message = await self.wait_result(channel, ts, timeout_s=60)
        return {
            "ack_status": resp.status_code,
            "reply_ms": round((time.monotonic() - t0) * 1000.0, 1),
            "tl_calls": len(self.tl.calls) - calls0,
            "title": title_of(message),
        }

    async def repeat(self, driver: Any, kind: str, originals: dict[str, Any]) -> Repeat:
        from tests.slack_driver import message_event, next_ts

        channel, ts = self.channel(), next_ts()
        rep = Repeat(kind, channel, ts)
        if kind == "file_id":
            event = message_event(channel, ts, "same cut again", files=[originals["file"]])
        elif kind == "sha256":
            fresh = self.slack.add_file("standup-copy.mp4", self.video, channel=channel)
            event = message_event(channel, ts, "re-uploaded", files=[fresh])
        else:
            event = message_event(channel, ts, f"again <{originals['url']}>")
        tl0 = len(self.tl.calls)
        slack0 = len(self.slack.calls())
        downloads0 = len(self.slack.downloads())
        wall0 = time.time()
        t0 = time.monotonic()
        try:
            resp = await driver.post_event(event)
            rep.ack_ms = (time.monotonic() - t0) * 1000.0
            rep.ack_status = resp.status_code
            message = await self.wait_result(channel, ts, timeout_s=self.args.timeout)
            t1 = time.monotonic()
        except (httpx.HTTPError, TimeoutError) as exc:
            rep.error = f"{type(exc).__name__}: {exc}"
            return rep
        rep.reply_ms = (t1 - t0) * 1000.0
        stored = message.updated_at or message.posted_at
        rep.reply_server_ms = (stored - wall0) * 1000.0
        rep.same_title = title_of(message) == originals["title"]
        calls = list(self.tl.calls)[tl0:]
        rep.tl_calls = sum(1 for c in calls if c.at <= t1)
        await asyncio.sleep(self.args.settle_ms / 1000.0)
        calls = list(self.tl.calls)[tl0:]
        rep.tl_calls_after = sum(1 for c in calls if c.at > t1)
        made = self.slack.calls()[slack0:]
        rep.slack_calls = dict(Counter(c.method for c in made))
        rep.slack_timeline = [(c.method, round((c.time - wall0) * 1000.0, 1)) for c in made]
        rep.downloads = len(self.slack.downloads()) - downloads0
        return rep

    async def run(self, workdir: Path) -> dict[str, Any]:
        from tests.slack_driver import SlackDriver, message_event, next_ts
        from tests.videos import make_video

        self.video = make_video(5.0).read_bytes()
        site = MediaSite(default=self.video)
        with self.slack, self.tl:  # started here, stopped on the way out
            await site.start()
            self.media_url = site.url
            env = app_env(
                self.slack.api_url,
                str(self.tl.base_url),
                workdir,
                GIST_POLL_INITIAL_S="0.05",
                GIST_POLL_MAX_INTERVAL_S="0.2",
            )
            app: Child | None = None
            try:
                app = start_child(
                    "gistbot",
                    shlex.split(self.args.app_command)
                    if self.args.app_command
                    else [str(gistbot_exe()), "run"],
                    cwd=workdir,
                    env=env,
                    stderr_path=workdir / "app.stderr",
                    ready="gistbot ready on",
                    timeout_s=60,
                )
                app_url = app.first_line.rsplit(" ", 1)[-1]
                self.app_pid = app.proc.pid
                async with httpx.AsyncClient(timeout=30.0) as client:
                    driver = SlackDriver(
                        app_url=app_url, signing_secret=SIGNING_SECRET, client=client
                    )
                    result = await self._measure(driver, message_event, next_ts)
            finally:
                if app is not None:
                    app.stop()
                await site.stop()
        result["app_log_warnings"] = log_problems(workdir / "app.stderr")
        return result

    async def _measure(self, driver: Any, message_event: Any, next_ts: Any) -> dict[str, Any]:
        # The originals: one upload, one direct link, each gisted for real.
        ch_file, ts_file = self.channel(), next_ts()
        file = self.slack.add_file("standup.mp4", self.video, channel=ch_file)
        first_file = await self.original(
            driver, message_event(ch_file, ts_file, "our standup", files=[file]), ch_file, ts_file
        )
        url = f"{self.media_url}/launch.mp4"
        ch_url, ts_url = self.channel(), next_ts()
        first_url = await self.original(
            driver, message_event(ch_url, ts_url, f"look <{url}>"), ch_url, ts_url
        )
        await self.quiet(1.0)
        originals = {"file": file, "url": url}

        tl_start = len(self.tl.calls)
        cpu = CpuMeter({"app": self.app_pid, "bench_and_fakes": os.getpid()})
        repeats: list[Repeat] = []
        for _ in range(self.args.repeats):
            for kind in KINDS:
                title = first_url["title"] if kind == "url" else first_file["title"]
                rep = await self.repeat(driver, kind, originals | {"title": title})
                repeats.append(rep)
                await asyncio.sleep(self.args.gap_ms / 1000.0)
        cpu_percent = cpu.read()
        await self.quiet(0.5)
        tl_total = len(self.tl.calls) - tl_start

        by_kind: dict[str, Any] = {}
        for kind in KINDS:
            reps = [r for r in repeats if r.kind == kind]
            ok = [r for r in reps if r.reply_ms is not None]
            by_kind[kind] = {
                "reply": summarize([r.reply_ms for r in ok if r.reply_ms is not None]),
                "reply_server_clock": summarize(
                    [r.reply_server_ms for r in ok if r.reply_server_ms is not None]
                ),
                "ack": summarize([r.ack_ms for r in reps if r.ack_ms is not None]),
                "tl_calls_before_result": sum(r.tl_calls for r in reps),
                "tl_calls_after_result": sum(r.tl_calls_after for r in reps),
                "failures": [r.error for r in reps if r.error],
                "all_same_title": all(r.same_title for r in ok),
                "slack_calls_per_repeat": per_repeat(ok),
                "downloads": sum(r.downloads for r in ok),
            }
        return {
            "originals": {"upload": first_file, "link": first_url},
            "by_kind": by_kind,
            "tl_calls_during_all_repeats": tl_total,
            "cpu_percent": cpu_percent,
            "repeats": [vars(r) for r in repeats],
        }


def summary(data: dict[str, Any]) -> str:
    """The human summary of `run()`'s data."""
    out: list[str] = []
    r = data["result"]
    out.append(f"cached reply, {data['machine']['cpus']} CPUs, python {data['machine']['python']}")
    for name, o in r["originals"].items():
        out.append(f"  original {name:<6}: {o['reply_ms']} ms, {o['tl_calls']} TwelveLabs calls")
    for kind, k in r["by_kind"].items():
        rep, ack = k["reply"], k["ack"]
        if not rep.get("n"):
            out.append(f"  {kind:<8} no replies: {k['failures'][:2]}")
            continue
        out.append(
            f"  {kind:<8} reply p50 {rep['p50_ms']:.1f}  p90 {rep['p90_ms']:.1f}  "
            f"max {rep['max_ms']:.1f} ms (n={rep['n']}); ack p50 {ack['p50_ms']:.1f} ms; "
            f"TwelveLabs calls {k['tl_calls_before_result']} (+{k['tl_calls_after_result']} "
            f"after); downloads {k['downloads']}; same title: {k['all_same_title']}"
        )
    total = r["tl_calls_during_all_repeats"]
    out.append(
        f"  TwelveLabs calls during all repeats: {total} ({'OK' if total == 0 else 'NOT 0'})"
    )
    out.append(f"  CPU % during the repeats: {r['cpu_percent']}")
    out.append(f"  -> {data['json']}")
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.cached_reply",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--repeats", type=int, default=20, help="repeats of each kind")
    p.add_argument("--poll-ms", type=float, default=1.0, help="how often the thread is read")
    p.add_argument("--settle-ms", type=float, default=200.0, help="window after each result")
    p.add_argument("--gap-ms", type=float, default=100.0, help="pause between repeats")
    p.add_argument("--timeout", type=float, default=30.0, help="per repeat")
    p.add_argument("--keep-workdir", action="store_true")
    p.add_argument(
        "--app-command",
        help="run the app with this command instead of `gistbot run` (e.g. an instrumented "
        "wrapper, for investigation); it must print the same ready line",
    )
    return p.parse_args(argv)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (argv as on the command line), write its JSON, return the data."""
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-cached-"))
    started = time.monotonic()
    try:
        result = asyncio.run(Bench(args).run(workdir))
    finally:
        if args.keep_workdir:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    calls = result["tl_calls_during_all_repeats"]
    failures = sum(len(k["failures"]) for k in result["by_kind"].values())
    data: dict[str, Any] = {
        "benchmark": NAME,
        "goal": {
            "tl_calls_max": 0,
            "tl_calls": calls,
            "failures": failures,
            "met": calls == 0 and failures == 0,
        },
        "config": vars(args),
        "machine": machine_info(),
        "wall_s": round(time.monotonic() - started, 1),
        "result": result,
    }
    data["json"] = str(write_result(NAME, data).relative_to(REPO))
    return data


def main(argv: Sequence[str] | None = None) -> int:
    print(summary(run(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
