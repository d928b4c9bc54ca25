"""Put the job layer together from its ports: one place, used by the app and by the tests."""

from __future__ import annotations

import httpx

from bot.gist.service import GistService
from bot.jobs import tmpfiles
from bot.jobs.cache import ResultCache
from bot.jobs.guard import Guard
from bot.jobs.leases import LOCAL_OWNER, Lease
from bot.jobs.pipeline import Pipeline
from bot.jobs.ports import FileFetcher, Notifier
from bot.jobs.retry import StepRetry
from bot.jobs.runner import JobRunner
from bot.jobs.store_base import Store
from bot.settings import Settings


def build_runner(
    settings: Settings,
    *,
    store: Store,
    service: GistService,
    notifier: Notifier,
    fetcher: FileFetcher,
    http: httpx.AsyncClient,
    lease: Lease | None = None,
    retry: StepRetry | None = None,
) -> JobRunner:
    """The runner and its pipeline. Without `lease`, this process is the store's only user."""
    lease = lease or Lease(store, LOCAL_OWNER, settings.gist_lease_s)
    retry = retry or StepRetry(
        initial_s=settings.gist_retry_initial_s, max_s=settings.gist_retry_max_interval_s
    )
    pipeline = Pipeline(
        settings=settings,
        lease=lease,
        service=service,
        fetcher=fetcher,
        cache=ResultCache(store, settings.gist_cache_ttl_s),
        guard=Guard(settings, store),
        http=http,
        tmp_dir=tmpfiles.downloads_dir(settings.tmp_dir),
        retry=retry,
    )
    service.observe(pipeline.analyses.observe)
    return JobRunner(
        settings=settings,
        store=store,
        lease=lease,
        pipeline=pipeline,
        notifier=notifier,
        fetcher=fetcher,
        retry=retry,
    )
