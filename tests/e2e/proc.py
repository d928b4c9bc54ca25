"""Run `gistbot run` as a real subprocess (so it can be SIGKILLed), and the kill points of a
job: predicates over what the fakes saw and what the job store holds."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import FakeTwelveLabs

REPO = Path(__file__).resolve().parents[2]


def app_env(slack: FakeSlack, tl: FakeTwelveLabs, db: Path, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO),
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": slack.api_url,
        "SLACK_FILE_HOSTS": "127.0.0.1,localhost",
        "TWELVELABS_API_KEY": tl.api_key,
        "TWELVELABS_BASE_URL": tl.base_url,
        "HOST": "127.0.0.1",
        "PORT": "0",
        "GIST_DB_PATH": str(db),
        "GIST_TMP_DIR": str(db.parent / "tmp"),
        "GIST_PROGRESS_INTERVAL_S": "0.3",
        "GIST_POLL_INITIAL_S": "0.05",
        "GIST_POLL_MAX_INTERVAL_S": "0.2",
        "TWELVELABS_BACKOFF_INITIAL_S": "0.01",
        "SLACK_BACKOFF_INITIAL_S": "0.01",
        "GIST_RETRY_INITIAL_S": "0.05",
        "GIST_RETRY_MAX_INTERVAL_S": "0.3",
        "GIST_ALLOW_PRIVATE_URLS": "true",
        "GIST_SHUTDOWN_GRACE_S": "2",
        "LOG_LEVEL": "DEBUG",
    }
    env.update(overrides)
    return env


class AppProcess:
    """One `gistbot run` process; stderr (the logs) is appended to `log_path`."""

    def __init__(self, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.env, self.cwd, self.log_path = env, cwd, log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self, timeout_s: float = 30.0) -> str:
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run",
            cwd=self.cwd, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=log,
        )  # fmt: skip
        log.close()
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout_s):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError(f"gistbot exited early; see {self.log_path}")
                if line.startswith("gistbot ready on "):
                    self.url = line.split()[-1]
                    return self.url

    async def kill(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self, timeout_s: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(timeout_s):
            return await self.proc.wait()


def stored_jobs(db: Path) -> list[dict[str, Any]]:
    """Read the app's job store from outside (WAL allows a concurrent reader)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    try:
        rows = conn.execute("SELECT data FROM jobs").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
    return [json.loads(r[0]) for r in rows]


@dataclass(frozen=True)
class KillPoint:
    name: str
    reached: Callable[[FakeSlack, FakeTwelveLabs, Path, str], bool]


def _job_flag(flag: str) -> Callable[[FakeSlack, FakeTwelveLabs, Path, str], bool]:
    def check(slack: FakeSlack, tl: FakeTwelveLabs, db: Path, channel: str) -> bool:
        return any(job.get(flag) for job in stored_jobs(db))

    return check


def _result_posted(slack: FakeSlack, tl: FakeTwelveLabs, db: Path, channel: str) -> bool:
    return any("gist_regenerate" in str(m.blocks) for m in slack.messages(channel))


KILL_POINTS = [
    KillPoint("accepted", lambda s, t, d, c: bool(stored_jobs(d))),
    KillPoint("placeholder_posted", lambda s, t, d, c: bool(s.calls("chat.postMessage"))),
    KillPoint("placeholder_saved", lambda s, t, d, c: any(
        j["slack"].get("placeholder_ts") for j in stored_jobs(d))),
    KillPoint("downloading", lambda s, t, d, c: bool(s.downloads())),
    KillPoint("asset_requested", lambda s, t, d, c: t.count("POST", "/assets") > 0),
    KillPoint("asset_saved", _job_flag("asset_id")),
    KillPoint("asset_ready", _job_flag("asset_ready")),
    KillPoint("task_requested", lambda s, t, d, c: t.count("POST", "/analyze/tasks") > 0),
    KillPoint("task_saved", _job_flag("task_id")),
    KillPoint("task_ready", lambda s, t, d, c: bool(t.mark_task_ready_at)),
    KillPoint("gist_saved", _job_flag("gist")),
    KillPoint("result_posted", _result_posted),
    KillPoint("done", lambda s, t, d, c: any(j["state"] == "done" for j in stored_jobs(d))),
]  # fmt: skip


async def wait_for(
    predicate: Callable[[], bool], timeout_s: float, interval: float = 0.002
) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return predicate()
