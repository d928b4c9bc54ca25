"""What every transport's retry point shares: which HTTP statuses are worth another try, the
backoff between tries (exponential, full jitter), and when a server says to come back
(`Retry-After` as seconds or an HTTP date, `Retry-After-Ms`, `X-Ratelimit-Reset`)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping

# Never any other 4xx: the request itself is wrong, and sending it again won't change that.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def full_jitter(
    retry_number: int, initial_s: float, max_s: float, rng: Callable[[float, float], float]
) -> float:
    """The wait before retry `retry_number` (0 for the first): uniform in
    [0, min(max_s, initial_s × 2**retry_number)]."""
    ceiling = min(max_s, initial_s * (2**retry_number))
    return rng(0.0, max(0.0, ceiling))


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
