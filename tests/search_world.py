"""A workspace to search in, for the Slack-level search tests (in-process and end-to-end):
conversations of all four kinds with their members registered in the fake Slack, videos shared
in them (gisted and indexed by the real app), and the payloads Slack sends for App Home and
modals, which the driver doesn't build.

    U1: in everything (#general, #secret, the DM, the group DM)
    U2: in #general and the group DM
    U3: in #general only
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.slack_driver import SlackDriver, next_ts
from tests.videos import make_video

BOT = "UBOT"
PUBLIC, PRIVATE, DM, GROUP = "C0001", "C0PRIV01", "D0DM0001", "G0MPIM01"
CHANNEL_TYPES = {PUBLIC: "channel", PRIVATE: "group", DM: "im", GROUP: "mpim"}
MEMBERS = {
    PUBLIC: {"U1", "U2", "U3", BOT},
    PRIVATE: {"U1", BOT},
    DM: {"U1", BOT},
    GROUP: {"U1", "U2", BOT},
}
KINDS = {PUBLIC: "public", PRIVATE: "private", DM: "im", GROUP: "mpim"}
NAMES = {PUBLIC: "general", PRIVATE: "secret"}
# The file shared in each conversation: its words are what the fake TwelveLabs "sees".
ROADMAPS = {
    PUBLIC: "roadmap-public.mp4",
    PRIVATE: "roadmap-hushhush.mp4",
    DM: "roadmap-direct.mp4",
    GROUP: "roadmap-trio.mp4",
}
PRIVATE_TRACES = ("hushhush", "direct", "trio", PRIVATE, DM, GROUP)  # never for U3


def register_conversations(slack: FakeSlack) -> None:
    for channel, members in MEMBERS.items():
        slack.membership.add(channel, KINDS[channel], members, name=NAMES.get(channel))


@dataclass
class Shared:
    channel: str
    ts: str
    name: str


async def share_video(driver: SlackDriver, slack: FakeSlack, channel: str, name: str) -> Shared:
    """A person uploads `name` in `channel`: gistbot gists it (and indexes it). Each file's
    bytes differ (the same bytes twice would be answered from the cache, and not indexed)."""
    user = sorted(MEMBERS.get(channel, {"U1"}) - {BOT})[0]
    content = make_video(5.0).read_bytes() + f"\n{channel}/{name}/{next_ts()}".encode()
    file = slack.add_file(name, content, channel=channel, user=user)
    ts = next_ts()
    event = driver.message_event(
        channel, ts, "", files=[file], user=user, channel_type=CHANNEL_TYPES.get(channel, "channel")
    )
    response = await driver.post_event(event)
    assert response.status_code == 200
    return Shared(channel, ts, name)


async def until(predicate: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    """Wait for background work (a guard against hanging, not a timing)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def all_indexed(tl: FakeTwelveLabs, count: int) -> None:
    def ready() -> bool:
        items = list(tl.indexed_assets.values())
        return len(items) >= count and all(i.status == "ready" for i in items)

    await until(ready, f"{count} videos indexed")


async def share_all(
    driver: SlackDriver,
    slack: FakeSlack,
    tl: FakeTwelveLabs,
    videos: dict[str, str] | list[tuple[str, str]],
    *,
    indexed_before: int = 0,
    recorded: Callable[[], Awaitable[int]] | None = None,
) -> list[Shared]:
    """Share each (channel, name) and wait until every one is gisted and searchable."""
    pairs = list(videos.items()) if isinstance(videos, dict) else videos
    shared = [await share_video(driver, slack, channel, name) for channel, name in pairs]
    await all_indexed(tl, indexed_before + len(shared))
    if recorded is not None:
        total = indexed_before + len(shared)
        deadline = time.monotonic() + 30
        while await recorded() < total:
            assert time.monotonic() < deadline, "indexed videos not recorded"
            await asyncio.sleep(0.02)
    return shared


def text_of(body: dict[str, Any]) -> str:
    """Everything a person could read in a message or view: text, blocks, button values."""
    return json.dumps(body, ensure_ascii=False)


def buttons(body: dict[str, Any]) -> dict[str, str]:
    """action_id → value of the buttons in a message or view."""
    found: dict[str, str] = {}
    for block in body.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("type") == "button":
                found[element["action_id"]] = element.get("value", "")
    return found


# --------------------------------------------------------------------------- payloads


def home_opened(driver: SlackDriver, user: str, tab: str = "home") -> dict[str, Any]:
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": "D0HOME" + user,
        "tab": tab,
        "event_ts": next_ts(),
    }


def _user(driver: SlackDriver, user: str) -> dict[str, Any]:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": driver.team_id}


def home_button(driver: SlackDriver, user: str, action_id: str, value: str) -> dict[str, Any]:
    """A click on a button of the Home tab."""
    return {
        "type": "block_actions",
        "user": _user(driver, user),
        "api_app_id": driver.api_app_id,
        "token": driver.verification_token,
        "container": {"type": "view", "view_id": "VHOME"},
        "trigger_id": f"{next_ts()}.{user}.trigger",
        "team": {"id": driver.team_id, "domain": driver.team_domain},
        "view": {"id": "VHOME", "type": "home"},
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b",
                "type": "button",
                "value": value,
                "action_ts": next_ts(),
            }
        ],
    }


def view_submission(
    driver: SlackDriver, user: str, view: dict[str, Any], words: str
) -> dict[str, Any]:
    """The person typed `words` in the modal `view` (as views.open returned it) and pressed
    its submit button."""
    state = {"values": {"query": {"words": {"type": "plain_text_input", "value": words}}}}
    return {
        "type": "view_submission",
        "team": {"id": driver.team_id, "domain": driver.team_domain},
        "user": _user(driver, user),
        "api_app_id": driver.api_app_id,
        "token": driver.verification_token,
        "trigger_id": f"{next_ts()}.{user}.trigger",
        "view": {**view, "state": state},
    }


def view_button(
    driver: SlackDriver, user: str, view: dict[str, Any], action_id: str, value: str
) -> dict[str, Any]:
    """A click on a button inside the modal `view`."""
    payload = home_button(driver, user, action_id, value)
    payload["container"] = {"type": "view", "view_id": view["id"]}
    payload["view"] = view
    return payload
