"""Fault soak: N gists through the real app while both fakes fail a share p of requests at
random ("chaos mode": 429s with and without Retry-After, 5xx, dropped connections, failures
after the call took effect, 2–4 s stalls, Slack `ok: false` errors, cut-off downloads).

    .venv/bin/python -m bench.fault_soak [--gists 30] [--p 0.15 0.30] [--seed 1]

Each run: fresh fakes (in this process) and a fresh `gistbot run` (HTTP mode, a subprocess,
its own SQLite file); chaos is turned on once the app is ready. Requests are a mix of direct
video links, Slack uploads and `/gist <url>` commands, every video distinct (so nothing is a
cache hit); ~20 % of the Slack events are delivered a second time a moment later (same
event_id, `X-Slack-Retry-Num: 1`), and a delivery the app doesn't ack with 2xx within 3 s is
retried like Slack would (sooner). The run waits until every request shows a result or an
error in its thread (or the settle timeout), lets the app go idle, and counts what the fakes
hold. Prints a table; writes bench/out/fault_soak-*.json and each run's app log.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import struct
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench._common import OUT_DIR, MediaSite, loadavg, machine_info, running_fakes, write_result
from bench._soak_tally import CHANNEL, Kind, SoakRequest, all_settled, tally
from bench._soak_trace import traces
from tests.e2e.proc import AppProcess, app_env, stored_jobs
from tests.fakes.slack import FakeSlack
from tests.slack_driver import SlackDriver, message_event, next_ts
from tests.videos import make_video

SIGNING_SECRET = "test-signing-secret"
ACK_TIMEOUT_S = 3.0  # Slack gives an app 3 s to ack
SLACK_RETRY_DELAYS_S = (1.0, 3.0, 6.0)  # Slack's are ~0, 1 and 5 minutes; compressed
REDELIVER_SHARE = 0.2
IDLE_GIVE_UP_S = 15.0  # no job in flight this long: unsettled requests will stay so


def app_overrides(job_timeout_s: float) -> dict[str, str]:
    """Quick polls and backoffs (the fakes are fast), a job deadline of a few minutes."""
    return {
        "LOG_LEVEL": "INFO",
        "GIST_JOB_TIMEOUT_S": str(job_timeout_s),
        "GIST_ASSET_TIMEOUT_S": str(job_timeout_s),
        "GIST_ANALYSIS_TIMEOUT_S": str(job_timeout_s),
        "GIST_POLL_INITIAL_S": "0.2",
        "GIST_POLL_MAX_INTERVAL_S": "1.0",
        "TWELVELABS_BACKOFF_INITIAL_S": "0.2",
        "GIST_PROGRESS_INTERVAL_S": "1.0",
        "GIST_SHUTDOWN_GRACE_S": "2",
    }


def distinct_video(base: bytes, index: int) -> bytes:
    """The same playable mp4 plus a `free` box of unique bytes: a new SHA-256 per request."""
    pad = index.to_bytes(4, "big") + os.urandom(4092)
    return base + struct.pack(">I", 8 + len(pad)) + b"free" + pad


class Sender:
    """Sends the requests as Slack would, and keeps what each delivery got back."""

    def __init__(self, driver: SlackDriver, slack: FakeSlack, rng: random.Random) -> None:
        self.driver, self.slack, self.rng = driver, slack, rng

    async def event(self, request: SoakRequest, event: dict[str, Any]) -> None:
        request.event_id = f"EvSOAK{request.index:04d}{self.rng.randrange(10**6):06d}"
        self.slack.add_user_message(CHANNEL, event)  # so conversations.* can find it
        request.sent_at = time.time()
        extra = self.rng.random() < REDELIVER_SHARE
        first = asyncio.create_task(self._deliver(request, event))
        if extra:  # Slack did not see our ack in time (as far as it knows): once more
            await asyncio.sleep(self.rng.uniform(0.3, 1.5))
            request.redelivered += 1
            await self._post(request, event, retry_num=1, reason="http_timeout")
        await first

    async def _deliver(self, request: SoakRequest, event: dict[str, Any]) -> None:
        status = await self._post(request, event, retry_num=None, reason=None)
        for attempt, delay in enumerate(SLACK_RETRY_DELAYS_S, start=1):
            if 200 <= status < 300:
                return
            await asyncio.sleep(delay)
            request.redelivered += 1
            reason = "http_timeout" if status == 0 else "http_error"
            status = await self._post(request, event, retry_num=attempt, reason=reason)

    async def _post(
        self,
        request: SoakRequest,
        event: dict[str, Any],
        *,
        retry_num: int | None,
        reason: str | None,
    ) -> int:
        try:
            resp = await self.driver.post_event(
                event, event_id=request.event_id, retry_num=retry_num, retry_reason=reason
            )
            status = resp.status_code
        except httpx.HTTPError:
            status = 0
        request.acks.append(status)
        return status

    async def command(self, request: SoakRequest) -> None:
        request.response_url = self.slack.new_response_url(channel=CHANNEL)
        request.sent_at = time.time()
        assert request.url is not None
        try:
            resp = await self.driver.slash_command(
                request.url, channel=CHANNEL, user="U0SOAK", response_url=request.response_url
            )
            request.acks.append(resp.status_code)
        except httpx.HTTPError:
            request.acks.append(0)  # the user sees "dispatch_failed"; Slack does not retry


def plan(gists: int, rng: random.Random) -> list[Kind]:
    kinds: list[Kind] = ["link", "upload", "command"]
    mix = [kinds[i % 3] for i in range(gists)]
    rng.shuffle(mix)
    return mix


async def send_all(
    sender: Sender,
    site: MediaSite,
    slack: FakeSlack,
    video: bytes,
    kinds: list[Kind],
    interval_s: float,
) -> list[SoakRequest]:
    """Send one request every `interval_s`; return once every delivery (and Slack-style
    retry) is done. Bounded: each delivery has a 3 s timeout, retries are few and short."""
    requests: list[SoakRequest] = []
    tasks: list[asyncio.Task[None]] = []
    for i, kind in enumerate(kinds):
        name = f"{kind}-{i:03d}.mp4"
        request = SoakRequest(index=i, kind=kind, name=name)
        body = distinct_video(video, i)
        if kind == "upload":
            file = slack.add_file(name, body, channel=CHANNEL)
            request.ts = next_ts()
            event = message_event(CHANNEL, request.ts, "fresh cut", files=[file])
            tasks.append(asyncio.create_task(sender.event(request, event)))
        else:
            site.videos[name] = body
            request.url = f"{site.url}/{name}"
            if kind == "link":
                request.ts = next_ts()
                event = message_event(CHANNEL, request.ts, f"have a look {request.url}")
                tasks.append(asyncio.create_task(sender.event(request, event)))
            else:
                tasks.append(asyncio.create_task(sender.command(request)))
        requests.append(request)
        await asyncio.sleep(interval_s)
    await asyncio.gather(*tasks)
    return requests


async def jobs_in_flight(app_url: str) -> int | None:
    try:
        async with httpx.AsyncClient(timeout=2.0) as http:
            return int((await http.get(f"{app_url}/healthz")).json()["jobs_in_flight"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


async def settle(
    slack: FakeSlack, app: AppProcess, requests: list[SoakRequest], deadline: float
) -> dict[str, Any]:
    """Wait for a result or an error on every request, then for the app to go idle (late
    duplicates show up then). Gives up early when the app has had no job in flight for
    `IDLE_GIVE_UP_S` while some request still shows nothing: that one is lost. Bounded by
    `deadline` (monotonic)."""
    started = time.monotonic()
    idle_since: float | None = None
    gave_up = False
    while time.monotonic() < deadline and not all_settled(slack, requests):
        if app.proc is None or app.proc.returncode is not None:
            break
        now = time.monotonic()
        if await jobs_in_flight(app.url) == 0:
            idle_since = now if idle_since is None else idle_since
            if now - idle_since >= IDLE_GIVE_UP_S:
                gave_up = True
                break
        else:
            idle_since = None
        await asyncio.sleep(0.5)
    settled_s = time.monotonic() - started
    idle_deadline = min(deadline, time.monotonic() + 60.0)
    while time.monotonic() < idle_deadline:
        if await jobs_in_flight(app.url) in (0, None):
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(min(3.0, max(0.0, deadline - time.monotonic())))
    return {
        "all_settled": all_settled(slack, requests),
        "gave_up_app_idle": gave_up,
        "wait_for_settled_s": round(settled_s, 1),
        "jobs_in_flight_at_end": await jobs_in_flight(app.url),
        "app_exit_code": None if app.proc is None else app.proc.returncode,
    }


async def one_run(p: float, args: argparse.Namespace, video: bytes) -> dict[str, Any]:
    rng = random.Random(f"{args.seed}-{p}")
    log_path = OUT_DIR / f"fault_soak-p{p:.2f}-app.log"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    load_before = loadavg()
    with (
        running_fakes(
            "xoxb-soak",
            "tl-soak-key",
            asset_processing_s=0.5,
            task_processing_s=1.0,
            index_processing_s=0.5,
        ) as (slack, tl),
        tempfile.TemporaryDirectory(prefix="fault-soak-", ignore_cleanup_errors=True) as tmp,
    ):
        site = MediaSite()
        db = Path(tmp) / "gistbot.sqlite3"
        app = AppProcess(
            app_env(slack, tl, db, **app_overrides(args.job_timeout)), db.parent, log_path
        )
        try:
            await site.start()
            url = await app.start()
            slack.chaos(p, seed=args.seed)
            tl.chaos(p, seed=args.seed + 1)
            started = time.monotonic()
            deadline = started + args.timeout
            driver = SlackDriver(app_url=url, signing_secret=SIGNING_SECRET, timeout=ACK_TIMEOUT_S)
            sender = Sender(driver, slack, rng)
            kinds = plan(args.gists, rng)
            requests = await send_all(sender, site, slack, video, kinds, args.interval)
            waited = await settle(slack, app, requests, deadline)
            slack.chaos(None)
            tl.chaos(None)
            figures = tally(slack, tl, requests)
            jobs = stored_jobs(db)
            trace = traces(slack, tl, requests, jobs)
            for row in figures["per_request"]:
                row["trace"] = trace[row["name"]]
            return {
                "p": p,
                **{k: v for k, v in figures.items() if k != "per_request"},
                **waited,
                "wall_s": round(time.monotonic() - started, 1),
                "injected": {"slack": slack.chaos_report(), "twelvelabs": tl.chaos_report()},
                "job_states": dict(Counter(str(j.get("state")) for j in jobs)),
                "job_errors": dict(
                    Counter(str(j["error_code"]) for j in jobs if j.get("error_code"))
                ),
                "loadavg_before": load_before,
                "loadavg_after": loadavg(),
                "app_log": str(log_path),
                "per_request": figures["per_request"],
            }
        finally:
            if app.proc is not None:
                try:
                    await app.terminate(15.0)
                except TimeoutError:
                    await app.kill()
            await site.stop()


ROWS = (
    ("requests", "requests"),
    ("delivered exactly once", "delivered_exactly_once"),
    ("lost (no result, no error)", "lost_no_result_no_error"),
    ("  of which only an :x: reaction", "lost_but_x_reaction"),
    ("error shown, no result", "error_shown_no_result"),
    ("error and a result", "error_and_result"),
    ("result later overwritten", "results_overwritten"),
    ("duplicate result messages", "duplicate_results"),
    ("extra bot messages in threads", "duplicate_thread_messages"),
    ("duplicate 'asked for a gist'", "duplicate_command_parents"),
    ("/gist with no parent message", "commands_without_parent"),
    ("placeholders left working", "placeholders_left_working"),
    ("duplicate TL assets", "duplicate_assets"),
    ("duplicate TL analysis tasks", "duplicate_tasks"),
    ("duplicate TL index entries", "duplicate_index_entries"),
    ("time to last gist (s)", "time_to_last_gist_s"),
    ("acks not 2xx", "acks_not_2xx"),
    ("redeliveries sent", "redeliveries"),
    ("all settled", "all_settled"),
)


def table(runs: list[dict[str, Any]]) -> str:
    head = f"{'':34}" + "".join(f"{'p=' + format(r['p'], '.2f'):>12}" for r in runs)
    lines = [head]
    for label, key in ROWS:
        lines.append(f"{label:34}" + "".join(f"{r.get(key)!s:>12}" for r in runs))
    for side in ("slack", "twelvelabs"):
        kinds = sorted({k for r in runs for k in r["injected"][side]["injected"]})
        for kind in kinds:
            cells = "".join(f"{r['injected'][side]['injected'].get(kind, 0):>12}" for r in runs)
            lines.append(f"{'injected ' + side + ' ' + kind:34}" + cells)
        seen = "".join(
            f"{r['injected'][side]['injected_total']}/{r['injected'][side]['seen']:<}".rjust(12)
            for r in runs
        )
        lines.append(f"{'injected/requests ' + side:34}" + seen)
    for when in ("before", "after"):
        load = "".join(f"{r['loadavg_' + when][0]:>12}" for r in runs)
        lines.append(f"{'load average ' + when + ' (1 min)':34}" + load)
    return "\n".join(lines)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.fault_soak", description=__doc__)
    parser.add_argument("--gists", type=int, default=30)
    parser.add_argument("--p", type=float, nargs="+", default=[0.15, 0.30])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between requests")
    parser.add_argument("--job-timeout", type=float, default=180.0, help="GIST_JOB_TIMEOUT_S")
    parser.add_argument("--timeout", type=float, default=420.0, help="bound on each run, s")
    args = parser.parse_args(argv)
    video = make_video(5.0).read_bytes()
    runs = []
    for p in args.p:
        runs.append(asyncio.run(one_run(p, args, video)))
    result = {
        "benchmark": "fault_soak",
        "machine": machine_info(),
        "settings": vars(args),
        "app_settings": app_overrides(args.job_timeout),
        "runs": runs,
    }
    result["path"] = str(write_result("fault_soak", result))
    return result


def summary(result: dict[str, Any]) -> str:
    return "fault soak\n" + table(result["runs"]) + f"\nJSON: {result['path']}"


def main() -> int:
    print(summary(run(sys.argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
