"""How long a file download waits between tries, and what the host may ask for.

Exponential backoff with full jitter: before retry ``n`` (0 for the first) the wait is
``jitter(0, min(max_s, initial_s * 2**n))``. A ``Retry-After`` from the host (delta-seconds or
an HTTP date) replaces that wait; one longer than ``retry_after_max_s`` is not waited for at
all: the download gives up with its transient error, so the caller can come back later instead
of holding a worker for minutes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.callbacks import Sleep
from bot.retry_after import RETRYABLE_STATUSES, full_jitter, parse_retry_after

__all__ = ["RETRYABLE_STATUSES", "Backoff", "Sleep", "parse_retry_after"]


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 1.0
    max_s: float = 15.0
    retry_after_max_s: float = 60.0
    jitter: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def delay(self, retry_number: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry ``retry_number``; None when the host asks too much."""
        if retry_after is not None:
            return retry_after if retry_after <= self.retry_after_max_s else None
        return full_jitter(retry_number, self.initial_s, self.max_s, self.jitter)
