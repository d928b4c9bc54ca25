"""Prometheus metrics, served as text on GET /metrics (PORT, both modes).

Every metric is defined here, with the small helpers the rest of the app calls from one-line
hooks; no other module touches prometheus_client. Labels hold only bounded values: triggers,
error codes, API path templates (never URLs or ids), outcomes.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp.typedefs import Handler
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.aiohttp import make_aiohttp_handler

if TYPE_CHECKING:
    from slack_sdk.http_retry.async_handler import AsyncRetryHandler
    from slack_sdk.http_retry.request import HttpRequest
    from slack_sdk.http_retry.response import HttpResponse
    from slack_sdk.http_retry.state import RetryState
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.gist.errors import GistFailure
    from bot.jobs.models import Job

# Our own registry: tests and embedders can read it without what other libraries register.
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# A job runs from seconds (cache) to an hour (long video, busy API).
_JOB_BUCKETS = (0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600)
_PHASE_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)

JOBS_STARTED = Counter(
    "gistbot_jobs_started",
    "Jobs started (new, or resumed after a restart), by trigger.",
    ["trigger"],
    registry=REGISTRY,
)
JOBS_FINISHED = Counter(
    "gistbot_jobs_finished",
    "Jobs that ended well, by trigger and result: fresh (TwelveLabs ran), cached (a repeat "
    "answered from the cache or shared in-flight work) or ignored (a passive upload that was "
    "not a video).",
    ["trigger", "result"],
    registry=REGISTRY,
)
JOBS_FAILED = Counter(
    "gistbot_jobs_failed",
    "Jobs that ended with an error in the thread, by trigger and reason (the error code "
    "shown to operators, e.g. too_long, quota_user, rate_limited, deadline).",
    ["trigger", "reason"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "gistbot_job_duration_seconds",
    "Time from a job's start (or resume) to its end, by trigger and outcome (done/failed).",
    ["trigger", "outcome"],
    buckets=_JOB_BUCKETS,
    registry=REGISTRY,
)
PHASE_DURATION = Histogram(
    "gistbot_job_phase_duration_seconds",
    "Time spent in each phase of a job: downloading, uploading, processing, analysing.",
    ["phase"],
    buckets=_PHASE_BUCKETS,
    registry=REGISTRY,
)
JOBS_IN_FLIGHT = Gauge(
    "gistbot_jobs_in_flight", "Jobs running in this process now.", registry=REGISTRY
)
CACHE_LOOKUPS = Counter(
    "gistbot_cache_lookups",
    "Result-cache look-ups, by result (hit or miss).",
    ["result"],
    registry=REGISTRY,
)
QUOTA_REFUSALS = Counter(
    "gistbot_quota_refusals",
    "Videos refused because a daily minutes quota was reached, by scope (user or team).",
    ["scope"],
    registry=REGISTRY,
)
SEARCHES = Counter(
    "gistbot_searches",
    "Searches (a page of results for a person: /gist search, More results, the Home modal), "
    "by status: ok, nothing, busy, unavailable, too_long, no_index, empty, disabled, "
    "slack_unavailable.",
    ["status"],
    registry=REGISTRY,
)
SEARCH_DURATION = Histogram(
    "gistbot_search_duration_seconds",
    "Time to make a page of results: TwelveLabs, the store and Slack's membership answers.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30),
    registry=REGISTRY,
)
TWELVELABS_REQUESTS = Counter(
    "gistbot_twelvelabs_requests",
    "HTTP attempts to the TwelveLabs API (each retry counts), by method, endpoint (path "
    "template) and outcome: ok, rate_limited (429), server_error (5xx), client_error (other "
    "4xx), transport_error (connection failed or timed out).",
    ["method", "endpoint", "outcome"],
    registry=REGISTRY,
)
TWELVELABS_RETRIES = Counter(
    "gistbot_twelvelabs_retries",
    "TwelveLabs attempts that were retried, by method, endpoint and reason.",
    ["method", "endpoint", "reason"],
    registry=REGISTRY,
)
TWELVELABS_PACE = Gauge(
    "gistbot_twelvelabs_pace_per_second",
    "The rate this process spaces TwelveLabs API calls to since the account's rate limit "
    "showed (429s while calls were dense); 0 while calls go out unpaced.",
    registry=REGISTRY,
)
SLACK_REQUESTS = Counter(
    "gistbot_slack_requests",
    "HTTP attempts to the Slack Web API (each retry counts), by API method and outcome: ok, "
    "error (ok=false), rate_limited (429), server_error (5xx), http_error (other status), "
    "connection_error.",
    ["method", "outcome"],
    registry=REGISTRY,
)
SLACK_RETRIES = Counter(
    "gistbot_slack_retries",
    "Slack Web API attempts that were retries of an earlier one, by API method.",
    ["method"],
    registry=REGISTRY,
)

# job id → (current phase, when it began). Jobs close their entry when they end.
_phases: dict[str, tuple[str, float]] = {}


# -- jobs (bot/jobs/runner.py, bot/jobs/progress.py) -------------------------------------
def job_started(job: Job) -> None:
    JOBS_STARTED.labels(job.trigger.value).inc()
    _phases.pop(job.id, None)


def job_phase(job_id: str, phase: str) -> None:
    """A progress report; a change of phase closes the previous one's timer."""
    now = time.monotonic()
    current = _phases.get(job_id)
    if current is not None and current[0] == phase:
        return
    if current is not None:
        PHASE_DURATION.labels(current[0]).observe(now - current[1])
    _phases[job_id] = (phase, now)


def job_ended(job: Job, failure: GistFailure | None, seconds: float) -> None:
    current = _phases.pop(job.id, None)
    if current is not None:
        PHASE_DURATION.labels(current[0]).observe(time.monotonic() - current[1])
    trigger = job.trigger.value
    if failure is not None:
        JOBS_FAILED.labels(trigger, failure.code).inc()
        JOB_DURATION.labels(trigger, "failed").observe(seconds)
        return
    result = "ignored" if job.error_code else "cached" if job.cached else "fresh"
    JOBS_FINISHED.labels(trigger, result).inc()
    JOB_DURATION.labels(trigger, "done").observe(seconds)


# -- cache and guard (bot/jobs/cache.py, bot/jobs/guard.py) --------------------------------
def cache_lookup(hit: bool) -> None:
    CACHE_LOOKUPS.labels("hit" if hit else "miss").inc()


def quota_refused(scope: str) -> None:
    QUOTA_REFUSALS.labels(scope).inc()


# -- search (bot/slack/searching.py) -----------------------------------------------------
def searched(status: str, seconds: float) -> None:
    SEARCHES.labels(status).inc()
    SEARCH_DURATION.observe(seconds)


# -- TwelveLabs (bot/twelvelabs/session.py) ----------------------------------------------
def _status_outcome(status: int | None) -> str:
    if status is None:
        return "transport_error"
    if status < 300:
        return "ok"
    if status == 429:
        return "rate_limited"
    return "server_error" if status >= 500 else "client_error"


def twelvelabs_attempt(method: str, endpoint: str, status: int | None) -> None:
    """One HTTP attempt: its status, or None when no response came."""
    TWELVELABS_REQUESTS.labels(method, endpoint, _status_outcome(status)).inc()


def twelvelabs_retry(method: str, endpoint: str, reason: str) -> None:
    """`reason` as the session logs it: "HTTP 429", "HTTP 503", or an exception's name."""
    status = int(reason[5:]) if reason.startswith("HTTP ") and reason[5:].isdigit() else None
    TWELVELABS_RETRIES.labels(method, endpoint, _status_outcome(status)).inc()


def twelvelabs_pace(rate: Callable[[], float | None]) -> None:
    """Report `rate()` (None: unpaced) whenever metrics are read: the pace changes only inside
    the pacer, so nothing is set per call, and a pace forgotten while idle shows at once."""
    TWELVELABS_PACE.set_function(lambda: rate() or 0.0)


# -- Slack Web API (bot/runtime.py) --------------------------------------------------------
@functools.cache
def _slack_call_counter() -> type[AsyncRetryHandler]:
    """The handler class, made on first use: the CLI and the TwelveLabs client import this
    module and must not pull in Slack code."""
    from slack_sdk.http_retry.async_handler import AsyncRetryHandler

    class SlackCallCounter(AsyncRetryHandler):
        """Counts every attempt, never retries. slack-sdk asks each retry handler about every
        response and every error, and Bolt copies the app client's handler list into the
        client it makes for each request, so one instance first in the list sees every Web
        API call."""

        async def can_retry_async(
            self,
            *,
            state: RetryState,
            request: HttpRequest,
            response: HttpResponse | None = None,
            error: Exception | None = None,
        ) -> bool:
            method = request.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
            SLACK_REQUESTS.labels(method, _slack_outcome(response, error)).inc()
            if state.current_attempt > 0:
                SLACK_RETRIES.labels(method).inc()
            return False

    return SlackCallCounter


def _slack_outcome(response: HttpResponse | None, error: Exception | None) -> str:
    if error is not None or response is None:
        return "connection_error"
    status = response.status_code
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status != 200:
        return "http_error"
    body: Any = response.body
    return "ok" if isinstance(body, dict) and body.get("ok") else "error"


def count_slack_calls(client: AsyncWebClient) -> None:
    """Count the Web API calls of `client` and of every per-request client Bolt derives from
    it. Call once, before the first request."""
    counter = _slack_call_counter()
    handlers = client.retry_handlers or []
    if not any(isinstance(h, counter) for h in handlers):
        client.retry_handlers = [counter(), *handlers]


# -- the endpoint (bot/runtime.py) ---------------------------------------------------------
def handler(in_flight: Callable[[], int]) -> Handler:
    """The aiohttp handler for GET /metrics; `in_flight` reads the runner's job count."""
    JOBS_IN_FLIGHT.set_function(lambda: float(in_flight()))
    return make_aiohttp_handler(REGISTRY)
