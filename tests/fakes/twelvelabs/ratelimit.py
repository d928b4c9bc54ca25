"""The fake's account rate limit: one token bucket over every API call (the storage host's
chunk PUTs and `/_fake/*` are not API calls), like TwelveLabs' requests-per-minute limit.

Knobs (on the fake): `rate_limit_per_s` (None: no limit), `rate_limit_burst` (the bucket's
size; None: one second's worth), `rate_limit_retry_after` (True: a JSON `too_many_requests`
body and `Retry-After` in whole seconds, the time until a token is free; False: the empty body
with no headers the spec documents for `/analyze`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Refills at the rate it is asked with, so the knobs can change while the fake runs."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock  # the pacer's virtual-time tests read it on their own clock
        self._lock = threading.Lock()
        self._tokens: float | None = None  # None: full (first use, or after a reset)
        self._at = 0.0
        self.refused = 0  # calls answered 429 by the bucket

    def reset(self) -> None:
        with self._lock:
            self._tokens = None
            self.refused = 0

    def take(self, rate_per_s: float, burst: float | None) -> float | None:
        """Spend one token: None when one was free, else the seconds until one is."""
        capacity = max(1.0, burst if burst is not None else rate_per_s)
        with self._lock:
            now = self._clock()
            tokens = capacity if self._tokens is None else self._tokens
            tokens = min(capacity, tokens + (now - self._at) * rate_per_s)
            self._at = now
            if tokens >= 1.0:
                self._tokens = tokens - 1.0
                return None
            self._tokens = tokens
            self.refused += 1
            return (1.0 - tokens) / rate_per_s if rate_per_s > 0 else math.inf


def retry_after_header(wait_s: float) -> str:
    """Whole seconds, rounded up, at least 1 (what HTTP's delta-seconds can say)."""
    return str(max(1, math.ceil(wait_s))) if math.isfinite(wait_s) else "60"
