"""The CLI's progress line keeps moving while TwelveLabs works; `gistbot health` (Docker's
HEALTHCHECK) reads /healthz."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.cli import Progress, main


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    """Time that moves only when the ticker sleeps; after `ticks` ticks it sleeps for good."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.ticks = 0
        self.reached = asyncio.Event()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if len(self.sleeps) >= self.ticks:
            self.reached.set()
            await asyncio.Event().wait()  # cancelled when `ticking()` ends
        self.sleeps.append(seconds)
        self.now += seconds


async def _run_ticks(progress: Progress, clock: FakeClock, ticks: int) -> None:
    clock.ticks = ticks
    async with progress.ticking(sleep=clock.sleep):
        await clock.reached.wait()


async def test_the_terminal_line_ticks_every_second_without_status_changes() -> None:
    clock, screen = FakeClock(), Terminal()
    progress = Progress(screen, clock=clock)
    await progress("analysing", None)
    await _run_ticks(progress, clock, ticks=3)
    frames = [f for f in screen.getvalue().split("\r\x1b[2K") if f]
    assert frames == [f"analysing  …  0:0{s}" for s in range(4)]
    assert clock.sleeps == [1.0, 1.0, 1.0]


async def test_a_log_gets_a_line_on_change_and_now_and_then_otherwise() -> None:
    clock, log = FakeClock(), io.StringIO()
    progress = Progress(log, clock=clock, log_every_s=30.0)
    await progress("uploading", 0.0)
    await progress("uploading", 4.0)  # same 10 % step: no line
    await progress("analysing", None)
    await _run_ticks(progress, clock, ticks=65)
    assert log.getvalue().splitlines() == [
        "uploading  [..............................]   0.0%  0:00",
        "analysing  …  0:00",
        "analysing  …  0:30",
        "analysing  …  1:00",
    ]


async def test_nothing_is_drawn_before_the_first_phase() -> None:
    clock, screen = FakeClock(), Terminal()
    progress = Progress(screen, clock=clock)
    await _run_ticks(progress, clock, ticks=2)
    assert screen.getvalue() == ""


@pytest.fixture
async def health_server() -> AsyncIterator[tuple[str, list[int]]]:
    statuses = [200]

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": statuses[0] == 200}, status=statuses[0])

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", statuses
    await runner.cleanup()


async def test_health_command_follows_healthz(
    health_server: tuple[str, list[int]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, statuses = health_server
    port = base.rsplit(":", 1)[1]
    monkeypatch.setenv("PORT", port)
    monkeypatch.delenv("HOST", raising=False)
    assert await asyncio.to_thread(main, ["health"]) == 0
    assert '"ok": true' in capsys.readouterr().out
    statuses[0] = 503
    assert await asyncio.to_thread(main, ["health"]) == 1
    assert "HTTP 503" in capsys.readouterr().err
    missing = f"{base}/nothing-here"
    assert await asyncio.to_thread(main, ["health", "--url", missing]) == 1


def test_health_command_fails_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "1")  # nothing listens on port 1
    assert main(["health", "--timeout", "2"]) == 1
