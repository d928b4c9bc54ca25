"""Chaos mode on the fake Slack (Web API, file downloads, response_urls) and its standalone
command."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.slack import FakeSlack
from tests.fakes.slack.chaos import TRANSIENT_ERRORS

TOKEN = "xoxb-test-token"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    fake = FakeSlack(bot_token=TOKEN)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: FakeSlack) -> FakeSlack:
    server.reset()
    return server


# --------------------------------------------------------------------------- chaos mode

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _post(http: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response | None:
    """One POST, no retries; None when the connection was closed unanswered."""
    try:
        return await http.post(url, **kwargs)
    except httpx.TransportError:
        return None


async def test_chaos_each_kind_on_the_web_api(fake: FakeSlack) -> None:
    kinds = ("429", "429-bare", "5xx", "error", "drop", "after-5xx", "after-drop", "stall")
    seen: dict[str, tuple[int, bool]] = {}  # kind → (status seen, message posted)
    async with httpx.AsyncClient(headers=AUTH) as http:
        for kind in kinds:
            fake.chaos(1.0, seed=2, kinds=[kind], stall_s=(0.01, 0.01))
            before = len(fake.messages("C1"))
            body = {"channel": "C1", "text": kind}
            r = await _post(http, fake.api_url + "chat.postMessage", json=body)
            seen[kind] = (0 if r is None else r.status_code, len(fake.messages("C1")) > before)
            assert fake.chaos_counts() == {kind: 1}
            [call] = fake.calls("chat.postMessage")[-1:]
            assert call.chaos == kind and call.status == seen[kind][0]
            if kind == "429":
                assert r is not None and r.headers["Retry-After"] == "1"
                assert r.json() == {"ok": False, "error": "ratelimited"}
            if kind == "429-bare":
                assert r is not None and "Retry-After" not in r.headers
            if kind == "error":
                assert r is not None and r.json()["ok"] is False
                assert r.json()["error"] in TRANSIENT_ERRORS
            if kind == "5xx":
                assert r is not None and not r.headers["content-type"].startswith(
                    "application/json"
                )
    assert seen["429"] == seen["429-bare"] == (429, False)
    assert seen["5xx"][0] in (500, 502, 503) and not seen["5xx"][1]
    assert seen["error"] == (200, False) and seen["drop"] == (0, False)
    # After the effect: the message is in the channel although the client never learnt its ts.
    assert seen["after-5xx"] == (502, True) and seen["after-drop"] == (0, True)
    assert seen["stall"] == (200, True)
    assert [m.text for m in fake.messages("C1")] == ["after-5xx", "after-drop", "stall"]


async def test_chaos_on_file_downloads_and_response_urls(fake: FakeSlack) -> None:
    content = bytes(range(256)) * 400
    f = fake.add_file("clip.mp4", content)
    url = f["url_private_download"]
    async with httpx.AsyncClient(headers=AUTH) as http:
        fake.chaos(1.0, seed=4, kinds=["5xx"], endpoints=["files"])
        r = await http.get(url)
        assert r.status_code == 503 and r.content != content
        fake.chaos(1.0, seed=4, kinds=["mid-body"], endpoints=["files"])
        with pytest.raises(httpx.TransportError):
            await http.get(url)
        assert [(d.status, d.chaos) for d in fake.downloads(f["id"])] == [
            (503, "5xx"),
            (200, "mid-body"),
        ]
        fake.chaos(None)
        assert (await http.get(url)).content == content

        hook = fake.new_response_url()
        outcomes: dict[str, tuple[int, int]] = {}  # kind → (status seen, posts accepted)
        for kind in ("429", "5xx", "drop", "after-5xx", "after-drop", "stall"):
            fake.chaos(1.0, seed=4, kinds=[kind], endpoints=["response_url"], stall_s=(0, 0))
            before = len(fake.responses(hook))
            answer = await _post(http, hook, json={"text": kind})
            outcomes[kind] = (
                0 if answer is None else answer.status_code,
                len(fake.responses(hook)) - before,
            )
    assert outcomes["429"] == (429, 0) and outcomes["drop"] == (0, 0)
    assert outcomes["5xx"][0] in (500, 502, 503) and outcomes["5xx"][1] == 0
    assert outcomes["after-5xx"] == (502, 1) and outcomes["after-drop"] == (0, 1)
    assert outcomes["stall"] == (200, 1)
    state = fake.response_url_state(hook)
    assert state.chaos == ["429", "5xx", "drop", "after-5xx", "after-drop", "stall"]
    assert state.uses == 3


async def test_chaos_share_is_seeded_and_spares_the_fakes_own_pages(fake: FakeSlack) -> None:
    async with httpx.AsyncClient(headers=AUTH) as http:

        async def run() -> list[str | None]:
            fake.chaos(0.3, seed=9, kinds={"error": 1, "429": 1, "5xx": 1})
            for _ in range(60):
                await http.post(fake.api_url + "api.test")
            return [c.chaos for c in fake.calls("api.test")[-60:]]

        first = await run()
        assert await run() == first  # same seed, same requests: same faults
        assert 0 < sum(k is not None for k in first) < 60
        report = fake.chaos_report()
        assert report["seen"] == 60 and report["by_endpoint"].keys() == {"api.test"}

        fake.chaos(1.0, kinds=["5xx"])
        for page in ("", "_fake/state", "_fake/chaos"):
            assert (await http.get(fake.base_url + page)).status_code == 200
        assert fake.chaos_counts() == {}

        control = fake.base_url + "_fake/chaos"
        assert (await http.post(control, json={"p": 1, "kinds": ["x"]})).status_code == 400
        on = await http.post(control, json={"p": 1, "kinds": ["error"], "seed": 1})
        assert on.json()["config"]["p"] == 1
        assert (await http.post(fake.api_url + "auth.test")).json()["ok"] is False
        off = (await http.delete(control)).json()
        assert off["config"] is None and off["injected"] == {"error": 1}
        assert (await http.post(fake.api_url + "auth.test")).json()["ok"] is True
    fake.chaos(1.0)
    fake.reset()
    assert fake.chaos_report()["config"] is None


def test_standalone_entry_point() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.slack",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--quiet",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:") and base.endswith("/")
        resp = httpx.post(base + "api/auth.test", headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.json()["user_id"] == "UBOT"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
