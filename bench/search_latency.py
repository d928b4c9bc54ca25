"""Search latency: `/gist search` sent → results shown (the response_url post that carries
them), p50/p99, and the TwelveLabs calls each search makes, against the fakes.

    .venv/bin/python -m bench.search_latency                 # 24 videos, 200 searches
    .venv/bin/python -m bench.search_latency --searches 500 --tl-latency-ms 80

Three processes' worth of parts, all on 127.0.0.1:

- **the app**: `gistbot run` (HTTP mode, PORT=0, a temporary working directory);
- **the fakes** (threads of this process): FakeSlack with members in a public channel, a
  private channel, a DM and a group DM (`tests/search_world.py`), FakeTwelveLabs with its
  search (`--tl-latency-ms` adds that much to every TwelveLabs answer, like a network would);
- **the load** (this process's loop): signed slash commands, one at a time, and a small
  response_url receiver that stamps each post as it arrives. One clock (`time.monotonic()`)
  for both ends.

First the videos are shared (signed events with uploads) and gisted, and the bench waits until
every one is indexed. Then each search: a user (U1 in every conversation, U2 in two, U3 in one)
and a query (each a word of the videos' file names, so results vary from 0 to many). Where a
page offers "More results", it is clicked too (counted separately). Per search it records the
ack time, the results time, and the requests the fake TwelveLabs and the fake Slack saw while
it ran (searches run one at a time, so the counts are exact).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bench._common import REPO, gistbot_exe, machine_info, write_result
from bench._proc import Child, start_child

NAME = "search_latency"
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
TL_KEY = "tlk-bench-key-123456"
USERS = ("U1", "U2", "U3")
TOPICS = ("roadmap", "onboarding", "launch", "budget", "hiring", "demo")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def stats_ms(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50) or 0.0, 2),
        "p90_ms": round(percentile(ms, 90) or 0.0, 2),
        "p99_ms": round(percentile(ms, 99) or 0.0, 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(sum(ms) / len(ms), 2),
    }


# --------------------------------------------------------------------------- response_url sink


@dataclass
class Hooks:
    """Receives the app's response_url posts; stamps each on arrival."""

    base: str = ""
    posts: dict[str, list[tuple[float, dict[str, Any]]]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _seq: int = 0

    def new(self) -> str:
        self._seq += 1
        key = f"h{self._seq}"
        self.posts[key] = []
        return f"{self.base}/hooks/{key}"

    async def handle(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        body = await request.json()
        self.posts.setdefault(request.match_info["key"], []).append((at, body))
        self.arrived.set()
        return web.Response(text="ok")

    async def wait(self, url: str, count: int, timeout_s: float = 30.0) -> list[tuple[float, Any]]:
        key = url.rsplit("/", 1)[-1]
        deadline = time.monotonic() + timeout_s
        while len(self.posts[key]) < count:
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer on {url}")
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                pass
        return self.posts[key]


async def start_hooks() -> tuple[Hooks, web.AppRunner]:
    hooks = Hooks()
    app = web.Application()
    app.router.add_post("/hooks/{key}", hooks.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hooks.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    return hooks, runner


# --------------------------------------------------------------------------- the app


def app_env(slack_api: str, tl_base: str, workdir: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "PYTHONPATH": str(REPO),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api,
        "SLACK_FILE_HOSTS": "127.0.0.1,localhost",
        "TWELVELABS_API_KEY": TL_KEY,
        "TWELVELABS_BASE_URL": tl_base,
        "HOST": "127.0.0.1",
        "PORT": "0",
        "GIST_DB_PATH": str(workdir / "gistbot.sqlite3"),
        "GIST_TMP_DIR": str(workdir / "tmp"),
        "GIST_POLL_INITIAL_S": "0.05",
        "GIST_POLL_MAX_INTERVAL_S": "0.2",
        "GIST_PROGRESS_INTERVAL_S": "60",
        "LOG_LEVEL": "WARNING",
    }


def start_app(env: dict[str, str], workdir: Path) -> Child:
    server = start_child(
        "gistbot",
        [str(gistbot_exe()), "run"],
        cwd=workdir,
        env=env,
        stderr_path=workdir / "app.log",
    )
    if not server.first_line.startswith("gistbot ready on "):
        server.stop()
        raise RuntimeError(f"gistbot did not start: {server.first_line!r}")
    return server


# --------------------------------------------------------------------------- the run


@dataclass
class Shot:
    user: str
    query: str
    kind: str  # "search" | "more"
    ack_s: float
    results_s: float
    results: int
    tl_calls: dict[str, int]
    slack_calls: dict[str, int]


def _calls_since(calls: Sequence[Any], since: int, key: Any) -> dict[str, int]:
    return dict(Counter(key(c) for c in list(calls)[since:]))


async def populate(driver: Any, slack: Any, tl: Any, videos: int, db: Path) -> float:
    from tests.search_world import DM, GROUP, PRIVATE, PUBLIC, all_indexed, share_video

    started = time.monotonic()
    places = (PUBLIC, PUBLIC, PRIVATE, DM, GROUP)
    for i in range(videos):
        name = f"{TOPICS[i % len(TOPICS)]}-{TOPICS[(i * 7 + 3) % len(TOPICS)]}-{i}.mp4"
        await share_video(driver, slack, places[i % len(places)], name)
    await all_indexed(tl, videos)
    deadline = time.monotonic() + 60
    while _rows(db) < videos:
        assert time.monotonic() < deadline, "indexed videos never recorded"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def _rows(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM indexed_videos").fetchone()[0])
    except sqlite3.Error:
        return 0


async def one(
    driver: Any, hooks: Hooks, slack: Any, tl: Any, user: str, query: str, more: bool
) -> list[Shot]:
    from bot.slack.blocks.search import ACTION_SEARCH_MORE
    from tests.search_world import PUBLIC, buttons

    shots: list[Shot] = []
    tl_mark, slack_mark = len(tl.calls), len(slack.calls())
    url = hooks.new()
    sent = time.monotonic()
    ack = await driver.slash_command(f"search {query}", channel=PUBLIC, user=user, response_url=url)
    acked = time.monotonic()
    assert ack.status_code == 200 and "Searching" in ack.text, ack.text
    [(shown_at, body)] = await hooks.wait(url, 1)
    shots.append(
        _shot(user, query, "search", sent, acked, shown_at, body, tl, slack, tl_mark, slack_mark)
    )
    value = buttons(body).get(ACTION_SEARCH_MORE)
    if more and value:
        tl_mark, slack_mark = len(tl.calls), len(slack.calls())
        sent = time.monotonic()
        await driver.block_action(
            ACTION_SEARCH_MORE, value, channel=PUBLIC, message_ts="1.1", user=user, response_url=url
        )
        acked = time.monotonic()
        shown_at, body = (await hooks.wait(url, 2))[1]
        shots.append(
            _shot(user, query, "more", sent, acked, shown_at, body, tl, slack, tl_mark, slack_mark)
        )
    return shots


def _shot(
    user: str,
    query: str,
    kind: str,
    sent: float,
    acked: float,
    shown_at: float,
    body: dict[str, Any],
    tl: Any,
    slack: Any,
    tl_mark: int,
    slack_mark: int,
) -> Shot:
    sections = [b for b in body.get("blocks") or [] if b.get("type") == "section"]
    return Shot(
        user=user,
        query=query,
        kind=kind,
        ack_s=acked - sent,
        results_s=shown_at - sent,
        results=len(sections) if "Showing" in str(body) else 0,
        tl_calls=_calls_since(tl.calls, tl_mark, lambda c: f"{c.method} {c.template}"),
        slack_calls=_calls_since(slack.calls(), slack_mark, lambda c: c.method),
    )


def summarize(shots: list[Shot], kind: str) -> dict[str, Any]:
    mine = [s for s in shots if s.kind == kind]
    tl_total = [sum(s.tl_calls.values()) for s in mine]
    charged = [s.tl_calls.get("POST /search", 0) for s in mine]
    by_endpoint: Counter[str] = Counter()
    slack: Counter[str] = Counter()
    for s in mine:
        by_endpoint.update(s.tl_calls)
        slack.update(s.slack_calls)
    n = max(1, len(mine))
    return {
        "n": len(mine),
        "ack": stats_ms([s.ack_s for s in mine]),
        "results_shown": stats_ms([s.results_s for s in mine]),
        "twelvelabs_calls_per_search": {
            "mean": round(sum(tl_total) / n, 3),
            "max": max(tl_total, default=0),
            "histogram": dict(sorted(Counter(tl_total).items())),
            "charged_searches_mean": round(sum(charged) / n, 3),
            "by_endpoint_mean": {k: round(v / n, 3) for k, v in sorted(by_endpoint.items())},
        },
        "slack_calls_per_search_mean": {k: round(v / n, 3) for k, v in sorted(slack.items())},
        "results_histogram": dict(sorted(Counter(s.results for s in mine).items())),
    }


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from tests.fakes.slack import FakeSlack
    from tests.fakes.twelvelabs import FakeTwelveLabs
    from tests.search_world import register_conversations
    from tests.slack_driver import SlackDriver

    slack = FakeSlack(bot_token=BOT_TOKEN)
    slack.start()
    tl = FakeTwelveLabs(
        api_key=TL_KEY, asset_processing_s=0.1, task_processing_s=0.1, index_processing_s=0.2
    )
    tl.start()
    register_conversations(slack)
    hooks, hook_runner = await start_hooks()
    app = start_app(app_env(slack.api_url, tl.base_url or "", workdir), workdir)
    try:
        driver = SlackDriver(app_url=app.first_line.split()[-1], signing_secret=SIGNING_SECRET)
        setup_s = await populate(driver, slack, tl, args.videos, workdir / "gistbot.sqlite3")
        tl.configure(latency_s=args.tl_latency_ms / 1000)
        shots: list[Shot] = []
        for i in range(args.searches):
            user, query = USERS[i % len(USERS)], TOPICS[(i // len(USERS)) % len(TOPICS)]
            if i % 10 == 9:
                query = "zeppelin"  # nothing matches: the cheapest answer, measured too
            shots += await one(driver, hooks, slack, tl, user, query, more=args.more)
        return {
            "benchmark": NAME,
            "machine": machine_info(),
            "params": vars(args),
            "setup_s": round(setup_s, 2),
            "search": summarize(shots, "search"),
            "more_results": summarize(shots, "more"),
            "first_search_per_user": stats_ms(
                [next(s.results_s for s in shots if s.user == u) for u in USERS]
            ),
        }
    finally:
        app.stop()
        await hook_runner.cleanup()
        slack.stop()
        tl.stop()


def summary(data: dict[str, Any]) -> str:
    s, m = data["search"], data["more_results"]
    calls = s["twelvelabs_calls_per_search"]
    lines = [
        f"search_latency: {s['n']} searches over {data['params']['videos']} videos "
        f"(TwelveLabs latency {data['params']['tl_latency_ms']} ms per call)",
        f"  command → results shown: p50 {s['results_shown'].get('p50_ms')} ms, "
        f"p99 {s['results_shown'].get('p99_ms')} ms (ack p99 {s['ack'].get('p99_ms')} ms)",
        f"  TwelveLabs calls per search: mean {calls['mean']}, max {calls['max']} "
        f"(charged POST /search: {calls['charged_searches_mean']}) {calls['histogram']}",
    ]
    if m["n"]:
        more = m["twelvelabs_calls_per_search"]
        lines.append(
            f"  More results ({m['n']}): p50 {m['results_shown'].get('p50_ms')} ms, "
            f"p99 {m['results_shown'].get('p99_ms')} ms, TwelveLabs calls mean {more['mean']} "
            f"(charged {more['charged_searches_mean']})"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.search_latency", description=__doc__)
    p.add_argument("--videos", type=int, default=24)
    p.add_argument("--searches", type=int, default=200)
    p.add_argument("--tl-latency-ms", type=float, default=0.0)
    p.add_argument("--no-more", dest="more", action="store_false", help="don't click More")
    return p.parse_args(argv)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        data = asyncio.run(measure(args, Path(tmp)))
    path = write_result(NAME, data)
    data["written_to"] = str(path)
    return data


def main(argv: Sequence[str] | None = None) -> int:
    data = run(argv)
    print(summary(data))
    print(f"  full figures: {data['written_to']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
