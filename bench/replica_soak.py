"""Replica soak: several `gistbot run` processes on one PostgreSQL database, SIGKILLed at
random and restarted, against one replica left alone.

    .venv/bin/python -m bench.replica_soak [--gists 200] [--replicas 3] [--kill-every 10]
        [--restart-after 5] [--lease-s 5] [--interval 0.05] [--seed 1] [--timeout 600]

Run 1, "kills": `--replicas` replicas (HTTP mode, a subprocess each, one schema of their own
in GIST_TEST_DATABASE_URL's database); N gists (video links and Slack uploads, every video
distinct, so nothing is a cache hit) sent one every `--interval` s to a live replica chosen
round-robin, as a load balancer would; ~20 % of events delivered once more to another
replica (Slack's retry racing the first delivery), and a delivery that fails (its replica was
just killed) retried like Slack does, to another one. Every ~`--kill-every` s (±20 %) a random
live replica is SIGKILLed and started again `--restart-after` s later. With `--calm`, run
"calm": the same with no kills. Run "one": the same gists, one replica, no kills: the
throughput reference. The fake TwelveLabs takes `--asset-s` to process an asset and `--task-s`
to analyse it, so a gist spends a few seconds in the replicas' bounded pools (as real ones
spend minutes) and the 3-replica run lasts long enough for several kills.

Per run: gists delivered exactly once, lost, duplicate replies / placeholders left working,
duplicate TwelveLabs assets and analysis tasks (bench/_soak_tally.py); throughput (gists
delivered per second from the first send to the last result); for every job a killed replica
held unfinished, the takeover time: from the kill to the job's next durable step saved by
another replica (or its end). JSON to bench/out/replica_soak-*.json, app logs beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench._common import OUT_DIR, MediaSite, machine_info, write_result
from bench._replicas import Replicas, Watch, killing, watching
from bench._soak_tally import CHANNEL, Kind, SoakRequest, all_settled, tally
from bench.fault_soak import distinct_video
from tests.e2e.replicas import (
    PG_URL,
    JobsTable,
    create_schema,
    drop_schema,
    pg_problem,
    schema_url,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.slack_driver import SlackDriver, message_event, next_ts
from tests.videos import make_video

SECRET = "test-signing-secret"
ACK_TIMEOUT_S = 3.0
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # Slack's are ~0, 1, 5 min: compressed, and more
EXTRA_DELIVERY_SHARE = 0.2


def app_overrides(lease_s: float) -> dict[str, str]:
    return {
        "LOG_LEVEL": "INFO",
        "GIST_LEASE_S": str(lease_s),
        "GIST_JOB_TIMEOUT_S": "900",
        "GIST_POLL_INITIAL_S": "0.2",
        "GIST_POLL_MAX_INTERVAL_S": "1.0",
        "GIST_PROGRESS_INTERVAL_S": "1.0",
        "GIST_SHUTDOWN_GRACE_S": "2",
    }


class Sender:
    """Delivers events as Slack does, through a load balancer over the live replicas."""

    def __init__(self, replicas: Replicas, slack: FakeSlack, rng: random.Random) -> None:
        self.replicas, self.slack, self.rng = replicas, slack, rng
        self._first_url: dict[int, str] = {}  # request -> the replica its first delivery hit

    async def event(self, request: SoakRequest, event: dict[str, Any]) -> None:
        request.event_id = f"EvREPL{request.index:04d}{self.rng.randrange(10**6):06d}"
        self.slack.add_user_message(CHANNEL, event)
        request.sent_at = time.time()
        first = asyncio.create_task(self._deliver(request, event))
        if self.rng.random() < EXTRA_DELIVERY_SHARE:  # Slack's retry racing the first
            await asyncio.sleep(self.rng.uniform(0.0, 0.5))
            request.redelivered += 1
            await self._post(request, event, retry_num=1, avoid_first=True)
        await first

    async def _deliver(self, request: SoakRequest, event: dict[str, Any]) -> None:
        status = await self._post(request, event, retry_num=None)
        for attempt, delay in enumerate(RETRY_DELAYS_S, start=1):
            if 200 <= status < 300:
                return
            await asyncio.sleep(delay)
            request.redelivered += 1
            status = await self._post(request, event, retry_num=attempt)

    async def _post(
        self,
        request: SoakRequest,
        event: dict[str, Any],
        *,
        retry_num: int | None,
        avoid_first: bool = False,
    ) -> int:
        app = self.replicas.pick(avoid=self._first_url.get(request.index) if avoid_first else None)
        if app is None:
            request.acks.append(0)
            return 0
        if retry_num is None:
            self._first_url[request.index] = app.url
        driver = SlackDriver(app_url=app.url, signing_secret=SECRET, timeout=ACK_TIMEOUT_S)
        try:
            resp = await driver.post_event(
                event,
                event_id=request.event_id,
                retry_num=retry_num,
                retry_reason=None if retry_num is None else "http_timeout",
            )
            status = resp.status_code
        except httpx.HTTPError:
            status = 0  # refused or cut off: its replica was just killed
        request.acks.append(status)
        return status


async def send_all(
    sender: Sender, site: MediaSite, slack: FakeSlack, video: bytes, args: argparse.Namespace
) -> list[SoakRequest]:
    requests: list[SoakRequest] = []
    tasks = []
    for i in range(args.gists):
        kind: Kind = "upload" if i % 2 else "link"
        request = SoakRequest(index=i, kind=kind, name=f"{kind}-{i:03d}.mp4", ts=next_ts())
        body = distinct_video(video, i)
        if kind == "upload":
            file = slack.add_file(request.name, body, channel=CHANNEL)
            event = message_event(CHANNEL, request.ts or "", "fresh cut", files=[file])
        else:
            site.videos[request.name] = body
            request.url = f"{site.origin}/media/{request.name}"
            event = message_event(CHANNEL, request.ts or "", f"have a look {request.url}")
        requests.append(request)
        tasks.append(asyncio.create_task(sender.event(request, event)))
        await asyncio.sleep(args.interval)
    await asyncio.gather(*tasks)
    return requests


def _seconds(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p90": None, "max": None}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 2),
        "max": round(ordered[-1], 2),
    }


async def one_run(
    name: str, n_replicas: int, kills: bool, args: argparse.Namespace, video: bytes
) -> dict[str, Any]:
    rng = random.Random(f"{args.seed}-{name}")
    slack = FakeSlack(bot_token="xoxb-soak")
    tl = FakeTwelveLabs(
        api_key="tl-soak-key",
        asset_processing_s=args.asset_s,
        task_processing_s=args.task_s,
        index_processing_s=args.asset_s,
    )
    site = MediaSite()
    tmp = Path(tempfile.mkdtemp(prefix="replica-soak-"))
    schema = create_schema(PG_URL)
    table = JobsTable(schema_url(PG_URL, schema))
    replicas = Replicas(
        slack,
        tl,
        tmp,
        schema_url(PG_URL, schema),
        app_overrides(args.lease_s),
        name,
        apps=[None] * n_replicas,
    )
    for slot in range(n_replicas):
        replicas.log_path(slot).unlink(missing_ok=True)
    watch = Watch(table, args.lease_s)
    stop = asyncio.Event()
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        slack.start()
        tl.start()
        await site.start()
        await asyncio.gather(*(replicas.start(i) for i in range(n_replicas)))
        started = time.monotonic()
        first_sent = time.time()
        background = [asyncio.create_task(watching(watch, stop))]
        if kills:
            background.append(
                asyncio.create_task(
                    killing(replicas, watch, stop, rng, args.kill_every, args.restart_after)
                )
            )
        requests = await send_all(Sender(replicas, slack, rng), site, slack, video, args)
        deadline = started + args.timeout
        while time.monotonic() < deadline:
            if all_settled(slack, requests):
                break
            await asyncio.sleep(0.5)
        settled_s = time.monotonic() - started
        while time.monotonic() < deadline:  # then until no job is left unfinished
            if not any(r.state in ("queued", "running") for r in watch.rows):
                break
            await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*background)
        await asyncio.sleep(2.0)  # a late duplicate would show now
        await watch.look()
        figures = tally(slack, tl, requests)
        last_result = max((s for s in _result_times(slack, requests)), default=first_sent)
        wall = max(1e-9, last_result - first_sent)
        return {
            "run": name,
            "replicas": n_replicas,
            "kills": len(watch.kills),
            "replica_starts": replicas.started,
            **{k: v for k, v in figures.items() if k != "per_request"},
            "settled_s": round(settled_s, 1),
            "all_settled": all_settled(slack, requests),
            "first_send_to_last_result_s": round(wall, 1),
            "throughput_gists_per_s": round(figures["delivered_exactly_once"] / wall, 2),
            "takeover_s": _seconds(watch.claim_after_kill_s()),
            "claim_after_lease_expiry_s": _seconds(watch.claim_after_expiry_s()),
            "next_step_after_kill_s": _seconds(watch.progress_after_kill_s()),
            "orphaned_jobs": sum(len(k.orphans) for k in watch.kills),
            "orphans_never_taken_over": watch.never_claimed(),
            "kills_detail": [
                {
                    "at_s": round(k.at - first_sent, 1),
                    "slot": k.slot,
                    "orphans": len(k.orphans),
                    "claims_per_replica": spread,
                }
                for k, spread in zip(watch.kills, watch.claims_per_kill(), strict=True)
            ],
            "job_states": _count(r.state for r in watch.rows),
            "job_errors": _count(
                str(r.data.get("error_code")) for r in watch.rows if r.data.get("error_code")
            ),
            "loadavg_before": load_before,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "per_request": figures["per_request"] if args.per_request else None,
        }
    finally:
        stop.set()
        await replicas.stop()
        await site.stop()
        slack.stop()
        tl.stop()
        table.close()
        drop_schema(schema, PG_URL)
        shutil.rmtree(tmp, ignore_errors=True)


def _result_times(slack: FakeSlack, requests: list[SoakRequest]) -> list[float]:
    out = []
    for request in requests:
        for message in slack.thread(CHANNEL, request.ts or ""):
            if "gist_regenerate" in str(message.blocks):
                out.append(message.updated_at or message.posted_at)
    return out


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


ROWS = (
    ("replicas", "replicas"),
    ("kills (SIGKILL)", "kills"),
    ("requests", "requests"),
    ("delivered exactly once", "delivered_exactly_once"),
    ("lost (no result, no error)", "lost_no_result_no_error"),
    ("error shown, no result", "error_shown_no_result"),
    ("duplicate result messages", "duplicate_results"),
    ("extra bot messages in threads", "duplicate_thread_messages"),
    ("placeholders left working", "placeholders_left_working"),
    ("duplicate TL assets", "duplicate_assets"),
    ("duplicate TL analysis tasks", "duplicate_tasks"),
    ("jobs orphaned by kills", "orphaned_jobs"),
    ("  never taken over", "orphans_never_taken_over"),
    ("redeliveries sent", "redeliveries"),
    ("first send → last result (s)", "first_send_to_last_result_s"),
    ("throughput (gists/s)", "throughput_gists_per_s"),
)

TIMES = (
    ("takeover: kill → claim", "takeover_s"),
    ("  lease expiry → claim", "claim_after_lease_expiry_s"),
    ("kill → next durable step", "next_step_after_kill_s"),
)


def table(runs: list[dict[str, Any]]) -> str:
    lines = [f"{'':34}" + "".join(f"{r['run']:>14}" for r in runs)]
    for label, key in ROWS:
        lines.append(f"{label:34}" + "".join(f"{r.get(key)!s:>14}" for r in runs))
    for label, key in TIMES:
        for stat in ("p50", "max"):
            cells = "".join(f"{r[key][stat]!s:>14}" for r in runs)
            lines.append(f"{label + ' ' + stat + ' (s)':34}" + cells)
    for when in ("before", "after"):
        cells = "".join(f"{r['loadavg_' + when][0]:>14}" for r in runs)
        lines.append(f"{'load average ' + when + ' (1 min)':34}" + cells)
    return "\n".join(lines)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.replica_soak", description=__doc__)
    parser.add_argument("--gists", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--kill-every", type=float, default=10.0)
    parser.add_argument("--restart-after", type=float, default=5.0)
    parser.add_argument("--lease-s", type=float, default=5.0, help="GIST_LEASE_S")
    parser.add_argument("--interval", type=float, default=0.05, help="s between requests")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0, help="bound on each run, s")
    parser.add_argument("--asset-s", type=float, default=2.0, help="fake: asset processing")
    parser.add_argument("--task-s", type=float, default=4.0, help="fake: analysis task")
    parser.add_argument("--calm", action="store_true", help="also N replicas without kills")
    parser.add_argument("--skip-reference", action="store_true", help="no 1-replica run")
    parser.add_argument("--per-request", action="store_true", help="per-request rows in JSON")
    args = parser.parse_args(argv)
    problem = pg_problem(PG_URL)
    if problem is not None:
        raise SystemExit(f"replica soak needs PostgreSQL: {problem}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    video = make_video(5.0).read_bytes()
    runs = [asyncio.run(one_run("kills", args.replicas, True, args, video))]
    if args.calm:
        runs.append(asyncio.run(one_run("calm", args.replicas, False, args, video)))
    if not args.skip_reference:
        runs.append(asyncio.run(one_run("one", 1, False, args, video)))
    result: dict[str, Any] = {
        "benchmark": "replica_soak",
        "machine": machine_info(),
        "settings": vars(args),
        "app_settings": app_overrides(args.lease_s),
        "runs": runs,
    }
    one = next((r for r in runs if r["run"] == "one"), None)
    for r in runs:
        if one is not None and r is not one and one["throughput_gists_per_s"]:
            ratio = r["throughput_gists_per_s"] / one["throughput_gists_per_s"]
            result[f"throughput_ratio_{r['run']}_vs_one"] = round(ratio, 2)
    result["path"] = str(write_result("replica_soak", result))
    return result


def exactly_once(result: dict[str, Any]) -> bool:
    """The goal: every gist delivered once, nothing lost or doubled, no duplicate work."""
    return all(
        r["delivered_exactly_once"] == r["requests"]
        and r["duplicate_assets"] == 0
        and r["duplicate_tasks"] == 0
        and r["placeholders_left_working"] == 0
        and r["orphans_never_taken_over"] == 0
        for r in result["runs"]
    )


def summary(result: dict[str, Any]) -> str:
    lines = ["replica soak", table(result["runs"])]
    for key, value in result.items():
        if key.startswith("throughput_ratio_"):
            run_name = key.removeprefix("throughput_ratio_").removesuffix("_vs_one")
            lines.append(f"throughput {run_name} / one: {value}")
    lines.append(f"JSON: {result['path']}")
    return "\n".join(lines)


def main() -> int:
    result = run(sys.argv[1:])
    print(summary(result))
    return 0 if exactly_once(result) else 1


if __name__ == "__main__":
    sys.exit(main())
