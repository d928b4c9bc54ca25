"""manifest.yml says what the code does: the events it subscribes to are the ones the Bolt app
listens for, the command and shortcut are the registered ones, and the bot scopes are exactly
those the Web API methods the code calls (and the events) need."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.jobs.guard import Guard
from bot.jobs.runner import JobRunner
from bot.jobs.store import JobStore
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.deps import Deps
from bot.slack.listeners import register

REPO = Path(__file__).resolve().parents[1]

# Bot scopes each Web API method needs. History and reading a conversation need the scope of
# its kind; gistbot works in all four kinds (channels, private channels, DMs, group DMs).
HISTORY = frozenset({"channels:history", "groups:history", "im:history", "mpim:history"})
READ = frozenset({"channels:read", "groups:read", "im:read", "mpim:read"})
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),
    "apps.connections.open": frozenset(),  # app-level token (connections:write), not the bot's
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.delete": frozenset({"chat:write"}),
    "chat.getPermalink": frozenset(),
    "conversations.history": HISTORY,
    "conversations.replies": HISTORY,
    "conversations.info": READ,
    "conversations.members": READ,
    "users.conversations": READ,
    "files.info": frozenset({"files:read"}),
    "reactions.add": frozenset({"reactions:write"}),
    "reactions.remove": frozenset({"reactions:write"}),
    "users.info": frozenset({"users:read"}),
    "views.publish": frozenset(),
    "views.open": frozenset(),
    "views.update": frozenset(),
}
# What a listener registered with app.event(X) needs in the manifest.
EVENT_SUBSCRIPTIONS: dict[str, frozenset[str]] = {
    "message": frozenset({"message.channels", "message.groups", "message.im", "message.mpim"}),
    "app_mention": frozenset({"app_mention"}),
    "app_home_opened": frozenset({"app_home_opened"}),
}
EVENT_SCOPES: dict[str, frozenset[str]] = {
    "app_mention": frozenset({"app_mentions:read"}),
    "message.channels": frozenset({"channels:history"}),
    "message.groups": frozenset({"groups:history"}),
    "message.im": frozenset({"im:history"}),
    "message.mpim": frozenset({"mpim:history"}),
    "app_home_opened": frozenset(),
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "manifest.yml").read_text())
    return data


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, set[str]]:
    """Build the real Bolt app, recording what each registration method is given."""
    seen: dict[str, set[str]] = {"event": set(), "command": set(), "shortcut": set()}

    def recorder(kind: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def record(self: AsyncApp, constraints: Any, *args: Any, **kwargs: Any) -> Any:
            seen[kind].add(constraints if isinstance(constraints, str) else str(constraints))
            return original(self, constraints, *args, **kwargs)

        return record

    for kind in seen:
        monkeypatch.setattr(AsyncApp, kind, recorder(kind, getattr(AsyncApp, kind)))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        slack_bot_token="xoxb-manifest",
        slack_signing_secret="secret",
        twelvelabs_api_key="k",
        gist_db_path=tmp_path / "db.sqlite3",
    )
    store = JobStore(settings.gist_db_path)
    # Registering reads no dependency (listeners use them per request): no runner needed.
    no_runner = cast(JobRunner, None)
    register(build_app(settings), Deps.build(settings, store, Guard(settings, store), no_runner))
    return seen


def _web_api_methods_called() -> set[str]:
    """Web API methods named anywhere in bot/: as attribute calls (`client.chat_update(…)`) or
    as strings (`getattr(client, "reactions_add")`), mapped to their API names."""
    names: set[str] = set()
    for path in (REPO / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)
    methods: set[str] = set()
    for name in names:
        attr = getattr(AsyncWebClient, name, None)
        if name.startswith("_") or not inspect.iscoroutinefunction(attr):
            continue
        match = re.search(r'api_call\(\s*"([\w.]+)"', inspect.getsource(attr))
        if match:
            methods.add(match.group(1))
    return methods


def test_the_web_api_scan_finds_known_calls() -> None:
    called = _web_api_methods_called()
    # One attribute call, one getattr() string: the scan must see both kinds.
    assert {"chat.postMessage", "chat.update", "reactions.add", "reactions.remove"} <= called
    assert "auth.test" in called


def test_scopes_are_exactly_what_the_code_needs(manifest: dict[str, Any]) -> None:
    called = _web_api_methods_called() | {"auth.test"}  # Bolt's own authorization call
    unknown = called - METHOD_SCOPES.keys()
    assert not unknown, f"add the scopes of {sorted(unknown)} to METHOD_SCOPES"
    needed: set[str] = {"commands"}  # /gist and the message shortcut
    for method in called:
        needed |= METHOD_SCOPES[method]
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        needed |= EVENT_SCOPES[event]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed


def test_events_match_the_registered_listeners(
    manifest: dict[str, Any], registered: dict[str, set[str]]
) -> None:
    unknown = registered["event"] - EVENT_SUBSCRIPTIONS.keys()
    assert not unknown, f"add {sorted(unknown)} to EVENT_SUBSCRIPTIONS"
    wanted: set[str] = set()
    for event in registered["event"]:
        wanted |= EVENT_SUBSCRIPTIONS[event]
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == wanted


def test_command_and_shortcut_match_the_registered_ones(
    manifest: dict[str, Any], registered: dict[str, set[str]]
) -> None:
    features = manifest["features"]
    assert {c["command"] for c in features["slash_commands"]} == registered["command"]
    assert {s["callback_id"] for s in features["shortcuts"]} == registered["shortcut"]
    assert {s["type"] for s in features["shortcuts"]} == {"message"}
    # Buttons (Retry, Regenerate), the shortcut and the command all need interactivity.
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_the_home_tab_is_on(manifest: dict[str, Any], registered: dict[str, set[str]]) -> None:
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in registered["event"]


def test_people_can_message_the_bot(manifest: dict[str, Any]) -> None:
    """message.im is subscribed, so the App Home Messages tab must be open for writing."""
    home = manifest["features"]["app_home"]
    assert home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is False
    assert "message.im" in manifest["settings"]["event_subscriptions"]["bot_events"]
