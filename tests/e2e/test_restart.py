"""Kill the app (SIGKILL) at every durable step of a job and start it again: exactly one
result in the thread, no orphan placeholder, and TwelveLabs saw one asset and one task."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.proc import KILL_POINTS, AppProcess, KillPoint, app_env, stored_jobs, wait_for
from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
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


def _parent_posted(slack: FakeSlack, tl: FakeTwelveLabs, db: Path, channel: str) -> bool:
    return any(not c.params.get("thread_ts") for c in slack.calls("chat.postMessage"))


def _thread_reply_posted(slack: FakeSlack, tl: FakeTwelveLabs, db: Path, channel: str) -> bool:
    return any(c.params.get("thread_ts") for c in slack.calls("chat.postMessage"))


COMMAND_POINTS = [
    KillPoint("command_accepted", lambda s, t, d, c: bool(stored_jobs(d))),
    KillPoint("parent_posted", _parent_posted),
    KillPoint("placeholder_posted", _thread_reply_posted),
    KillPoint("task_requested", lambda s, t, d, c: t.count("POST", "/analyze/tasks") > 0),
    *[p for p in KILL_POINTS if p.name == "result_posted"],
]


@pytest.mark.parametrize("point", COMMAND_POINTS, ids=[p.name for p in COMMAND_POINTS])
async def test_command_killed_at_each_step_ends_in_one_parent_and_one_result(
    point: KillPoint, fake_slack: FakeSlack, slow_tl: FakeTwelveLabs, tmp_path: Path,
    video_server: str,
) -> None:  # fmt: skip
    db = tmp_path / "gistbot.sqlite3"
    app = AppProcess(app_env(fake_slack, slow_tl, db), tmp_path, tmp_path / "app.log")
    url = await app.start()
    driver = SlackDriver(app_url=url, signing_secret="test-signing-secret")
    resp = await driver.slash_command(
        f"{video_server}/media/cmd.mp4", channel=CHANNEL, user="U5",
        response_url=fake_slack.new_response_url(),
    )  # fmt: skip
    assert resp.status_code == 200
    assert await wait_for(lambda: point.reached(fake_slack, slow_tl, db, CHANNEL), timeout_s=20)
    await app.kill()
    app2 = AppProcess(app_env(fake_slack, slow_tl, db), tmp_path, tmp_path / "app.log")
    await app2.start()
    try:
        assert await wait_for(
            lambda: any(j["state"] == "done" for j in stored_jobs(db)), timeout_s=30
        )
        await asyncio.sleep(0.3)
    finally:
        assert await app2.terminate() == 0
    parents = [m for m in fake_slack.messages(CHANNEL) if m.thread_ts is None]
    assert len(parents) == 1
    thread = fake_slack.thread(CHANNEL, parents[0].ts)
    assert len(thread) == 1 and "gist_regenerate" in str(thread[0].blocks)
    assert (len(slow_tl.assets), len(slow_tl.tasks)) == (1, 1)


# The windows between "the other side did it" and "we saved that it did": the fakes carry
# out the call, then hold the answer while the app is killed. Only a lookup on restart
# (message metadata, the asset's user_metadata) keeps these from doubling.
async def _kill_in_window(
    slack: FakeSlack, tl: FakeTwelveLabs, tmp: Path, reached: Callable[[], bool], *,
    command_url: str | None = None,
) -> str:  # fmt: skip
    """Start, post, kill once `reached()`, restart; return the thread's parent ts."""
    db = tmp / "gistbot.sqlite3"
    app = AppProcess(app_env(slack, tl, db), tmp, tmp / "app.log")
    driver = SlackDriver(app_url=await app.start(), signing_secret="test-signing-secret")
    ts = "1700000900.000100"
    if command_url:
        await driver.slash_command(command_url, channel=CHANNEL, user="U5",
                                   response_url=slack.new_response_url())  # fmt: skip
    else:
        file = slack.add_file("window.mp4", make_video(5.0).read_bytes(), channel=CHANNEL)
        await driver.post_event(message_event(CHANNEL, ts, "x", files=[file]))
    assert await wait_for(reached, timeout_s=20)
    await asyncio.sleep(0.2)  # the app is now waiting for the held answer
    await app.kill()
    app2 = AppProcess(app_env(slack, tl, db), tmp, tmp / "app.log")
    await app2.start()
    try:
        assert await wait_for(lambda: any(j["state"] == "done" for j in stored_jobs(db)), 30)
        await asyncio.sleep(0.3)
    finally:
        await app2.terminate()
    return ts


async def test_killed_before_learning_the_placeholder_ts(
    fake_slack: FakeSlack, slow_tl: FakeTwelveLabs, tmp_path: Path
) -> None:
    fake_slack.stall("chat.postMessage", 5.0)
    ts = await _kill_in_window(
        fake_slack, slow_tl, tmp_path, lambda: bool(fake_slack.calls("chat.postMessage"))
    )
    thread = fake_slack.thread(CHANNEL, ts)
    assert len(thread) == 1 and "gist_regenerate" in str(thread[0].blocks)
    assert "found its placeholder" in (tmp_path / "app.log").read_text()


async def test_killed_before_learning_the_asset_id(
    fake_slack: FakeSlack, slow_tl: FakeTwelveLabs, tmp_path: Path
) -> None:
    slow_tl.add_fault(Fault("POST", "/assets", "stall-after", delay_s=5.0))
    ts = await _kill_in_window(fake_slack, slow_tl, tmp_path, lambda: len(slow_tl.assets) == 1)
    assert len(slow_tl.assets) == 1 and len(slow_tl.tasks) == 1
    assert len(fake_slack.thread(CHANNEL, ts)) == 1
    assert "found its asset" in (tmp_path / "app.log").read_text()


async def test_killed_before_learning_the_analysis_task_id(
    fake_slack: FakeSlack, slow_tl: FakeTwelveLabs, tmp_path: Path
) -> None:
    slow_tl.add_fault(Fault("POST", "/analyze/tasks", "stall-after", delay_s=5.0))
    await _kill_in_window(fake_slack, slow_tl, tmp_path, lambda: len(slow_tl.tasks) == 1)
    # The same Idempotency-Key on the re-sent POST returns the task created before the kill.
    assert len(slow_tl.tasks) == 1 and slow_tl.count("POST", "/analyze/tasks") == 2


async def test_killed_before_learning_the_command_message_ts(
    fake_slack: FakeSlack, slow_tl: FakeTwelveLabs, tmp_path: Path, video_server: str
) -> None:
    fake_slack.stall("chat.postMessage", 5.0)
    await _kill_in_window(
        fake_slack, slow_tl, tmp_path, lambda: bool(fake_slack.calls("chat.postMessage")),
        command_url=f"{video_server}/media/window.mp4",
    )  # fmt: skip
    parents = [m for m in fake_slack.messages(CHANNEL) if m.thread_ts is None]
    assert len(parents) == 1
    assert len(fake_slack.thread(CHANNEL, parents[0].ts)) == 1
    assert "found its /gist message" in (tmp_path / "app.log").read_text()
