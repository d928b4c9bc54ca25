"""`/gist search <words>`, its "More results" and "Share in channel" buttons, and the search
modal (submit, and "More results" inside it). Each acks at once, answering in the ack only
what needs no network (usage, a query over the limit); the search runs in the background and
its answer goes only to the person who asked (ephemeral, or their modal)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncBoltContext

from bot import messages as texts
from bot.search.models import Cursor
from bot.search.service import MAX_QUERY_TOKENS, query_too_long
from bot.slack import blocks
from bot.slack.blocks.home import QUERY_ACTION, QUERY_BLOCK, search_modal
from bot.slack.commands import parse_search_query
from bot.slack.deps import deps_of
from bot.slack.searching import SlackSearch


def _search(context: AsyncBoltContext) -> SlackSearch | None:
    return deps_of(context).search


def _pure_answer(text: str) -> str | None:
    """The answer needing no network, if any: usage, or a query over the limit."""
    query = parse_search_query(text)
    if not query.words:
        return texts.notice("search_usage")
    if query_too_long(query.words):
        return texts.notice("search_too_long", limit=MAX_QUERY_TOKENS)
    return None


async def on_search_command(
    ack: Any, command: dict[str, Any], text: str, context: AsyncBoltContext
) -> None:
    """`/gist search …` (routed here by the `/gist` listener)."""
    deps = deps_of(context)
    search = deps.search
    answer = texts.notice("search_disabled") if search is None else _pure_answer(text)
    if answer is None and not deps.runner.accepting:
        answer = texts.notice("restarting")  # the search would be cut short
    if search is None or answer is not None:
        await ack(**blocks.notice_message(answer or texts.notice("search_usage")).as_kwargs())
        return
    words = parse_search_query(text).words
    searching = texts.notice("search_searching", query=words[:100])
    await ack(**blocks.notice_message(searching).as_kwargs())
    team, user = str(command.get("team_id") or ""), str(command.get("user_id") or "")
    url = str(command.get("response_url") or "")

    async def run() -> None:
        await search.answer(team, user, await search.cursor_for(user, text), url)

    search.spawn(run(), f"search-{user}")


def _who(body: dict[str, Any]) -> tuple[str, str]:
    user = body.get("user") or {}
    team = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    return str(team), str(user.get("id") or "")


async def on_more(
    ack: Any, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
) -> None:
    """ "More results": the next page, in place of the page shown (message or modal)."""
    await ack()
    search = _search(context)
    cursor = Cursor.from_value(str(action.get("value") or ""))
    if search is None:
        return
    team, user = _who(body)
    start: Cursor | str = cursor if cursor is not None else texts.notice("search_expired")
    view_id = (body.get("view") or {}).get("id")
    if (body.get("container") or {}).get("type") == "view" and view_id:
        search.spawn(search.modal_results(team, user, str(view_id), start), f"more-{user}")
        return
    url = str(body.get("response_url") or "")
    search.spawn(search.answer(team, user, start, url), f"more-{user}")


async def on_share(
    ack: Any, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
) -> None:
    """ "Share in channel": the page shown, posted visibly in the conversation, as the
    person's choice (without what not everyone there may see)."""
    await ack()
    search = _search(context)
    cursor = Cursor.from_value(str(action.get("value") or ""))
    channel = str((body.get("channel") or {}).get("id") or "")
    url = str(body.get("response_url") or "")
    if search is None or not channel or not url:
        return
    team, user = _who(body)
    if cursor is None:
        expired = blocks.notice_message(texts.notice("search_expired"))
        search.spawn(search.respond(url, lambda _: expired, replace=False), f"share-{user}")
        return
    search.spawn(search.share(team, user, cursor, channel, url), f"share-{user}")


async def on_modal_submit(
    ack: Any, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    """The modal's Search: "Searching…" in the modal at once, the results when they come."""
    search = _search(context)
    values = ((view.get("state") or {}).get("values") or {}).get(QUERY_BLOCK) or {}
    text = str((values.get(QUERY_ACTION) or {}).get("value") or "")
    problem = texts.notice("search_disabled") if search is None else _pure_answer(text)
    if search is None or problem is not None:
        error = (problem or texts.notice("search_usage"))[:150]
        await ack(response_action="errors", errors={QUERY_BLOCK: error})
        return
    words = parse_search_query(text).words
    searching = search_modal(text, note=texts.notice("search_searching", query=words[:100]))
    await ack(response_action="update", view=searching)
    team, user = _who(body)
    view_id = str(view.get("id") or "")

    async def run() -> None:
        await search.modal_results(team, user, view_id, await search.cursor_for(user, text))

    search.spawn(run(), f"modal-{user}")
