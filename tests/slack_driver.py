"""Drive the app over HTTP the way Slack does: signed Events API, slash command and
interactivity requests, plus builders for event payloads shaped like Slack's.

    driver = SlackDriver(app_url="http://127.0.0.1:PORT", signing_secret="test-secret")
    ts = next_ts()
    resp = await driver.post_event(message_event("C1", ts, "look https://x.test/v.mp4"))
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

JSONDict = dict[str, Any]

SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
DEFAULT_TEAM = "T0001"

_ts_lock = threading.Lock()
_last_ts = 0


def next_ts() -> str:
    """A unique, increasing Slack message timestamp based on the clock ("1700000000.000100")."""
    global _last_ts
    with _ts_lock:
        now = int(time.time() * 1_000_000)
        _last_ts = max(now, _last_ts + 1)
        return f"{_last_ts // 1_000_000}.{_last_ts % 1_000_000:06d}"


def _random_id(prefix: str, length: int = 10) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _trigger_id() -> str:
    return f"{secrets.randbelow(10**11)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"


def sign(body: str | bytes, secret: str, timestamp: int | str) -> dict[str, str]:
    """Slack's request-signing headers for ``body`` (v0 HMAC-SHA256 of ``v0:ts:body``)."""
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    if signature is None:
        raise ValueError("could not sign the request")
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(timestamp)}


# --------------------------------------------------------------------------- message text

_BARE_URL = re.compile(r"https?://[^\s<>|]+")
_ANGLE = re.compile(r"<([^<>]*)>")
_TRAILING = ".,;:!?)]}'\""


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _escape_amp(url: str) -> str:
    return re.sub(r"&(?!amp;|lt;|gt;)", "&amp;", url)


def slack_text(text: str) -> str:
    """Wrap bare URLs the way Slack's servers do (``https://x?a&b`` → ``<https://x?a&amp;b>``).

    Text already in Slack's form (``<url>``, ``<url|label>``, ``&amp;``) is left unchanged.
    """
    out: list[str] = []
    pos = 0
    for m in _ANGLE.finditer(text):
        out.append(_wrap_bare_urls(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_wrap_bare_urls(text[pos:]))
    return "".join(out)


def _wrap_bare_urls(segment: str) -> str:
    def wrap(m: re.Match[str]) -> str:
        url = m.group(0)
        tail = ""
        while url and url[-1] in _TRAILING:
            tail = url[-1] + tail
            url = url[:-1]
        return f"<{_escape_amp(url)}>{tail}"

    return _BARE_URL.sub(wrap, segment)


def rich_text_elements(text: str) -> list[JSONDict]:
    """The ``rich_text_section`` elements Slack generates for message text in wire form."""
    elements: list[JSONDict] = []

    def add_text(chunk: str) -> None:
        if not chunk:
            return
        chunk = _unescape(chunk)
        if elements and elements[-1]["type"] == "text" and "style" not in elements[-1]:
            elements[-1]["text"] += chunk
        else:
            elements.append({"type": "text", "text": chunk})

    pos = 0
    for m in _ANGLE.finditer(text):
        add_text(text[pos : m.start()])
        pos = m.end()
        inner = m.group(1)
        target, _, label = inner.partition("|")
        if re.match(r"^(https?|mailto|ftp):", target):
            link: JSONDict = {"type": "link", "url": _unescape(target)}
            if label:
                link["text"] = _unescape(label)
            elements.append(link)
        elif target.startswith("@") and len(target) > 1:
            elements.append({"type": "user", "user_id": target[1:]})
        elif target.startswith("#") and len(target) > 1:
            elements.append({"type": "channel", "channel_id": target[1:]})
        elif target.startswith("!subteam^"):
            elements.append({"type": "usergroup", "usergroup_id": target[len("!subteam^") :]})
        elif target in ("!here", "!channel", "!everyone"):
            elements.append({"type": "broadcast", "range": target[1:]})
        else:
            add_text(m.group(0))
    add_text(text[pos:])
    return elements


def rich_text_blocks(text: str) -> list[JSONDict]:
    """The ``blocks`` Slack attaches to a user's message (none for empty text)."""
    if not text:
        return []
    return [
        {
            "type": "rich_text",
            "block_id": "".join(secrets.choice(string.ascii_letters + "=/+") for _ in range(5)),
            "elements": [{"type": "rich_text_section", "elements": rich_text_elements(text)}],
        }
    ]


# --------------------------------------------------------------------------- event builders

BlocksArg = list[JSONDict] | Literal["auto"] | None


def message_event(
    channel: str,
    ts: str,
    text: str,
    *,
    user: str = "U123",
    files: list[JSONDict] | None = None,
    thread_ts: str | None = None,
    subtype: str | None = None,
    bot_id: str | None = None,
    blocks: BlocksArg = "auto",
    channel_type: str = "channel",
    team: str = DEFAULT_TEAM,
    parent_user_id: str | None = None,
) -> JSONDict:
    """A ``message`` event as Slack delivers it.

    ``text`` is the wire text; bare URLs in it are wrapped as Slack's servers would
    (``<https://…>``, ``&`` → ``&amp;``). ``blocks="auto"`` builds the rich_text block Slack
    generates (links become ``{"type": "link", "url": …}``). ``files`` makes it a
    ``file_share`` message with ``upload: true``.
    """
    text = slack_text(text)
    if files and subtype is None:
        subtype = "file_share"
    event: JSONDict = {"type": "message"}
    if subtype is not None:
        event["subtype"] = subtype
    if subtype == "bot_message":
        event["username"] = "some-bot"
    else:
        event["user"] = user
    event["ts"] = ts
    if subtype is None and bot_id is None:
        event["client_msg_id"] = str(uuid.uuid4())
    event["text"] = text
    if bot_id is not None:
        event["bot_id"] = bot_id
        event["app_id"] = "A0OTHERAPP"
        event["bot_profile"] = {
            "id": bot_id,
            "app_id": "A0OTHERAPP",
            "name": "other bot",
            "deleted": False,
            "team_id": team,
        }
    if files:
        event["files"] = files
        event["upload"] = True
        event["display_as_bot"] = False
    event["team"] = team
    built = rich_text_blocks(text) if blocks == "auto" else blocks
    if built:
        event["blocks"] = built
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
        if thread_ts != ts:
            event["parent_user_id"] = parent_user_id or user
    event["channel"] = channel
    event["event_ts"] = ts
    event["channel_type"] = channel_type
    return event


def app_mention_event(
    channel: str,
    ts: str,
    text: str,
    *,
    user: str = "U123",
    thread_ts: str | None = None,
    files: list[JSONDict] | None = None,
    team: str = DEFAULT_TEAM,
) -> JSONDict:
    """An ``app_mention`` event (``text`` should hold ``<@BOT_USER_ID>``)."""
    text = slack_text(text)
    event: JSONDict = {
        "client_msg_id": str(uuid.uuid4()),
        "type": "app_mention",
        "text": text,
        "user": user,
        "ts": ts,
        "blocks": rich_text_blocks(text),
        "team": team,
    }
    if files:
        event["files"] = files
        event["upload"] = True
        event["display_as_bot"] = False
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    event["channel"] = channel
    event["event_ts"] = ts
    return event


def message_changed_event(
    channel: str,
    ts: str,
    new_text: str,
    *,
    previous_text: str = "",
    user: str = "U123",
    channel_type: str = "channel",
    team: str = DEFAULT_TEAM,
) -> JSONDict:
    """A hidden ``message_changed`` event for the message ``ts``."""
    new_text = slack_text(new_text)
    previous_text = slack_text(previous_text)
    event_ts = next_ts()
    return {
        "type": "message",
        "subtype": "message_changed",
        "message": {
            "client_msg_id": str(uuid.uuid4()),
            "type": "message",
            "text": new_text,
            "user": user,
            "team": team,
            "edited": {"user": user, "ts": event_ts},
            "blocks": rich_text_blocks(new_text),
            "ts": ts,
            "source_team": team,
            "user_team": team,
        },
        "previous_message": {
            "type": "message",
            "text": previous_text,
            "user": user,
            "ts": ts,
            "team": team,
        },
        "channel": channel,
        "hidden": True,
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": channel_type,
    }


def message_deleted_event(
    channel: str,
    ts: str,
    *,
    previous_text: str = "",
    user: str = "U123",
    channel_type: str = "channel",
    team: str = DEFAULT_TEAM,
) -> JSONDict:
    """A hidden ``message_deleted`` event for the message ``ts``."""
    event_ts = next_ts()
    return {
        "type": "message",
        "subtype": "message_deleted",
        "previous_message": {
            "type": "message",
            "text": slack_text(previous_text),
            "user": user,
            "ts": ts,
            "team": team,
        },
        "channel": channel,
        "hidden": True,
        "deleted_ts": ts,
        "event_ts": event_ts,
        "ts": event_ts,
        "channel_type": channel_type,
    }


# --------------------------------------------------------------------------- driver


class SlackDriver:
    """Sends requests to the app exactly as Slack would (signed, same content types)."""

    def __init__(
        self,
        app_url: str,
        signing_secret: str = "test-secret",
        team_id: str = DEFAULT_TEAM,
        api_app_id: str = "A0001",
        *,
        bot_user_id: str = "UBOT",
        team_domain: str = "fake",
        path: str = "/slack/events",
        verification_token: str = "fake-verification-token",
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.app_url = app_url.rstrip("/")
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.bot_user_id = bot_user_id
        self.team_domain = team_domain
        self.path = path
        self.verification_token = verification_token
        self.timeout = timeout
        self._client = client
        self.last_event_id: str | None = None
        """``event_id`` of the last ``post_event`` (resend it to simulate a Slack retry)."""

    @property
    def url(self) -> str:
        return self.app_url + self.path

    async def __aenter__(self) -> SlackDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing to release: each request uses a short-lived client unless one was passed
        in, and a passed-in client stays its owner's to close."""

    # -- transport

    async def post_raw(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        bad_signature: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST ``body`` to the app's Slack endpoint with Slack's signature headers."""
        ts = int(time.time()) if timestamp is None else timestamp
        secret = "not-the-signing-secret" if bad_signature else self.signing_secret
        all_headers = {
            "Content-Type": content_type,
            "User-Agent": SLACK_USER_AGENT,
            "Accept": "*/*",
            "Accept-Encoding": "gzip,deflate",
            **sign(body, secret, ts),
            **(headers or {}),
        }
        content = body.encode("utf-8")
        if self._client is not None:
            return await self._client.post(self.url, content=content, headers=all_headers)
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            return await client.post(self.url, content=content, headers=all_headers)

    async def post_form(self, fields: Mapping[str, str], **kwargs: Any) -> httpx.Response:
        """POST form-encoded ``fields`` (slash commands, interactivity)."""
        return await self.post_raw(urlencode(fields), "application/x-www-form-urlencoded", **kwargs)

    # -- Events API

    def envelope(
        self, event: JSONDict, *, event_id: str | None = None, event_time: int | None = None
    ) -> JSONDict:
        """Wrap ``event`` in an ``event_callback`` envelope."""
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or _random_id("Ev0", 9),
            "event_time": int(time.time()) if event_time is None else event_time,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_urlsafe(48),
        }

    async def post_event(
        self,
        event: JSONDict,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: int | None = None,
        bad_signature: bool = False,
    ) -> httpx.Response:
        """POST an Events API ``event_callback``. Resend the same ``event_id`` with
        ``retry_num=1, retry_reason="http_timeout"`` to simulate Slack's retry."""
        payload = self.envelope(event, event_id=event_id)
        self.last_event_id = payload["event_id"]
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
        if retry_reason is not None:
            headers["X-Slack-Retry-Reason"] = retry_reason
        return await self.post_raw(
            json.dumps(payload),
            "application/json",
            timestamp=timestamp,
            bad_signature=bad_signature,
            headers=headers,
        )

    async def url_verification(self, challenge: str) -> httpx.Response:
        body = {
            "token": self.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }
        return await self.post_raw(json.dumps(body), "application/json")

    # -- slash commands and interactivity

    def _user(self, user: str) -> JSONDict:
        return {
            "id": user,
            "username": f"user-{user.lower()}",
            "name": f"user-{user.lower()}",
            "team_id": self.team_id,
        }

    @staticmethod
    def _channel_name(channel: str) -> str:
        if channel.startswith("D"):
            return "directmessage"
        if channel.startswith("G"):
            return "privategroup"
        return f"channel-{channel.lower()}"

    async def slash_command(
        self,
        text: str,
        *,
        channel: str,
        user: str,
        response_url: str,
        command: str = "/gist",
        timestamp: int | None = None,
        bad_signature: bool = False,
    ) -> httpx.Response:
        """POST a slash command, form-encoded as Slack sends it."""
        fields = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": self._channel_name(channel),
            "user_id": user,
            "user_name": f"user-{user.lower()}",
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": _trigger_id(),
        }
        return await self.post_form(fields, timestamp=timestamp, bad_signature=bad_signature)

    async def post_payload(self, payload: JSONDict, **kwargs: Any) -> httpx.Response:
        """POST an interactivity payload as ``payload=<urlencoded JSON>``."""
        return await self.post_form({"payload": json.dumps(payload)}, **kwargs)

    async def message_shortcut(
        self,
        message: JSONDict,
        *,
        channel: str,
        user: str,
        response_url: str,
        callback_id: str = "gist_message",
    ) -> httpx.Response:
        """POST a ``message_action`` (message shortcut) on ``message`` (an event-like dict)."""
        shown = {
            k: v for k, v in message.items() if k not in ("channel", "event_ts", "channel_type")
        }
        shown.setdefault("type", "message")
        payload: JSONDict = {
            "type": "message_action",
            "token": self.verification_token,
            "action_ts": next_ts(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "user": self._user(user),
            "channel": {"id": channel, "name": self._channel_name(channel)},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": _trigger_id(),
            "response_url": response_url,
            "message_ts": message.get("ts", ""),
            "message": shown,
        }
        return await self.post_payload(payload)

    async def block_action(
        self,
        action_id: str,
        value: str,
        *,
        channel: str,
        message_ts: str,
        user: str,
        response_url: str,
        thread_ts: str | None = None,
        block_id: str = "actions",
        message: JSONDict | None = None,
        button_text: str = "Retry",
    ) -> httpx.Response:
        """POST a ``block_actions`` payload: ``user`` clicked button ``action_id`` on the
        bot message ``message_ts`` (pass ``message`` to include its real content)."""
        container: JSONDict = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        if thread_ts is not None:
            container["thread_ts"] = thread_ts
        shown: JSONDict = (
            dict(message)
            if message is not None
            else {
                "type": "message",
                "user": self.bot_user_id,
                "ts": message_ts,
                "text": "",
                "team": self.team_id,
            }
        )
        shown.setdefault("ts", message_ts)
        if thread_ts is not None:
            shown.setdefault("thread_ts", thread_ts)
        action_ts = next_ts()
        payload: JSONDict = {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "container": container,
            "trigger_id": _trigger_id(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self._channel_name(channel)},
            "message": shown,
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": {"type": "plain_text", "text": button_text, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": action_ts,
                }
            ],
        }
        return await self.post_payload(payload)

    # -- builders bound to this driver's team

    def message_event(self, channel: str, ts: str, text: str, **kwargs: Any) -> JSONDict:
        kwargs.setdefault("team", self.team_id)
        return message_event(channel, ts, text, **kwargs)

    def app_mention_event(self, channel: str, ts: str, text: str, **kwargs: Any) -> JSONDict:
        kwargs.setdefault("team", self.team_id)
        return app_mention_event(channel, ts, text, **kwargs)

    def message_changed_event(
        self, channel: str, ts: str, new_text: str, **kwargs: Any
    ) -> JSONDict:
        kwargs.setdefault("team", self.team_id)
        return message_changed_event(channel, ts, new_text, **kwargs)

    def message_deleted_event(self, channel: str, ts: str, **kwargs: Any) -> JSONDict:
        kwargs.setdefault("team", self.team_id)
        return message_deleted_event(channel, ts, **kwargs)
