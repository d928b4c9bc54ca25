"""The listeners, driven in-process through `AsyncApp.async_dispatch` with signed requests
shaped like Slack's, against the fake Slack and (through the real runner) the fake TwelveLabs.
What each request leaves behind is checked: the ack, the jobs in the store, what was posted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import pytest

from bot.jobs.models import JobState, Trigger
from tests.fakes.twelvelabs import Fault
from tests.jobs.rig import CHANNEL, MediaServer, link_job
from tests.slack.conftest import Bot
from tests.slack_driver import next_ts

MakeBot = Callable[..., Awaitable[Bot]]


def said(resp: httpx.Response) -> str:
    """What an ack says: plain text, or JSON with text and blocks (JSON escapes included)."""
    return resp.text


# --------------------------------------------------------------------------- messages


async def test_video_link_is_persisted_before_the_ack_then_gisted(
    bot: Bot, media: MediaServer
) -> None:
    ts = next_ts()
    resp = await bot.driver.post_event(bot.driver.message_event(CHANNEL, ts, f"{media.url()}"))
    bot.log.append("acked")

    assert resp.status_code == 200
    assert bot.log == ["accept 1/1", "acked"]  # on disk before Slack heard "200"
    [job] = bot.store.added
    assert job.trigger is Trigger.PASSIVE and job.source.url == media.url()
    assert job.slack.thread_ts == ts
    assert bot.driver.last_event_id and await bot.store.has_event(bot.driver.last_event_id)

    await bot.until(lambda: bot.results(ts), "the gist in the thread")
    await bot.idle()
    assert (await bot.stored(job)).state is JobState.DONE
    assert "white_check_mark" in bot.slack.reactions(CHANNEL, ts)


async def test_slack_retry_of_an_event_is_dropped(bot: Bot, media: MediaServer) -> None:
    ts = next_ts()
    event = bot.driver.message_event(CHANNEL, ts, media.url())
    assert (await bot.driver.post_event(event)).status_code == 200
    event_id = bot.driver.last_event_id

    again = await bot.driver.post_event(event, event_id=event_id, retry_num=1, retry_reason="x")
    assert again.status_code == 200 and again.text == ""
    bot.deps.recent_events.clear()  # as after a restart: only the store remembers it
    third = await bot.driver.post_event(event, event_id=event_id, retry_num=2, retry_reason="x")
    assert third.status_code == 200 and third.text == ""

    assert bot.log == ["accept 1/1"]
    await bot.until(lambda: bot.results(ts), "the gist")
    await bot.idle()
    assert len(bot.slack.thread(CHANNEL, ts)) == 1
    assert bot.tl.count("POST", "/assets") == 1


async def test_message_mentioning_the_bot_is_left_to_app_mention(
    bot: Bot, media: MediaServer
) -> None:
    ts = next_ts()
    text = f"<@{bot.slack.bot_user_id}> topics please {media.url()}"
    assert (await bot.driver.post_event(bot.driver.message_event(CHANNEL, ts, text))).is_success
    assert bot.store.added == []  # the message event leaves it alone …

    mention = bot.driver.app_mention_event(CHANNEL, ts, text)
    assert (await bot.driver.post_event(mention)).status_code == 200
    [job] = bot.store.added  # … the app_mention takes it, with the types it names
    assert job.trigger is Trigger.MENTION and [t.value for t in job.types] == ["topic"]
    await bot.until(lambda: bot.results(ts), "the gist")


@pytest.mark.parametrize(
    "make_event",
    [
        lambda d, ts, url: d.message_event(CHANNEL, ts, "lunch, anyone?"),
        lambda d, ts, url: d.message_event(CHANNEL, ts, url, bot_id="B0OTHER"),
        lambda d, ts, url: d.message_changed_event(CHANNEL, ts, f"now with {url}"),
        lambda d, ts, url: d.message_event(CHANNEL, ts, "https://www.youtube.com/watch?v=x"),
    ],
    ids=["chatter", "other-bot", "edit", "hosting-page"],
)
async def test_messages_without_work_store_nothing(
    bot: Bot, media: MediaServer, make_event: Callable[..., dict[str, Any]]
) -> None:
    resp = await bot.driver.post_event(make_event(bot.driver, next_ts(), media.url()))
    assert resp.status_code == 200
    assert bot.log == [] and await bot.store.count() == 0
    assert bot.driver.last_event_id and not await bot.store.has_event(bot.driver.last_event_id)
    assert bot.slack.calls("chat.postMessage") == []


# --------------------------------------------------------------------------- /gist


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("help", "/gist usage"),
        ("", "/gist usage"),
        ("usage", "Usage today"),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "YouTube pages can't be analysed"),
        ("bananas", "I don't know"),
        ("https://cdn.example/a.mp4 https://cdn.example/b.mp4", "One video per /gist"),
    ],
)
async def test_gist_command_answers_in_its_ack(bot: Bot, text: str, answer: str) -> None:
    url = bot.slack.new_response_url(channel=CHANNEL)
    resp = await bot.driver.slash_command(text, channel=CHANNEL, user="U1", response_url=url)
    assert resp.status_code == 200
    assert answer in said(resp)
    assert bot.log == [] and await bot.store.count() == 0


async def test_gist_command_with_a_link_is_persisted_acked_and_gisted(
    bot: Bot, media: MediaServer
) -> None:
    url = bot.slack.new_response_url(channel=CHANNEL)
    resp = await bot.driver.slash_command(
        f"{media.url('cmd.mp4')} title", channel=CHANNEL, user="U1", response_url=url
    )
    bot.log.append("acked")
    assert resp.status_code == 200 and said(resp).startswith("On it: title for http")
    assert bot.log == ["accept 1/1", "acked"]
    [job] = bot.store.added
    assert job.trigger is Trigger.COMMAND and job.slack.response_url == url

    def opener() -> list[Any]:
        return [m for m in bot.slack.messages(CHANNEL) if "asked for a gist" in m.text]

    [top] = await bot.until(opener, "the /gist thread's first message")
    await bot.until(lambda: bot.results(top.ts), "the gist under it")


# --------------------------------------------------------------------------- shortcut


async def test_shortcut_on_a_video_message_then_again(bot: Bot, media: MediaServer) -> None:
    ts = next_ts()
    message = bot.driver.message_event(CHANNEL, ts, f"see {media.url()}")
    first_url = bot.slack.new_response_url(channel=CHANNEL)
    resp = await bot.driver.message_shortcut(
        message, channel=CHANNEL, user="U2", response_url=first_url
    )
    assert resp.status_code == 200
    [job] = bot.store.added
    assert job.trigger is Trigger.SHORTCUT and job.slack.user == "U2"

    second_url = bot.slack.new_response_url(channel=CHANNEL)
    resp = await bot.driver.message_shortcut(
        message, channel=CHANNEL, user="U2", response_url=second_url
    )
    assert resp.status_code == 200
    [note] = await bot.until(lambda: bot.slack.responses(second_url), "the note")
    assert "already on it" in note["text"] and note["response_type"] == "ephemeral"
    assert len(bot.store.added) == 1

    await bot.until(lambda: bot.results(ts), "the gist")
    assert bot.slack.responses(first_url) == []  # nothing to add: the thread has the answer


async def test_shortcut_on_a_message_without_video(bot: Bot) -> None:
    message = bot.driver.message_event(CHANNEL, next_ts(), "just words")
    url = bot.slack.new_response_url(channel=CHANNEL)
    resp = await bot.driver.message_shortcut(message, channel=CHANNEL, user="U2", response_url=url)
    assert resp.status_code == 200
    [note] = await bot.until(lambda: bot.slack.responses(url), "the note")
    assert note["text"] == "I didn't find a video in that message."
    assert await bot.store.count() == 0


# --------------------------------------------------------------------------- buttons


async def test_retry_button_runs_a_failed_job_again_once(bot: Bot, media: MediaServer) -> None:
    bot.tl.add_fault(Fault("POST", "/assets", "401"))  # a refused key: fails, Retry can help
    ts = next_ts()
    await bot.driver.post_event(bot.driver.message_event(CHANNEL, ts, media.url()))
    [error] = await bot.until(lambda: bot.errors(ts), "the failure notice")
    await bot.idle()
    [failed] = bot.store.added
    assert (await bot.stored(failed)).state is JobState.FAILED

    async def click() -> None:
        url = bot.slack.new_response_url(channel=CHANNEL)
        resp = await bot.driver.block_action(
            "gist_retry",
            failed.id,
            channel=CHANNEL,
            message_ts=error.ts,
            user="U3",
            response_url=url,
            thread_ts=ts,
        )
        assert resp.status_code == 200

    await click()
    await click()  # a double click: the first one is already on it
    await bot.until(lambda: bot.results(ts), "the gist in place of the notice")
    await bot.idle()
    assert [j.trigger for j in bot.store.added] == [Trigger.PASSIVE, Trigger.RETRY]
    assert bot.log[-2:] == ["accept 1/1", "accept 0/1"]
    assert [m.ts for m in bot.slack.thread(CHANNEL, ts)] == [error.ts]  # edited, not reposted
    assert bot.tl.count("POST", "/analyze/tasks") == 1


async def test_regenerate_button_makes_a_new_analysis(bot: Bot, media: MediaServer) -> None:
    ts = next_ts()
    await bot.driver.post_event(bot.driver.message_event(CHANNEL, ts, media.url()))
    [result] = await bot.until(lambda: bot.results(ts), "the gist")
    await bot.idle()
    [done] = bot.store.added

    url = bot.slack.new_response_url(channel=CHANNEL)
    resp = await bot.driver.block_action(
        "gist_regenerate",
        done.id,
        channel=CHANNEL,
        message_ts=result.ts,
        user="U3",
        response_url=url,
        thread_ts=ts,
        button_text="Regenerate",
    )
    assert resp.status_code == 200
    [again] = bot.store.added[1:]
    assert again.trigger is Trigger.REGENERATE and again.force_fresh
    await bot.idle()
    assert (await bot.stored(again)).state is JobState.DONE
    assert bot.tl.count("POST", "/analyze/tasks") == 2 and bot.tl.count("POST", "/assets") == 1
    assert len(bot.slack.thread(CHANNEL, ts)) == 1  # the same message, edited


@pytest.mark.parametrize("action_id", ["gist_retry", "gist_regenerate"])
async def test_button_of_a_forgotten_job_says_expired(bot: Bot, action_id: str) -> None:
    url = bot.slack.new_response_url(channel=CHANNEL)
    resp = await bot.driver.block_action(
        action_id, "0" * 32, channel=CHANNEL, message_ts=next_ts(), user="U3", response_url=url
    )
    assert resp.status_code == 200
    [note] = await bot.until(lambda: bot.slack.responses(url), "the note")
    assert note["text"] == "That request has expired. Post the video again."
    assert note["response_type"] == "ephemeral" and note["replace_original"] is False
    assert await bot.store.count() == 0


# --------------------------------------------------------------------------- refusals


async def test_channel_not_allowed_is_refused_everywhere(
    make_bot: MakeBot, media: MediaServer
) -> None:
    bot = await make_bot(gist_allowed_channels=["C0OTHER"])
    disabled = "gistbot isn't enabled in this channel."
    ts = next_ts()
    await bot.driver.post_event(bot.driver.message_event(CHANNEL, ts, media.url()))
    assert bot.log == []  # passive: left alone, silently

    url = bot.slack.new_response_url(channel=CHANNEL)
    resp = await bot.driver.slash_command(media.url(), channel=CHANNEL, user="U1", response_url=url)
    assert resp.status_code == 200 and said(resp) == disabled

    message = bot.driver.message_event(CHANNEL, next_ts(), media.url())
    await bot.driver.message_shortcut(message, channel=CHANNEL, user="U1", response_url=url)
    [note] = await bot.until(lambda: bot.slack.responses(url), "the shortcut's note")
    assert note["text"] == disabled

    mention = bot.driver.app_mention_event(CHANNEL, ts, f"<@{bot.slack.bot_user_id}> {media.url()}")
    await bot.driver.post_event(mention)
    [reply] = await bot.until(lambda: bot.slack.thread(CHANNEL, ts), "the mention's note")
    assert reply.text == disabled
    assert await bot.store.count() == 0


async def test_shutting_down_events_get_503_and_people_are_told(
    bot: Bot, media: MediaServer
) -> None:
    finished = link_job(media.url())
    finished.state = JobState.DONE
    await bot.store.save(finished)  # a result whose Regenerate button gets clicked
    await bot.runner.stop(0)

    resp = await bot.driver.post_event(bot.driver.message_event(CHANNEL, next_ts(), media.url()))
    assert resp.status_code == 503 and resp.headers["retry-after"] == "5"  # Slack redelivers

    restarting = "gistbot is restarting. Try again in a minute."
    url = bot.slack.new_response_url(channel=CHANNEL)
    resp = await bot.driver.slash_command(media.url(), channel=CHANNEL, user="U1", response_url=url)
    assert resp.status_code == 200 and said(resp) == restarting  # Slack never resends those

    message = bot.driver.message_event(CHANNEL, next_ts(), media.url())
    shortcut_url = bot.slack.new_response_url(channel=CHANNEL)
    resp = await bot.driver.message_shortcut(
        message, channel=CHANNEL, user="U1", response_url=shortcut_url
    )
    assert resp.status_code == 200
    click_url = bot.slack.new_response_url(channel=CHANNEL)
    resp = await bot.driver.block_action(
        "gist_regenerate",
        finished.id,
        channel=CHANNEL,
        message_ts=next_ts(),
        user="U1",
        response_url=click_url,
    )
    assert resp.status_code == 200
    for hook in (shortcut_url, click_url):
        [note] = await bot.until(partial(bot.slack.responses, hook), "a note")
        assert note["text"] == restarting
    assert bot.log == [] and await bot.store.count() == 1
