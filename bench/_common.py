"""What the benchmarks share: paths, results (JSON in bench/out/, machine facts, percentiles),
the environments `gistbot` runs in, the fakes, and small loopback web servers.

Subprocesses (helper servers, `gistbot gist` runs, CPU meters) are in `bench._proc`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil  # type: ignore[import-untyped]
from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.slack import FakeSlack
    from tests.fakes.twelvelabs import FakeTwelveLabs

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "bench" / "out"
MIB = 1024 * 1024

# Credentials of the fakes the app-level benchmarks run `gistbot run` against.
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
TL_KEY = "tlk-bench-key-123456"


# --------------------------------------------------------------------------- gistbot's env


def gistbot_exe() -> Path:
    """The `gistbot` console script of the interpreter running the benchmark (the venv's)."""
    here = Path(sys.executable).parent / "gistbot"
    return here if here.exists() else REPO / ".venv" / "bin" / "gistbot"


def cli_env(api_key: str, base_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An explicit environment (like `env -i`): PATH, HOME and the TwelveLabs settings only."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "TWELVELABS_API_KEY": api_key,
        "TWELVELABS_BASE_URL": base_url,
    }
    env.update(extra or {})
    return env


def app_env(slack_api_url: str, tl_base_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """`gistbot run`'s whole environment (like `env -i`): nothing leaks in from the caller.
    HTTP mode on a free port, its database and temporary files under `workdir`."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "SLACK_FILE_HOSTS": "127.0.0.1,localhost",
        "TWELVELABS_API_KEY": TL_KEY,
        "TWELVELABS_BASE_URL": tl_base_url,
        "HOST": "127.0.0.1",
        "PORT": "0",
        "GIST_DB_PATH": str(workdir / "gistbot.sqlite3"),
        "GIST_TMP_DIR": str(workdir / "tmp"),
        "GIST_ALLOW_PRIVATE_URLS": "true",
        "GIST_SHUTDOWN_GRACE_S": "1",
    }
    env.update(extra)
    return env


def log_problems(log: Path, limit: int = 20) -> list[str]:
    """The warnings, errors and tracebacks in an app log (the first `limit`)."""
    lines = log.read_text("utf-8", "replace").splitlines()
    return [
        line for line in lines if " WARNING " in line or " ERROR " in line or "Traceback" in line
    ][:limit]


# --------------------------------------------------------------------------- the fakes


@contextlib.contextmanager
def running_fakes(
    bot_token: str = BOT_TOKEN, tl_key: str = TL_KEY, **tl_knobs: Any
) -> Iterator[tuple[FakeSlack, FakeTwelveLabs]]:
    """A started FakeSlack and FakeTwelveLabs (knobs as keyword arguments), both stopped after."""
    from tests.fakes.slack import FakeSlack
    from tests.fakes.twelvelabs import FakeTwelveLabs

    with (
        FakeSlack(bot_token=bot_token) as slack,
        FakeTwelveLabs(api_key=tl_key, **tl_knobs) as tl,
    ):
        yield slack, tl


# --------------------------------------------------------------------------- web servers


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve `app` on a free loopback port; return its runner (clean it up) and origin."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def until_signalled() -> None:
    """Return on SIGINT or SIGTERM (a helper server's main loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


class MediaSite:
    """Serves videos at `/media/<name>` the way a CDN would (GET and HEAD, video/mp4): the
    ones in `videos` by name, or `default` for any name. No chaos: the benchmarks are about
    Slack's and TwelveLabs' behaviour, not the video host's."""

    def __init__(self, default: bytes | None = None) -> None:
        self.videos: dict[str, bytes] = {}
        self.default = default
        self.origin = ""
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"{self.origin}/media"

    async def start(self, extra_routes: Sequence[web.RouteDef] = ()) -> None:
        async def media(request: web.Request) -> web.Response:
            body = self.videos.get(request.match_info["name"], self.default)
            if body is None:
                return web.Response(status=404, text="not found")
            return web.Response(body=body, content_type="video/mp4")

        app = web.Application()
        app.router.add_get("/media/{name}", media)
        app.add_routes(extra_routes)
        self._runner, self.origin = await serve(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


# --------------------------------------------------------------------------- results


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100), at least 1
    return sorted_values[int(rank) - 1]


def summarize_ms(
    values_ms: Sequence[float], *, quantiles: Sequence[int] = (50, 90, 99), digits: int = 3
) -> dict[str, Any]:
    """n, the nearest-rank `quantiles` (`p50_ms`, ...), max, mean and min of latencies."""
    s = sorted(values_ms)
    if not s:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(s)}
    for q in quantiles:
        out[f"p{q}_ms"] = round(percentile(s, q) or 0.0, digits)
    out["max_ms"] = round(s[-1], digits)
    out["mean_ms"] = round(sum(s) / len(s), digits)
    out["min_ms"] = round(s[0], digits)
    return out


def mib(n: float | None) -> float | None:
    return None if n is None else round(n / MIB, 2)


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine skews throughput."""
    return [round(x, 2) for x in os.getloadavg()]


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write `bench/out/<name>-<UTC timestamp>.json` and `bench/out/<name>-latest.json`."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    path = OUT_DIR / f"{name}-{stamp}.json"
    path.write_text(text, encoding="utf-8")
    (OUT_DIR / f"{name}-latest.json").write_text(text, encoding="utf-8")
    return path


def machine_info() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "platform": sys.platform,
        "mem_total_mib": mib(psutil.virtual_memory().total),
        "page_size": resource.getpagesize(),
        # Other work on the machine skews the throughput figures (not the memory or call counts).
        "loadavg_1_5_15": loadavg(),
        "at_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
