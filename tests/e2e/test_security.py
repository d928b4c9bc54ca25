"""Security, end to end: request signatures, Slack's retries, duplicate deliveries, where the
bot token may go, and what reaches the logs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.conftest import BOT_TOKEN, CHANNEL, SIGNING_SECRET, TL_KEY, Harness, until
from tests.fakes.twelvelabs import Fault
from tests.slack_driver import app_mention_event, message_event, next_ts
from tests.videos import make_video

USER = "U123"
SECRETS = {"bot token": BOT_TOKEN, "signing secret": SIGNING_SECRET, "TwelveLabs key": TL_KEY}
MakeHarness = Callable[..., Any]


async def _settle(h: Harness, extra_s: float = 0.3) -> None:
    await h.running.runner.wait_idle(10)
    await asyncio.sleep(extra_s)
    await h.running.runner.wait_idle(10)


async def _assert_nothing_happened(h: Harness) -> None:
    await _settle(h)
    assert await h.running.store.count() == 0
    assert {c.method for c in h.slack.calls()} <= {"auth.test"}  # start-up only
    assert h.slack.downloads() == []
    assert h.tl.calls == []


def _video_event(h: Harness, ts: str, text: str = "new cut") -> dict[str, Any]:
    file = h.slack.add_file("cut.mp4", make_video(5.0), channel=CHANNEL)
    return message_event(CHANNEL, ts, text, files=[file])


# --------------------------------------------------------------------------------------------
# signatures
# --------------------------------------------------------------------------------------------


async def test_bad_signature_is_refused_and_nothing_is_queued(harness: Harness) -> None:
    event = _video_event(harness, next_ts())
    assert (await harness.driver.post_event(event, bad_signature=True)).status_code == 401
    url = harness.slack.new_response_url(channel=CHANNEL)
    resp = await harness.driver.slash_command(
        "https://cdn.example.com/a.mp4", channel=CHANNEL, user=USER, response_url=url,
        bad_signature=True,
    )  # fmt: skip
    assert resp.status_code == 401
    await _assert_nothing_happened(harness)
    assert harness.slack.responses(url) == []


async def test_stale_timestamp_is_refused(harness: Harness) -> None:
    stale = int(time.time()) - 6 * 60  # correctly signed, but a replay from 6 minutes ago
    event = _video_event(harness, next_ts())
    assert (await harness.driver.post_event(event, timestamp=stale)).status_code == 401
    url = harness.slack.new_response_url(channel=CHANNEL)
    resp = await harness.driver.slash_command(
        "https://cdn.example.com/a.mp4", channel=CHANNEL, user=USER, response_url=url,
        timestamp=stale,
    )  # fmt: skip
    assert resp.status_code == 401
    await _assert_nothing_happened(harness)


async def test_good_signature_is_accepted(harness: Harness) -> None:
    """The control for the two refusals above: the same request, signed now, is served."""
    ts = next_ts()
    assert (await harness.driver.post_event(_video_event(harness, ts))).status_code == 200
    await until(lambda: harness.results(ts))


# --------------------------------------------------------------------------------------------
# Slack's retries and duplicate deliveries
# --------------------------------------------------------------------------------------------


async def test_slack_retry_of_a_video_event_makes_no_second_job(harness: Harness) -> None:
    ts = next_ts()
    event = _video_event(harness, ts)
    assert (await harness.driver.post_event(event)).status_code == 200
    event_id = harness.driver.last_event_id
    assert event_id
    for n in (1, 2):
        resp = await harness.driver.post_event(
            event, event_id=event_id, retry_num=n, retry_reason="http_timeout"
        )
        assert resp.status_code == 200
    await until(lambda: harness.results(ts))
    await _settle(harness)
    assert await harness.running.store.count() == 1
    assert len(harness.thread(ts)) == 1 and len(harness.results(ts)) == 1
    assert harness.tl.count("POST", "/assets") == 1
    assert harness.tl.count("POST", "/analyze/tasks") == 1


async def test_slack_retry_of_a_mention_without_video_answers_once(harness: Harness) -> None:
    """No job means no work-key to dedupe on: only the event_id dedupe stops a second note."""
    ts = next_ts()
    event = app_mention_event(CHANNEL, ts, "<@UBOT> what can you do?")
    assert (await harness.driver.post_event(event)).status_code == 200
    event_id = harness.driver.last_event_id
    await until(lambda: harness.thread(ts))
    resp = await harness.driver.post_event(
        event, event_id=event_id, retry_num=1, retry_reason="http_timeout"
    )
    assert resp.status_code == 200
    await _settle(harness)
    assert len(harness.thread(ts)) == 1
    assert len(harness.slack.calls("chat.postMessage")) == 1


@pytest.mark.parametrize("first", ["message", "app_mention"])
async def test_message_and_mention_of_one_upload_make_one_job(harness: Harness,
                                                             first: str) -> None:  # fmt: skip
    ts = next_ts()
    file = harness.slack.add_file("cut.mp4", make_video(5.0), channel=CHANNEL)
    text = "<@UBOT> what's in this?"
    events = {
        "message": message_event(CHANNEL, ts, text, files=[file]),
        "app_mention": app_mention_event(CHANNEL, ts, text, files=[file]),
    }
    order = [first, *(k for k in events if k != first)]
    for kind in order:  # different event_ids, same channel + ts + file
        assert (await harness.driver.post_event(events[kind])).status_code == 200
    await until(lambda: harness.results(ts))
    await _settle(harness)
    assert await harness.running.store.count() == 1
    assert len(harness.thread(ts)) == 1 and len(harness.results(ts)) == 1
    assert harness.tl.count("POST", "/assets") == 1
    assert len(harness.slack.downloads(file["id"])) == 1


# --------------------------------------------------------------------------------------------
# where the bot token goes
# --------------------------------------------------------------------------------------------


async def test_bot_token_is_not_sent_across_a_redirect_to_another_host(
    make_harness: MakeHarness,
) -> None:
    h: Harness = await make_harness(slack_file_hosts=["127.0.0.1"])
    h.slack.redirect_host = "localhost"  # the "CDN" hop: a host that isn't allowed
    file = h.slack.add_file("cut.mp4", make_video(5.0), channel=CHANNEL, redirect=True)
    ts = next_ts()
    await h.driver.post_event(message_event(CHANNEL, ts, "", files=[file]))
    await until(lambda: h.results(ts))  # the CDN serves the file without the token
    hops = h.slack.downloads()
    assert [(d.kind, d.host.split(":")[0]) for d in hops] == [
        ("download", "127.0.0.1"),
        ("edge", "localhost"),
    ]
    assert hops[0].authorized
    assert hops[1].authorization is None


async def test_bot_token_is_not_sent_to_a_host_off_the_list(make_harness: MakeHarness) -> None:
    h: Harness = await make_harness(slack_file_hosts=["files.slack.com"])
    file = h.slack.add_file("cut.mp4", make_video(5.0), channel=CHANNEL)
    ts = next_ts()
    await h.driver.post_event(message_event(CHANNEL, ts, "", files=[file]))
    await until(lambda: "x" in h.slack.reactions(CHANNEL, ts))
    await _settle(h)
    assert h.slack.downloads() == []


@dataclass
class Recorder:
    url: str
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
async def link_host() -> AsyncIterator[Recorder]:
    """A web host for video links that records every request's headers."""
    video = make_video(5.0).read_bytes()
    recorder = Recorder(url="")

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        recorder.requests.append((request.method, request.path, dict(request.headers)))
        response: web.StreamResponse = await handler(request)
        return response

    async def media(request: web.Request) -> web.Response:
        return web.Response(body=video, content_type="video/mp4")

    app = web.Application(middlewares=[record])
    app.router.add_get("/v/{name}", media)
    app.router.add_get("/stream/{name}", media)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recorder.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield recorder
    await runner.cleanup()


async def test_links_never_receive_a_token_or_key(harness: Harness, link_host: Recorder) -> None:
    """The link host is 127.0.0.1, which *is* in SLACK_FILE_HOSTS here: still, links the users
    post (probed by the app, fetched by TwelveLabs) never get the bot token."""
    ts = next_ts()
    await harness.driver.post_event(message_event(CHANNEL, ts, f"<{link_host.url}/v/a.mp4>"))
    await until(lambda: harness.results(ts))
    url = harness.slack.new_response_url(channel=CHANNEL)
    await harness.driver.slash_command(
        f"{link_host.url}/stream/abc", channel=CHANNEL, user=USER, response_url=url
    )
    await until(lambda: len([m for m in harness.slack.messages(CHANNEL) if m.thread_ts]) >= 2)
    await until(lambda: sum(len(harness.results(m.ts)) for m in harness.slack.messages(CHANNEL)
                            if m.thread_ts is None) == 1)  # fmt: skip
    await _settle(harness)
    methods = {(m, p) for m, p, _ in link_host.requests}
    assert ("HEAD", "/stream/abc") in methods or ("GET", "/stream/abc") in methods  # probed
    assert ("GET", "/v/a.mp4") in methods  # fetched by TwelveLabs
    for _, path, headers in link_host.requests:
        lowered = {k.lower(): v for k, v in headers.items()}
        assert "authorization" not in lowered, path
        assert "x-api-key" not in lowered, path
        for value in headers.values():
            assert BOT_TOKEN not in value and TL_KEY not in value, path


# --------------------------------------------------------------------------------------------
# logs
# --------------------------------------------------------------------------------------------


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage()]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


async def test_secrets_never_reach_a_log_record(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """Raw records, before any handler's filter: the redacting filter of `bot.logs.setup()` is
    a second line of defence, not the only one."""
    caplog.set_level(logging.DEBUG)
    h: Harness = await make_harness(gist_admin_channel="CADMIN01")

    # 1. a full gist
    ok_ts = next_ts()
    await h.driver.post_event(_video_event(h, ok_ts))
    await until(lambda: h.results(ok_ts))
    # 2. TwelveLabs refuses the key
    h.tl.add_fault(Fault("POST", "/assets", "401", times=1))
    key_ts = next_ts()
    await h.driver.post_event(message_event(CHANNEL, key_ts, "<http://127.0.0.1:9/x/b.mp4>"))
    await until(lambda: h.errors(key_ts))
    await until(lambda: h.slack.messages("CADMIN01"))  # the admin alert, before the next fault
    # 3. Slack refuses a call (the placeholder) for a reason that isn't transient → an
    #    unexpected error with a traceback (a transient one would be retried instead)
    h.slack.fail("chat.postMessage", "invalid_arguments")
    slack_ts = next_ts()
    other = h.slack.add_file("other.mp4", make_video(4.0), channel=CHANNEL)
    await h.driver.post_event(message_event(CHANNEL, slack_ts, "", files=[other]))
    await until(lambda: "x" in h.slack.reactions(CHANNEL, slack_ts))
    # 4. a forged request and a /gist through response_url
    await h.driver.post_event(_video_event(h, next_ts()), bad_signature=True)
    url = h.slack.new_response_url(channel=CHANNEL)
    await h.driver.slash_command("nonsense words", channel=CHANNEL, user=USER, response_url=url)
    await _settle(h)

    records = list(caplog.records)
    assert any(r.name.startswith("bot.") for r in records)
    assert any(r.exc_info for r in records)  # the Slack failure was logged with its traceback
    leaks = [
        (what, r.name, r.levelname, _record_text(r)[:300])
        for r in records
        for what, secret in SECRETS.items()
        if secret in _record_text(r)
    ]
    assert leaks == []
