"""Checking TwelveLabs webhook signatures and reading the envelope (signed by the fake's own,
independent signer)."""

from __future__ import annotations

import json

import pytest

from bot.twelvelabs import webhooks
from tests.fakes.twelvelabs.webhooks import signature

SECRET = "whsec_test"
NOW = 1_800_000_000
BODY = json.dumps(
    {
        "id": "whe_1",
        "created_at": "2027-01-15T08:00:00Z",
        "type": "analyze.task.ready",
        "data": {"id": "task1", "custom_id": "gistbot-job-1", "status": "ready"},
    }
).encode()


def test_a_good_signature_passes_and_the_event_reads() -> None:
    webhooks.verify(SECRET, BODY, signature(SECRET, BODY, NOW), now=NOW + 10)
    event = webhooks.parse_event(BODY)
    assert (event.id, event.type) == ("whe_1", "analyze.task.ready")
    assert (event.resource_id, event.custom_id, event.status) == (
        "task1",
        "gistbot-job-1",
        "ready",
    )
    # Our signer agrees with the fake's.
    assert webhooks.sign(SECRET, BODY, NOW) == signature(SECRET, BODY, NOW)


@pytest.mark.parametrize(
    ("header", "now", "why"),
    [
        (None, NOW, "no signature"),
        ("", NOW, "no signature"),
        ("v1=abc", NOW, "malformed"),
        (f"t={NOW}", NOW, "malformed"),
        ("t=soon,v1=abc", NOW, "malformed"),
        (signature("another secret", BODY, NOW), NOW, "mismatch"),
        (signature(SECRET, BODY + b" ", NOW), NOW, "mismatch"),  # a body that was changed
        (signature(SECRET, BODY, NOW), NOW + 301, "stale"),
        (signature(SECRET, BODY, NOW), NOW - 301, "stale"),
    ],
)
def test_bad_signatures_are_refused(header: str | None, now: int, why: str) -> None:
    with pytest.raises(webhooks.BadSignature, match=why):
        webhooks.verify(SECRET, BODY, header, now=now)


def test_any_of_several_v1_values_may_match() -> None:
    good = signature(SECRET, BODY, NOW)
    rotated = f"t={NOW},v1={'0' * 64},{good.split(',')[1]}"
    webhooks.verify(SECRET, BODY, rotated, now=NOW)


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"type": "analyze.task.ready"}', b'{"data": {}}']
)
def test_signed_bodies_that_are_no_event(body: bytes) -> None:
    with pytest.raises(webhooks.BadEvent):
        webhooks.parse_event(body)
