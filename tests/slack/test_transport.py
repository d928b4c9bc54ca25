"""`SlackRetry`, the one retry point for Slack's Web API: a real `AsyncWebClient` against the
fake Slack on loopback. The handler's sleep records the delays it was asked for (and waits for
nothing); its jitter comes from a seeded generator, so the delays are known in advance."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.transport import SlackRetry, configure_client
from bot.transient import is_transient_slack
from tests.fakes.slack import FakeSlack
from tests.jobs.rig import CHANNEL
from tests.slack.conftest import BOT_TOKEN

SEED = 1234
RETRIES = 3
INITIAL_S = 0.5


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def backoff(n: int) -> list[float]:
    """The first n delays the handler draws: full jitter under a doubling ceiling."""
    rng = random.Random(SEED)
    return [rng.uniform(0.0, min(20.0, INITIAL_S * 2**i)) for i in range(n)]


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(fake_slack: FakeSlack, sleeps: Sleeps) -> AsyncIterator[AsyncWebClient]:
    web = AsyncWebClient(token=BOT_TOKEN)
    retry = SlackRetry(
        max_retries=RETRIES,
        backoff_initial_s=INITIAL_S,
        sleep=sleeps,
        rng=random.Random(SEED).uniform,
    )
    configure_client(web, fake_slack.api_url, retry=retry, timeout_s=5)
    yield web


async def _message(client: AsyncWebClient) -> str:
    resp = await client.chat_postMessage(channel=CHANNEL, text="before")
    return str(resp["ts"])


def _statuses(fake: FakeSlack, method: str) -> list[int]:
    return [c.status for c in fake.calls(method)]


async def test_5xx_then_ok_is_retried_after_jittered_backoff(
    client: AsyncWebClient, fake_slack: FakeSlack, sleeps: Sleeps
) -> None:
    fake_slack.server_error("conversations.info", times=2, status=503)
    resp = await client.conversations_info(channel=CHANNEL)

    assert resp["ok"] is True
    assert _statuses(fake_slack, "conversations.info") == [503, 503, 200]
    assert sleeps.delays == backoff(2)
    assert sleeps.delays[1] != sleeps.delays[0]  # jitter: not in lockstep


async def test_retries_run_out_and_the_error_goes_up(
    client: AsyncWebClient, fake_slack: FakeSlack, sleeps: Sleeps
) -> None:
    fake_slack.server_error("conversations.info", times=10, status=500)
    with pytest.raises(SlackApiError) as raised:
        await client.conversations_info(channel=CHANNEL)

    assert len(fake_slack.calls("conversations.info")) == RETRIES + 1
    assert sleeps.delays == backoff(RETRIES)
    assert is_transient_slack(raised.value)  # the job runner tries again later


async def test_429_waits_as_long_as_retry_after_says(
    client: AsyncWebClient, fake_slack: FakeSlack, sleeps: Sleeps
) -> None:
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=2)
    await client.chat_postMessage(channel=CHANNEL, text="hello")

    assert sleeps.delays == [2.0]
    assert _statuses(fake_slack, "chat.postMessage") == [429, 200]
    assert len(fake_slack.messages(CHANNEL)) == 1  # refused, then posted once


async def test_ratelimited_error_on_post_message_is_retried(
    client: AsyncWebClient, fake_slack: FakeSlack, sleeps: Sleeps
) -> None:
    fake_slack.fail("chat.postMessage", "ratelimited")
    await client.chat_postMessage(channel=CHANNEL, text="hello")

    assert sleeps.delays == backoff(1)
    assert len(fake_slack.calls("chat.postMessage")) == 2
    assert len(fake_slack.messages(CHANNEL)) == 1


async def test_post_message_5xx_is_not_sent_again(
    client: AsyncWebClient, fake_slack: FakeSlack, sleeps: Sleeps
) -> None:
    fake_slack.server_error("chat.postMessage", times=1, status=503)
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel=CHANNEL, text="hello")

    assert len(fake_slack.calls("chat.postMessage")) == 1 and sleeps.delays == []
    assert fake_slack.messages(CHANNEL) == []
    assert is_transient_slack(raised.value)  # the caller looks for it, then posts again


async def test_post_message_502_after_the_effect_leaves_exactly_one_message(
    client: AsyncWebClient, fake_slack: FakeSlack, sleeps: Sleeps
) -> None:
    fake_slack.server_error("chat.postMessage", times=1, status=502, after_effect=True)
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel=CHANNEL, text="hello")

    assert [m.text for m in fake_slack.messages(CHANNEL)] == ["hello"]
    assert len(fake_slack.calls("chat.postMessage")) == 1 and sleeps.delays == []


async def test_update_502_after_the_effect_is_repeated(
    client: AsyncWebClient, fake_slack: FakeSlack, sleeps: Sleeps
) -> None:
    ts = await _message(client)
    fake_slack.server_error("chat.update", times=1, status=502, after_effect=True)
    resp = await client.chat_update(channel=CHANNEL, ts=ts, text="after")

    assert resp["ok"] is True and sleeps.delays == backoff(1)
    assert _statuses(fake_slack, "chat.update") == [502, 200]
    message = fake_slack.message(CHANNEL, ts)
    assert message is not None and message.text == "after"  # an edit is safe to repeat


@pytest.mark.parametrize(
    ("method", "error"),
    [("chat.update", "message_not_found"), ("chat.postMessage", "channel_not_found")],
)
async def test_permanent_error_is_not_retried(
    client: AsyncWebClient, fake_slack: FakeSlack, sleeps: Sleeps, method: str, error: str
) -> None:
    ts = await _message(client)
    before = len(fake_slack.calls(method))
    fake_slack.fail(method, error)
    with pytest.raises(SlackApiError) as raised:
        await client.api_call(method, json={"channel": CHANNEL, "ts": ts, "text": "x"})

    assert raised.value.response["error"] == error
    assert len(fake_slack.calls(method)) == before + 1 and sleeps.delays == []
    assert not is_transient_slack(raised.value)


async def test_connection_refused_is_retried_even_for_a_post(sleeps: Sleeps) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # nothing listens there now: the request never leaves
    web = AsyncWebClient(token=BOT_TOKEN)
    retry = SlackRetry(max_retries=2, sleep=sleeps, rng=random.Random(SEED).uniform)
    configure_client(web, f"http://127.0.0.1:{port}/api/", retry=retry)

    with pytest.raises(Exception) as raised:
        await web.chat_postMessage(channel=CHANNEL, text="hello")
    assert is_transient_slack(raised.value)
    assert sleeps.delays == backoff(2)
