"""The request layer: one pooled `httpx.AsyncClient`, retries, typed errors, counters.

Every call names its *path template* (`/assets/{asset_id}`); that template, never the full URL,
is what goes into logs, exceptions and counters. The API key is sent only to the API base URL
(presigned upload URLs get no `x-api-key`), and it never appears in a log line or an error.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
import re
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from bot import metrics

from . import errors
from .formdata import FileBody, FormBody
from .pacing import Pacer
from .retry import (
    RetryMode,
    RetryPolicy,
    is_retryable_exception,
    is_retryable_status,
    parse_server_delay,
    request_never_sent,
)

__all__ = ["ApiSession", "ClientStats", "parse_model"]

log = logging.getLogger("bot.twelvelabs")

M = TypeVar("M", bound=pydantic.BaseModel)
Body = FormBody | FileBody
AttemptBytesCb = Callable[[int], Awaitable[None]]  # bytes of the body sent so far, this attempt

_MAX_ERROR_BODY = 64 * 1024
_URL_RE = re.compile(r"https?://\S+")
USER_AGENT = f"gistbot-twelvelabs/0.1 httpx/{httpx.__version__}"


@dataclass
class ClientStats:
    """HTTP attempts and retries, per `(method, path template)`."""

    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    retries: Counter[tuple[str, str]] = field(default_factory=Counter)


def parse_model(model: type[M], response: httpx.Response, *, method: str, path: str) -> M:
    """Validate a 2xx JSON body into `model`, mapping any failure to `InvalidResponse`."""
    try:
        doc = jsonlib.loads(response.content) if response.content else {}
    except ValueError:
        raise errors.InvalidResponse(
            f"response is not JSON (HTTP {response.status_code})", method=method, path=path
        ) from None
    try:
        return model.model_validate(doc)
    except pydantic.ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "<root>" for e in exc.errors())
        raise errors.InvalidResponse(
            f"unexpected {model.__name__} response (fields: {fields})", method=method, path=path
        ) from None


class ApiSession:
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        policy: RetryPolicy,
        timeout: httpx.Timeout,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 20,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        pacer: Pacer | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("a TwelveLabs API key is required")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.timeout = timeout
        self.stats = ClientStats()
        self.sleep = sleep  # every wait of the client (retries, polling) goes through this
        # Told each attempt's HTTP status (None: no answer), e.g. the adaptive concurrency.
        self.observers: list[Callable[[int | None], None]] = []
        # Spaces API calls once the account's rate limit shows (presigned uploads are not
        # API calls: they go to storage, which has its own limits).
        self.pacer = pacer or Pacer()
        metrics.twelvelabs_pace(lambda: self.pacer.rate)
        self._http = httpx.AsyncClient(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    def _attempted(
        self, method: str, template: str, status: int | None, sent_at: float | None
    ) -> None:
        """`sent_at`: when the pacer let an API call go (None: not an API call)."""
        metrics.twelvelabs_attempt(method, template, status)
        if sent_at is not None:
            self.pacer.observe(status, sent_at)
        for observe in self.observers:
            observe(status)

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        await self.pacer.aclose()
        await self._http.aclose()

    # ------------------------------------------------------------------ helpers

    def redact(self, text: str) -> str:
        """Scrub the key and URL query strings (presigned signatures) from free text."""
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return _URL_RE.sub(lambda m: m.group(0).split("?", 1)[0], text)

    def url_for(self, template: str, path_params: Mapping[str, str] | None) -> str:
        path = template
        for name, value in (path_params or {}).items():
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
        return self.base_url + path

    # ------------------------------------------------------------------ the request loop

    async def request(
        self,
        method: str,
        template: str,
        *,
        mode: RetryMode,
        path_params: Mapping[str, str] | None = None,
        url: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        http_timeout: httpx.Timeout | None = None,
        on_attempt_bytes: AttemptBytesCb | None = None,
    ) -> httpx.Response:
        """Send with retries; return a 2xx/3xx-free response whose body has been read.

        `url` (absolute) overrides the base URL + template (presigned uploads); `template` is
        still what logs and counters show. `body` is re-opened for every attempt.
        """
        target = url if url is not None else self.url_for(template, path_params)
        # A create is sent once here: `creates.create_once` owns its retries, because an
        # ambiguous failure must be looked up before the create is repeated.
        retries = 0 if mode is RetryMode.CREATE else self.policy.max_retries
        retry_number = 0
        key = (method, template)
        while True:
            self.stats.requests[key] += 1
            stream = self._open_body(body, on_attempt_bytes)
            request = self._build(
                method, target, params, json, body, stream, headers, auth, http_timeout
            )
            response: httpx.Response | None = None
            sent_at: float | None = None
            try:
                if auth:
                    sent_at = await self.pacer.slot()
                response = await self._http.send(request, stream=True)
                if response.status_code < 300:
                    await response.aread()
                    await response.aclose()
                    self._attempted(method, template, response.status_code, sent_at)
                    return response
            except httpx.TransportError as exc:
                self._attempted(method, template, None, sent_at)
                if response is not None:
                    await response.aclose()
                if retry_number < retries and is_retryable_exception(exc, mode):
                    await self.pause_before_retry(
                        method, template, type(exc).__name__, retry_number, None
                    )
                    retry_number += 1
                    continue
                raise self._transport_error(exc, method, template) from exc
            finally:
                if stream is not None:
                    await stream.aclose()

            status = response.status_code
            self._attempted(method, template, status, sent_at)
            server_delay = parse_server_delay(response.headers)
            if retry_number < retries and is_retryable_status(status, mode):
                await self._discard(response)  # free the connection before sleeping
                await self.pause_before_retry(
                    method, template, f"HTTP {status}", retry_number, server_delay
                )
                retry_number += 1
                continue
            content = await self._read_error_body(response)
            raise errors.error_from_response(
                status,
                content,
                method=method,
                path=template,
                retry_after_s=server_delay,
                redact=(self._api_key,),
            )

    async def pause_before_retry(
        self,
        method: str,
        template: str,
        reason: str,
        retry_number: int,
        server_delay: float | None,
    ) -> float:
        """The one place a retry waits: log it, count it, sleep (injectable). Returns the delay.

        `retry_number` is 0 before the first retry; `server_delay` (Retry-After…) wins over
        the jittered backoff, capped by the policy.
        """
        delay = self.policy.delay(retry_number, server_delay)
        self._log_retry(method, template, reason, retry_number, delay)
        self.stats.retries[(method, template)] += 1
        await self.sleep(delay)
        return delay

    def _open_body(
        self, body: Body | None, on_attempt_bytes: AttemptBytesCb | None
    ) -> AsyncGenerator[bytes, None] | None:
        if body is None:
            return None
        if on_attempt_bytes is None:
            return body.open()
        sent = 0

        async def counted(n: int) -> None:
            nonlocal sent
            sent += n
            await on_attempt_bytes(sent)

        return body.open(counted)

    def _build(
        self,
        method: str,
        target: str,
        params: Mapping[str, Any] | None,
        json: Any,
        body: Body | None,
        stream: AsyncGenerator[bytes, None] | None,
        extra_headers: Mapping[str, str] | None,
        auth: bool,
        timeout: httpx.Timeout | None,
    ) -> httpx.Request:
        headers: dict[str, str] = {}
        if auth:
            headers["Accept"] = "application/json"
            headers["x-api-key"] = self._api_key
        if body is not None:
            headers["Content-Length"] = str(body.content_length)
            if isinstance(body, FormBody):
                headers["Content-Type"] = body.content_type
        if extra_headers:
            headers.update(extra_headers)
        return self._http.build_request(
            method,
            target,
            params={k: v for k, v in params.items() if v is not None} if params else None,
            json=json,
            content=stream,
            headers=headers,
            timeout=timeout if timeout is not None else self.timeout,
        )

    async def _discard(self, response: httpx.Response) -> None:
        """Close a response we will not use; drain a small body so the connection is reused."""
        try:
            length = int(response.headers.get("content-length", "-1"))
        except ValueError:
            length = -1
        try:
            if 0 <= length <= _MAX_ERROR_BODY:
                await response.aread()
        except httpx.HTTPError:
            pass
        finally:
            await response.aclose()

    async def _read_error_body(self, response: httpx.Response) -> bytes:
        buf = bytearray()
        try:
            async for piece in response.aiter_bytes():
                buf += piece
                if len(buf) >= _MAX_ERROR_BODY:
                    break
        except httpx.HTTPError:
            pass
        finally:
            await response.aclose()
        return bytes(buf[:_MAX_ERROR_BODY])

    def _transport_error(
        self, exc: httpx.TransportError, method: str, template: str
    ) -> errors.TransportError:
        detail = self.redact(str(exc))[:200]
        message = type(exc).__name__ + (f": {detail}" if detail else "")
        cls = (
            errors.RequestTimeout
            if isinstance(exc, httpx.TimeoutException)
            else errors.TransportError
        )
        return cls(
            message, method=method, path=template, may_have_succeeded=not request_never_sent(exc)
        )

    def _log_retry(
        self, method: str, template: str, reason: str, retry_number: int, delay: float
    ) -> None:
        metrics.twelvelabs_retry(method, template, reason)
        level = logging.INFO if reason == "HTTP 429" else logging.WARNING
        log.log(
            level,
            "TwelveLabs %s %s failed (%s); retry %d/%d in %.2fs",
            method,
            template,
            reason,
            retry_number + 1,
            self.policy.max_retries,
            delay,
        )
