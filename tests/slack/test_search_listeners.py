"""`/gist search`, its buttons, App Home and the modal, in-process through the real listeners,
against the fake Slack (with membership) and the fake TwelveLabs (with search).

Privacy: videos are shared in a public channel, a private channel, a DM and a group DM; U1 is
in all four, U2 in the public channel and the group DM, U3 in the public channel only. Nothing
from a conversation someone is not in may reach them: not its title, link, id or a count."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot import metrics
from bot.slack.blocks.home import ACTION_OPEN_SEARCH
from bot.slack.blocks.search import ACTION_SEARCH_MORE, ACTION_SEARCH_SHARE
from tests.fakes.twelvelabs import Fault
from tests.search_world import (
    DM,
    GROUP,
    PRIVATE,
    PRIVATE_TRACES,
    PUBLIC,
    ROADMAPS,
    Shared,
    buttons,
    home_button,
    home_opened,
    register_conversations,
    share_all,
    text_of,
    until,
    view_button,
    view_submission,
)
from tests.slack.conftest import Bot

TEAM = "T0001"


async def make_search_bot(make_bot: Callable[..., Awaitable[Bot]], **overrides: Any) -> Bot:
    values: dict[str, Any] = {"gist_index_enabled": True}
    bot = await make_bot(**(values | overrides))
    register_conversations(bot.slack)
    return bot


async def indexed_rows(bot: Bot) -> int:
    return len(await bot.store.indexed_since(TEAM, 0.0))


async def share(bot: Bot, videos: dict[str, str] | list[tuple[str, str]]) -> list[Shared]:
    before = len(bot.tl.indexed_assets)
    shared = await share_all(
        bot.driver,
        bot.slack,
        bot.tl,
        videos,
        indexed_before=before,
        recorded=lambda: indexed_rows(bot),
    )
    await bot.idle()
    return shared


async def search(bot: Bot, user: str, text: str, channel: str = PUBLIC) -> dict[str, Any]:
    """Run `/gist search <text>` as `user`; the answer that replaced the "Searching…" ack."""
    url = bot.slack.new_response_url(channel=channel)
    response = await bot.driver.slash_command(
        f"search {text}", channel=channel, user=user, response_url=url
    )
    assert response.status_code == 200
    if "Searching" not in response.text:
        return {"ack": response.text}
    assert bot.deps.search is not None
    await bot.deps.search.idle()
    [answer] = bot.slack.responses(url)
    answer["_url"] = url
    return answer


@pytest.fixture
async def world(make_bot: Callable[..., Awaitable[Bot]]) -> tuple[Bot, list[Shared]]:
    bot = await make_search_bot(make_bot)
    shared = await share(bot, ROADMAPS)
    return bot, shared


async def test_each_person_sees_only_their_conversations(world: tuple[Bot, list[Shared]]) -> None:
    bot, shared = world
    everything = await search(bot, "U1", "roadmap")
    assert everything["response_type"] == "ephemeral" and everything["replace_original"] is True
    body = text_of(everything)
    for item in shared:  # U1 is everywhere: every video, linked to its message
        assert f"archives/{item.channel}/p{item.ts.replace('.', '')}" in body
    assert "Showing 1–4" in body
    u2 = text_of(await search(bot, "U2", "roadmap"))
    assert "Public" in u2 and "Trio" in u2 and "Showing 1–2" in u2
    assert all(t not in u2 for t in ("Hushhush", "Direct", PRIVATE, DM))
    u3 = await search(bot, "U3", "roadmap")
    text = text_of(u3)
    assert "Public" in text and "Showing 1–1" in text
    for trace in PRIVATE_TRACES:
        assert trace.lower() not in text.lower(), trace
    assert ACTION_SEARCH_MORE not in buttons(u3)  # no hint that more exists


async def test_a_hidden_match_reads_like_no_match(world: tuple[Bot, list[Shared]]) -> None:
    bot, _ = world
    hidden = await search(bot, "U3", "hushhush")  # only in #secret, where U3 isn't
    nothing = await search(bot, "U3", "zeppelin")
    assert hidden["text"] == nothing["text"].replace("zeppelin", "hushhush")
    assert "Nothing found" in hidden["text"]
    assert "hushhush" in text_of(await search(bot, "U1", "hushhush")).lower()


async def test_results_show_moments_thumbnails_and_buttons(
    world: tuple[Bot, list[Shared]],
) -> None:
    bot, _ = world
    answer = await search(bot, "U3", "roadmap")
    [result] = [b for b in answer["blocks"] if b["type"] == "section"]
    text = result["text"]["text"]
    assert text.startswith("*1. <") and "Roadmap Public" in text and f"<#{PUBLIC}>" in text
    assert "`0:0" in text and "–" in text  # m:ss–m:ss
    assert "“" in text  # the words spoken there
    assert result["accessory"]["type"] == "image"
    assert set(buttons(answer)) == {ACTION_SEARCH_SHARE}


async def test_in_channel_narrows_and_refuses_what_is_not_yours(
    world: tuple[Bot, list[Shared]],
) -> None:
    bot, _ = world
    mine = text_of(await search(bot, "U1", f"roadmap in:<#{PRIVATE}|secret>"))
    assert "Hushhush" in mine and "Public" not in mine
    by_name = text_of(await search(bot, "U1", "roadmap in:#secret"))
    assert "Hushhush" in by_name and "Public" not in by_name
    refused = await search(bot, "U3", f"roadmap in:<#{PRIVATE}|secret>")
    unknown = await search(bot, "U3", "roadmap in:#nosuchplace")
    assert "isn't one of them" in refused["text"] and "isn't one of them" in unknown["text"]
    assert "Hushhush" not in text_of(refused)


async def test_more_results_pages_with_a_look_ahead(
    make_bot: Callable[..., Awaitable[Bot]],
) -> None:
    bot = await make_search_bot(make_bot)
    await share(bot, [(PUBLIC, f"demo-{n}.mp4") for n in "abcdefg"] + [(PRIVATE, "demo-x.mp4")])
    first = await search(bot, "U3", "demo")
    assert "Showing 1–5" in text_of(first)
    more = buttons(first)[ACTION_SEARCH_MORE]
    url = first["_url"]
    await bot.driver.block_action(
        ACTION_SEARCH_MORE, more, channel=PUBLIC, message_ts="1.1", user="U3", response_url=url
    )
    assert bot.deps.search is not None
    await bot.deps.search.idle()
    second = bot.slack.responses(url)[-1]
    assert second["replace_original"] is True and "Showing 6–7" in text_of(second)
    assert ACTION_SEARCH_MORE not in buttons(second)  # demo-x is U1's only: not "more" for U3
    assert "demo-x" not in text_of(second).lower()
    assert bot.tl.count("POST", "/search") == 1  # the next page came from what was kept


async def test_share_in_channel_leaves_out_what_not_everyone_there_may_see(
    world: tuple[Bot, list[Shared]],
) -> None:
    bot, _ = world
    answer = await search(bot, "U1", "roadmap")
    url = answer["_url"]
    value = buttons(answer)[ACTION_SEARCH_SHARE]
    await bot.driver.block_action(
        ACTION_SEARCH_SHARE, value, channel=PUBLIC, message_ts="1.1", user="U1", response_url=url
    )
    assert bot.deps.search is not None
    await bot.deps.search.idle()
    shared, note = bot.slack.responses(url)[1:]
    assert shared["response_type"] == "in_channel" and shared["replace_original"] is False
    text = text_of(shared)
    assert "Public" in text and "shared by <@U1>" in text and not buttons(shared)
    for trace in PRIVATE_TRACES:
        assert trace.lower() not in text.lower(), trace
    assert note["response_type"] == "ephemeral"
    assert "Shared 1 result here. 3 results" in note["text"]


async def test_share_in_a_group_dm_keeps_what_all_its_members_may_see(
    world: tuple[Bot, list[Shared]],
) -> None:
    bot, _ = world
    answer = await search(bot, "U1", "roadmap", channel=GROUP)
    url = answer["_url"]
    await bot.driver.block_action(
        ACTION_SEARCH_SHARE,
        buttons(answer)[ACTION_SEARCH_SHARE],
        channel=GROUP,
        message_ts="1.1",
        user="U1",
        response_url=url,
    )
    assert bot.deps.search is not None
    await bot.deps.search.idle()
    text = text_of(bot.slack.responses(url)[1])
    assert "Public" in text and "Trio" in text  # a public channel, and the group DM itself
    assert "Hushhush" not in text and "Direct" not in text  # U2 is in neither


async def test_share_in_a_channel_shared_with_another_organisation(
    world: tuple[Bot, list[Shared]],
) -> None:
    bot, _ = world
    bot.slack.membership.add("C0CONNECT", "public", {"U1", "UEXTERNAL", "UBOT"}, shared=True)
    answer = await search(bot, "U1", "roadmap", channel="C0CONNECT")
    url = answer["_url"]
    await bot.driver.block_action(
        ACTION_SEARCH_SHARE,
        buttons(answer)[ACTION_SEARCH_SHARE],
        channel="C0CONNECT",
        message_ts="1.1",
        user="U1",
        response_url=url,
    )
    assert bot.deps.search is not None
    await bot.deps.search.idle()
    [_, note] = bot.slack.responses(url)  # nothing posted in the channel
    assert note["response_type"] == "ephemeral" and "None of these results" in note["text"]


async def test_membership_is_asked_once_per_ttl_and_follows_changes(
    make_bot: Callable[..., Awaitable[Bot]],
) -> None:
    bot = await make_search_bot(make_bot, gist_search_membership_ttl_s=0)
    await share(bot, {PRIVATE: ROADMAPS[PRIVATE]})
    assert "Hushhush" in text_of(await search(bot, "U1", "roadmap"))
    bot.slack.membership.leave(PRIVATE, "U1")
    assert "Hushhush" not in text_of(await search(bot, "U1", "roadmap"))
    assert len(bot.slack.calls("users.conversations")) == 2  # no reuse with a TTL of 0

    cached = await make_search_bot(make_bot)
    before = len(cached.slack.calls("users.conversations"))
    await search(cached, "U2", "roadmap")
    await search(cached, "U2", "roadmap")
    assert len(cached.slack.calls("users.conversations")) == before + 1


async def test_answers_without_a_search(make_bot: Callable[..., Awaitable[Bot]]) -> None:
    bot = await make_search_bot(make_bot)
    usage = await search(bot, "U1", "")
    assert "/gist search" in usage["ack"]
    too_long = await search(bot, "U1", "word " * 600)
    assert "too long" in too_long["ack"]
    assert "Nothing has been indexed yet" in (await search(bot, "U1", "demo"))["text"]
    help_text = (
        await bot.driver.slash_command(
            "help", channel=PUBLIC, user="U1", response_url=bot.slack.new_response_url()
        )
    ).text
    assert "/gist search" in help_text
    off = await make_search_bot(make_bot, gist_index_enabled=False)
    assert "GIST_INDEX_ENABLED=false" in (await search(off, "U1", "demo"))["text"]


async def test_busy_after_retries_and_pending_videos(
    make_bot: Callable[..., Awaitable[Bot]],
) -> None:
    bot = await make_search_bot(make_bot)
    await share(bot, {PUBLIC: "demo.mp4"})
    bot.tl.add_fault(Fault(method="POST", path="/search", kind="429-empty", times=10))
    busy = {"status": "busy"}
    before = metrics.REGISTRY.get_sample_value("gistbot_searches_total", busy) or 0.0
    assert "busy" in (await search(bot, "U1", "demo"))["text"]
    assert metrics.REGISTRY.get_sample_value("gistbot_searches_total", busy) == before + 1
    assert bot.tl.count("POST", "/search") == 3  # retried twice (GIST_SEARCH_MAX_RETRIES)
    bot.tl.clear_faults()
    bot.tl.configure(index_processing_s=60.0)
    await share_pending(bot, GROUP, "slowpoke.mp4")
    assert "1 of your videos is still being indexed" in (await search(bot, "U2", "slow"))["text"]
    assert "still being indexed" not in (await search(bot, "U3", "slow"))["text"]


async def share_pending(bot: Bot, channel: str, name: str) -> None:
    """Share a video and wait until it is gisted and in the index, not yet searchable."""
    from tests.search_world import share_video

    rows = await indexed_rows(bot)
    await share_video(bot.driver, bot.slack, channel, name)
    await until(lambda: len(bot.tl.indexed_assets) > rows, "indexing started")
    await bot.idle()


async def test_home_tab_lists_recent_gists_from_your_conversations(
    world: tuple[Bot, list[Shared]],
) -> None:
    bot, shared = world
    for user in ("U1", "U3"):
        await bot.driver.post_event(home_opened(bot.driver, user))
    # Bolt runs an event's listener after its ack: wait for what it publishes.
    [u1] = await until(lambda: bot.slack.views("U1"), "U1's Home tab")
    [u3] = await until(lambda: bot.slack.views("U3"), "U3's Home tab")
    assert all(f"p{s.ts.replace('.', '')}" in text_of(u1) for s in shared)
    assert "Roadmap Public" in text_of(u3) and ACTION_OPEN_SEARCH in text_of(u3)
    for trace in PRIVATE_TRACES:
        assert trace.lower() not in text_of(u3).lower(), trace
    await bot.driver.post_event(home_opened(bot.driver, "U3", tab="messages"))
    await bot.driver.post_event(home_opened(bot.driver, "U3"))  # then the Home tab again
    await until(lambda: len(bot.slack.views("U3")) == 2, "U3's Home tab again")
    assert len(bot.slack.calls("views.publish")) == 3  # the Messages tab published nothing


async def test_search_modal_shows_results_in_the_modal(world: tuple[Bot, list[Shared]]) -> None:
    bot, _ = world
    await bot.driver.post_payload(home_button(bot.driver, "U3", ACTION_OPEN_SEARCH, "open"))
    [opened] = bot.slack.modals.opened
    ack = await bot.driver.post_payload(view_submission(bot.driver, "U3", opened, "roadmap"))
    assert ack.json()["response_action"] == "update" and "Searching" in ack.text
    assert bot.deps.search is not None
    await bot.deps.search.idle()
    shown = bot.slack.modals.current(opened["id"])
    assert shown is not None and "Roadmap Public" in text_of(shown)
    for trace in PRIVATE_TRACES:
        assert trace.lower() not in text_of(shown).lower(), trace
    empty = await bot.driver.post_payload(view_submission(bot.driver, "U3", opened, "  "))
    assert empty.json()["response_action"] == "errors"


async def test_more_results_inside_the_modal(make_bot: Callable[..., Awaitable[Bot]]) -> None:
    bot = await make_search_bot(make_bot)
    await share(bot, [(PUBLIC, f"demo-{n}.mp4") for n in "abcdef"])
    await bot.driver.post_payload(home_button(bot.driver, "U3", ACTION_OPEN_SEARCH, "open"))
    [opened] = bot.slack.modals.opened
    await bot.driver.post_payload(view_submission(bot.driver, "U3", opened, "demo"))
    assert bot.deps.search is not None
    await bot.deps.search.idle()
    page = bot.slack.modals.current(opened["id"])
    assert page is not None and "Showing 1–5" in text_of(page)
    more = buttons(page)[ACTION_SEARCH_MORE]
    await bot.driver.post_payload(view_button(bot.driver, "U3", page, ACTION_SEARCH_MORE, more))
    await bot.deps.search.idle()
    after = bot.slack.modals.current(opened["id"])
    assert after is not None and "Showing 6–6" in text_of(after)
