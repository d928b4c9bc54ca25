"""Every Slack route gistbot answers, on one screen. Listeners parse, persist and ack fast,
then hand work to the job runner (or to the search, in the background); they never wait on
TwelveLabs."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.blocks.home import ACTION_OPEN_SEARCH, SEARCH_MODAL
from bot.slack.blocks.search import ACTION_SEARCH_MORE, ACTION_SEARCH_SHARE
from bot.slack.deps import Deps
from bot.slack.listeners import actions, commands, home, messages, middleware, search, shortcuts

SHORTCUT_CALLBACK_ID = "gist_message"


def register(app: AsyncApp, deps: Deps) -> None:
    app.middleware(middleware.attach(deps))
    app.middleware(middleware.drop_retried_events)
    app.event("message", middleware=[messages.persist_jobs])(messages.on_message)
    app.event("app_mention", middleware=[messages.persist_jobs])(messages.on_mention)
    app.command("/gist")(commands.on_gist)
    app.shortcut(SHORTCUT_CALLBACK_ID)(shortcuts.on_gist_this_video)
    app.action("gist_retry")(actions.on_retry)
    app.action("gist_regenerate")(actions.on_regenerate)
    app.action(ACTION_SEARCH_MORE)(search.on_more)
    app.action(ACTION_SEARCH_SHARE)(search.on_share)
    app.view(SEARCH_MODAL)(search.on_modal_submit)
    app.event("app_home_opened")(home.on_home_opened)
    app.action(ACTION_OPEN_SEARCH)(home.on_open_search)
