"""TwelveLabs webhooks reach the running app: a signed `analyze.task.ready` for one of its tasks
makes the waiting job read the task at once; anything else is refused or ignored."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

import httpx

from tests.e2e.conftest import CHANNEL, Harness, until
from tests.fakes.twelvelabs.webhooks import signature
from tests.slack_driver import message_event

SECRET = "whsec_e2e"
PATH = "/twelvelabs/webhook"


def event(task_id: str, custom_id: str | None, kind: str = "analyze.task.ready") -> bytes:
    data = {"id": task_id, "custom_id": custom_id, "status": kind.rsplit(".", 1)[-1]}
    return json.dumps({"id": "whe_x", "created_at": "now", "type": kind, "data": data}).encode()


async def post(harness: Harness, body: bytes, sig: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if sig is not None:
        headers["TL-Signature"] = sig
    async with httpx.AsyncClient() as client:
        return await client.post(harness.running.url + PATH, content=body, headers=headers)


async def test_a_ready_event_wakes_the_jobs_wait(
    make_harness: Callable[..., Awaitable[Harness]], video_server: str
) -> None:
    # Polls back off to a minute apart: at 3 s the next read is ~0.7 s away, so only the
    # event can be what reads the task first.
    harness = await make_harness(
        twelvelabs_webhook_secret=SECRET, gist_poll_initial_s=0.05, gist_poll_max_interval_s=60
    )
    harness.tl.configure(
        task_processing_s=3.0, webhook_url=harness.running.url + PATH, webhook_secret=SECRET
    )
    ts = "1700000101.000100"
    await harness.driver.post_event(message_event(CHANNEL, ts, f"<{video_server}/media/a.mp4>"))
    await until(lambda: harness.results(ts), timeout_s=30)
    [delivery] = harness.tl.webhook_deliveries
    assert delivery.type == "analyze.task.ready" and delivery.status == 200
    assert delivery.answer == {"ok": True, "woke": True}
    [task] = harness.tl.tasks.values()
    assert task.custom_id is not None and task.custom_id.startswith("gistbot-")


async def test_events_it_cannot_use_are_refused_or_ignored(
    make_harness: Callable[..., Awaitable[Harness]],
) -> None:
    harness = await make_harness(twelvelabs_webhook_secret=SECRET)
    now = int(time.time())
    ours = event("t1", "gistbot-job-1")
    assert (await post(harness, ours, None)).status_code == 401
    assert (await post(harness, ours, signature("wrong", ours, now))).status_code == 401
    assert (await post(harness, ours, signature(SECRET, ours, now - 3600))).status_code == 401
    assert (await post(harness, b"{}", signature(SECRET, b"{}", now))).status_code == 400
    # Signed, but another app's task, another event type, or a task nobody here waits on.
    for body, answer in [
        (event("t1", "their-job"), {"ok": True, "woke": False, "ignored": "not ours"}),
        (event("t1", None), {"ok": True, "woke": False, "ignored": "not ours"}),
        (event("i1", None, "index.task.ready"), {"ok": True, "woke": False, "ignored": "type"}),
        (ours, {"ok": True, "woke": False}),
    ]:
        resp = await post(harness, body, signature(SECRET, body, now))
        assert resp.status_code == 200 and resp.json() == answer


async def test_no_secret_no_endpoint(harness: Harness) -> None:
    body = event("t1", "gistbot-job-1")
    resp = await post(harness, body, signature(SECRET, body, int(time.time())))
    assert resp.status_code in (404, 405)
