"""A video in a channel → exactly one gist in its thread, with progress on the way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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
    # Reactions follow the edit: wait for them rather than race them.
    await until(
        lambda: harness.slack.reactions(CHANNEL, "1700000001.000100") >= {"white_check_mark"}
    )
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


async def test_shortcut_gists_a_message_the_bot_saw_no_event_for(
    make_harness: Callable[..., Awaitable[Harness]],
) -> None:
    # Passive gisting is off for this channel, so only the shortcut asks.
    harness = await make_harness(gist_passive_channels=["C0ELSEWHERE"])
    file = harness.slack.add_file("pitch.mp4", make_video(5.0).read_bytes(), channel=CHANNEL)
    message = message_event(CHANNEL, "1700000003.000100", "pitch cut", files=[file])
    resp = await harness.driver.message_shortcut(
        message, channel=CHANNEL, user="U9", response_url=harness.slack.new_response_url()
    )
    assert resp.status_code == 200
    [result] = await until(lambda: harness.results("1700000003.000100"))
    assert "<@U9>" in str(result.blocks)  # who asked
    # Asking again while it's done: told so, no second piece of work.
    url = harness.slack.new_response_url()
    await harness.driver.message_shortcut(message, channel=CHANNEL, user="U9", response_url=url)
    [note] = await until(lambda: harness.slack.responses(url))
    assert "already" in note["text"]
    assert harness.tl.count("POST", "/analyze/tasks") == 1


async def test_direct_message_upload_is_gisted(harness: Harness) -> None:
    file = harness.slack.add_file("dm.mp4", make_video(5.0).read_bytes(), channel="D0001")
    event = message_event("D0001", "1700000004.000100", "", files=[file], channel_type="im")
    await harness.driver.post_event(event)
    assert len(await until(lambda: harness.results("1700000004.000100", "D0001"))) == 1
