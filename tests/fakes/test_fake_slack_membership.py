"""The fake Slack's membership methods and modals, through slack_sdk as the app calls them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack

TOKEN = "xoxb-test-token"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(bot_token=TOKEN, bot_user_id="UBOT")
    server.start()
    m = server.membership
    m.add("C0PUB", "public", {"U1", "U2", "U3", "UBOT"}, name="general")
    m.add("C0PUB2", "public", {"U1"}, name="random")  # the bot is not in it
    m.add("C0PRIV", "private", {"U1", "UBOT"}, name="secret")
    m.add("C0HIDDEN", "private", {"U1", "U2"}, name="no-bot")
    m.add("D0DM1", "im", {"U1", "UBOT"})
    m.add("G0MPIM", "mpim", {"U1", "U2", "UBOT"})
    yield server
    server.stop()


@pytest.fixture
async def client(fake: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    yield AsyncWebClient(token=TOKEN, base_url=fake.api_url)


async def conversations_of(client: AsyncWebClient, user: str, limit: int = 100) -> list[str]:
    found: list[str] = []
    cursor = ""
    while True:
        resp = await client.users_conversations(
            user=user, types="public_channel,private_channel,mpim,im", limit=limit, cursor=cursor
        )
        found += [c["id"] for c in resp["channels"]]
        cursor = resp["response_metadata"]["next_cursor"]
        if not cursor:
            return found


async def test_users_conversations_as_a_bot_sees_them(client: AsyncWebClient) -> None:
    # Non-public conversations only where the bot is a member too (not C0HIDDEN).
    assert await conversations_of(client, "U1") == ["C0PRIV", "C0PUB", "C0PUB2", "D0DM1", "G0MPIM"]
    assert await conversations_of(client, "U2") == ["C0PUB", "G0MPIM"]
    assert await conversations_of(client, "U3") == ["C0PUB"]
    assert await conversations_of(client, "U1", limit=2) == await conversations_of(client, "U1")
    public_only = await client.users_conversations(user="U1")
    assert [c["id"] for c in public_only["channels"]] == ["C0PUB", "C0PUB2"]
    with pytest.raises(SlackApiError) as info:
        await client.users_conversations(user="U1", types="channels")
    assert info.value.response["error"] == "invalid_types"


async def test_conversations_members_and_info(fake: FakeSlack, client: AsyncWebClient) -> None:
    members = await client.conversations_members(channel="G0MPIM")
    assert members["members"] == ["U1", "U2", "UBOT"]
    page = await client.conversations_members(channel="C0PUB", limit=2)
    assert len(page["members"]) == 2 and page["response_metadata"]["next_cursor"]
    for hidden in ("C0HIDDEN", "C0NOPE"):
        with pytest.raises(SlackApiError) as info:
            await client.conversations_members(channel=hidden)
        assert info.value.response["error"] == "channel_not_found"
    kinds = {}
    for channel in ("C0PUB", "C0PRIV", "D0DM1", "G0MPIM"):
        info_ = (await client.conversations_info(channel=channel))["channel"]
        kinds[channel] = (info_["is_private"], info_["is_im"], info_["is_mpim"])
    assert kinds == {
        "C0PUB": (False, False, False),
        "C0PRIV": (True, False, False),
        "D0DM1": (True, True, False),
        "G0MPIM": (True, False, True),
    }
    assert (await client.conversations_info(channel="D0DM1"))["channel"]["user"] == "U1"
    unregistered = await client.conversations_info(channel="C0ELSE")  # the server's own answer
    assert unregistered["channel"]["id"] == "C0ELSE"
    fake.membership.leave("G0MPIM", "U2")
    assert await conversations_of(client, "U2") == ["C0PUB"]
    fake.reset()
    assert await conversations_of(client, "U1") == []


async def test_modals_open_once_per_trigger_and_update(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    view = {
        "type": "modal",
        "callback_id": "search",
        "title": {"type": "plain_text", "text": "Search videos"},
        "submit": {"type": "plain_text", "text": "Search"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}],
    }
    opened = (await client.views_open(trigger_id="1.2.abc", view=view))["view"]
    assert fake.modals.current(opened["id"])["callback_id"] == "search"
    with pytest.raises(SlackApiError) as info:
        await client.views_open(trigger_id="1.2.abc", view=view)
    assert info.value.response["error"] == "exchanged_trigger_id"
    changed = dict(view, blocks=[{"type": "divider"}])
    updated = (await client.views_update(view_id=opened["id"], view=changed))["view"]
    assert updated["id"] == opened["id"] and updated["blocks"] == [{"type": "divider"}]
    for bad_args, error in (
        ({"view_id": "VNOPE", "view": view}, "not_found"),
        ({"view_id": opened["id"], "view": view, "hash": "stale"}, "hash_conflict"),
        (
            {
                "view_id": opened["id"],
                "view": dict(view, title={"type": "plain_text", "text": "x" * 25}),
            },
            "invalid_arguments",
        ),
    ):
        with pytest.raises(SlackApiError) as info:
            await client.views_update(**bad_args)
        assert info.value.response["error"] == error
    too_many = dict(view, blocks=[{"type": "divider"}] * 101)
    with pytest.raises(SlackApiError) as info:
        await client.views_open(trigger_id="9.9.new", view=too_many)
    assert info.value.response["error"] == "invalid_blocks"
