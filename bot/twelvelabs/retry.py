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

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

import httpx

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

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


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


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After`: delta-seconds or an HTTP date. Seconds to wait (≥ 0), or None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _parse_ratelimit_reset(value: str | None, *, now: float | None = None) -> float | None:
    """`X-Ratelimit-Reset`: UTC epoch seconds (a small value is read as delta-seconds)."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number < 1e8:  # not an epoch timestamp: some servers send seconds-until-reset
        return max(0.0, number)
    current = time.time() if now is None else now
    return max(0.0, number - current)


def parse_server_delay(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, from `Retry-After` or `X-Ratelimit-Reset`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    delay = parse_retry_after(lowered.get("retry-after"), now=now)
    if delay is None:
        ms = lowered.get("retry-after-ms")
        if ms is not None:
            try:
                delay = max(0.0, float(ms) / 1000.0)
            except ValueError:
                delay = None
    if delay is None:
        delay = _parse_ratelimit_reset(lowered.get("x-ratelimit-reset"), now=now)
    return delay


@dataclass
class RetryPolicy:
    max_retries: int = 5  # retries after the first attempt: total attempts = 1 + max_retries
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 60.0
    rng: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def backoff(self, retry_number: int) -> float:
        """Full-jitter delay before retry number `retry_number` (0 for the first retry)."""
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * (2**retry_number))
        return self.rng(0.0, max(0.0, ceiling))

    def delay(self, retry_number: int, server_delay: float | None) -> float:
        if server_delay is not None:
            return min(server_delay, self.retry_after_max_s)
        return self.backoff(retry_number)
