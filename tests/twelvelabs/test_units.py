"""Pure pieces of the TwelveLabs client: error bodies, retry headers, backoff, form bodies."""

from __future__ import annotations

import email.utils
import os
import time
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.twelvelabs import errors, models
from bot.twelvelabs.formdata import FileRange, FormBody, FormFile
from bot.twelvelabs.multipart import deduce_chunk_size, strip_etag
from bot.twelvelabs.polling import poll_until
from bot.twelvelabs.retry import (
    RetryMode,
    RetryPolicy,
    is_retryable_exception,
    is_retryable_status,
    parse_retry_after,
    parse_server_delay,
)
from tests.twelvelabs.conftest import VirtualClock

# ---------------------------------------------------------------------------- error bodies


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            b'{"code":"parameter_invalid","message":"bad x","docs_url":"https://d"}',
            "parameter_invalid",
            "bad x",
        ),
        (
            b'{"error":{"code":"resource_not_exist","message":"no task","details":{"a":1}}}',
            "resource_not_exist",
            "no task",
        ),
        (
            b'{"error_code":"search_page_token_expired","message":"expired"}',
            "search_page_token_expired",
            "expired",
        ),
        (b"", None, None),
        (b"   ", None, None),
        (
            b"<html><body>502 Bad Gateway</body></html>",
            None,
            "<html><body>502 Bad Gateway</body></html>",
        ),
        (b'"just a string"', None, "just a string"),
        (b'{"error":"flat string"}', None, "flat string"),
    ],
)
def test_parse_error_body_shapes(body: bytes, code: str | None, message: str | None) -> None:
    got_code, got_message, _, _ = errors.parse_error_body(body)
    assert got_code == code
    assert got_message == message


def test_error_from_response_classes_and_flags() -> None:
    def make(status: int, body: bytes = b"") -> errors.APIStatusError:
        return errors.error_from_response(status, body, method="GET", path="/assets/{asset_id}")

    assert isinstance(make(400), errors.BadRequestError)
    assert isinstance(make(409), errors.BadRequestError)
    assert isinstance(make(422), errors.BadRequestError)
    assert isinstance(make(401), errors.AuthenticationError)
    assert isinstance(make(403), errors.PermissionDeniedError)
    assert isinstance(make(404), errors.NotFoundError)
    assert isinstance(make(429), errors.RateLimitedError)
    assert isinstance(make(503), errors.ServerError)
    assert make(503).transient and make(429).transient and make(408).transient
    assert make(400).permanent and make(401).permanent and make(404).permanent
    not_ready = make(400, b'{"code":"video_not_ready","message":"still indexing"}')
    assert not_ready.transient and not_ready.code == "video_not_ready"
    assert "HTTP 404" in str(make(404)) and "/assets/{asset_id}" in str(make(404))
    assert errors.TransportError("x").transient
    assert errors.PollTimeout("x").transient
    assert errors.AssetFailed("bad", resource_id="a1").permanent
    assert isinstance(errors.RequestTimeout("x"), errors.TimeoutError)
    assert isinstance(errors.RequestTimeout("x"), errors.TransportError)
    assert make(503, b"").retry_after_s is None
    delayed = errors.error_from_response(503, b"", method="GET", path="/x", retry_after_s=4.0)
    assert delayed.retry_after_s == 4.0


def _samples() -> dict[type[errors.TwelveLabsError], list[tuple[errors.TwelveLabsError, bool]]]:
    """One or more instances of every error class, with the `transient` each must report."""

    def status(cls: type[errors.APIStatusError], code: int, api_code: str | None = None) -> Any:
        return cls("m", status_code=code, code=api_code)

    return {
        errors.TwelveLabsError: [(errors.TwelveLabsError("x"), False)],
        errors.APIStatusError: [(status(errors.APIStatusError, 418), False)],
        errors.BadRequestError: [
            (status(errors.BadRequestError, 400), False),
            (status(errors.BadRequestError, 409), False),
            (status(errors.BadRequestError, 408), True),
            (status(errors.BadRequestError, 400, "video_not_ready"), True),
        ],
        errors.AuthenticationError: [(status(errors.AuthenticationError, 401), False)],
        errors.PermissionDeniedError: [(status(errors.PermissionDeniedError, 403), False)],
        errors.NotFoundError: [(status(errors.NotFoundError, 404), False)],
        errors.ConfigurationError: [(status(errors.ConfigurationError, 404), False)],
        errors.RateLimitedError: [(status(errors.RateLimitedError, 429), True)],
        errors.ServerError: [(status(errors.ServerError, 500), True)],
        errors.TransportError: [
            (errors.TransportError("x"), True),  # after a create looked up and not found too
            (errors.TransportError("x", may_have_succeeded=False), True),
        ],
        errors.TimeoutError: [(errors.TimeoutError("x"), True)],
        errors.RequestTimeout: [(errors.RequestTimeout("x"), True)],
        errors.PollTimeout: [(errors.PollTimeout("x"), True)],
        errors.ResourceFailed: [(errors.ResourceFailed("x", resource_id="r"), False)],
        errors.AssetFailed: [(errors.AssetFailed("x", resource_id="r"), False)],
        errors.AnalysisFailed: [(errors.AnalysisFailed("x", resource_id="r"), False)],
        errors.IndexingFailed: [(errors.IndexingFailed("x", resource_id="r"), False)],
        errors.InvalidResponse: [(errors.InvalidResponse("x"), False)],
        errors.UploadFailed: [
            (errors.UploadFailed("inconsistent session"), False),
            (errors.UploadFailed("server still misses chunks", transient=True), True),
        ],
    }


def test_every_error_class_says_transient_or_permanent() -> None:
    samples = _samples()
    classes = {
        obj
        for name in errors.__all__
        if isinstance(obj := getattr(errors, name), type) and issubclass(obj, Exception)
    }
    assert classes == set(samples)  # a new error class needs an entry here
    for cls, cases in samples.items():
        for exc, transient in cases:
            assert type(exc) is cls
            assert exc.transient is transient, (cls.__name__, str(exc))
            assert exc.permanent is not transient


def test_404_on_a_path_without_an_id_is_a_configuration_error() -> None:
    def make(path: str, body: bytes = b"") -> errors.APIStatusError:
        return errors.error_from_response(404, body, method="GET", path=path)

    for path in ("/assets", "/indexes", "/analyze/tasks", "/assets/multipart-uploads"):
        exc = make(path, b'{"code":"endpoint_not_exists","message":"no route"}')
        assert isinstance(exc, errors.ConfigurationError) and exc.permanent
        assert "TWELVELABS_BASE_URL" in str(exc) and "no route" in str(exc)
    # A missing resource: the id in the path, or (POST /analyze) in the body.
    assert type(make("/assets/{asset_id}")) is errors.NotFoundError
    assert type(make("/analyze")) is errors.NotFoundError
    assert type(make("{upload_url}")) is errors.NotFoundError


def test_error_message_scrubs_secret() -> None:
    exc = errors.error_from_response(
        401,
        b'{"code":"api_key_invalid","message":"key tl-secret-123 is invalid"}',
        method="GET",
        path="/indexes",
        redact=("tl-secret-123",),
    )
    assert "tl-secret-123" not in str(exc)
    assert "tl-secret-123" not in repr(exc)
    assert exc.code == "api_key_invalid"


# ---------------------------------------------------------------------------- retry rules


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = time.time()
    date = email.utils.formatdate(now + 20, usegmt=True)
    got = parse_retry_after(date, now=now)
    assert got is not None and 18.0 <= got <= 21.0
    assert parse_retry_after(email.utils.formatdate(now - 50, usegmt=True), now=now) == 0.0


def test_parse_server_delay_headers() -> None:
    now = 1_800_000_000.0
    assert parse_server_delay({"Retry-After": "7"}, now=now) == 7.0
    assert parse_server_delay({"x-ratelimit-reset": str(now + 4)}, now=now) == 4.0
    assert parse_server_delay({"X-Ratelimit-Reset": "12"}, now=now) == 12.0  # delta form
    assert parse_server_delay({"retry-after-ms": "250"}, now=now) == 0.25
    # Retry-After wins over the reset header.
    assert (
        parse_server_delay({"Retry-After": "2", "X-Ratelimit-Reset": str(now + 40)}, now=now) == 2
    )
    assert parse_server_delay({}, now=now) is None


def test_backoff_full_jitter_and_caps() -> None:
    calls: list[tuple[float, float]] = []

    def rng(lo: float, hi: float) -> float:
        calls.append((lo, hi))
        return hi

    policy = RetryPolicy(backoff_initial_s=0.5, backoff_max_s=4.0, retry_after_max_s=10.0, rng=rng)
    assert [policy.backoff(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(lo == 0.0 for lo, _ in calls)  # full jitter: anywhere from 0
    assert policy.delay(0, 3.0) == 3.0
    assert policy.delay(0, 3600.0) == 10.0  # capped
    real = RetryPolicy(backoff_initial_s=1.0, backoff_max_s=8.0)
    samples = [real.backoff(3) for _ in range(200)]
    assert 0.0 <= min(samples) and max(samples) <= 8.0 and len(set(samples)) > 100


def test_retry_classification() -> None:
    req = httpx.Request("POST", "http://x/assets")
    connect = httpx.ConnectError("refused", request=req)
    dropped = httpx.RemoteProtocolError("Server disconnected", request=req)
    read_timeout = httpx.ReadTimeout("slow", request=req)
    for mode in RetryMode:
        assert is_retryable_exception(connect, mode)
    assert is_retryable_exception(dropped, RetryMode.IDEMPOTENT)
    assert not is_retryable_exception(dropped, RetryMode.CREATE)
    assert is_retryable_exception(read_timeout, RetryMode.IDEMPOTENT)
    assert not is_retryable_exception(read_timeout, RetryMode.CREATE)
    assert not is_retryable_exception(read_timeout, RetryMode.NO_READ_RETRY)
    assert not is_retryable_exception(
        httpx.UnsupportedProtocol("x", request=req), RetryMode.IDEMPOTENT
    )
    for status in (408, 429, 500, 502, 503, 504):
        assert is_retryable_status(status, RetryMode.IDEMPOTENT)
    for status in (400, 401, 403, 404, 409, 422, 501):
        assert not is_retryable_status(status, RetryMode.IDEMPOTENT)
    assert is_retryable_status(429, RetryMode.CREATE)
    for status in (500, 502, 503, 504, 408):
        assert not is_retryable_status(status, RetryMode.CREATE)


# ---------------------------------------------------------------------------- models


def test_models_map_ids_and_tolerate_unknowns() -> None:
    asset = models.AssetDetail.model_validate(
        {
            "_id": "a1",
            "status": "transcoding",  # a status we do not know
            "size": 10,
            "duration": 4.5,
            "thumbnail": {"representative_url": "https://t/1.jpg", "status": "ready"},
            "error": {"message": "nope"},
            "brand_new_field": {"x": 1},
        }
    )
    assert asset.id == "a1" and asset.status == "transcoding"
    assert asset.thumbnail_url == "https://t/1.jpg" and asset.error_message == "nope"
    assert asset.duration_s == 4.5
    assert str(models.AssetStatus.READY) == "ready" and "ready" in models.ASSET_STATUSES
    assert "ready" in models.ASSET_TERMINAL and "transcoding" not in models.ASSET_TERMINAL
    assert models.ANALYSIS_TASK_TERMINAL == {"ready", "failed", "canceled"}
    assert "validating" in set(models.IndexedAssetStatus)
    task = models.AnalysisTask.model_validate(
        {"task_id": "t", "status": "ready", "result": {"data": {"title": "x"}, "usage": {}}}
    )
    assert task.result is not None and task.result.data == '{"title": "x"}'
    assert models.Index.model_validate({"_id": "i", "index_name": "n"}).id == "i"


def test_parse_time() -> None:
    assert models.parse_time("2026-07-01T10:00:00Z") is not None
    assert models.parse_time("2026-07-01T10:00:00.123+02:00") is not None
    assert models.parse_time("garbage") is None
    assert models.parse_time(None) is None


# ---------------------------------------------------------------------------- multipart pieces


def test_strip_etag() -> None:
    assert strip_etag('"abc"') == "abc"
    assert strip_etag('W/"abc"') == "abc"
    assert strip_etag("abc") == "abc"


def test_deduce_chunk_size() -> None:
    total = 10 * 100 + 37  # 11 chunks of 100, last one 37
    # chunks 1..4 done: all full
    assert deduce_chunk_size(total, 400, {1, 2, 3, 4}) == 100
    # chunk 1 and the last (11) done
    assert deduce_chunk_size(total, 137, {1, 11}) == 100
    # 1, 2 and 11 (237 bytes) also fit three full chunks of 79: ambiguous, so no answer
    assert deduce_chunk_size(total, 237, {1, 2, 11}) is None
    assert deduce_chunk_size(total, 0, set()) is None
    # everything done in a single chunk
    assert deduce_chunk_size(50, 50, {1}) == 50


async def test_file_range_streams_exact_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 40
    path.write_bytes(data)
    seen: list[int] = []

    async def on_bytes(n: int) -> None:
        seen.append(n)

    rng = FileRange(path, 1000, 5000, piece_size=1024)
    got = b"".join([piece async for piece in rng.stream(on_bytes)])
    assert got == data[1000:6000]
    assert sum(seen) == 5000 and max(seen) <= 1024


async def test_file_range_refuses_a_file_that_shrank(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 5000)
    rng = FileRange(path, 0, 8000, piece_size=1024)
    with pytest.raises(OSError, match="shrank"):
        _ = [piece async for piece in rng.stream()]


async def test_file_range_closed_early_leaves_no_file_open(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"y" * 10_000)
    before = len(os.listdir("/proc/self/fd"))
    stream = FileRange(path, 0, 10_000, piece_size=1024).stream()
    assert await stream.__anext__() == b"y" * 1024  # the next piece is being read ahead
    await stream.aclose()
    assert len(os.listdir("/proc/self/fd")) == before


async def test_form_body_is_valid_multipart_with_exact_length(tmp_path: Path) -> None:
    path = tmp_path / 'we"ird.mp4'
    payload = b"\x00\x01video-bytes\r\n--not-a-boundary\r\n" * 1000
    path.write_bytes(payload)
    body = FormBody(
        [("method", "direct"), ("filename", "clip ü.mp4"), ("enable_thumbnail", "true")],
        FormFile("file", path, 'we"ird.mp4', "video/mp4"),
    )
    first = b"".join([piece async for piece in body.open()])
    second = b"".join([piece async for piece in body.open()])  # re-openable for retries
    assert first == second
    assert len(first) == body.content_length
    msg = message_from_bytes(b"Content-Type: " + body.content_type.encode() + b"\r\n\r\n" + first)
    parts = msg.get_payload()
    assert isinstance(parts, list)
    by_name: dict[str, Message] = {}
    for part in parts:
        assert isinstance(part, Message)
        by_name[str(part.get_param("name", header="content-disposition"))] = part

    def payload_of(name: str) -> bytes:
        data = by_name[name].get_payload(decode=True)
        assert isinstance(data, bytes)
        return data

    assert payload_of("method") == b"direct"
    assert payload_of("filename").decode() == "clip ü.mp4"
    assert payload_of("enable_thumbnail") == b"true"
    assert payload_of("file") == payload
    assert by_name["file"].get_content_type() == "video/mp4"


# ---------------------------------------------------------------------------- polling


async def test_poll_until_backoff_callbacks_and_unknown_status() -> None:
    statuses = iter(["queued", "queued", "mystery", "processing", "ready"])
    sleeps: list[float] = []
    seen: list[str] = []

    async def fetch() -> str:
        return next(statuses)

    async def sleep(s: float) -> None:
        sleeps.append(s)

    async def on_status(s: str) -> None:
        seen.append(s)

    got = await poll_until(
        fetch,
        lambda s: s,
        {"ready", "failed"},
        timeout_s=60,
        initial_s=1.0,
        max_interval_s=2.0,
        factor=1.5,
        on_status=on_status,
        sleep=sleep,
    )
    assert got == "ready"
    assert seen == ["queued", "mystery", "processing", "ready"]
    assert sleeps == [1.0, 1.5, 2.0, 2.0]


async def test_poll_until_deadline() -> None:
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        return "processing"

    clock = VirtualClock()
    with pytest.raises(errors.PollTimeout) as info:
        await poll_until(
            fetch,
            lambda s: s,
            {"ready"},
            timeout_s=0.3,
            initial_s=0.05,
            factor=1.0,
            sleep=clock.sleep,
            clock=clock.time,
        )
    assert clock.delays == pytest.approx([0.05] * 6)
    assert info.value.last_status == "processing"
    assert calls == 7  # the last one at the deadline


async def test_poll_until_propagates_fetch_errors_at_once() -> None:
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        raise errors.NotFoundError("gone", status_code=404)

    with pytest.raises(errors.NotFoundError):
        await poll_until(fetch, lambda s: s, {"ready"}, timeout_s=10, initial_s=0.01)
    assert calls == 1


async def test_poll_until_rides_out_transient_errors_until_the_deadline() -> None:
    outcomes: list[object] = [
        errors.ServerError("down", status_code=503),
        errors.TransportError("reset"),
        "ready",
    ]

    async def fetch() -> str:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        assert isinstance(item, str)
        return item

    clock = VirtualClock()
    got = await poll_until(
        fetch, lambda s: s, {"ready"}, timeout_s=5, initial_s=0.01, sleep=clock.sleep
    )
    assert got == "ready" and clock.delays == pytest.approx([0.01, 0.015])
    down = 0

    async def always_down() -> str:
        nonlocal down
        down += 1
        raise errors.ServerError("down", status_code=503)

    clock = VirtualClock()
    with pytest.raises(errors.ServerError):
        await poll_until(
            always_down,
            lambda s: s,
            {"ready"},
            timeout_s=0.1,
            initial_s=0.05,
            factor=1.0,
            sleep=clock.sleep,
            clock=clock.time,
        )
    assert clock.delays == pytest.approx([0.05, 0.05]) and down == 3
