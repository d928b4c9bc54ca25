"""Search end to end: the real app over HTTP, signed requests, the fake Slack with members in a
public channel, a private channel, a DM and a group DM, the fake TwelveLabs with its search.

U1 is in all four conversations, U2 in the public channel and the group DM, U3 in the public
channel only. Each searches; nothing from a conversation they're not in reaches them."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from bot.search.origin import KEY_CHANNEL, KEY_JOB, KEY_TEAM
from tests.e2e.conftest import Harness
from tests.search_world import (
    DM,
    GROUP,
    PRIVATE,
    PRIVATE_TRACES,
    PUBLIC,
    ROADMAPS,
    register_conversations,
    share_all,
    text_of,
    until,
)

TEAM = "T0001"


async def search(h: Harness, user: str, text: str, channel: str = PUBLIC) -> dict[str, Any]:
    url = h.slack.new_response_url(channel=channel)
    ack = await h.driver.slash_command(
        f"search {text}", channel=channel, user=user, response_url=url
    )
    assert ack.status_code == 200 and "Searching" in ack.text
    [answer] = await until(lambda: h.slack.responses(url), f"{user}'s results")
    assert answer["response_type"] == "ephemeral"
    return dict(answer)


async def indexed_rows(h: Harness) -> int:
    return len(await h.running.store.indexed_since(TEAM, 0.0))


async def test_private_channel_dm_and_group_dm_stay_private(harness: Harness) -> None:
    register_conversations(harness.slack)
    shared = await share_all(
        harness.driver, harness.slack, harness.tl, ROADMAPS, recorded=lambda: indexed_rows(harness)
    )
    seen = {user: text_of(await search(harness, user, "roadmap")) for user in ("U1", "U2", "U3")}
    links = {s.channel: f"archives/{s.channel}/p{s.ts.replace('.', '')}" for s in shared}
    assert all(link in seen["U1"] for link in links.values())
    assert links[PUBLIC] in seen["U2"] and links[GROUP] in seen["U2"]
    assert links[PRIVATE] not in seen["U2"] and links[DM] not in seen["U2"]
    assert "Showing 1–2" in seen["U2"]
    assert links[PUBLIC] in seen["U3"] and "Showing 1–1" in seen["U3"]
    for trace in PRIVATE_TRACES:
        assert trace.lower() not in seen["U3"].lower(), trace
    # Every indexed asset names its workspace, conversation and job.
    for item in harness.tl.indexed_assets.values():
        metadata = item.user_metadata or {}
        assert metadata[KEY_TEAM] == TEAM and metadata[KEY_CHANNEL] in links and metadata[KEY_JOB]


async def test_videos_indexed_before_tagging_are_tagged_at_start_up(
    make_harness: Callable[..., Awaitable[Harness]],
) -> None:
    first = await make_harness()
    register_conversations(first.slack)
    await share_all(
        first.driver,
        first.slack,
        first.tl,
        {PUBLIC: "legacy-launch.mp4"},
        recorded=lambda: indexed_rows(first),
    )
    await first.running.stop(grace_s=0.5)
    # As an older gistbot left it: the indexed asset carries no origin, the store has no row.
    [item] = first.tl.indexed_assets.values()
    item.user_metadata = None
    db = sqlite3.connect(first.settings.gist_db_path)
    db.execute("DELETE FROM indexed_videos")
    db.commit()
    db.close()

    second = await make_harness()
    await until(lambda: item.user_metadata, "the start-up pass to tag the video")
    assert item.user_metadata is not None and item.user_metadata[KEY_CHANNEL] == PUBLIC
    answer = text_of(await search(second, "U3", "legacy"))
    assert "Legacy Launch" in answer and f"archives/{PUBLIC}/" in answer
