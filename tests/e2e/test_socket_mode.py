"""Socket Mode: the same app, events arriving as envelopes over a WebSocket that a test
server speaks the way Slack does (hello, events_api envelopes, acks by envelope_id)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import WSMsgType, web

from tests.e2e.conftest import CHANNEL, Harness, until
from tests.fakes.slack import FakeSlack
from tests.slack_driver import message_event
from tests.videos import make_video


@dataclass
class FakeSocket:
    url: str
    connections: list[web.WebSocketResponse] = field(default_factory=list)
    acks: list[str] = field(default_factory=list)

    async def send_event(self, event: dict[str, Any], envelope_id: str) -> None:
        body = {
            "token": "x",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + envelope_id,
            "event_time": 1700000000,
        }
        envelope = {
            "envelope_id": envelope_id,
            "payload": body,
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        await self.connections[-1].send_str(json.dumps(envelope))


@pytest.fixture
async def fake_socket() -> AsyncIterator[FakeSocket]:
    state = FakeSocket(url="")

    async def link(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        state.connections.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                      "connection_info": {"app_id": "A0001"}}))  # fmt: skip
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                if "envelope_id" in data:
                    state.acks.append(data["envelope_id"])
        return ws

    app = web.Application()
    app.router.add_get("/link", link)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/link"
    yield state
    for ws in state.connections:
        await ws.close()
    await runner.cleanup()


async def test_socket_mode_gists_an_upload_and_health_reports_the_connection(
    make_harness: Any, fake_slack: FakeSlack, fake_socket: FakeSocket
) -> None:
    # apps.connections.open hands out the test's WebSocket URL; then start in Socket Mode.
    fake_slack.socket_mode_url = fake_socket.url
    harness: Harness = await make_harness(slack_app_token="xapp-1-test")
    await until(lambda: fake_socket.connections, timeout_s=10)
    async with httpx.AsyncClient() as http:
        resp = await http.get(harness.running.url + "/healthz")
        assert resp.status_code == 200 and resp.json()["socket_connected"] is True
        # No HTTP events endpoint in Socket Mode.
        assert (await http.post(harness.running.url + "/slack/events")).status_code in (404, 405)

    file = fake_slack.add_file("socket.mp4", make_video(5.0).read_bytes(), channel=CHANNEL)
    event = message_event(CHANNEL, "1700000400.000100", "via socket", files=[file])
    await fake_socket.send_event(event, "env1")
    await until(lambda: "env1" in fake_socket.acks)
    results = await until(lambda: harness.results("1700000400.000100"))
    assert len(results) == 1
    # A redelivered envelope (same event) is acked again but does no new work.
    await fake_socket.send_event(event, "env1")
    await until(lambda: fake_socket.acks.count("env1") == 2)
    await asyncio.sleep(0.3)
    assert len(harness.results("1700000400.000100")) == 1
    assert harness.tl.count("POST", "/analyze/tasks") == 1

    # When the WebSocket goes away (and Slack hands out no new one), /healthz says so.
    fake_slack.socket_mode_url = None
    for ws in fake_socket.connections:
        await ws.close()
    async with httpx.AsyncClient() as http:

        async def unhealthy() -> bool:
            resp = await http.get(harness.running.url + "/healthz")
            return resp.status_code == 503

        for _ in range(100):
            if await unhealthy():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("/healthz still reports a connection")
