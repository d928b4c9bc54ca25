"""When to retry, and how long to wait.

- Retryable statuses: 408, 429, 500, 502, 503, 504. Never any other 4xx.
- Retryable transport errors: connect errors/timeouts, read/write timeouts, pool timeouts,
  remote protocol errors and dropped connections.
- A *create* (`RetryMode.CREATE`) is sent once by the session; `creates.create_once` retries
  it. Only a connect error or pool timeout (the request never left) or a 429 (the server
  rejected it) prove nothing was created (`is_retryable_*` with `CREATE` say exactly that);
  after any other failure the create is looked up before it is sent again.
- Delay: exponential backoff with full jitter (`uniform(0, min(max, initial * 2**n))`), unless
  the response says when to come back (`Retry-After` as seconds or an HTTP date, or
  `X-Ratelimit-Reset` as epoch seconds), which wins, capped at `retry_after_max_s`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import httpx

from bot.retry_after import (
    RETRYABLE_STATUSES,
    full_jitter,
    parse_retry_after,
    parse_server_delay,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "RetryMode",
    "RetryPolicy",
    "is_retryable_exception",
    "is_retryable_status",
    "parse_retry_after",
    "parse_server_delay",
    "request_never_sent",
]


class RetryMode(Enum):
    IDEMPOTENT = "idempotent"  # GET, chunk PUT, chunk report, POST with an Idempotency-Key
    CREATE = "create"  # a POST that creates something: sent once, retried by create_once
    NO_READ_RETRY = "no_read_retry"  # idempotent, but a read timeout is not retried (costly)


def request_never_sent(exc: BaseException) -> bool:
    """True when the exception proves the request never reached the server."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def is_retryable_exception(exc: BaseException, mode: RetryMode) -> bool:
    if request_never_sent(exc):
        return True
    if mode is RetryMode.CREATE:
        return False
    if mode is RetryMode.NO_READ_RETRY and isinstance(exc, httpx.ReadTimeout):
        return False
    return isinstance(
        exc,
        httpx.TimeoutException  # read / write timeouts
        | httpx.NetworkError  # ReadError, WriteError, CloseError (connection reset, dropped)
        | httpx.RemoteProtocolError,  # "server disconnected without sending a response"
    )


def is_retryable_status(status_code: int, mode: RetryMode) -> bool:
    if mode is RetryMode.CREATE:
        return status_code == 429
    return status_code in RETRYABLE_STATUSES


@dataclass
class RetryPolicy:
    max_retries: int = 5  # retries after the first attempt: total attempts = 1 + max_retries
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 60.0
    rng: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def backoff(self, retry_number: int) -> float:
        """Full-jitter delay before retry number `retry_number` (0 for the first retry)."""
        return full_jitter(retry_number, self.backoff_initial_s, self.backoff_max_s, self.rng)

    def delay(self, retry_number: int, server_delay: float | None) -> float:
        if server_delay is not None:
            return min(server_delay, self.retry_after_max_s)
        return self.backoff(retry_number)
