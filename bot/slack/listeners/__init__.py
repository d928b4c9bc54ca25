"""Every Slack route gistbot answers, on one screen. Listeners parse, persist and ack fast,
then hand work to the job runner; they never wait on TwelveLabs."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.deps import Deps
from bot.slack.listeners import actions, commands, messages, middleware, shortcuts

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
