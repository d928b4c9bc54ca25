"""What chaos mode's faults look like on each of the fake Slack's surfaces (see
`tests/fakes/chaos.py` for the kinds): the Web API, the file host and response_url."""

from __future__ import annotations

import json

from aiohttp import web

from tests.fakes.chaos import Injected, drop_connection

HOOK_KINDS = frozenset({"429", "429-bare", "5xx", "drop", "after-5xx", "after-drop", "stall"})
API_KINDS = HOOK_KINDS | {"error"}
FILE_KINDS = frozenset({"5xx", "mid-body"})
FILE_ENDPOINT = "files"
HOOK_ENDPOINT = "response_url"

# Errors Slack answers with HTTP 200 when it has trouble of its own.
TRANSIENT_ERRORS = ("internal_error", "fatal_error", "service_unavailable", "request_timeout")

# What Slack's edge answers when the service behind it fails: not the Web API's JSON.
_GATEWAY: dict[int, tuple[str, str]] = {
    500: (
        "text/html",
        "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n"
        "<center><h1>500 Internal Server Error</h1></center>\r\n</body>\r\n</html>\r\n",
    ),
    502: (
        "text/html",
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
    ),
    503: (
        "text/plain",
        "upstream connect error or disconnect/reset before headers. "
        "reset reason: connection termination",
    ),
}


def gateway_error(status: int) -> web.Response:
    content_type, text = _GATEWAY[status]
    return web.Response(status=status, text=text, content_type=content_type)


def status_of(injected: Injected) -> int:
    """The HTTP status the client sees (0: no answer at all)."""
    kind = injected.kind
    if kind in ("429", "429-bare"):
        return 429
    if kind == "5xx":
        return injected.choose((500, 502, 503))
    if kind == "after-5xx":
        return 502
    if kind in ("error", "stall"):
        return 200
    return 0  # drop, after-drop, mid-body (cut off)


def api_error_code(injected: Injected) -> str | None:
    """The `error` of a Web API answer the fault produces (None: no JSON body)."""
    if injected.kind in ("429", "429-bare"):
        return "ratelimited"
    if injected.kind == "error":
        return injected.choose(TRANSIENT_ERRORS)
    return None


def api_response(request: web.Request, injected: Injected) -> web.Response:
    """The answer a failing Web API call gets (stall is not a failure: never passed here)."""
    status = status_of(injected)
    if status == 0:
        return drop_connection(request)
    if status != 429 and status >= 500:
        return gateway_error(status)
    headers = {"Retry-After": str(injected.retry_after_s)} if injected.kind == "429" else {}
    body = {"ok": False, "error": api_error_code(injected)}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


def hook_response(request: web.Request, injected: Injected) -> web.Response:
    """The answer a failing response_url post gets (plain text, like hooks.slack.com)."""
    status = status_of(injected)
    if status == 0:
        return drop_connection(request)
    if status == 429:
        headers = {"Retry-After": str(injected.retry_after_s)} if injected.kind == "429" else {}
        return web.Response(
            status=429, text="rate_limited", content_type="text/plain", headers=headers
        )
    return gateway_error(status)


def cut_after(injected: Injected, size: int) -> int:
    """Where a mid-body fault cuts a download of `size` bytes: 10–90 % of the way in."""
    return int(size * (0.1 + 0.8 * injected.roll))
