"""What the listeners use, built once at start-up and never changed afterwards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from slack_bolt.async_app import AsyncBoltContext

from bot.jobs.guard import Guard
from bot.jobs.runner import JobRunner
from bot.jobs.store_base import Store
from bot.settings import Settings
from bot.slack.searching import SlackSearch

DEDUPE_MEMORY_S = 3600.0  # Slack retries within ~5 minutes


@dataclass(frozen=True)
class Deps:
    settings: Settings
    store: Store
    guard: Guard
    runner: JobRunner
    # Event ids this process has seen; the store remembers them across restarts.
    recent_events: TTLCache[str, bool]
    search: SlackSearch | None = None  # None: search isn't wired (a test without it)

    @classmethod
    def build(
        cls,
        settings: Settings,
        store: Store,
        guard: Guard,
        runner: JobRunner,
        search: SlackSearch | None = None,
    ) -> Deps:
        recent: TTLCache[str, bool] = TTLCache(maxsize=50_000, ttl=DEDUPE_MEMORY_S)
        return cls(settings, store, guard, runner, recent, search)


def deps_of(context: AsyncBoltContext | dict[str, Any]) -> Deps:
    """The Deps a global middleware put on every request's context."""
    deps = context["deps"]
    assert isinstance(deps, Deps)
    return deps
