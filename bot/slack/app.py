"""The Bolt app: its client pointed at SLACK_API_URL with gistbot's retry handler.

The listeners are registered separately (`bot.slack.listeners.register`), once the runner
they hand work to exists: build the app, then the runner and notifier around its client, then
the frozen `Deps`, then register.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.settings import Settings
from bot.slack.transport import SlackRetry, configure_client


def build_app(settings: Settings) -> AsyncApp:
    """The token goes to Bolt (not a ready-made client): handing Bolt both logs a warning on
    every start, and Bolt copies base URL, timeout and retry handlers into each request's
    client anyway."""
    s = settings
    app = AsyncApp(
        token=s.slack_bot_token.get_secret_value(),
        signing_secret=s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else "",
        request_verification_enabled=not s.socket_mode,
        # Own messages are filtered in intake (by user and bot_id) as well.
        ignoring_self_events_enabled=True,
    )
    retry = SlackRetry(max_retries=s.slack_max_retries, backoff_initial_s=s.slack_backoff_initial_s)
    configure_client(app.client, s.slack_api_url, retry=retry)
    return app
