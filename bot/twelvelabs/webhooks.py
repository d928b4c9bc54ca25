"""TwelveLabs webhook events: check the signature, read the envelope.

Webhooks are registered by a person in the TwelveLabs dashboard (no API) and are account-wide,
so other apps' events arrive too; delivery is best-effort and retried with the same `id`. The
app treats an event only as a hint to read the task now (polling stays the source of truth).

`TL-Signature: t=<unix seconds>,v1=<hex>` where `v1 = HMAC-SHA256(secret, f"{t}." + raw body)`,
compared in constant time; a timestamp further than `TOLERANCE_S` from now is refused, so a
captured request can't be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SIGNATURE_HEADER",
    "TOLERANCE_S",
    "BadEvent",
    "BadSignature",
    "WebhookEvent",
    "parse_event",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "TL-Signature"
TOLERANCE_S = 300.0  # what TwelveLabs suggests accepting


class BadSignature(Exception):
    """Missing, malformed, stale or wrong signature: the request is not from TwelveLabs."""


class BadEvent(Exception):
    """A signed body that is not an event envelope."""


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    data: dict[str, Any]

    @property
    def resource_id(self) -> str | None:
        """`data.id`: the task id of `analyze.task.*` events."""
        value = self.data.get("id")
        return value if isinstance(value, str) and value else None

    @property
    def custom_id(self) -> str | None:
        value = self.data.get("custom_id")
        return value if isinstance(value, str) else None

    @property
    def status(self) -> str | None:
        value = self.data.get("status")
        return value if isinstance(value, str) else None


def _digest(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `TL-Signature` value TwelveLabs would send (for tests and local tools)."""
    return f"t={timestamp},v1={_digest(secret, str(timestamp), body)}"


def verify(
    secret: str, body: bytes, header: str | None, *, now: float, tolerance_s: float = TOLERANCE_S
) -> None:
    """Raise `BadSignature` unless `header` signs `body` with `secret`, recently enough."""
    if not header:
        raise BadSignature("no signature")
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value.strip()
        elif key == "v1":
            candidates.append(value.strip())
    if timestamp is None or not timestamp.isdigit() or not candidates:
        raise BadSignature("malformed signature")
    if abs(now - int(timestamp)) > tolerance_s:
        raise BadSignature("stale signature")
    expected = _digest(secret, timestamp, body)
    # Every candidate is compared (several v1 values may come while a secret is rotated).
    matches = [hmac.compare_digest(expected, c) for c in candidates]
    if not any(matches):
        raise BadSignature("signature mismatch")


def parse_event(body: bytes) -> WebhookEvent:
    """The envelope `{id, created_at, type, data}` of a verified body."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise BadEvent("body is not JSON") from None
    if not isinstance(doc, dict):
        raise BadEvent("body is not an object")
    kind, data = doc.get("type"), doc.get("data")
    if not isinstance(kind, str) or not isinstance(data, dict):
        raise BadEvent("no type or data")
    event_id = doc.get("id")
    return WebhookEvent(str(event_id) if event_id is not None else "", kind, data)
