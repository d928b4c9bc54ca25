"""Job behaviour seen from Slack: cache, single-flight, progress edits, deadlines, quotas,
channel policy, per-message cap, and a graceful SIGTERM."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import CHANNEL, Harness, until
from tests.e2e.proc import AppProcess, app_env, stored_jobs, wait_for
from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.slack_driver import SlackDriver, message_event
from tests.videos import make_video


async def test_repeated_video_answers_from_cache_with_no_twelvelabs_calls(
    harness: Harness,
) -> None:
    video = make_video(5.0).read_bytes()
    first = harness.slack.add_file("repeat.mp4", video, channel=CHANNEL)
    await harness.driver.post_event(message_event(CHANNEL, "1700000600.000100", "a", files=[first]))
    await until(lambda: harness.results("1700000600.000100"))
    calls = len(harness.tl.calls)
    # Same bytes, new Slack file, new message: cache by SHA-256.
    again = harness.slack.add_file("repeat-copy.mp4", video, channel=CHANNEL)
    await harness.driver.post_event(message_event(CHANNEL, "1700000601.000100", "b", files=[again]))
    [cached] = await until(lambda: harness.results("1700000601.000100"))
    assert "cache" in str(cached.blocks).lower()
    assert len(harness.tl.calls) == calls  # zero TwelveLabs calls


async def test_same_link_twice_in_flight_shares_one_piece_of_work(
    harness: Harness, video_server: str
) -> None:
    harness.tl.task_processing_s = 0.8
    url = f"{video_server}/media/shared.mp4"
    await harness.driver.post_event(message_event(CHANNEL, "1700000700.000100", f"<{url}>"))
    await harness.driver.post_event(message_event(CHANNEL, "1700000701.000100", f"<{url}>"))
    await until(lambda: harness.results("1700000700.000100") and
                harness.results("1700000701.000100"))  # fmt: skip
    assert harness.tl.count("POST", "/assets") == 1
    assert harness.tl.count("POST", "/analyze/tasks") == 1


async def test_placeholder_shows_progress_then_becomes_the_result(
    make_harness: object, video_server: str
) -> None:
    harness: Harness = await make_harness(gist_progress_interval_s=0.2)  # type: ignore[operator]
    harness.tl.asset_processing_s = 1.0
    harness.tl.task_processing_s = 1.0
    ts = "1700000800.000100"
    await harness.driver.post_event(
        message_event(CHANNEL, ts, f"<{video_server}/media/progress.mp4>")
    )
    [result] = await until(lambda: harness.results(ts))
    shown = " ".join(str(v.blocks) for v in result.edits)
    assert "Processing" in shown or "Analysing" in shown
    assert "elapsed" in shown
    assert len(harness.thread(ts)) == 1


async def test_job_deadline_ends_in_a_visible_timeout_with_retry(
    make_harness: object, video_server: str
) -> None:
    harness: Harness = await make_harness(gist_job_timeout_s=1.0)  # type: ignore[operator]
    harness.tl.task_processing_s = 5.0
    ts = "1700000900.000100"
    await harness.driver.post_event(message_event(CHANNEL, ts, f"<{video_server}/media/slow.mp4>"))
    [error] = await until(lambda: harness.errors(ts))
    assert "too long" in str(error.blocks) and "gist_retry" in str(error.blocks)
    assert "x" in harness.slack.reactions(CHANNEL, ts)


async def test_daily_quota_refuses_and_usage_shows_totals(
    make_harness: object, video_server: str
) -> None:
    # A 5 s video is 0.083 min: the second one crosses a 0.1 min daily limit.
    harness: Harness = await make_harness(gist_user_daily_minutes=0.1)  # type: ignore[operator]
    await harness.driver.post_event(
        message_event(CHANNEL, "1700001000.000100", f"<{video_server}/media/q1.mp4>", user="U7")
    )
    await until(lambda: harness.results("1700001000.000100"))
    await harness.running.runner.wait_idle(5)
    await harness.driver.post_event(
        message_event(CHANNEL, "1700001001.000100", f"<{video_server}/media/q2.mp4>", user="U7")
    )
    [error] = await until(lambda: harness.errors("1700001001.000100"))
    assert "limit" in str(error.blocks) and "gist_retry" not in str(error.blocks)
    resp = await harness.driver.slash_command(
        "usage", channel=CHANNEL, user="U7", response_url=harness.slack.new_response_url()
    )
    assert "0.1" in resp.text or "0.08" in resp.text  # used vs. limit, in minutes


async def test_channel_policy_and_per_message_cap(make_harness: object, video_server: str) -> None:
    harness: Harness = await make_harness(  # type: ignore[operator]
        gist_passive_channels=[CHANNEL], gist_max_videos_per_message=2
    )
    # Passive gisting is off in other channels.
    await harness.driver.post_event(
        message_event("C0OTHER", "1700001100.000100", f"<{video_server}/media/o.mp4>")
    )
    links = " ".join(f"<{video_server}/media/m{i}.mp4>" for i in range(4))
    await harness.driver.post_event(message_event(CHANNEL, "1700001101.000100", links))
    await until(lambda: len(harness.results("1700001101.000100")) == 2)
    notes = [m for m in harness.thread("1700001101.000100") if "Skipped 2 more" in m.text]
    assert len(notes) == 1
    assert harness.slack.messages("C0OTHER") == []


async def test_sigterm_stops_intake_and_the_rest_resumes(
    fake_slack: FakeSlack, fake_tl: FakeTwelveLabs, tmp_path: Path
) -> None:
    fake_tl.task_processing_s = 3.0
    db = tmp_path / "gistbot.sqlite3"
    app = AppProcess(app_env(fake_slack, fake_tl, db), tmp_path, tmp_path / "app.log")
    url = await app.start()
    file = fake_slack.add_file("term.mp4", make_video(5.0).read_bytes(), channel=CHANNEL)
    ts = "1700001200.000100"
    driver = SlackDriver(app_url=url, signing_secret="test-signing-secret")
    await driver.post_event(message_event(CHANNEL, ts, "x", files=[file]))
    assert await wait_for(lambda: fake_tl.count("POST", "/analyze/tasks") == 1, 20)
    assert await app.terminate() == 0
    [job] = stored_jobs(db)
    # Stopped within its grace period, before the 3 s analysis ended: still resumable,
    # neither failed nor finished.
    assert job["state"] == "running" and job["task_id"] and not job["result_posted"]
    app2 = AppProcess(app_env(fake_slack, fake_tl, db), tmp_path, tmp_path / "app.log")
    await app2.start()
    try:
        assert await wait_for(lambda: stored_jobs(db)[0]["state"] == "done", 20)
    finally:
        await app2.terminate()
    assert sum("gist_regenerate" in str(m.blocks) for m in fake_slack.thread(CHANNEL, ts)) == 1
    assert fake_tl.count("POST", "/analyze/tasks") == 1


async def test_a_known_link_is_answered_in_one_post(harness: Harness, video_server: str) -> None:
    url = f"{video_server}/media/known.mp4"
    await harness.driver.post_event(message_event(CHANNEL, "1700000650.000100", f"<{url}>"))
    await until(lambda: harness.results("1700000650.000100"))
    posts = len(harness.slack.calls("chat.postMessage"))
    await harness.driver.post_event(message_event(CHANNEL, "1700000651.000100", f"<{url}>"))
    [cached] = await until(lambda: harness.results("1700000651.000100"))
    # Known already: the answer is the thread's one post, never a placeholder edited into it.
    assert cached.edits == [] and len(harness.thread("1700000651.000100")) == 1
    assert len(harness.slack.calls("chat.postMessage")) == posts + 1
