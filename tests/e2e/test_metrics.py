"""GET /metrics: Prometheus text on PORT in both modes, read over HTTP as Prometheus would, with
the counts of real runs (jobs, phases, API calls with retries and 429s, cache, quotas)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import CHANNEL, Harness, until
from tests.e2e.test_socket_mode import FakeSocket, fake_socket  # noqa: F401 - fixture
from tests.fakes.slack import FakeSlack
from tests.fakes.twelvelabs import Fault
from tests.slack_driver import message_event
from tests.videos import make_video

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as http:
        resp = await http.get(url + "/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def _upload(harness: Harness, name: str, ts: str, **file_kwargs: Any) -> None:
    file = harness.slack.add_file(
        name, make_video(5.0).read_bytes(), channel=CHANNEL, **file_kwargs
    )
    await harness.driver.post_event(message_event(CHANNEL, ts, "new cut", files=[file]))


async def test_a_gist_and_a_repeat_are_counted(harness: Harness) -> None:
    url = harness.running.url
    before = await scrape(url)
    await _upload(harness, "metrics.mp4", "1700005001.000100")
    await until(lambda: harness.results("1700005001.000100"))
    await until(lambda: harness.running.runner.in_flight == 0)
    mid = await scrape(url)

    assert delta(before, mid, "gistbot_jobs_started_total", trigger="passive") == 1
    assert delta(before, mid, "gistbot_jobs_finished_total", trigger="passive", result="fresh") == 1
    job_count = "gistbot_job_duration_seconds_count"
    assert delta(before, mid, job_count, trigger="passive", outcome="done") == 1
    for phase in ("downloading", "uploading", "processing", "analysing"):
        assert delta(before, mid, "gistbot_job_phase_duration_seconds_count", phase=phase) == 1
    tl = "gistbot_twelvelabs_requests_total"
    assert delta(before, mid, tl, method="POST", endpoint="/assets", outcome="ok") == 1
    assert delta(before, mid, tl, method="POST", endpoint="/analyze/tasks", outcome="ok") == 1
    slack = "gistbot_slack_requests_total"
    assert delta(before, mid, slack, method="chat.postMessage", outcome="ok") == 1
    assert delta(before, mid, slack, method="chat.update", outcome="ok") >= 1
    assert delta(before, mid, "gistbot_cache_lookups_total", result="miss") >= 1
    assert value(mid, "gistbot_jobs_in_flight") == 0
    assert value(mid, "process_resident_memory_bytes") > 0

    # The same bytes again: answered from the cache, no TwelveLabs call.
    await _upload(harness, "metrics-again.mp4", "1700005002.000100")
    await until(lambda: harness.results("1700005002.000100"))
    await until(lambda: harness.running.runner.in_flight == 0)
    after = await scrape(url)
    assert delta(mid, after, "gistbot_cache_lookups_total", result="hit") == 1
    assert delta(mid, after, "gistbot_jobs_finished_total", trigger="passive", result="cached") == 1
    assert delta(mid, after, tl, method="POST", endpoint="/assets", outcome="ok") == 0


async def test_retries_429s_and_failures_are_counted(harness: Harness) -> None:
    url = harness.running.url
    harness.tl.add_fault(Fault("POST", "/analyze/tasks", "429", retry_after="0"))
    harness.tl.add_fault(Fault("GET", "/assets/{id}", "503"))  # a GET: retried
    harness.slack.rate_limit("chat.postMessage", times=1, retry_after=0)
    before = await scrape(url)
    await _upload(harness, "flaky.mp4", "1700005003.000100")
    await until(lambda: harness.results("1700005003.000100"))
    after = await scrape(url)

    tl, retries = "gistbot_twelvelabs_requests_total", "gistbot_twelvelabs_retries_total"
    post_tasks = {"method": "POST", "endpoint": "/analyze/tasks"}
    assert delta(before, after, tl, **post_tasks, outcome="rate_limited") == 1
    assert delta(before, after, tl, **post_tasks, outcome="ok") == 1
    assert delta(before, after, retries, **post_tasks, reason="rate_limited") == 1
    get_asset = {"method": "GET", "endpoint": "/assets/{asset_id}"}
    assert delta(before, after, tl, **get_asset, outcome="server_error") == 1
    assert delta(before, after, retries, **get_asset, reason="server_error") == 1
    slack = "gistbot_slack_requests_total"
    assert delta(before, after, slack, method="chat.postMessage", outcome="rate_limited") == 1
    assert delta(before, after, slack, method="chat.postMessage", outcome="ok") == 1
    assert delta(before, after, "gistbot_slack_retries_total", method="chat.postMessage") == 1


async def test_quota_refusals_and_failed_jobs_by_reason(
    make_harness: Callable[..., Awaitable[Harness]],
) -> None:
    harness = await make_harness(gist_user_daily_minutes=0.01)
    before = await scrape(harness.running.url)
    await _upload(harness, "long.mp4", "1700005004.000100", duration_ms=5000)
    await until(lambda: harness.errors("1700005004.000100"))
    await until(lambda: harness.running.runner.in_flight == 0)
    after = await scrape(harness.running.url)
    assert delta(before, after, "gistbot_quota_refusals_total", scope="user") == 1
    failed = "gistbot_jobs_failed_total"
    assert delta(before, after, failed, trigger="passive", reason="quota_user") == 1
    count = "gistbot_job_duration_seconds_count"
    assert delta(before, after, count, trigger="passive", outcome="failed") == 1
    assert harness.tl.calls == []


async def test_socket_mode_serves_metrics_on_port_too(
    make_harness: Callable[..., Awaitable[Harness]],
    fake_slack: FakeSlack,
    fake_socket: FakeSocket,  # noqa: F811 - the fixture imported above
) -> None:
    fake_slack.socket_mode_url = fake_socket.url
    harness = await make_harness(slack_app_token="xapp-1-test")
    await until(lambda: fake_socket.connections, timeout_s=10)
    samples = await scrape(harness.running.url)
    slack = "gistbot_slack_requests_total"
    assert value(samples, slack, method="apps.connections.open", outcome="ok") >= 1
