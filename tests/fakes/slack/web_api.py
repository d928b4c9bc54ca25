"""The Web API's plumbing: ``/api/{method}`` reads params the way Slack does (query, form or
JSON body), checks the token, applies targeted faults and chaos, records the call and answers
with the method handler's body."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from aiohttp import web

from tests.fakes.base import Route
from tests.fakes.chaos import Injected

from . import chaos as faults
from .core import Fault, SlackCore, SlackError
from .models import ApiCall, JSONDict

logger = logging.getLogger("tests.fakes.slack")

_JSON_FIELDS = ("blocks", "attachments", "view", "metadata", "user_auth_blocks")
_BAD_JSON_ERRORS = {
    "__body__": "invalid_json",
    "blocks": "invalid_blocks_format",
    "user_auth_blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "metadata": "invalid_metadata_format",
    "view": "invalid_arguments",
}

Answer = tuple[int, JSONDict, dict[str, str]]  # (HTTP status, body, extra headers)


def _fatal(status: int) -> Answer:
    return status, {"ok": False, "error": "fatal_error"}, {}


def _error(error: str) -> Answer:
    return 200, {"ok": False, "error": error}, {}


class WebApi(SlackCore):
    def _api_routes(self) -> list[Route]:
        return [("*", "/api/{method}", self._handle_api)]

    async def _read_params(self, request: web.Request) -> tuple[JSONDict, str | None, set[str]]:
        """Merge query, form and JSON body. Returns (params, form/body token, bad JSON fields)."""
        params: JSONDict = dict(request.query)
        bad: set[str] = set()
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    body = None
                if isinstance(body, dict):
                    params.update({k: v for k, v in body.items() if v is not None})
                else:
                    bad.add("__body__")
            else:
                form = await request.post()
                for key, value in form.items():
                    params[key] = value if isinstance(value, str) else f"<file {key}>"
        body_token = params.pop("token") if isinstance(params.get("token"), str) else None
        for key in _JSON_FIELDS:
            raw = params.get(key)
            if isinstance(raw, str):
                try:
                    params[key] = json.loads(raw)
                except ValueError:
                    bad.add(key)
        return params, body_token, bad

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, body_token, bad_json = await self._read_params(request)
        header = request.headers.get("Authorization")
        token: str | None = None
        if header is not None and header.startswith("Bearer "):
            token = header[len("Bearer ") :]
        elif body_token:
            token = body_token
        injected = self._chaos.pick(method, faults.API_KINDS) if method in self._methods else None
        if injected is not None and injected.stall_s:
            await asyncio.sleep(injected.stall_s)
        if injected is not None and not injected.carried_out:
            return self._api_fault(request, method, params, token, injected)
        status, body, extra_headers = self._dispatch(method, params, token, bad_json)
        after_effect = injected is not None and injected.after_effect
        call = ApiCall(
            method=method,
            params=params,
            headers={k.lower(): v for k, v in request.headers.items()},
            status=faults.status_of(injected) if injected and after_effect else status,
            ok=bool(body.get("ok")),
            error=body.get("error"),
            time=time.time(),
            http_method=request.method,
            token=token,
            response=body,
            chaos=None if injected is None else injected.kind,
        )
        with self._lock:
            self._calls.append(call)
            stalls = self._stalls.get(method)
            stall = stalls.pop(0) if stalls else 0.0
        if stall:
            await asyncio.sleep(stall)
        logger.info(
            "%s %s -> %s%s",
            method,
            {k: v for k, v in params.items() if k in ("channel", "ts", "thread_ts", "name")},
            status,
            "" if call.ok else f" {call.error}",
        )
        if injected is not None and after_effect:
            return faults.api_response(request, injected)  # carried out, but not answered
        return web.json_response(body, status=status, headers=extra_headers)

    def _api_fault(
        self,
        request: web.Request,
        method: str,
        params: JSONDict,
        token: str | None,
        injected: Injected,
    ) -> web.Response:
        """Chaos before the call takes effect: record it as the client sees it, answer."""
        error = faults.api_error_code(injected)
        call = ApiCall(
            method=method,
            params=params,
            headers={k.lower(): v for k, v in request.headers.items()},
            status=faults.status_of(injected),
            ok=False,
            error=error,
            time=time.time(),
            http_method=request.method,
            token=token,
            response={} if error is None else {"ok": False, "error": error},
            chaos=injected.kind,
        )
        self._record_call(call)
        logger.info("%s -> chaos %s (%s)", method, injected.kind, call.status)
        return faults.api_response(request, injected)

    def _dispatch(
        self, method: str, params: JSONDict, token: str | None, bad_json: set[str]
    ) -> Answer:
        handler = self._methods.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        with self._lock:
            fault = self._take_fault(method)
            early = None if fault is None else self._fault_answer(fault)
            if early is not None:
                return early
            refused = self._auth_error(method, token)
            if refused is not None:
                return _error(refused)
            if bad_json:
                return _error(_BAD_JSON_ERRORS[sorted(bad_json)[0]])
            try:
                result = handler(params)
            except SlackError as e:
                return 200, {"ok": False, "error": e.error, **e.extra}, {}
            if fault is not None:  # server_after: done, but the answer is lost
                return _fatal(fault.status)
            headers = {}
            if method == "auth.test":
                headers = {"x-oauth-scopes": self.scopes, "x-accepted-oauth-scopes": ""}
            return 200, {"ok": True, **result}, headers

    @staticmethod
    def _fault_answer(fault: Fault) -> Answer | None:
        """What a targeted fault answers before the call is carried out (None: go on)."""
        if fault.kind == "ratelimit":
            return (
                429,
                {"ok": False, "error": "ratelimited"},
                {"Retry-After": str(fault.retry_after)},
            )
        if fault.kind == "server":
            return _fatal(fault.status)
        if fault.kind != "server_after":
            return _error(fault.error)
        return None

    def _auth_error(self, method: str, token: str | None) -> str | None:
        if method == "apps.connections.open":
            # App-level (xapp-) tokens only: Socket Mode's WebSocket URL.
            return None if token and token.startswith("xapp-") else "invalid_auth"
        if method == "api.test":
            return None
        if not token:
            return "not_authed"
        if token in self.revoked_tokens:
            return "token_revoked"
        if token != self.bot_token:
            return "invalid_auth"
        return None
