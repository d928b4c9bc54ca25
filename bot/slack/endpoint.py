"""HTTP mode's `POST /slack/events`: check the request, then hand it to Bolt.

Bad requests are cheap: a wrong or missing signature gets 401, a body that isn't JSON or form
data gets 400, each with one log line that never holds the body (a forged request's text must
not reach the logs) and no traceback. Only a signed, well-formed request reaches Bolt.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)


def malformed(body: str, content_type: str | None) -> str | None:
    """Why Bolt couldn't parse this body (mirrors its own parsing), or None if it can."""
    if not body:
        return None
    try:
        if content_type == "application/json" or body.startswith("{"):
            doc: Any = json.loads(body)
        else:
            params = dict(parse_qsl(body, keep_blank_values=True, strict_parsing=True))
            doc = json.loads(params["payload"]) if "payload" in params else params
    except (ValueError, KeyError):
        return "not JSON or form data"
    return None if isinstance(doc, dict) else "not an object"


def events_handler(app: AsyncApp, signing_secret: str) -> Any:
    verifier = SignatureVerifier(signing_secret)

    async def events(request: web.Request) -> web.Response:
        raw = await request.read()
        where = f"{len(raw)} bytes from {request.remote}"
        if not verifier.is_valid_request(raw, dict(request.headers)):
            log.warning("rejected a request to /slack/events: bad or missing signature (%s)", where)
            return web.Response(status=401, text="invalid signature")
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            body = None
        reason = "not UTF-8" if body is None else malformed(body, request.content_type)
        if body is None or reason is not None:
            log.warning("rejected a request to /slack/events: %s (%s)", reason, where)
            return web.Response(status=400, text="malformed request")
        bolt_request = AsyncBoltRequest(
            body=body, query=request.query_string, headers=dict(request.headers)
        )
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    return events
