"""response_url webhooks (slash commands, shortcuts, buttons): handed out, posted to, expired."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import replace

from aiohttp import web

from tests.fakes.base import Route

from . import chaos as faults
from .core import SlackCore, SlackError, flag, hook_key
from .models import JSONDict, ResponseUrl

logger = logging.getLogger("tests.fakes.slack")

RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60


class ResponseUrlsApi(SlackCore):
    def _response_url_routes(self) -> list[Route]:
        return [("POST", "/commands/{team}/{seq}/{secret}", self._handle_response_url)]

    def new_response_url(self, *, channel: str | None = None) -> str:
        """A fresh response_url served by the fake (5 uses within 30 minutes)."""
        with self._lock:
            seq = 1_000_000_000 + next(self._hook_seq)
            url = f"{self.base_url}commands/{self.team_id}/{seq}/{secrets.token_hex(12)}"
            self._response_urls[hook_key(url)] = ResponseUrl(
                url=url, created=self.clock(), channel=channel
            )
            return url

    def expire_response_url(self, url: str) -> None:
        """Make a response_url behave as if its 30 minutes had passed."""
        with self._lock:
            self._response_urls[hook_key(url)].expired = True

    def responses(self, url: str) -> list[JSONDict]:
        """JSON bodies accepted on a response_url, oldest first."""
        with self._lock:
            hook = self._response_urls.get(hook_key(url))
            return [] if hook is None else [dict(p) for p in hook.posts]

    def response_url_state(self, url: str) -> ResponseUrl:
        """Full record of a response_url (uses, rejected attempts as (status, body))."""
        with self._lock:
            hook = self._response_urls.get(hook_key(url))
            if hook is None:
                raise KeyError(url)
            return replace(
                hook, posts=list(hook.posts), rejected=list(hook.rejected), chaos=list(hook.chaos)
            )

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        raw = await request.read()
        injected = self._chaos.pick(faults.HOOK_ENDPOINT, faults.HOOK_KINDS)
        if injected is not None:
            with self._lock:
                hook = self._response_urls.get(request.path)
                if hook is not None:
                    hook.chaos.append(injected.kind)
            if injected.stall_s:
                await asyncio.sleep(injected.stall_s)
            if not injected.carried_out:
                return faults.hook_response(request, injected)
        response = self._accept_response_url(request, raw)
        if injected is not None and injected.after_effect:
            return faults.hook_response(request, injected)  # posted, but not answered
        return response

    def _accept_response_url(self, request: web.Request, raw: bytes) -> web.Response:
        with self._lock:
            hook = self._response_urls.get(request.path)
            if hook is None:
                return web.Response(status=404, text="no_service", content_type="text/plain")
            problem = self._hook_problem(hook, raw)
            if isinstance(problem, tuple):
                status, error = problem
                hook.rejected.append((status, error))
                return web.Response(status=status, text=error, content_type="text/plain")
            hook.uses += 1
            hook.posts.append(problem)
        logger.info("response_url %s <- %s", request.path, str(problem.get("text", ""))[:60])
        return web.Response(status=200, text="ok", content_type="text/plain")

    def _hook_problem(self, hook: ResponseUrl, raw: bytes) -> tuple[int, str] | JSONDict:
        """Why a post to ``hook`` is refused, as (status, error); else the body to accept."""
        if hook.expired or self.clock() - hook.created > RESPONSE_URL_TTL_SECONDS:
            return 404, "expired_url"
        if hook.uses >= RESPONSE_URL_MAX_USES:
            return 404, "used_url"
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return 400, "invalid_payload"
        if not isinstance(body, dict):
            return 400, "invalid_payload"
        if isinstance(body.get("blocks"), str):
            try:
                body["blocks"] = json.loads(body["blocks"])
            except ValueError:
                return 400, "invalid_blocks_format"
        try:
            if not flag(body.get("delete_original")):
                self._content(body)
        except SlackError as e:
            return 400, e.error
        return body
