"""One small error tree for the TwelveLabs client.

Every exception carries only what is safe to show or log: the HTTP method, the API *path
template* (never a full URL: presigned upload URLs carry signatures), the status, and the API's
`code` and `message`. Never the API key, never request or response headers.

`exc.transient` tells a failure worth retrying later (rate limits, 5xx, transport trouble, a
polling deadline, a create that failed ambiguously and was looked up but not found) from a
permanent one (bad input, auth, missing resource, a failed asset, a wrong base URL).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "TRANSIENT_CODES",
    "APIStatusError",
    "AnalysisFailed",
    "AssetFailed",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "IndexingFailed",
    "InvalidResponse",
    "NotFoundError",
    "PermissionDeniedError",
    "PollTimeout",
    "RateLimitedError",
    "RequestTimeout",
    "ResourceFailed",
    "ServerError",
    "TimeoutError",
    "TransportError",
    "TwelveLabsError",
    "UploadFailed",
    "error_from_response",
    "parse_error_body",
]

# API error codes that describe a temporary condition even though the status is 4xx.
TRANSIENT_CODES = frozenset(
    {"video_not_ready", "request_canceled_or_timed_out", "too_many_requests"}
)

_MAX_MESSAGE_CHARS = 500

# Path templates without a path parameter whose definition (July 2026) still documents a 404,
# or that name a resource in their body (`/search`: the index): a resource named in the body is
# missing. A 404 on any other such template means the URL is wrong, not the resource.
_BODY_RESOURCE_404 = frozenset({"/analyze", "/analyze/batches", "/search"})


class TwelveLabsError(Exception):
    """Base of every error raised by `bot.twelvelabs`."""

    _transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path  # a path *template*, e.g. "/assets/{asset_id}"

    @property
    def transient(self) -> bool:
        """True when trying again later may succeed."""
        return self._transient

    @property
    def permanent(self) -> bool:
        return not self.transient

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        return f"{self.message}{where}"


class APIStatusError(TwelveLabsError):
    """The API answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        method: str | None = None,
        path: str | None = None,
        docs_url: str | None = None,
        details: Any = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.status_code = status_code
        self.code = code
        self.docs_url = docs_url
        self.details = details
        self.retry_after_s = retry_after_s  # from Retry-After / X-Ratelimit-Reset, when sent

    @property
    def transient(self) -> bool:
        return (
            self.status_code in (408, 429)
            or self.status_code >= 500
            or (self.code is not None and self.code in TRANSIENT_CODES)
        )

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        return f"HTTP {self.status_code}{code}: {self.message}{where}"


class BadRequestError(APIStatusError):
    """400, 409, 410, 422 and other 4xx: the request itself is wrong (or conflicts)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, invalid or expired."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this (plan, region, …)."""


class NotFoundError(APIStatusError):
    """404: no such resource."""


class ConfigurationError(APIStatusError):
    """404 on an endpoint that cannot be missing (`GET /assets`, `POST /indexes`…).

    Those paths name no resource, so the base URL must be wrong: most often it lacks the
    `/v1.3` version prefix. Retrying never helps.
    """

    @property
    def transient(self) -> bool:
        return False


class RateLimitedError(APIStatusError):
    """429, after the client's own retries ran out."""


class ServerError(APIStatusError):
    """5xx, after the client's own retries ran out."""


class TransportError(TwelveLabsError):
    """No usable HTTP response: connection refused/reset/dropped, protocol error, timeout.

    `may_have_succeeded` is True when the request may have reached the server (so a create may
    have happened); False when it provably was never sent (connect errors).
    """

    _transient = True

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        may_have_succeeded: bool = True,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.may_have_succeeded = may_have_succeeded


class TimeoutError(TwelveLabsError):  # our tree's name; not builtins.TimeoutError
    """Something took longer than allowed (a request or a polling deadline)."""

    _transient = True


class RequestTimeout(TransportError, TimeoutError):
    """An HTTP request timed out (connect, read, write or pool), after retries."""


class PollTimeout(TimeoutError):
    """A resource did not reach a terminal status before the polling deadline."""

    def __init__(self, message: str, *, last_status: str | None = None) -> None:
        super().__init__(message)
        self.last_status = last_status


class ResourceFailed(TwelveLabsError):
    """A resource reached a terminal failure status (`failed`, `canceled`…)."""

    _transient = False

    def __init__(self, message: str, *, resource_id: str, status: str = "failed") -> None:
        super().__init__(message)
        self.resource_id = resource_id
        self.status = status

    def __str__(self) -> str:
        return f"{self.message} ({self.resource_id} {self.status})"


class AssetFailed(ResourceFailed):
    """The asset ended `failed` (corrupt, unsupported, unreachable URL…)."""


class AnalysisFailed(ResourceFailed):
    """The analysis task ended `failed` or `canceled`."""


class IndexingFailed(ResourceFailed):
    """The indexed asset ended `failed`."""


class InvalidResponse(TwelveLabsError):
    """A 2xx response whose body is not the JSON document the API defines."""


class UploadFailed(TwelveLabsError):
    """A multipart upload could not be completed (session failed/expired, missing ETag…).

    `transient` is set by the raiser: chunks the server still lacks after the repair rounds may
    arrive on a later try; a session whose geometry makes no sense will not get better.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self._upload_transient = transient

    @property
    def transient(self) -> bool:
        return self._upload_transient


def _truncate(text: str) -> str:
    text = text.strip()
    if len(text) > _MAX_MESSAGE_CHARS:
        return text[: _MAX_MESSAGE_CHARS - 1] + "…"
    return text


def parse_error_body(content: bytes) -> tuple[str | None, str | None, str | None, Any]:
    """Return `(code, message, docs_url, details)` from any of the API's error-body shapes.

    Shapes: flat `{code, message, docs_url?}`; nested `{"error": {code, message, details?}}`;
    `{error_code, message}`; empty; non-JSON text (an HTML error page from a proxy, say).
    """
    if not content or not content.strip():
        return None, None, None, None
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        text = content[:2000].decode("utf-8", errors="replace")
        return None, _truncate(" ".join(text.split())) or None, None, None
    if not isinstance(doc, Mapping):
        return None, _truncate(str(doc)), None, None
    inner: Mapping[str, Any] = doc
    err = doc.get("error")
    if isinstance(err, Mapping):
        inner = err
    code = inner.get("code") or inner.get("error_code") or doc.get("code") or doc.get("error_code")
    message = inner.get("message") or doc.get("message") or inner.get("detail")
    if message is None and isinstance(err, str):
        message = err
    docs_url = inner.get("docs_url") or doc.get("docs_url")
    details = inner.get("details")
    return (
        str(code) if code is not None else None,
        _truncate(str(message)) if message is not None else None,
        str(docs_url) if docs_url is not None else None,
        details,
    )


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitedError,
}


def error_from_response(
    status_code: int,
    content: bytes,
    *,
    method: str,
    path: str,
    retry_after_s: float | None = None,
    redact: tuple[str, ...] = (),
) -> APIStatusError:
    """Build the right `APIStatusError` subclass for an error response.

    `redact` lists secrets (the API key) scrubbed from the message should the server echo them.
    """
    code, message, docs_url, details = parse_error_body(content)
    if not message:
        message = _default_message(status_code)
    for secret in redact:
        if secret:
            message = message.replace(secret, "***")
            if code:
                code = code.replace(secret, "***")
    cls: type[APIStatusError]
    if status_code == 404 and "{" not in path and path not in _BODY_RESOURCE_404:
        cls = ConfigurationError
        message = (
            f"no such endpoint at this base URL ({message}); check TWELVELABS_BASE_URL: "
            "it must include the API version, e.g. https://api.twelvelabs.io/v1.3"
        )
    elif status_code in _STATUS_CLASSES:
        cls = _STATUS_CLASSES[status_code]
    elif status_code >= 500:
        cls = ServerError
    else:
        cls = BadRequestError
    kw: dict[str, Any] = {
        "status_code": status_code,
        "code": code,
        "method": method,
        "path": path,
        "docs_url": docs_url,
        "details": details,
        "retry_after_s": retry_after_s,
    }
    return cls(message, **kw)


def _default_message(status_code: int) -> str:
    return {
        400: "bad request",
        401: "invalid or missing API key",
        403: "permission denied",
        404: "not found",
        408: "request timeout",
        409: "conflict",
        422: "unprocessable request",
        429: "rate limited",
    }.get(status_code, "server error" if status_code >= 500 else "request failed")
