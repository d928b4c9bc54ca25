"""Kill the app (SIGKILL) at every durable step of a job and start it again: exactly one
result in the thread, no orphan placeholder, and TwelveLabs saw one asset and one task."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.proc import KILL_POINTS, AppProcess, KillPoint, app_env, stored_jobs, wait_for
from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.slack_driver import SlackDriver, message_event
from tests.videos import make_video

CHANNEL = "C0001"


async def kill_and_restart(
    point: KillPoint, slack: FakeSlack, tl: FakeTwelveLabs, tmp: Path, *, source: str,
    media_url: str | None = None,
) -> dict[str, int]:  # fmt: skip
    """One run: post a video, SIGKILL when `point` is reached, restart, wait for the end."""
    db = tmp / "gistbot.sqlite3"
    ts = "1700000500.000100"
    app = AppProcess(app_env(slack, tl, db), tmp, tmp / "app.log")
    url = await app.start()
    driver = SlackDriver(app_url=url, signing_secret="test-signing-secret")
    if source == "upload":
        file = slack.add_file("restart.mp4", make_video(5.0).read_bytes(), channel=CHANNEL)
        event = message_event(CHANNEL, ts, "kill me", files=[file])
    else:
        event = message_event(CHANNEL, ts, f"<{media_url}>")
    resp = await driver.post_event(event)
    assert resp.status_code == 200
    reached = await wait_for(lambda: point.reached(slack, tl, db, CHANNEL), timeout_s=20)
    await app.kill()
    assert reached, f"kill point {point.name} never reached"

    # Slack will not redeliver an event it got a 200 for: the job must resume on its own.
    app2 = AppProcess(app_env(slack, tl, db), tmp, tmp / "app.log")
    await app2.start()
    try:
        finished = await wait_for(
            lambda: any(j["state"] in ("done", "failed") for j in stored_jobs(db)), timeout_s=30
        )
        assert finished, "the job never finished after the restart"
        await asyncio.sleep(0.3)  # anything still to come (a second reply) would show now
    finally:
        assert await app2.terminate() == 0
    thread = slack.thread(CHANNEL, ts)
    [job] = stored_jobs(db)
    return {
        "state_done": int(job["state"] == "done"),
        "results": sum("gist_regenerate" in str(m.blocks) for m in thread),
        "bot_messages": len(thread),
        "assets": len(tl.assets),
        "tasks": len(tl.tasks),
        "checkmark": int("white_check_mark" in slack.reactions(CHANNEL, ts)),
    }


@pytest.fixture
def slow_tl(fake_tl: FakeTwelveLabs) -> FakeTwelveLabs:
    # Long enough that each step is observable from outside the process.
    fake_tl.asset_processing_s = 0.6
    fake_tl.task_processing_s = 0.8
    return fake_tl


EXPECTED = {"state_done": 1, "results": 1, "bot_messages": 1, "assets": 1, "tasks": 1,
            "checkmark": 1}  # fmt: skip


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.name for p in KILL_POINTS])
async def test_upload_killed_at_each_step_ends_in_exactly_one_result(
    point: KillPoint, fake_slack: FakeSlack, slow_tl: FakeTwelveLabs, tmp_path: Path
) -> None:
    outcome = await kill_and_restart(point, fake_slack, slow_tl, tmp_path, source="upload")
    assert outcome == EXPECTED


LINK_POINTS = [p for p in KILL_POINTS if p.name in
               ("accepted", "asset_requested", "task_requested", "result_posted")]  # fmt: skip


@pytest.mark.parametrize("point", LINK_POINTS, ids=[p.name for p in LINK_POINTS])
async def test_link_killed_at_each_step_ends_in_exactly_one_result(
    point: KillPoint, fake_slack: FakeSlack, slow_tl: FakeTwelveLabs, tmp_path: Path,
    video_server: str,
) -> None:  # fmt: skip
    outcome = await kill_and_restart(
        point, fake_slack, slow_tl, tmp_path, source="link",
        media_url=f"{video_server}/media/restart.mp4",
    )  # fmt: skip
    assert outcome == EXPECTED
