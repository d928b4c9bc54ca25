"""Retry rules over real sockets: what is retried, how long it waits, what is never repeated.

Waits are asserted as the delays the client asked its (recording) sleep for, not as time.
"""

from __future__ import annotations

import email.utils
import logging
import random
import socket
import time
from pathlib import Path

import httpx
import pytest

from bot.twelvelabs import REQUEST_KEY, TwelveLabsClient, errors
from tests.fakes.twelvelabs import FakeTwelveLabs, Fault
from tests.twelvelabs.conftest import API_KEY, Sleeps, make_client
from tests.twelvelabs.test_endpoints import SCHEMA, file_size, ready_asset, sha256

ASSET = "/assets/{id}"  # the fake's template names


async def uploaded(client: TwelveLabsClient, video: Path) -> str:
    return (await client.assets.upload(video)).id


def full_jitter_bounds(count: int, initial: float = 0.01, ceiling: float = 0.05) -> list[float]:
    """The upper bound of each backoff: uniform(0, min(max, initial * 2**n)) (conftest)."""
    return [min(ceiling, initial * 2**n) for n in range(count)]


async def test_429_with_retry_after_seconds_is_honoured(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path, sleeps: Sleeps
) -> None:
    asset_id = await uploaded(client, video)
    fake.add_fault(Fault(method="GET", path=ASSET, kind="429", retry_after="2"))
    await client.assets.get(asset_id)
    assert sleeps.delays == [2.0]  # the tiny test backoff alone would be ≤ 0.01 s
    assert fake.count("GET", ASSET) == 2
    assert client.stats.retries[("GET", "/assets/{asset_id}")] == 1


async def test_429_with_retry_after_http_date(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path, sleeps: Sleeps
) -> None:
    asset_id = await uploaded(client, video)
    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds
    fake.add_fault(Fault(method="GET", path=ASSET, kind="429", retry_after=when))
    await client.assets.get(asset_id)
    [delay] = sleeps.delays
    assert 0.9 <= delay <= 2.0
    assert fake.count("GET", ASSET) == 2


async def test_429_with_ratelimit_reset(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path, sleeps: Sleeps
) -> None:
    asset_id = await uploaded(client, video)
    fake.add_fault(
        Fault(method="GET", path=ASSET, kind="429-empty", ratelimit_reset=time.time() + 1)
    )
    await client.assets.get(asset_id)
    [delay] = sleeps.delays  # the header is a whole epoch second: 1–2 s from now
    assert 0.9 <= delay <= 2.0
    assert fake.count("GET", ASSET) == 2


async def test_503_with_retry_after_is_honoured(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path, sleeps: Sleeps
) -> None:
    asset_id = await uploaded(client, video)
    fake.add_fault(Fault(method="GET", path=ASSET, kind="503", retry_after="3"))
    await client.assets.get(asset_id)
    assert sleeps.delays == [3.0]


async def test_empty_429_without_headers_uses_backoff(
    fake: FakeTwelveLabs, video: Path, sleeps: Sleeps
) -> None:
    async with make_client(fake, sleep=sleeps, rng=random.Random(7).uniform) as client:
        asset_id = await uploaded(client, video)
        fake.add_fault(Fault(method="GET", path=ASSET, kind="429-empty", times=3))
        await client.assets.get(asset_id)
    same = random.Random(7)
    assert sleeps.delays == [same.uniform(0.0, hi) for hi in full_jitter_bounds(3)]
    assert fake.count("GET", ASSET) == 4


async def test_429_retries_exhausted_gives_rate_limited_error(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path, sleeps: Sleeps
) -> None:
    asset_id = await uploaded(client, video)
    fake.add_fault(Fault(method="GET", path=ASSET, kind="429-empty", times=20, retry_after="0"))
    with pytest.raises(errors.RateLimitedError) as info:
        await client.assets.get(asset_id)
    assert info.value.status_code == 429 and info.value.transient
    assert info.value.retry_after_s == 0.0
    assert fake.count("GET", ASSET) == 5  # 1 + max_retries (4)
    assert sleeps.delays == [0.0] * 4


async def test_retry_after_is_capped(fake: FakeTwelveLabs, video: Path, sleeps: Sleeps) -> None:
    async with make_client(fake, retry_after_max_s=0.2, sleep=sleeps) as client:
        asset_id = await uploaded(client, video)
        fake.add_fault(Fault(method="GET", path=ASSET, kind="429", retry_after="3600"))
        await client.assets.get(asset_id)
    assert sleeps.delays == [0.2]


async def test_5xx_storm_then_success(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path, sleeps: Sleeps
) -> None:
    asset_id = await uploaded(client, video)
    for kind in ("500", "502", "503", "504"):
        fake.add_fault(Fault(method="GET", path=ASSET, kind=kind))
    detail = await client.assets.get(asset_id)
    assert detail.id == asset_id
    statuses = [c.status for c in fake.calls if c.template == ASSET]
    assert statuses == [500, 502, 503, 504, 200]
    assert sum(client.stats.retries.values()) == 4
    assert len(sleeps.delays) == 4  # full jitter: anywhere from 0 up to the doubling ceiling
    assert all(0.0 <= d <= hi for d, hi in zip(sleeps.delays, full_jitter_bounds(4), strict=True))


async def test_5xx_storm_exhausts_retries(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    asset_id = await uploaded(client, video)
    fake.add_fault(Fault(method="GET", path=ASSET, kind="503", times=50))
    with pytest.raises(errors.ServerError) as info:
        await client.assets.get(asset_id)
    assert info.value.status_code == 503 and info.value.code == "service_unavailable"
    assert fake.count("GET", ASSET) == 5


async def test_no_retries_when_disabled(fake: FakeTwelveLabs, video: Path) -> None:
    async with make_client(fake, max_retries=0) as client:
        asset_id = await uploaded(client, video)
        fake.add_fault(Fault(method="GET", path=ASSET, kind="503"))
        with pytest.raises(errors.ServerError):
            await client.assets.get(asset_id)
        assert fake.count("GET", ASSET) == 1


async def test_dropped_connection_on_get_is_retried(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    asset_id = await uploaded(client, video)
    fake.add_fault(Fault(method="GET", path=ASSET, kind="drop", times=2))
    assert (await client.assets.get(asset_id)).id == asset_id
    assert fake.count("GET", ASSET) == 3


async def test_read_timeout_on_get_is_retried(fake: FakeTwelveLabs, video: Path) -> None:
    async with make_client(fake, read_timeout_s=0.3) as client:
        asset_id = await uploaded(client, video)
        fake.add_fault(Fault(method="GET", path=ASSET, kind="delay", delay_s=1.0))
        assert (await client.assets.get(asset_id)).id == asset_id
        assert fake.count("GET", ASSET) == 2


async def test_401_fails_fast(client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path) -> None:
    asset_id = await uploaded(client, video)
    fake.add_fault(Fault(method="GET", path=ASSET, kind="401"))
    with pytest.raises(errors.AuthenticationError) as info:
        await client.assets.wait(asset_id, timeout_s=10)
    assert info.value.code == "api_key_invalid" and info.value.permanent
    assert fake.count("GET", ASSET) == 1
    assert sum(client.stats.retries.values()) == 0


# ---------------------------------------------------------------------------- create POSTs
# (every create, every ambiguous failure: test_creates.py)


async def test_drop_before_create_is_looked_up_then_sent_again(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path, sleeps: Sleeps
) -> None:
    fake.add_fault(Fault(method="POST", path="/assets", kind="drop"))
    asset = await client.assets.upload(video)
    assert [c.status for c in fake.calls if c.template == "/assets"] == [0, 200, 201]
    assert [c.method for c in fake.calls if c.template == "/assets"] == ["POST", "GET", "POST"]
    assert list(fake.assets) == [asset.id]
    assert len(sleeps.delays) == 1 and 0.0 <= sleeps.delays[0] <= 0.01


async def test_drop_after_create_is_found_so_no_duplicate(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    fake.add_fault(Fault(method="POST", path="/assets", kind="drop-after"))
    asset = await client.assets.upload(video)
    assert fake.count("POST", "/assets") == 1
    assert list(fake.assets) == [asset.id]  # created once, never twice


async def test_5xx_on_create_is_retried_after_a_look_up(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    fake.add_fault(Fault(method="POST", path="/assets", kind="503"))
    asset = await client.assets.upload(video)
    assert fake.count("POST", "/assets") == 2 and fake.count("GET", "/assets") == 1
    assert list(fake.assets) == [asset.id]


async def test_drop_on_indexed_asset_create_is_found_not_repeated(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    asset = await ready_asset(client, video)
    index = await client.indexes.find_or_create("i")
    fake.add_fault(Fault(method="POST", path="/indexes/{id}/indexed-assets", kind="drop-after"))
    ref = await client.indexes.indexed_assets.create(index.id, asset.id)
    assert list(fake.indexed_assets) == [ref.id] and ref.asset_id == asset.id
    assert fake.count("POST", "/indexes/{id}/indexed-assets") == 1


async def test_dropped_index_create_is_resolved_by_looking_again(
    client: TwelveLabsClient, fake: FakeTwelveLabs
) -> None:
    fake.add_fault(Fault(method="POST", path="/indexes", kind="drop-after"))
    index = await client.indexes.find_or_create("dropped")
    assert len(fake.indexes) == 1 and index.id in fake.indexes
    assert fake.count("POST", "/indexes") == 1


async def test_429_on_direct_upload_resends_every_field_and_the_whole_file(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    fake.add_fault(Fault(method="POST", path="/assets", kind="429", times=2))
    asset = await client.assets.upload(
        video, filename="retried.mp4", user_metadata={"k": "v"}, request_key="r1"
    )
    assert len(fake.assets) == 1
    posts = [c for c in fake.calls if c.template == "/assets"]
    assert [c.status for c in posts] == [429, 429, 201]  # a 429 proves nothing: no look-up
    state = fake.assets[asset.id]
    assert state.filename == "retried.mp4" and state.user_metadata == {"k": "v", REQUEST_KEY: "r1"}
    assert state.size == file_size(video)
    assert state.sha256 == sha256(video)
    assert posts[-1].body["method"] == "direct" and posts[-1].body["enable_thumbnail"] == "true"


class FlakyConnect(httpx.AsyncBaseTransport):
    """Real transport, but the first `failures` POSTs fail to connect (nothing is sent)."""

    def __init__(self, failures: int) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.failures = failures

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and self.failures > 0:
            self.failures -= 1
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_connect_error_on_create_is_retried_with_intact_body(
    fake: FakeTwelveLabs, video: Path
) -> None:
    async with make_client(fake, transport=FlakyConnect(2)) as client:
        asset = await client.assets.upload(video, filename="c.mp4")
        assert client.stats.retries[("POST", "/assets")] == 2
    assert fake.count("POST", "/assets") == 1
    assert fake.count("GET", "/assets") == 0  # never sent: nothing to look up
    assert fake.assets[asset.id].size == file_size(video)
    assert fake.assets[asset.id].filename == "c.mp4"


async def test_connection_refused_everywhere(video: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again on exit: nothing listens there
    sleeps = Sleeps()
    client = TwelveLabsClient(
        API_KEY,
        f"http://127.0.0.1:{port}/v1.3",
        max_retries=2,
        backoff_initial_s=0.01,
        sleep=sleeps,
    )
    async with client:
        with pytest.raises(errors.TransportError) as info:
            await client.assets.upload(video)
    assert not info.value.may_have_succeeded and info.value.transient
    assert client.stats.requests[("POST", "/assets")] == 3
    assert client.stats.requests[("GET", "/assets")] == 0
    assert len(sleeps.delays) == 2


# ---------------------------------------------------------------------------- idempotency key


async def test_analysis_task_retries_reuse_the_idempotency_key(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    asset = await ready_asset(client, video)
    fake.add_fault(Fault(method="POST", path="/analyze/tasks", kind="503", times=2))
    fake.add_fault(Fault(method="POST", path="/analyze/tasks", kind="drop-after"))
    ref = await client.analysis.create(asset_id=asset.id, prompt="p", json_schema=SCHEMA)
    posts = [c for c in fake.calls if c.template == "/analyze/tasks" and c.method == "POST"]
    assert len(posts) == 3  # 503, 503, created-then-dropped (then found by its custom_id)
    keys = {c.headers.get("idempotency-key") for c in posts}
    assert len(keys) == 1 and None not in keys
    assert list(fake.tasks) == [ref.task_id]  # exactly one task


async def test_idempotency_key_given_and_fresh_per_call(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    asset = await ready_asset(client, video)
    first = await client.analysis.create(
        asset_id=asset.id, prompt="p", json_schema=SCHEMA, idempotency_key="job-42-analysis"
    )
    again = await client.analysis.create(
        asset_id=asset.id, prompt="p", json_schema=SCHEMA, idempotency_key="job-42-analysis"
    )
    assert again.task_id == first.task_id
    await client.analysis.create(asset_id=asset.id, prompt="p", json_schema=SCHEMA)
    await client.analysis.create(asset_id=asset.id, prompt="p", json_schema=SCHEMA)
    keys = [c.headers["idempotency-key"] for c in fake.calls if c.template == "/analyze/tasks"]
    assert keys[:2] == ["job-42-analysis", "job-42-analysis"]
    assert len(set(keys[2:])) == 2
    assert len(fake.tasks) == 3


# ---------------------------------------------------------------------------- secrets and logs


async def test_api_key_never_in_errors_or_logs(
    fake: FakeTwelveLabs, video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "tl-live-SECRET-0123456789"
    fake.configure(api_key=secret)
    caplog.set_level(logging.DEBUG)
    raised: list[errors.TwelveLabsError] = []
    async with make_client(fake, api_key=secret) as client:
        asset = await client.assets.upload(video)
        fake.add_fault(Fault(method="GET", path=ASSET, kind="503", times=2))
        fake.add_fault(Fault(method="GET", path=ASSET, kind="drop"))
        fake.add_fault(Fault(method="GET", path=ASSET, kind="429", retry_after="0"))
        await client.assets.get(asset.id)
        fake.add_fault(Fault(method="GET", path=ASSET, kind="401"))
        fake.add_fault(Fault(method="GET", path=ASSET, kind="503", times=5))  # 1 + 4 retries
        for _ in range(2):
            try:
                await client.assets.get(asset.id)
            except errors.TwelveLabsError as exc:
                raised.append(exc)
        fake.add_fault(Fault(method="POST", path="/assets", kind="drop", times=5))
        try:
            await client.assets.upload(video)  # looked up and re-sent, then given up
        except errors.TwelveLabsError as exc:
            raised.append(exc)
        assert secret not in repr(client)
    async with make_client(fake, api_key=secret + "-wrong") as wrong:
        try:
            await wrong.assets.get(asset.id)
        except errors.TwelveLabsError as exc:
            raised.append(exc)
    assert [type(e) for e in raised] == [
        errors.AuthenticationError,
        errors.ServerError,
        errors.TransportError,
        errors.AuthenticationError,
    ]
    for err in raised:
        for text in (str(err), repr(err), repr(err.args), repr(vars(err))):
            assert secret not in text
            assert "x-api-key" not in text.lower()
    assert "retry" in caplog.text  # the retries were logged…
    assert secret not in caplog.text  # …without the key
    assert all(secret not in str(r.args) for r in caplog.records)
    # every retry line names method, path template, reason, attempt and delay
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.twelvelabs"]
    assert "TwelveLabs GET /assets/{asset_id} failed (HTTP 503); retry 1/4 in " in "\n".join(lines)
    assert any("(RemoteProtocolError)" in line or "(ReadError)" in line for line in lines)


async def test_polling_outlives_an_outage_longer_than_the_retries(
    client: TwelveLabsClient, fake: FakeTwelveLabs, video: Path
) -> None:
    asset_id = await uploaded(client, video)
    fake.add_fault(Fault(method="GET", path=ASSET, kind="503", times=7))  # > 1 + 4 attempts
    detail = await client.assets.wait(asset_id, timeout_s=10)
    assert detail.status == "ready"
    assert fake.count("GET", ASSET) >= 8
