"""A fake Slack: Web API, file hosting and response_url webhooks on a real loopback server.

The server runs aiohttp in a daemon thread with its own event loop, so both sync and async
tests can use it, and the app under test talks to it over real HTTP. All state sits behind
one lock; the inspection methods return copies.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import web

from tests.fakes.chaos import Chaos, ChaosConfig, Injected, add_control_routes

from . import chaos as faults
from .blocks import MESSAGE_MAX_BLOCKS, VIEW_MAX_BLOCKS, validate_blocks
from .files import FILE_MODES, FakeFile, Unsatisfiable, content_size, requested_range
from .membership import FakeMembership
from .models import ApiCall, Download, JSONDict, Message, MessageVersion, ResponseUrl
from .views import FakeViews

logger = logging.getLogger("tests.fakes.slack")

T = TypeVar("T")

DEFAULT_SCOPES = (
    "app_mentions:read,channels:history,groups:history,im:history,mpim:history,"
    "chat:write,files:read,commands,reactions:write,channels:join"
)
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60
MAX_TEXT_LENGTH = 40_000

_JSON_FIELDS = ("blocks", "attachments", "view", "metadata", "user_auth_blocks")
_BAD_JSON_ERRORS = {
    "__body__": "invalid_json",
    "blocks": "invalid_blocks_format",
    "user_auth_blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "metadata": "invalid_metadata_format",
    "view": "invalid_arguments",
}
_CHANNEL_ID = re.compile(r"^[CGDUW][A-Z0-9]+$")
_EMOJI_NAME = re.compile(r"^[a-z0-9_+'\-]+(::skin-tone-[2-6])?$")

_LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en-US" class="supports_custom_scrollbar">
<head>
<meta charset="utf-8">
<title>Slack</title>
<meta name="robots" content="noindex,nofollow">
</head>
<body class="full_height">
<div id="page"><div id="page_contents">
<h1>Sign in to {team}</h1>
<p class="medium_bottom_margin">{domain}.slack.com</p>
<form id="signin_form" action="/" method="post" accept-charset="UTF-8">
<input type="email" name="email" placeholder="you@example.com">
<input type="password" name="password" placeholder="password">
<button type="submit" id="signin_btn">Sign in</button>
</form>
</div></div>
</body>
</html>
"""


class _Error(Exception):
    """A Slack API error answered as ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class _Fault:
    kind: str  # "ratelimit" | "error" | "server" | "server_after"
    remaining: int
    error: str = ""
    retry_after: int = 1
    status: int = 500


def _pop_first(queues: dict[str, collections.deque[T]], key: str) -> T | None:
    """The first item queued for ``key``, taken off the queue (the caller holds the lock)."""
    queue = queues.get(key)
    if not queue:
        return None
    item = queue.popleft()
    if not queue:
        del queues[key]
    return item


def _flag(value: Any) -> bool:
    return value is True or value in ("true", "1", 1, "True")


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value)


class FakeSlack:
    """Fake Slack Web API + file hosting + response_url webhooks.

    >>> fake = FakeSlack()
    >>> base = fake.start()          # "http://127.0.0.1:PORT/"
    >>> fake.api_url                 # base + "api/" — give it to AsyncWebClient(base_url=...)
    >>> fake.stop()
    """

    def __init__(
        self,
        bot_token: str = "xoxb-test-token",
        team_id: str = "T0001",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        *,
        app_id: str = "A0001",
        team_name: str = "Fake Team",
        team_domain: str = "fake",
        bot_name: str = "gistbot",
        scopes: str = DEFAULT_SCOPES,
    ) -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_name = bot_name
        self.scopes = scopes

        # Knobs tests flip directly.
        self.not_in_channel: set[str] = set()
        """Channels where posting / reacting answers ``not_in_channel``."""
        self.unknown_channels: set[str] = set()
        """Channels that answer ``channel_not_found`` everywhere."""
        self.revoked_tokens: set[str] = set()
        """Tokens answered with ``token_revoked``."""
        self.redirect_host: str | None = None
        """Host name put in the Location of redirecting downloads (None: the request's host)."""
        self.edge_requires_auth = False
        """Whether the CDN hop of a redirecting download also demands the bot token."""
        self.ignore_range = False
        """Serve downloads whole (200) even when asked for a ``Range``, as some hosts do."""
        self.clock: Callable[[], float] = time.time
        """Time source for response_url expiry."""

        self._lock = threading.RLock()
        self._calls: list[ApiCall] = []
        self._messages: dict[tuple[str, str], Message] = {}
        self._reactions: dict[tuple[str, str], set[str]] = {}
        self._ephemerals: list[JSONDict] = []
        self._views: dict[str, list[JSONDict]] = {}
        self._files: dict[str, FakeFile] = {}
        self._downloads: list[Download] = []
        self._broken_downloads: dict[str, collections.deque[int]] = {}
        self._failed_downloads: dict[str, collections.deque[tuple[int, int | None]]] = {}
        self._response_urls: dict[str, ResponseUrl] = {}
        self._faults: dict[str, collections.deque[_Fault]] = {}
        self._file_seq = itertools.count(1)
        self._view_seq = itertools.count(1)
        self._hook_seq = itertools.count(1)
        self._last_ts = 0
        self._user_messages: dict[tuple[str, str], JSONDict] = {}
        self._stalls: dict[str, list[float]] = {}
        self._chaos = Chaos()
        # Where apps.connections.open sends Socket Mode clients (a test's WebSocket server).
        self.socket_mode_url: str | None = None

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0

        self._methods: dict[str, Callable[[JSONDict], JSONDict]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "files.info": self._files_info,
            "conversations.join": self._conversations_join,
            "conversations.info": self._conversations_info,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "apps.connections.open": self._apps_connections_open,
            "views.publish": self._views_publish,
        }
        self.membership = FakeMembership(self, _Error)
        self.modals = FakeViews(self, _Error)
        self._methods |= self.membership.methods() | self.modals.methods()

    # ------------------------------------------------------------------ lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving on ``host:port`` (0 = any free port); return the base URL."""
        if self._thread is not None:
            raise RuntimeError("FakeSlack is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self._run_loop, args=(loop,), name="fake-slack", daemon=True
        )
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(host, port), loop).result(timeout=10)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
            raise
        self._loop, self._thread = loop, thread
        logger.info("fake Slack listening on %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        loop, thread, runner = self._loop, self._thread, self._runner
        if loop is None or thread is None:
            return
        try:
            if runner is not None:
                asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            self._loop = self._thread = self._runner = None

    def __enter__(self) -> FakeSlack:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    async def _serve(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_get("/files-pri/{stem}/download/{name}", self._handle_private_file)
        app.router.add_get("/files-pri/{stem}/{name}", self._handle_private_file)
        app.router.add_get("/files-edge/{stem}/{secret}/{name}", self._handle_edge_file)
        app.router.add_get("/files-tmb/{stem}/{name}", self._handle_thumb)
        app.router.add_post("/commands/{team}/{seq}/{secret}", self._handle_response_url)
        app.router.add_get("/_fake/state", self._handle_state)
        add_control_routes(app, self._chaos)
        app.router.add_get("/", self._handle_index)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def host(self) -> str:
        return self._host

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/`` (wildcard binds are reported as 127.0.0.1)."""
        if not self._port:
            raise RuntimeError("FakeSlack is not running; call start() first")
        host = self._host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._port}/"

    @property
    def api_url(self) -> str:
        """Web API base URL, for ``AsyncWebClient(base_url=...)`` / ``SLACK_API_URL``."""
        return self.base_url + "api/"

    # ------------------------------------------------------------------ inspection

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Web API calls received (all, or those of one method), oldest first."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str) -> list[Message]:
        """Current state of every message the bot posted in ``channel`` (deleted ones too)."""
        with self._lock:
            found = [m for (ch, _), m in self._messages.items() if ch == channel]
            return [self._copy_message(m) for m in sorted(found, key=lambda m: float(m.ts))]

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Bot messages posted as replies in the thread ``thread_ts`` (the parent excluded)."""
        return [m for m in self.messages(channel) if m.thread_ts == thread_ts]

    def message(self, channel: str, ts: str) -> Message | None:
        """One bot message by its ts, or None."""
        with self._lock:
            m = self._messages.get((channel, ts))
            return None if m is None else self._copy_message(m)

    def reactions(self, channel: str, ts: str) -> set[str]:
        """Reactions the bot currently has on the message ``ts``."""
        with self._lock:
            return set(self._reactions.get((channel, ts), set()))

    def ephemerals(self, channel: str) -> list[JSONDict]:
        """Parameters of each ``chat.postEphemeral`` in ``channel`` (plus ``message_ts``)."""
        with self._lock:
            return [dict(e) for e in self._ephemerals if e.get("channel") == channel]

    def views(self, user_id: str) -> list[JSONDict]:
        """Home tab views published for ``user_id``, oldest first."""
        with self._lock:
            return list(self._views.get(user_id, []))

    def downloads(self, file_id: str | None = None) -> list[Download]:
        """GETs of file URLs (every hop, including the CDN edge), oldest first."""
        with self._lock:
            return [d for d in self._downloads if file_id is None or d.file_id == file_id]

    def responses(self, url: str) -> list[JSONDict]:
        """JSON bodies accepted on a response_url, oldest first."""
        with self._lock:
            hook = self._response_urls.get(self._hook_key(url))
            return [] if hook is None else [dict(p) for p in hook.posts]

    def response_url_state(self, url: str) -> ResponseUrl:
        """Full record of a response_url (uses, rejected attempts as (status, body))."""
        with self._lock:
            hook = self._response_urls.get(self._hook_key(url))
            if hook is None:
                raise KeyError(url)
            return replace(
                hook, posts=list(hook.posts), rejected=list(hook.rejected), chaos=list(hook.chaos)
            )

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        interval: float = 0.02,
        what: str = "condition",
    ) -> T:
        """Poll ``predicate`` until it returns something truthy; return it.

        Raises ``TimeoutError`` after ``timeout`` seconds. Example:
        ``await fake.wait_for(lambda: fake.thread("C1", ts))``.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(interval)

    # ------------------------------------------------------------------ setup knobs

    def add_file(
        self,
        name: str,
        content: bytes | os.PathLike[str],
        *,
        mimetype: str = "video/mp4",
        filetype: str = "mp4",
        mode: str = "hosted",
        channel: str | None = None,
        redirect: bool = False,
        duration_ms: int | None = None,
        user: str = "U123",
        title: str | None = None,
    ) -> JSONDict:
        """Register a file; return its object as it appears in a message event's ``files[]``.

        ``content`` may be bytes, or a path whose bytes are streamed from disk.
        """
        if mode not in FILE_MODES:
            raise ValueError(f"mode must be one of {FILE_MODES}, not {mode!r}")
        data, size = content_size(content)
        with self._lock:
            file_id = f"F{next(self._file_seq):010d}"
            f = FakeFile(
                id=file_id,
                team_id=self.team_id,
                name=name,
                title=title if title is not None else name,
                mimetype=mimetype,
                filetype=filetype,
                mode=mode,
                user=user,
                channel=channel,
                content=data,
                size=size,
                redirect=redirect,
                duration_ms=duration_ms,
                created=int(time.time()),
            )
            self._files[file_id] = f
            return f.event_object(self.base_url)

    def file_info(self, file_id: str) -> JSONDict:
        """The full file object (what ``files.info`` returns for a live file)."""
        with self._lock:
            return self._files[file_id].info_object(self.base_url)

    def delete_file(self, file_id: str) -> None:
        """Delete a file: downloads then answer 404 and ``files.info`` ``file_deleted``."""
        with self._lock:
            self._files[file_id].deleted = True

    def break_download(self, file_id: str, after_bytes: int = 0, times: int = 1) -> None:
        """The next ``times`` answers carrying bytes of ``file_id`` drop the connection after
        ``after_bytes`` body bytes (of that answer: a resumed one counts from its range start)."""
        with self._lock:
            queue = self._broken_downloads.setdefault(file_id, collections.deque())
            queue.extend([after_bytes] * times)

    def fail_download(
        self, file_id: str, times: int = 1, status: int = 503, retry_after: int | None = None
    ) -> None:
        """The next ``times`` requests for ``file_id``'s bytes (the hop that would send them)
        answer HTTP ``status``, with ``Retry-After`` when ``retry_after`` is given."""
        with self._lock:
            queue = self._failed_downloads.setdefault(file_id, collections.deque())
            queue.extend([(status, retry_after)] * times)

    def new_response_url(self, *, channel: str | None = None) -> str:
        """A fresh response_url served by the fake (5 uses within 30 minutes)."""
        with self._lock:
            seq = 1_000_000_000 + next(self._hook_seq)
            url = f"{self.base_url}commands/{self.team_id}/{seq}/{secrets.token_hex(12)}"
            self._response_urls[self._hook_key(url)] = ResponseUrl(
                url=url, created=self.clock(), channel=channel
            )
            return url

    def expire_response_url(self, url: str) -> None:
        """Make a response_url behave as if its 30 minutes had passed."""
        with self._lock:
            self._response_urls[self._hook_key(url)].expired = True

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 429 with ``Retry-After``."""
        self._add_fault(method, _Fault("ratelimit", times, retry_after=retry_after))

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``."""
        self._add_fault(method, _Fault("error", times, error=error))

    def server_error(
        self, method: str, times: int = 1, status: int = 500, *, after_effect: bool = False
    ) -> None:
        """The next ``times`` calls of ``method`` answer HTTP ``status``. With ``after_effect``
        the call is carried out first (the message is posted, the edit made): a gateway that
        failed on the way back, so the client can't know it worked."""
        kind = "server_after" if after_effect else "server"
        self._add_fault(method, _Fault(kind, times, status=status))

    def stall(self, method: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` are carried out (the message exists) but
        answered only after ``seconds``: a client killed meanwhile never learns the result."""
        with self._lock:
            self._stalls.setdefault(method, []).extend([seconds] * times)

    def chaos(
        self,
        p: float | None,
        *,
        seed: int | None = None,
        kinds: Mapping[str, float] | Iterable[str] | None = None,
        endpoints: Iterable[str] | None = None,
        retry_after_s: int = 1,
        stall_s: tuple[float, float] = (2.0, 4.0),
    ) -> ChaosConfig | None:
        """Chaos mode: a seeded share ``p`` of Web API calls (and file downloads, and
        response_url posts) fail with one of ``kinds`` (see ``tests.fakes.chaos``; default:
        all). ``endpoints`` limits it to some Web API methods, ``"files"`` or
        ``"response_url"``. ``chaos(None)`` turns it off; turning it on resets the counts."""
        return self._chaos.configure(
            p,
            seed=seed,
            kinds=kinds,
            endpoints=endpoints,
            retry_after_s=retry_after_s,
            stall_s=stall_s,
        )

    def chaos_counts(self) -> dict[str, int]:
        """Faults chaos mode injected, by kind."""
        return self._chaos.counts()

    def chaos_report(self) -> dict[str, Any]:
        """Chaos configuration, requests considered, injected faults by kind and endpoint."""
        return self._chaos.report()

    def revoke(self, token: str | None = None) -> None:
        """Revoke a token (default: the bot token): calls then answer ``token_revoked``."""
        self.revoked_tokens.add(token or self.bot_token)

    def clear_faults(self) -> None:
        """Answer every Web API call normally again (recorded state stays)."""
        with self._lock:
            self._faults.clear()
            self._stalls.clear()

    def reset(self) -> None:
        """Forget everything recorded and every knob; keep serving on the same port."""
        with self._lock:
            self._calls.clear()
            self._messages.clear()
            self._user_messages.clear()
            self._stalls.clear()
            self._reactions.clear()
            self._ephemerals.clear()
            self._views.clear()
            self._files.clear()
            self._downloads.clear()
            self._broken_downloads.clear()
            self._failed_downloads.clear()
            self._response_urls.clear()
            self._faults.clear()
            self.not_in_channel.clear()
            self.unknown_channels.clear()
            self.revoked_tokens.clear()
            self.redirect_host = None
            self.edge_requires_auth = False
            self.ignore_range = False
            self.clock = time.time
        self.membership.clear()
        self.modals.clear()
        self._chaos.configure(None)

    def next_ts(self) -> str:
        """A new unique, increasing message timestamp ("1700000000.000100" style)."""
        with self._lock:
            now = int(time.time() * 1_000_000)
            self._last_ts = max(now, self._last_ts + 1)
            return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    # ------------------------------------------------------------------ internals

    def _add_fault(self, method: str, fault: _Fault) -> None:
        if fault.remaining < 1:
            return
        with self._lock:
            self._faults.setdefault(method, collections.deque()).append(fault)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    @staticmethod
    def _copy_message(m: Message) -> Message:
        return replace(m, edits=list(m.edits))

    @staticmethod
    def _hook_key(url: str) -> str:
        # Key by path so "localhost" / "127.0.0.1" spellings of one URL match.
        path = url.split("://", 1)[-1]
        return path[path.find("/") :] if "/" in path else path

    def _is_authorized(self, header: str | None) -> bool:
        return (
            header is not None
            and header == f"Bearer {self.bot_token}"
            and self.bot_token not in self.revoked_tokens
        )

    # ------------------------------------------------------------------ Web API

    async def _read_params(self, request: web.Request) -> tuple[JSONDict, str | None, set[str]]:
        """Merge query, form and JSON body. Returns (params, form/body token, bad JSON fields)."""
        params: JSONDict = dict(request.query)
        body_token: str | None = None
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
        if isinstance(params.get("token"), str):
            body_token = params.pop("token")
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
        call = ApiCall(
            method=method,
            params=params,
            headers={k.lower(): v for k, v in request.headers.items()},
            status=faults.status_of(injected) if injected and injected.after_effect else status,
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
        if injected is not None and injected.after_effect:
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
        with self._lock:
            self._calls.append(call)
        logger.info("%s -> chaos %s (%s)", method, injected.kind, call.status)
        return faults.api_response(request, injected)

    def _dispatch(
        self, method: str, params: JSONDict, token: str | None, bad_json: set[str]
    ) -> tuple[int, JSONDict, dict[str, str]]:
        handler = self._methods.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        with self._lock:
            fault = self._take_fault(method)
            if fault is not None:
                if fault.kind == "ratelimit":
                    return (
                        429,
                        {"ok": False, "error": "ratelimited"},
                        {"Retry-After": str(fault.retry_after)},
                    )
                if fault.kind == "server":
                    return fault.status, {"ok": False, "error": "fatal_error"}, {}
                if fault.kind != "server_after":
                    return 200, {"ok": False, "error": fault.error}, {}
            if method == "apps.connections.open":
                # App-level (xapp-) tokens only: Socket Mode's WebSocket URL.
                if not token or not token.startswith("xapp-"):
                    return 200, {"ok": False, "error": "invalid_auth"}, {}
            elif method != "api.test":
                if not token:
                    return 200, {"ok": False, "error": "not_authed"}, {}
                if token in self.revoked_tokens:
                    return 200, {"ok": False, "error": "token_revoked"}, {}
                if token != self.bot_token:
                    return 200, {"ok": False, "error": "invalid_auth"}, {}
            if bad_json:
                error = _BAD_JSON_ERRORS[sorted(bad_json)[0]]
                return 200, {"ok": False, "error": error}, {}
            try:
                result = handler(params)
            except _Error as e:
                return 200, {"ok": False, "error": e.error, **e.extra}, {}
            if fault is not None:  # server_after: done, but the answer is lost
                return fault.status, {"ok": False, "error": "fatal_error"}, {}
            headers = {}
            if method == "auth.test":
                headers = {"x-oauth-scopes": self.scopes, "x-accepted-oauth-scopes": ""}
            return 200, {"ok": True, **result}, headers

    # -- helpers for method handlers (called with the lock held)

    def _channel(self, params: JSONDict, *, membership: bool = True) -> str:
        channel = params.get("channel")
        if not isinstance(channel, str) or not _CHANNEL_ID.match(channel):
            raise _Error("channel_not_found")
        if channel in self.unknown_channels:
            raise _Error("channel_not_found")
        if membership and channel in self.not_in_channel:
            raise _Error("not_in_channel")
        return channel

    def _blocks(self, value: Any, *, max_blocks: int = MESSAGE_MAX_BLOCKS) -> list[JSONDict]:
        if not isinstance(value, list):
            raise _Error("invalid_blocks_format")
        errors = validate_blocks(value, max_blocks=max_blocks)
        if errors:
            raise _Error(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        return value

    def _content(
        self, params: JSONDict, *, require: bool = True
    ) -> tuple[str | None, list[JSONDict] | None, list[JSONDict] | None]:
        text = _str(params.get("text"))
        blocks = self._blocks(params["blocks"]) if "blocks" in params else None
        attachments = params.get("attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise _Error("invalid_attachments")
        if require and not text and not blocks and not attachments:
            raise _Error("no_text")
        if text is not None and len(text) > MAX_TEXT_LENGTH:
            raise _Error("msg_too_long")
        return text, blocks, attachments

    def _bot_message(self, params: JSONDict, ts_key: str = "ts") -> Message:
        channel = self._channel(params, membership=False)
        ts = params.get(ts_key)
        if not isinstance(ts, str) or not ts:
            raise _Error("message_not_found")
        message = self._messages.get((channel, ts))
        if message is None or message.deleted:
            raise _Error("message_not_found")
        return message

    def _permalink(self, channel: str, ts: str) -> str:
        return f"{self.base_url}archives/{channel}/p{ts.replace('.', '')}"

    def _channel_object(self, channel: str) -> JSONDict:
        kind = channel[:1]
        return {
            "id": channel,
            "name": f"channel-{channel.lower()}",
            "name_normalized": f"channel-{channel.lower()}",
            "is_channel": kind == "C",
            "is_group": kind == "G",
            "is_im": kind == "D",
            "is_mpim": False,
            "is_private": kind in ("G", "D"),
            "is_archived": False,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": channel not in self.not_in_channel,
            "created": 1_600_000_000,
            "creator": "U123",
            "context_team_id": self.team_id,
        }

    # -- method handlers: return the ok body (without "ok") or raise _Error

    def _api_test(self, params: JSONDict) -> JSONDict:
        if "error" in params:
            raise _Error(str(params["error"]))
        return {"args": {k: v for k, v in params.items() if isinstance(v, str)}}

    def _auth_test(self, params: JSONDict) -> JSONDict:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: JSONDict) -> JSONDict:
        channel = self._channel(params)
        text, blocks, attachments = self._content(params)
        thread_ts = _str(params.get("thread_ts")) or None
        metadata = params.get("metadata")
        ts = self.next_ts()
        message = Message(
            ts=ts,
            channel=channel,
            thread_ts=thread_ts,
            text=text or "",
            blocks=blocks,
            attachments=attachments,
            metadata=metadata if isinstance(metadata, dict) else None,
            user=self.bot_user_id,
            bot_id=self.bot_id,
            reply_broadcast=_flag(params.get("reply_broadcast")),
            unfurl_links=None if "unfurl_links" not in params else _flag(params["unfurl_links"]),
            unfurl_media=None if "unfurl_media" not in params else _flag(params["unfurl_media"]),
        )
        self._messages[(channel, ts)] = message
        return {
            "channel": channel,
            "ts": ts,
            "message": message.to_slack(self.team_id, self.app_id),
        }

    def _chat_update(self, params: JSONDict) -> JSONDict:
        message = self._bot_message(params)
        text, blocks, attachments = self._content(params)
        message.edits.append(
            MessageVersion(
                text=message.text,
                blocks=message.blocks,
                attachments=message.attachments,
                time=message.updated_at or message.posted_at,
            )
        )
        if text is not None:
            message.text = text
        if "blocks" in params:
            message.blocks = blocks or None
        if "attachments" in params:
            message.attachments = attachments or None
        if isinstance(params.get("metadata"), dict):
            message.metadata = params["metadata"]
        message.updated_at = time.time()
        return {
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.to_slack(self.team_id, self.app_id),
        }

    def _chat_post_ephemeral(self, params: JSONDict) -> JSONDict:
        self._channel(params)
        user = params.get("user")
        if not isinstance(user, str) or not user:
            raise _Error("user_not_found")
        self._content(params)
        ts = self.next_ts()
        self._ephemerals.append({**params, "message_ts": ts})
        return {"message_ts": ts}

    def _chat_delete(self, params: JSONDict) -> JSONDict:
        message = self._bot_message(params)
        message.deleted = True
        message.updated_at = time.time()
        return {"channel": message.channel, "ts": message.ts}

    def _chat_get_permalink(self, params: JSONDict) -> JSONDict:
        channel = self._channel(params, membership=False)
        ts = params.get("message_ts")
        if not isinstance(ts, str) or not ts:
            raise _Error("message_not_found")
        return {"channel": channel, "permalink": self._permalink(channel, ts)}

    def _reaction_target(self, params: JSONDict) -> tuple[str, str, str]:
        if "channel" not in params or not params.get("timestamp"):
            raise _Error("no_item_specified")
        name = params.get("name")
        if not isinstance(name, str) or not _EMOJI_NAME.match(name):
            raise _Error("invalid_name")
        channel = self._channel(params)
        ts = str(params["timestamp"])
        known = self._messages.get((channel, ts))
        if known is not None and known.deleted:
            raise _Error("message_not_found")
        return channel, ts, name

    def _reactions_add(self, params: JSONDict) -> JSONDict:
        channel, ts, name = self._reaction_target(params)
        current = self._reactions.setdefault((channel, ts), set())
        if name in current:
            raise _Error("already_reacted")
        current.add(name)
        return {}

    def _reactions_remove(self, params: JSONDict) -> JSONDict:
        channel, ts, name = self._reaction_target(params)
        current = self._reactions.get((channel, ts), set())
        if name not in current:
            raise _Error("no_reaction")
        current.discard(name)
        return {}

    def _files_info(self, params: JSONDict) -> JSONDict:
        file_id = params.get("file")
        f = self._files.get(file_id) if isinstance(file_id, str) else None
        if f is None:
            raise _Error("file_not_found")
        if f.deleted or f.mode == "tombstone":
            raise _Error("file_deleted")
        if f.channel is not None and f.channel in self.not_in_channel:
            raise _Error("file_not_found")
        return {
            "file": f.info_object(self.base_url),
            "content": "",
            "is_truncated": False,
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _conversations_join(self, params: JSONDict) -> JSONDict:
        channel = self._channel(params, membership=False)
        if channel[:1] != "C":
            raise _Error("method_not_supported_for_channel_type")
        was_member = channel not in self.not_in_channel
        self.not_in_channel.discard(channel)
        out: JSONDict = {"channel": self._channel_object(channel)}
        if was_member:
            out["warning"] = "already_in_channel"
            out["response_metadata"] = {"warnings": ["already_in_channel"]}
        return out

    def _conversations_replies(self, params: JSONDict) -> JSONDict:
        """The thread: its parent (a user message the test registered, or a bot message)
        then the bot's replies, oldest first; `metadata` only with include_all_metadata."""
        channel = self._channel(params)
        ts = _str(params.get("ts")) or ""
        parent = self._user_messages.get((channel, ts))
        with_meta = _flag(params.get("include_all_metadata", False))
        out: list[JSONDict] = []
        if parent is not None:
            out.append(dict(parent))
        elif (channel, ts) in self._messages:
            out.append(self._messages[(channel, ts)].to_slack(self.team_id, self.app_id))
        elif any(m.channel == channel and m.thread_ts == ts for m in self._messages.values()):
            # A user's message the test didn't register: Slack knows it, so stand it in.
            out.append({"type": "message", "ts": ts, "user": "U_UNKNOWN", "text": ""})
        else:
            raise _Error("thread_not_found")
        for message in sorted(self._messages.values(), key=lambda m: float(m.ts)):
            if message.channel == channel and message.thread_ts == ts and not message.deleted:
                item = message.to_slack(self.team_id, self.app_id)
                if with_meta and message.metadata:
                    item["metadata"] = message.metadata
                out.append(item)
        limit = params.get("limit")
        if limit is not None and str(limit).isdigit() and int(limit) > 0:
            out = out[: int(limit)]
        return {"messages": out, "has_more": False}

    def _conversations_history(self, params: JSONDict) -> JSONDict:
        """Top-level messages in a channel, newest first (the bot's own and registered user
        messages); `metadata` only with include_all_metadata."""
        channel = self._channel(params)
        with_meta = _flag(params.get("include_all_metadata", False))
        out: list[JSONDict] = []
        for message in self._messages.values():
            if message.channel == channel and message.thread_ts is None and not message.deleted:
                item = message.to_slack(self.team_id, self.app_id)
                if with_meta and message.metadata:
                    item["metadata"] = message.metadata
                out.append(item)
        out.extend(
            dict(m) for (ch, _), m in self._user_messages.items()
            if ch == channel and not m.get("thread_ts")
        )  # fmt: skip
        out.sort(key=lambda m: float(m["ts"]), reverse=True)
        limit = params.get("limit")
        if limit is not None and str(limit).isdigit() and int(limit) > 0:
            out = out[: int(limit)]
        return {"messages": out, "has_more": False}

    def _apps_connections_open(self, params: JSONDict) -> JSONDict:
        if not self.socket_mode_url:
            raise _Error("internal_error")
        return {"url": self.socket_mode_url}

    def add_user_message(self, channel: str, message: JSONDict) -> None:
        """Register a user's message (e.g. a driver-built event) so conversations.replies
        can return it as a thread parent."""
        with self._lock:
            self._user_messages[(channel, str(message["ts"]))] = dict(message)

    def _conversations_info(self, params: JSONDict) -> JSONDict:
        channel = self._channel(params, membership=False)
        if channel[:1] in ("G", "D") and channel in self.not_in_channel:
            raise _Error("channel_not_found")
        return {"channel": self._channel_object(channel)}

    def _views_publish(self, params: JSONDict) -> JSONDict:
        user_id = params.get("user_id")
        view = params.get("view")
        if not isinstance(user_id, str) or not user_id:
            raise _Error("invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise _Error("invalid_arguments")
        blocks = self._blocks(view.get("blocks", []), max_blocks=VIEW_MAX_BLOCKS)
        published: JSONDict = {
            "id": f"V{next(self._view_seq):010d}",
            "team_id": self.team_id,
            "type": "home",
            "blocks": blocks,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "hash": secrets.token_hex(8),
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }
        self._views.setdefault(user_id, []).append(published)
        return {"view": published}

    # ------------------------------------------------------------------ files

    def _login_page(self) -> web.Response:
        return web.Response(
            status=200,
            text=_LOGIN_PAGE.format(team=self.team_name, domain=self.team_domain),
            content_type="text/html",
            charset="utf-8",
        )

    def _record_download(
        self,
        request: web.Request,
        f: FakeFile | None,
        kind: str,
        status: int,
        ctype: str,
        *,
        chaos: str | None = None,
    ) -> int:
        """Record a file GET; return its index (for `_count_sent`)."""
        header = request.headers.get("Authorization")
        with self._lock:
            self._downloads.append(
                Download(
                    file_id=f.id if f is not None else "",
                    path=request.path,
                    host=request.host,
                    kind=kind,
                    authorization=header,
                    authorized=self._is_authorized(header),
                    status=status,
                    content_type=ctype,
                    time=time.time(),
                    range=request.headers.get("Range"),
                    chaos=chaos,
                )
            )
            return len(self._downloads) - 1

    def _count_sent(self, index: int, sent: int) -> None:
        with self._lock:
            if index < len(self._downloads):  # a reset() may have cleared the list meanwhile
                self._downloads[index] = replace(self._downloads[index], bytes_sent=sent)

    def _file_by_stem(self, stem: str) -> FakeFile | None:
        team, _, file_id = stem.partition("-")
        with self._lock:
            f = self._files.get(file_id)
        if f is None or team != f.team_id:
            return None
        return f

    async def _handle_private_file(self, request: web.Request) -> web.StreamResponse:
        kind = "download" if "/download/" in request.path else "private"
        f = self._file_by_stem(request.match_info["stem"])
        injected = self._chaos.pick(faults.FILE_ENDPOINT, faults.FILE_KINDS)
        if injected is not None and injected.kind == "5xx":
            self._record_download(request, f, kind, 503, "text/plain", chaos=injected.kind)
            return faults.gateway_error(503)
        if not self._is_authorized(request.headers.get("Authorization")):
            self._record_download(request, f, kind, 200, "text/html")
            return self._login_page()
        if f is None or f.deleted or f.mode in ("tombstone", "hidden_by_limit"):
            self._record_download(request, f, kind, 404, "text/html")
            return web.Response(
                status=404, text="<html><body>Not Found</body></html>", content_type="text/html"
            )
        if f.redirect:
            host = self.redirect_host or request.url.host or "127.0.0.1"
            location = (
                f"{request.scheme}://{host}:{self._port}/files-edge/{f.stem}/{f.secret}/"
                f"{quote(f.name)}"
            )
            self._record_download(request, f, kind, 302, "")
            raise web.HTTPFound(location)
        return await self._stream(request, f, kind, injected)

    async def _handle_edge_file(self, request: web.Request) -> web.StreamResponse:
        f = self._file_by_stem(request.match_info["stem"])
        injected = self._chaos.pick(faults.FILE_ENDPOINT, faults.FILE_KINDS)
        if injected is not None and injected.kind == "5xx":
            self._record_download(request, f, "edge", 503, "text/plain", chaos=injected.kind)
            return faults.gateway_error(503)
        if f is None or f.deleted or request.match_info["secret"] != f.secret:
            self._record_download(request, f, "edge", 404, "text/html")
            return web.Response(
                status=404, text="<html><body>Not Found</body></html>", content_type="text/html"
            )
        if self.edge_requires_auth and not self._is_authorized(
            request.headers.get("Authorization")
        ):
            self._record_download(request, f, "edge", 200, "text/html")
            return self._login_page()
        return await self._stream(request, f, "edge", injected)

    async def _handle_thumb(self, request: web.Request) -> web.StreamResponse:
        # A 1x1 JPEG-ish placeholder; only the auth behaviour matters.
        f = self._file_by_stem(request.match_info["stem"].rsplit("-", 1)[0])
        if not self._is_authorized(request.headers.get("Authorization")):
            self._record_download(request, f, "thumb", 200, "text/html")
            return self._login_page()
        if f is None or f.deleted:
            self._record_download(request, f, "thumb", 404, "text/html")
            return web.Response(status=404, text="Not Found", content_type="text/html")
        self._record_download(request, f, "thumb", 200, "image/jpeg")
        return web.Response(
            body=b"\xff\xd8\xff\xe0fake-thumbnail\xff\xd9", content_type="image/jpeg"
        )

    def _failure(self, request: web.Request, f: FakeFile, kind: str) -> web.Response | None:
        with self._lock:
            failure = _pop_first(self._failed_downloads, f.id)
        if failure is None:
            return None
        status, retry_after = failure
        self._record_download(request, f, kind, status, "text/plain")
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return web.Response(status=status, text=f"fake failure {status}", headers=headers)

    async def _stream(
        self, request: web.Request, f: FakeFile, kind: str, injected: Injected | None = None
    ) -> web.StreamResponse:
        failed = self._failure(request, f, kind)
        if failed is not None:
            return failed
        try:
            span = None if self.ignore_range else requested_range(f, request.headers)
        except Unsatisfiable:
            self._record_download(request, f, kind, 416, "text/plain")
            return web.Response(status=416, headers={"Content-Range": f"bytes */{f.size}"})
        with self._lock:
            break_after = _pop_first(self._broken_downloads, f.id)
        first, last = span if span is not None else (0, f.size - 1)
        cut = injected is not None and injected.kind == "mid-body" and request.method != "HEAD"
        if cut and break_after is None:
            assert injected is not None
            break_after = faults.cut_after(injected, last - first + 1)
        status = 200 if span is None else 206
        index = self._record_download(
            request, f, kind, status, f.mimetype, chaos="mid-body" if cut else None
        )
        response = web.StreamResponse(status=status)
        response.headers["Content-Type"] = f.mimetype
        response.headers["Content-Length"] = str(last - first + 1)
        if span is not None:
            response.headers["Content-Range"] = f"bytes {first}-{last}/{f.size}"
        if not self.ignore_range:
            response.headers["Accept-Ranges"] = "bytes"
        response.headers["ETag"] = f.etag
        disposition = "attachment" if kind == "download" else "inline"
        ascii_name = f.name.encode("ascii", "replace").decode().replace('"', "'")
        response.headers["Content-Disposition"] = (
            f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(f.name)}"
        )
        response.headers["Cache-Control"] = "private, no-cache"
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        sent = 0
        try:
            for chunk in f.chunks(limit=break_after, start=first, end=last + 1):
                await response.write(chunk)
                sent += len(chunk)
        finally:
            self._count_sent(index, sent)
        if break_after is not None:
            # Drop the connection mid-body: the client sees fewer bytes than Content-Length.
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response

    # ------------------------------------------------------------------ response_url

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

            def reject(status: int, error: str) -> web.Response:
                assert hook is not None
                hook.rejected.append((status, error))
                return web.Response(status=status, text=error, content_type="text/plain")

            if hook.expired or self.clock() - hook.created > RESPONSE_URL_TTL_SECONDS:
                return reject(404, "expired_url")
            if hook.uses >= RESPONSE_URL_MAX_USES:
                return reject(404, "used_url")
            try:
                body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return reject(400, "invalid_payload")
            if not isinstance(body, dict):
                return reject(400, "invalid_payload")
            if isinstance(body.get("blocks"), str):
                try:
                    body["blocks"] = json.loads(body["blocks"])
                except ValueError:
                    return reject(400, "invalid_blocks_format")
            try:
                if not _flag(body.get("delete_original")):
                    self._content(body)
            except _Error as e:
                return reject(400, e.error)
            hook.uses += 1
            hook.posts.append(body)
        logger.info("response_url %s <- %s", request.path, str(body.get("text", ""))[:60])
        return web.Response(status=200, text="ok", content_type="text/plain")

    # ------------------------------------------------------------------ playground

    async def _handle_state(self, request: web.Request) -> web.Response:
        with self._lock:
            state = {
                "calls": [
                    {"method": c.method, "params": c.params, "status": c.status, "error": c.error}
                    for c in self._calls[-200:]
                ],
                "messages": [
                    {
                        "channel": m.channel,
                        "ts": m.ts,
                        "thread_ts": m.thread_ts,
                        "text": m.text,
                        "blocks": m.blocks,
                        "edits": len(m.edits),
                        "deleted": m.deleted,
                    }
                    for m in self._messages.values()
                ],
                "reactions": {f"{c}/{t}": sorted(r) for (c, t), r in self._reactions.items()},
            }
        return web.json_response(state, dumps=lambda o: json.dumps(o, default=str, indent=2))

    async def _handle_index(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "fake": "slack",
                "api_url": self.api_url,
                "team_id": self.team_id,
                "bot_user_id": self.bot_user_id,
                "methods": sorted(self._methods),
                "state": f"{self.base_url}_fake/state",
                "chaos": f"{self.base_url}_fake/chaos",
            }
        )
