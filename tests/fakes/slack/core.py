"""The fake Slack's shared state, knobs, targeted faults and argument checks.

Every API noun (chat, conversations, reactions, files, response_urls, views, auth) is a mixin
over `SlackCore`; `server.FakeSlack` puts them together. All state sits behind one lock; the
inspection methods return copies. Method handlers run with the lock held.
"""

from __future__ import annotations

import collections
import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from tests.fakes.base import LoopbackServer

from .blocks import MESSAGE_MAX_BLOCKS, validate_blocks
from .file_objects import FakeFile
from .models import ApiCall, Download, JSONDict, Message, ResponseUrl

T = TypeVar("T")
ApiMethod = Callable[[JSONDict], JSONDict]
"""A Web API method: takes the merged params, returns the ok body (without "ok")."""

DEFAULT_SCOPES = (
    "app_mentions:read,channels:history,groups:history,im:history,mpim:history,"
    "chat:write,files:read,commands,reactions:write,channels:join"
)
MAX_TEXT_LENGTH = 40_000

_CHANNEL_ID = re.compile(r"^[CGDUW][A-Z0-9]+$")


class SlackError(Exception):
    """A Slack API error answered as ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class Fault:
    """A targeted fault queued for one Web API method."""

    kind: str  # "ratelimit" | "error" | "server" | "server_after"
    remaining: int
    error: str = ""
    retry_after: int = 1
    status: int = 500


def pop_first(queues: dict[str, collections.deque[T]], key: str) -> T | None:
    """The first item queued for ``key``, taken off the queue (the caller holds the lock)."""
    queue = queues.get(key)
    if not queue:
        return None
    item = queue.popleft()
    if not queue:
        del queues[key]
    return item


def flag(value: Any) -> bool:
    return value is True or value in ("true", "1", 1, "True")


def text_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value)


def hook_key(url: str) -> str:
    """A response_url's key: its path, so "localhost" / "127.0.0.1" spellings match."""
    path = url.split("://", 1)[-1]
    return path[path.find("/") :] if "/" in path else path


class SlackCore(LoopbackServer[ApiCall]):
    """Identity, knobs and records of the fake Slack; the mixins add the API."""

    thread_name = "fake-slack"

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
        super().__init__()
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_name = bot_name
        self.scopes = scopes
        self._init_knobs()
        self._init_records()
        self._methods: dict[str, ApiMethod] = self._api_methods()

    def _init_knobs(self) -> None:
        """Knobs tests flip directly (`reset()` puts them back)."""
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

    def _init_records(self) -> None:
        self._messages: dict[tuple[str, str], Message] = {}
        self._user_messages: dict[tuple[str, str], JSONDict] = {}
        self._reactions: dict[tuple[str, str], set[str]] = {}
        self._ephemerals: list[JSONDict] = []
        self._views: dict[str, list[JSONDict]] = {}
        self._files: dict[str, FakeFile] = {}
        self._downloads: list[Download] = []
        self._broken_downloads: dict[str, collections.deque[int]] = {}
        self._failed_downloads: dict[str, collections.deque[tuple[int, int | None]]] = {}
        self._response_urls: dict[str, ResponseUrl] = {}
        self._faults: dict[str, collections.deque[Fault]] = {}
        self._stalls: dict[str, list[float]] = {}
        self._file_seq = itertools.count(1)
        self._view_seq = itertools.count(1)
        self._hook_seq = itertools.count(1)
        self._last_ts = 0
        # Where apps.connections.open sends Socket Mode clients (a test's WebSocket server).
        self.socket_mode_url: str | None = None

    def _api_methods(self) -> dict[str, ApiMethod]:
        """Web API method name → handler; `FakeSlack` gathers every noun's."""
        return {}

    # ------------------------------------------------------------------ URLs

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/`` (wildcard binds are reported as 127.0.0.1)."""
        return self.origin + "/"

    @property
    def api_url(self) -> str:
        """Web API base URL, for ``AsyncWebClient(base_url=...)`` / ``SLACK_API_URL``."""
        return self.base_url + "api/"

    # ------------------------------------------------------------------ inspection

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Web API calls received (all, or those of one method), oldest first."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    # ------------------------------------------------------------------ targeted faults

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 429 with ``Retry-After``."""
        self._add_fault(method, Fault("ratelimit", times, retry_after=retry_after))

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``."""
        self._add_fault(method, Fault("error", times, error=error))

    def server_error(
        self, method: str, times: int = 1, status: int = 500, *, after_effect: bool = False
    ) -> None:
        """The next ``times`` calls of ``method`` answer HTTP ``status``. With ``after_effect``
        the call is carried out first (the message is posted, the edit made): a gateway that
        failed on the way back, so the client can't know it worked."""
        kind = "server_after" if after_effect else "server"
        self._add_fault(method, Fault(kind, times, status=status))

    def stall(self, method: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` are carried out (the message exists) but
        answered only after ``seconds``: a client killed meanwhile never learns the result."""
        with self._lock:
            self._stalls.setdefault(method, []).extend([seconds] * times)

    def clear_faults(self) -> None:
        """Answer every Web API call normally again (recorded state stays)."""
        with self._lock:
            self._faults.clear()
            self._stalls.clear()

    def _add_fault(self, method: str, fault: Fault) -> None:
        if fault.remaining < 1:
            return
        with self._lock:
            self._faults.setdefault(method, collections.deque()).append(fault)

    def _take_fault(self, method: str) -> Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    # ------------------------------------------------------------------ whole-fake state

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
        self._chaos.configure(None)

    def next_ts(self) -> str:
        """A new unique, increasing message timestamp ("1700000000.000100" style)."""
        with self._lock:
            now = int(time.time() * 1_000_000)
            self._last_ts = max(now, self._last_ts + 1)
            return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    @staticmethod
    def _copy_message(m: Message) -> Message:
        return replace(m, edits=list(m.edits))

    def _is_authorized(self, header: str | None) -> bool:
        return (
            header is not None
            and header == f"Bearer {self.bot_token}"
            and self.bot_token not in self.revoked_tokens
        )

    # ------------------------------------------------------------------ argument checks

    def _channel(self, params: JSONDict, *, membership: bool = True) -> str:
        channel = params.get("channel")
        if not isinstance(channel, str) or not _CHANNEL_ID.match(channel):
            raise SlackError("channel_not_found")
        if channel in self.unknown_channels:
            raise SlackError("channel_not_found")
        if membership and channel in self.not_in_channel:
            raise SlackError("not_in_channel")
        return channel

    def _blocks(self, value: Any, *, max_blocks: int = MESSAGE_MAX_BLOCKS) -> list[JSONDict]:
        if not isinstance(value, list):
            raise SlackError("invalid_blocks_format")
        errors = validate_blocks(value, max_blocks=max_blocks)
        if errors:
            raise SlackError(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        return value

    def _content(
        self, params: JSONDict, *, require: bool = True
    ) -> tuple[str | None, list[JSONDict] | None, list[JSONDict] | None]:
        text = text_of(params.get("text"))
        blocks = self._blocks(params["blocks"]) if "blocks" in params else None
        attachments = params.get("attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        if require and not text and not blocks and not attachments:
            raise SlackError("no_text")
        if text is not None and len(text) > MAX_TEXT_LENGTH:
            raise SlackError("msg_too_long")
        return text, blocks, attachments

    def _bot_message(self, params: JSONDict, ts_key: str = "ts") -> Message:
        channel = self._channel(params, membership=False)
        ts = params.get(ts_key)
        if not isinstance(ts, str) or not ts:
            raise SlackError("message_not_found")
        message = self._messages.get((channel, ts))
        if message is None or message.deleted:
            raise SlackError("message_not_found")
        return message
