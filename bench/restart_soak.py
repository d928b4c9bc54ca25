"""Kill-and-restart soak: SIGKILL `gistbot run` at a random durable step (plus a random extra
delay, so kills also land between steps), restart it, and check each run ended in exactly one
result with no duplicate TwelveLabs asset or analysis task.

    .venv/bin/python -m bench.restart_soak --runs 60
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench._common import running_fakes, write_result
from tests.e2e.proc import KILL_POINTS, AppProcess, app_env, stored_jobs, wait_for
from tests.slack_driver import SlackDriver, message_event
from tests.videos import make_video

CHANNEL = "C0001"


async def one_run(run: int, rng: random.Random, video: bytes) -> dict[str, Any]:
    point = rng.choice(KILL_POINTS)
    jitter = rng.choice([0.0, 0.0, rng.uniform(0, 0.05), rng.uniform(0, 0.3)])
    with (
        running_fakes(
            "xoxb-soak", "tl-soak-key", asset_processing_s=0.4, task_processing_s=0.6
        ) as (slack, tl),
        tempfile.TemporaryDirectory(prefix="soak-") as tmp_name,
    ):
        tmp = Path(tmp_name)
        db = tmp / "gistbot.sqlite3"
        ts = f"17000{run:05d}.000100"
        app = AppProcess(app_env(slack, tl, db, LOG_LEVEL="INFO"), tmp, tmp / "app.log")
        url = await app.start()
        file = slack.add_file(f"soak{run}.mp4", video, channel=CHANNEL)
        await SlackDriver(app_url=url, signing_secret="test-signing-secret").post_event(
            message_event(CHANNEL, ts, "soak", files=[file])
        )
        reached = await wait_for(lambda: point.reached(slack, tl, db, CHANNEL), 20)
        await asyncio.sleep(jitter)
        await app.kill()
        app2 = AppProcess(app_env(slack, tl, db, LOG_LEVEL="INFO"), tmp, tmp / "app.log")
        started = time.monotonic()
        await app2.start()
        finished = await wait_for(
            lambda: any(j["state"] in ("done", "failed") for j in stored_jobs(db)), 30
        )
        await asyncio.sleep(0.3)
        await app2.terminate()
        thread = slack.thread(CHANNEL, ts)
        jobs = stored_jobs(db)
        return {
            "run": run,
            "kill_point": point.name,
            "jitter_s": round(jitter, 3),
            "reached": reached,
            "finished": finished,
            "state": jobs[0]["state"] if jobs else None,
            "results": sum("gist_regenerate" in str(m.blocks) for m in thread),
            "bot_messages": len(thread),
            "assets": len(tl.assets),
            "tasks": len(tl.tasks),
            "recovery_s": round(time.monotonic() - started, 2),
        }


def _all_checks_pass(row: dict[str, Any]) -> bool:
    return (
        bool(row["finished"])
        and row["state"] == "done"
        and all(row[key] == 1 for key in ("results", "bot_messages", "assets", "tasks"))
    )


async def main_async(runs: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    video = make_video(5.0).read_bytes()
    rows = [await one_run(i, rng, video) for i in range(runs)]
    ok = [r for r in rows if _all_checks_pass(r)]
    summary = {
        "runs": runs,
        "seed": seed,
        "exactly_one_result": sum(r["results"] == 1 for r in rows),
        "orphan_or_double_messages": sum(r["bot_messages"] != 1 for r in rows),
        "duplicate_assets": sum(max(0, r["assets"] - 1) for r in rows),
        "duplicate_tasks": sum(max(0, r["tasks"] - 1) for r in rows),
        "all_checks_passed": len(ok),
        "kill_points": dict(Counter(r["kill_point"] for r in rows)),
        "rows": rows,
    }
    summary["path"] = str(write_result("restart_soak", summary))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    s = asyncio.run(main_async(args.runs, args.seed))
    print(
        f"restart soak: {s['runs']} runs; exactly one result in {s['exactly_one_result']}; "
        f"orphan/double messages {s['orphan_or_double_messages']}; duplicate assets "
        f"{s['duplicate_assets']}; duplicate tasks {s['duplicate_tasks']}; all checks passed "
        f"in {s['all_checks_passed']}/{s['runs']}"
    )
    print("kill points:", s["kill_points"])


if __name__ == "__main__":
    main()
