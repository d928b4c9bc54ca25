"""The one retry point for Slack's Web API (and response_url posts): a slack_sdk retry handler.

slack_sdk's own handlers retry only 500/503 and rate limits, and retry a `chat.postMessage`
whose outcome is unknown, which is how a lost answer becomes a second message. This one:
- retries whatever `bot.transient` calls transient (429, 5xx, timeouts, dropped connections,
  `ratelimited`, `fatal_error`, …) with exponential backoff and full jitter, honouring
  `Retry-After`;
- retries a non-idempotent post only when the failure proves Slack never saw it (a rate
  limit, a refused connection). Otherwise the error goes up and the caller looks for the
  message (by its metadata) before posting again.

Beyond `max_retries` the error goes up too; the job runner tries the step again later, until
the job's deadline. The sleep is injectable so tests see the delays that were asked for.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.callbacks import Sleep
from bot.retry_after import full_jitter, parse_server_delay
from bot.settings import Settings
from bot.transient import SLACK_TRANSIENT_ERRORS, is_transient_slack, slack_never_sent

log = logging.getLogger(__name__)


# Calls that create something each time they are sent: never repeated on an unknown outcome.
NOT_IDEMPOTENT = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage"})


class SlackRetry(AsyncRetryHandler):
    def __init__(
        self,
        *,
        max_retries: int = 4,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 20.0,
        retry_after_max_s: float = 60.0,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[float, float], float] = random.uniform,
    ) -> None:
        super().__init__(max_retry_count=max_retries)
        self._initial = backoff_initial_s
        self._max = backoff_max_s
        self._retry_after_max = retry_after_max_s
        self._sleep = sleep
        self._rng = rng

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackRetry:
        """SLACK_MAX_RETRIES and SLACK_BACKOFF_INITIAL_S: the Web API client's and the
        response_url posts' retries alike."""
        return cls(
            max_retries=settings.slack_max_retries,
            backoff_initial_s=settings.slack_backoff_initial_s,
        )

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        once_only = _method(request) in NOT_IDEMPOTENT
        if error is not None:
            if once_only and not slack_never_sent(error):
                return False
            return is_transient_slack(error)
        if response is None:
            return False
        code = str((response.body or {}).get("error") or "")
        if response.status_code == 429 or code == "ratelimited":
            return True  # refused before doing anything
        if once_only:
            return False
        return response.status_code >= 500 or code in SLACK_TRANSIENT_ERRORS

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        server = parse_server_delay(_headers(response)) if response is not None else None
        if server is not None:
            delay = min(server, self._retry_after_max)
        else:
            delay = full_jitter(state.current_attempt, self._initial, self._max, self._rng)
        reason = f"HTTP {response.status_code}" if response is not None else type(error).__name__
        level = logging.INFO if reason == "HTTP 429" else logging.WARNING
        attempt = f"{state.current_attempt + 1}/{self.max_retry_count}"
        log.log(
            level,
            "Slack %s failed (%s); retry %s in %.2fs",
            _method(request),
            reason,
            attempt,
            delay,
        )
        await self._sleep(delay)
        state.increment_current_attempt()


def _method(request: HttpRequest) -> str:
    return request.url.rstrip("/").rsplit("/", 1)[-1]


def _headers(response: HttpResponse) -> dict[str, str]:
    return {k: (v[0] if isinstance(v, list) and v else str(v)) for k, v in response.headers.items()}


def configure_client(
    client: AsyncWebClient,
    base_url: str,
    *,
    retry: SlackRetry | None = None,
    timeout_s: int = 30,
) -> None:
    client.base_url = base_url
    client.timeout = timeout_s
    client.retry_handlers = [retry or SlackRetry()]
