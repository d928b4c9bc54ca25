"""A video in a channel → exactly one gist in its thread, with progress on the way."""

from __future__ import annotations

from tests.e2e.conftest import CHANNEL, Harness, until
from tests.slack_driver import message_event
from tests.videos import make_video


async def test_upload_gets_one_gist_in_its_thread(harness: Harness) -> None:
    video = make_video(5.0).read_bytes()
    file = harness.slack.add_file("standup.mp4", video, channel=CHANNEL)
    event = message_event(CHANNEL, "1700000001.000100", "our standup", files=[file])

    resp = await harness.driver.post_event(event)
    assert resp.status_code == 200

    results = await until(lambda: harness.results("1700000001.000100"))
    assert len(results) == 1
    blocks = str(results[0].blocks)
    assert "Standup" in blocks or "standup" in blocks  # the fake derives it from the name
    assert "#" in blocks
    assert harness.slack.reactions(CHANNEL, "1700000001.000100") >= {"white_check_mark"}
    assert "eyes" not in harness.slack.reactions(CHANNEL, "1700000001.000100")
    # The placeholder was edited into the result: one bot message in the thread.
    assert len(harness.thread("1700000001.000100")) == 1
    assert harness.tl.count("POST", "/assets") == 1
    assert harness.tl.count("POST", "/analyze/tasks") == 1


async def test_direct_link_is_gisted_via_url_asset(harness: Harness, video_server: str) -> None:
    url = f"{video_server}/media/launch.mp4"
    event = message_event(CHANNEL, "1700000002.000100", f"look <{url}>")
    await harness.driver.post_event(event)
    results = await until(lambda: harness.results("1700000002.000100"))
    assert len(results) == 1
    [create] = [c for c in harness.tl.calls if c.method == "POST" and c.template == "/assets"]
    assert create.body["method"] == "url" and create.body["url"] == url
