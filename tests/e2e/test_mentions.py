"""@-mentions: a link in the mention, a video at the top of the thread, nothing to do."""

from __future__ import annotations

from tests.e2e.conftest import CHANNEL, Harness, until
from tests.slack_driver import app_mention_event, message_event
from tests.videos import make_video


async def test_mention_in_thread_gists_the_parent_video(harness: Harness) -> None:
    file = harness.slack.add_file("demo.mp4", make_video(5.0).read_bytes(), channel=CHANNEL)
    parent = message_event(CHANNEL, "1700000100.000100", "new cut", files=[file])
    harness.slack.add_user_message(CHANNEL, parent)
    # The parent was never delivered as an event: only the mention asks for it.
    mention = app_mention_event(
        CHANNEL, "1700000101.000100", "<@UBOT> hashtags please", thread_ts="1700000100.000100"
    )
    resp = await harness.driver.post_event(mention)
    assert resp.status_code == 200
    results = await until(lambda: harness.results("1700000100.000100"))
    assert len(results) == 1
    text = str(results[0].blocks)
    assert "Hashtags" in text and "Topics" not in text  # only what was asked for


async def test_mention_and_message_events_for_one_link_make_one_job(
    harness: Harness, video_server: str
) -> None:
    url = f"{video_server}/media/both.mp4"
    ts = "1700000200.000100"
    await harness.driver.post_event(app_mention_event(CHANNEL, ts, f"<@UBOT> <{url}>"))
    await harness.driver.post_event(message_event(CHANNEL, ts, f"<@UBOT> <{url}>"))
    await until(lambda: harness.results(ts))
    await harness.running.runner.wait_idle(5)
    assert len(harness.results(ts)) == 1
    assert harness.tl.count("POST", "/analyze/tasks") == 1


async def test_mention_without_video_explains(harness: Harness) -> None:
    ts = "1700000300.000100"
    await harness.driver.post_event(app_mention_event(CHANNEL, ts, "<@UBOT> hi"))
    notes = await until(lambda: harness.thread(ts))
    assert "video" in notes[0].text.lower()
    assert harness.tl.calls == []
