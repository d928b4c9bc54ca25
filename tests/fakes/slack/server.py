"""A fake Slack: Web API, file hosting and response_url webhooks on a real loopback server.

`FakeSlack` puts the API nouns together over the shared loopback server
(`tests/fakes/base.py`): `auth`, `chat`, `conversations`, `reactions`, `files` (with the file
host), `response_urls` and `views`, each a mixin over `core.SlackCore` (state, knobs, faults),
with `web_api` doing the ``/api/{method}`` plumbing. This module adds the playground pages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from tests.fakes.base import Route

from .auth import AuthApi
from .chat import ChatApi
from .conversations import ConversationsApi
from .core import ApiMethod, SlackError
from .files import FilesApi
from .membership import FakeMembership
from .modals import FakeModals
from .reactions import ReactionsApi
from .response_urls import ResponseUrlsApi
from .views import ViewsApi
from .web_api import WebApi


class FakeSlack(
    AuthApi, ChatApi, ConversationsApi, ReactionsApi, FilesApi, ResponseUrlsApi, ViewsApi, WebApi
):
    """Fake Slack Web API + file hosting + response_url webhooks.

    >>> fake = FakeSlack()
    >>> base = fake.start()          # "http://127.0.0.1:PORT/"
    >>> fake.api_url                 # base + "api/" — give it to AsyncWebClient(base_url=...)
    >>> fake.stop()
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Membership (users.conversations, conversations.members, registered conversations)
        # and modals (views.open/update) answer over the nouns above.
        self.membership = FakeMembership(self, SlackError)
        self.modals = FakeModals(self, SlackError)
        self._methods |= self.membership.methods() | self.modals.methods()

    def reset(self) -> None:
        super().reset()
        if hasattr(self, "membership"):
            self.membership.clear()
            self.modals.clear()

    def _api_methods(self) -> dict[str, ApiMethod]:
        return {
            **self._auth_methods(),
            **self._chat_methods(),
            **self._reactions_methods(),
            **self._files_methods(),
            **self._conversations_methods(),
            **self._views_methods(),
        }

    def _add_routes(self, app: web.Application) -> None:
        routes = [*self._api_routes(), *self._file_routes(), *self._response_url_routes()]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        app.router.add_get("/", self._handle_index)

    def _control_routes(self) -> Sequence[Route]:
        return [("GET", "/state", self._handle_state)]

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
