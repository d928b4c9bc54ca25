"""The Bolt app: its client pointed at SLACK_API_URL with gistbot's retry handler.

The listeners are registered separately (`bot.slack.listeners.register`), once the runner
they hand work to exists: build the app, then the runner and notifier around its client, then
the frozen `Deps`, then register.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from bot.slack.transport import SlackRetry, configure_client


def slack_client(settings: Settings) -> AsyncWebClient:
    """A Web API client with the bot token, SLACK_API_URL and gistbot's retry handler."""
    client = AsyncWebClient(token=settings.slack_bot_token.get_secret_value())
    retry = SlackRetry.from_settings(settings)
    configure_client(client, settings.slack_api_url, retry=retry)
    return client


IDENTITY_FIELDS = ("enterprise_id", "team_id", "team", "url", "user_id", "bot_id")


def identity(auth: dict[str, Any], token: str) -> AuthorizeResult:
    """Who the bot is, from the start-up `auth.test`."""
    return AuthorizeResult(
        enterprise_id=auth.get("enterprise_id") or None,
        team_id=auth.get("team_id"),
        team=auth.get("team"),
        url=auth.get("url"),
        bot_user_id=auth.get("user_id"),
        bot_id=auth.get("bot_id"),
        bot_token=token,
    )


def build_app(settings: Settings, who: AuthorizeResult | None = None) -> AsyncApp:
    """With `who` (from the start-up auth.test), no request waits on an `auth.test` of its own:
    Bolt's default single-workspace authorization calls it inside the ack path until it
    succeeds, and when that call fails it answers Slack 200 with an error — an event lost,
    as Slack never redelivers an acknowledged event. Bolt copies base URL, timeout and retry
    handlers from `app.client` into each request's client."""
    s = settings
    common: dict[str, Any] = dict(
        signing_secret=s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else "",
        # HTTP mode's `/slack/events` (bot/slack/endpoint.py) checks every signature before
        # Bolt sees the request; Socket Mode has none to check. Checking again costs an HMAC
        # per request on the ack path.
        request_verification_enabled=False,
        # Own messages are filtered in intake (by user and bot_id) as well.
        ignoring_self_events_enabled=True,
    )
    client = slack_client(settings)
    if who is None:
        return AsyncApp(client=client, **common)

    async def authorize(**_: Any) -> AuthorizeResult:
        return who

    token = client.token
    client.token = None  # given both a token and `authorize`, Bolt warns on every start
    app = AsyncApp(client=client, authorize=authorize, **common)
    client.token = token
    return app
