"""The fake's webhook deliveries: signed `analyze.task.*` events, as TwelveLabs sends them.

Set `webhook_url` and `webhook_secret` on the fake (knobs); each task that ends then POSTs
`{id, created_at, type, data: {id, custom_id, status, created_at, …}}` with
`TL-Signature: t=<unix>,v1=HMAC-SHA256(secret, f"{t}.{body}")` after `webhook_delay_s`. The
signature is computed here, independently of the app's checker. Every delivery is recorded
(`FakeTwelveLabs.webhook_deliveries`) with the answer it got.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.fakes.twelvelabs.state import TaskState, rfc3339, utcnow


@dataclass
class Delivery:
    event_id: str
    type: str
    task_id: str
    sent_at: float  # time.monotonic() when the POST went out
    status: int = 0  # 0: no answer (connection failed)
    answer: Any = None


def task_event(task: TaskState) -> tuple[str, dict[str, Any]]:
    """The event id and envelope for a task that just ended."""
    event_id = "whe_" + secrets.token_hex(12)
    data: dict[str, Any] = {
        "id": task.id,
        "custom_id": task.custom_id,
        "status": task.status,
        "created_at": rfc3339(task.created_at),
    }
    if task.error is not None:
        data["error"] = task.error
    envelope = {
        "id": event_id,
        "created_at": rfc3339(utcnow()),
        "type": f"analyze.task.{task.status}",
        "data": data,
    }
    return event_id, envelope


def signature(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


async def deliver(
    session: aiohttp.ClientSession, url: str, secret: str, task: TaskState, delay_s: float
) -> Delivery:
    if delay_s > 0:
        await asyncio.sleep(delay_s)
    event_id, envelope = task_event(task)
    body = json.dumps(envelope).encode()
    headers = {
        "Content-Type": "application/json",
        "TL-Signature": signature(secret, body, int(time.time())),
    }
    sent = Delivery(event_id, envelope["type"], task.id, time.monotonic())
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            sent.status = resp.status
            try:
                sent.answer = await resp.json(content_type=None)
            except ValueError:
                sent.answer = await resp.text()
    except aiohttp.ClientError:
        pass
    return sent
