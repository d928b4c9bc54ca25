"""App Home: the Home tab (recent gists from the person's conversations, published when they
open it) and its Search button, which opens the search modal."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks.home import search_modal
from bot.slack.deps import deps_of


async def on_home_opened(
    event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
) -> None:
    search = deps_of(context).search
    user = str(event.get("user") or "")
    if search is None or event.get("tab") != "home" or not user:
        return  # the Messages tab needs nothing from us
    team = str(body.get("team_id") or "")
    search.spawn(search.publish_home(team, user), f"home-{user}")


async def on_open_search(
    ack: Any, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Open the modal now: a trigger id is good for 3 seconds, once."""
    await ack()
    await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=search_modal())
