"""Creates that survive an ambiguous failure: look before creating again.

A request that creates something is never repeated blindly. `create_once` sends it; when an
attempt fails in a way that does not prove nothing was created — a 5xx or 408, a read timeout,
a connection dropped after the request went out, a 2xx whose body could not be read — it asks
`lookup` whether the thing exists (by a key the create carried) and returns it if so. Only
otherwise, after a backoff, does it create again, up to the policy's `max_retries`. Failures
that prove nothing was created (the connection never opened, a 429) are retried without a
lookup; any other error (a 4xx) is raised at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TypeVar

from . import errors
from .session import ApiSession

__all__ = ["Outcome", "create_once", "outcome_of"]

log = logging.getLogger("bot.twelvelabs")

T = TypeVar("T")


class Outcome(Enum):
    NOT_CREATED = "not created"  # proven: send again (after the backoff)
    UNKNOWN = "unknown"  # may exist: look it up before sending again
    REJECTED = "rejected"  # the server refused the request itself: raise


def outcome_of(exc: errors.TwelveLabsError) -> Outcome:
    """What a failed create attempt says about whether the thing was created."""
    if isinstance(exc, errors.TransportError):
        return Outcome.UNKNOWN if exc.may_have_succeeded else Outcome.NOT_CREATED
    if isinstance(exc, errors.APIStatusError):
        if exc.status_code == 429:
            return Outcome.NOT_CREATED
        if exc.status_code == 408 or exc.status_code >= 500:
            return Outcome.UNKNOWN
        return Outcome.REJECTED
    if isinstance(exc, errors.InvalidResponse):  # a 2xx: it was created, we can't read it
        return Outcome.UNKNOWN
    return Outcome.REJECTED


def _reason(exc: errors.TwelveLabsError) -> str:
    if isinstance(exc, errors.APIStatusError):
        return f"HTTP {exc.status_code}"
    cause = exc.__cause__
    return type(cause if cause is not None else exc).__name__


async def create_once(
    session: ApiSession,
    method: str,
    template: str,
    create: Callable[[], Awaitable[T]],
    lookup: Callable[[], Awaitable[T | None]],
    *,
    what: str,
    exists: Callable[[errors.TwelveLabsError], bool] | None = None,
) -> T:
    """Create via `create` (which must send with `RetryMode.CREATE`), at most once.

    `exists(exc)` marks errors that say the thing already exists (a name conflict): they are
    looked up like an ambiguous failure. Errors from `lookup` propagate: without an answer
    the create must not be repeated. When retries run out the last create error is raised; for
    an ambiguous failure it is transient (5xx, transport) once the lookup found nothing.
    """
    retry_number = 0
    while True:
        try:
            return await create()
        except errors.TwelveLabsError as exc:
            outcome = Outcome.UNKNOWN if exists is not None and exists(exc) else outcome_of(exc)
            if outcome is Outcome.REJECTED:
                raise
            if outcome is Outcome.UNKNOWN:
                log.warning(
                    "TwelveLabs %s %s (%s) failed (%s); looking for it before trying again",
                    method,
                    template,
                    what,
                    _reason(exc),
                )
                found = await lookup()
                if found is not None:
                    log.info("TwelveLabs %s %s: the %s exists after all", method, template, what)
                    return found
            if retry_number >= session.policy.max_retries:
                raise
            server_delay = exc.retry_after_s if isinstance(exc, errors.APIStatusError) else None
            await session.pause_before_retry(
                method, template, _reason(exc), retry_number, server_delay
            )
            retry_number += 1
