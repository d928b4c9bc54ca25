"""`make demo`: gistbot at work in a minute, with no Slack or TwelveLabs account.

Starts the fake TwelveLabs API and the fake Slack (the ones the tests use, real loopback
servers), runs `gistbot run` against them in HTTP mode, then posts what a person in Slack
would: an upload of a small video made on the spot, and a link to a video. Requests are signed
the way Slack signs them. The thread is shown as Slack would show it: progress edits, then the
reply's blocks. It ends by itself; `--keep` keeps everything running and reads more to post.

It lives in tests/ because it is made of the tests' parts (fakes, signed-request driver, video
maker) and needs the test dependencies; none of it goes into the package or the image.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from aiohttp import web

from tests.demo_render import one_line, render_message
from tests.e2e.proc import stored_jobs
from tests.fakes.slack import FakeSlack, Message
from tests.fakes.twelvelabs import FakeTwelveLabs
from tests.slack_driver import SlackDriver, message_event
from tests.videos import make_video

REPO = Path(__file__).resolve().parents[1]
CHANNEL, USER, USER_NAME = "C0DEMO", "U0ANA", "ana"
API_KEY = "tlk-demo-key"
NO_JOB_AFTER_S = 3.0  # a post that started no job by then carried nothing to gist


@dataclass
class Demo:
    slack: FakeSlack
    tl: FakeTwelveLabs
    driver: SlackDriver
    app: asyncio.subprocess.Process
    app_url: str
    media_url: str
    workdir: Path
    out: TextIO
    color: bool = False

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)


# ------------------------------------------------------------------ starting and stopping


@contextlib.asynccontextmanager
async def media_server(files: dict[str, Path]) -> AsyncIterator[str]:
    """Serves videos at /media/<name>, the way a web server or CDN would."""

    async def media(request: web.Request) -> web.StreamResponse:
        path = files.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})

    app = web.Application()
    app.router.add_get("/media/{name}", media)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/media/"
    finally:
        await runner.cleanup()


def app_env(slack: FakeSlack, tl: FakeTwelveLabs, workdir: Path, port: int) -> dict[str, str]:
    """Everything `gistbot run` reads, and nothing from the caller's own environment."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(workdir)),
        "PYTHONPATH": str(REPO),
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": secrets.token_hex(16),
        "SLACK_API_URL": slack.api_url,
        "SLACK_FILE_HOSTS": "127.0.0.1",
        "TWELVELABS_API_KEY": API_KEY,
        "TWELVELABS_BASE_URL": tl.base_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "GIST_DB_PATH": str(workdir / "gistbot.sqlite3"),
        "GIST_TMP_DIR": str(workdir / "tmp"),
        "GIST_ALLOW_PRIVATE_URLS": "true",  # the demo's videos are on loopback
        "GIST_PROGRESS_INTERVAL_S": "1",
        "GIST_POLL_INITIAL_S": "0.2",
        "GIST_POLL_MAX_INTERVAL_S": "1",
        "GIST_SHUTDOWN_GRACE_S": "2",
        "LOG_LEVEL": "INFO",
    }


async def start_app(env: dict[str, str], workdir: Path) -> tuple[asyncio.subprocess.Process, str]:
    """`gistbot run` as its own process (cwd: a fresh folder, so no .env is read)."""
    command = [sys.executable, "-m", "bot.cli", "run"]
    with (workdir / "gistbot.log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=workdir, env=env, stdout=asyncio.subprocess.PIPE, stderr=log
        )
    assert proc.stdout is not None
    async with asyncio.timeout(60):
        while line := (await proc.stdout.readline()).decode():
            if line.startswith("gistbot ready on "):
                return proc, line.split()[-1]
    raise RuntimeError(f"gistbot did not start:\n{(workdir / 'gistbot.log').read_text()[-3000:]}")


async def stop_app(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(15):
            return await proc.wait()
    except TimeoutError:
        proc.kill()
        return await proc.wait()


# ------------------------------------------------------------------ what a person does


async def post_upload(demo: Demo, path: Path, text: str) -> str:
    """A message with a video attached, as Slack sends it (file_share, files[])."""
    file = demo.slack.add_file(path.name, path, channel=CHANNEL, user=USER)
    event = message_event(CHANNEL, demo.slack.next_ts(), text, user=USER, files=[file])
    demo.slack.add_user_message(CHANNEL, event)
    demo.say(f"#demo  {USER_NAME}: {text + '  ' if text else ''}📎 {path.name}")
    await demo.driver.post_event(event)
    return str(event["ts"])


async def post_link(demo: Demo, text: str) -> str:
    event = message_event(CHANNEL, demo.slack.next_ts(), text, user=USER)
    demo.slack.add_user_message(CHANNEL, event)
    demo.say(f"#demo  {USER_NAME}: {text}")
    await demo.driver.post_event(event)
    return str(event["ts"])


async def post_command(demo: Demo, text: str) -> str:
    """/gist as Slack sends it; what the app answers at once only the sender sees."""
    response_url = demo.slack.new_response_url(channel=CHANNEL)
    demo.say(f"#demo  {USER_NAME}: /gist {text}")
    resp = await demo.driver.slash_command(
        text, channel=CHANNEL, user=USER, response_url=response_url
    )
    if resp.content:  # Bolt answers a bare text as text/plain, anything more as JSON
        is_json = resp.headers.get("content-type", "").startswith("application/json")
        body = resp.json() if is_json else {"text": resp.text}
        shown = one_line(body.get("blocks"), str(body.get("text", "")), color=demo.color)
        demo.say(f"   (only you can see this) {shown}")
    return response_url


# ------------------------------------------------------------------ what a person sees


def _is_result(message: Message) -> bool:
    shown = str(message.blocks) + message.text
    return "gist_regenerate" in shown or "gist_retry" in shown or ":x:" in shown


def _in_progress(message: Message) -> bool:
    return ":hourglass" in str(message.blocks) + message.text


def _bot_messages(demo: Demo) -> list[Message]:
    return [m for m in demo.slack.messages(CHANNEL) if not m.deleted]


async def _jobs(demo: Demo) -> list[str]:
    """The states of the app's jobs, read from its store as an operator could."""
    jobs = await asyncio.to_thread(stored_jobs, demo.workdir / "gistbot.sqlite3")
    return [str(j["state"]) for j in jobs]


async def _settled(demo: Demo, jobs_before: int, new: list[Message], waited_s: float) -> bool:
    """All of this post's work is over: its jobs ended (or, after a moment, it made none) and
    no reply still shows progress."""
    states = await _jobs(demo)
    started = len(states) > jobs_before
    if not started and waited_s < NO_JOB_AFTER_S:
        return False
    ended = all(state in ("done", "failed") for state in states)
    return ended and not any(_in_progress(m) for m in new)


async def follow(
    demo: Demo, known: set[str], jobs_before: int, timeout_s: float = 120.0, quiet: bool = False
) -> int:
    """Show the bot's new messages as they change until the work is over, results as Slack
    lays them out. Returns how many gists were posted."""
    printed: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < timeout_s:
        new = [m for m in _bot_messages(demo) if m.ts not in known]
        for m in new:
            # Earlier versions, then the current one unless it is a result (a box, below).
            versions = [(v.blocks, v.text) for v in m.edits]
            if not _is_result(m):
                versions.append((m.blocks, m.text))
            for blocks, text in versions[printed.get(m.ts, 0) :]:
                demo.say(f"   ↳ gistbot: {one_line(blocks, text, color=demo.color)}")
            printed[m.ts] = len(versions)
        if await _settled(demo, jobs_before, new, loop.time() - started):
            results = [m for m in new if _is_result(m)]
            for m in results:
                demo.say("   ↳ gistbot  APP")
                for line in render_message(m.blocks, m.text, color=demo.color):
                    demo.say("     " + line)
            if not new and not quiet:
                demo.say("   (gistbot did not reply: nothing in it to gist)")
            return sum("gist_regenerate" in str(m.blocks) for m in results)
        await asyncio.sleep(0.1)
    demo.say(f"   (no answer within {timeout_s:.0f}s: see {demo.workdir / 'gistbot.log'})")
    return 0


async def show_reactions(demo: Demo, ts: str) -> None:
    """The reactions on the source message, once the final one (✅ or ❌) is there."""
    for _ in range(50):
        if demo.slack.reactions(CHANNEL, ts) & {"white_check_mark", "x"}:
            break
        await asyncio.sleep(0.1)
    names = sorted(demo.slack.reactions(CHANNEL, ts))
    if names:
        shown = " ".join(one_line(None, f":{n}:") for n in names)
        demo.say(f"   reactions on {USER_NAME}'s message: {shown}")


def show_responses(demo: Demo, response_url: str) -> None:
    for body in demo.slack.responses(response_url):
        if body.get("response_type") != "in_channel":
            demo.say(f"   (only you can see this) {one_line(body.get('blocks'), body['text'])}")


def _existing_file(line: str) -> Path | None:
    path = Path(line).expanduser()
    return path if path.is_file() else None


async def send(demo: Demo, line: str) -> None:
    """One line typed in --keep mode: a file path, a link, or a /gist command."""
    known, jobs = {m.ts for m in _bot_messages(demo)}, len(await _jobs(demo))
    if line.startswith("/gist"):
        response_url = await post_command(demo, line.removeprefix("/gist").strip())
        await follow(demo, known, jobs, timeout_s=300, quiet=True)
        show_responses(demo, response_url)
        return
    path = await asyncio.to_thread(_existing_file, line)
    if path is not None:
        ts = await post_upload(demo, path, "")
    else:
        ts = await post_link(demo, line)
    await follow(demo, known, jobs, timeout_s=300)
    await show_reactions(demo, ts)


# ------------------------------------------------------------------ the demo


def _keep_instructions(demo: Demo, example: str) -> None:
    demo.say()
    demo.say("Still running. Type a line and press Enter to post it to #demo as ana:")
    demo.say("  ./some/video.mp4                     upload a video file (as if dragged in)")
    demo.say("  <a link to a video>                  post a link, for example")
    demo.say(f"      {example}")
    demo.say("  /gist <link> [title|topics|hashtags] the slash command")
    demo.say("Ctrl-D or Ctrl-C ends the demo. Meanwhile, from another terminal:")
    demo.say(f"  what the fake Slack saw:  curl {demo.slack.base_url}_fake/state")
    demo.say(f"  the app's metrics:        curl {demo.app_url}/metrics")
    cli_env = f"TWELVELABS_API_KEY={API_KEY} TWELVELABS_BASE_URL={demo.tl.base_url}"
    demo.say(f"  the CLI, same fake:       {cli_env} .venv/bin/gistbot gist ./video.mp4")
    demo.say(f"  the app's log:            {demo.workdir / 'gistbot.log'}")


async def _read_lines(queue: asyncio.Queue[str | None], stdin: TextIO) -> None:
    """stdin on a daemon thread (a blocked read must not keep the process alive)."""
    loop = asyncio.get_running_loop()

    def reader() -> None:
        for line in stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.strip())
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=reader, name="demo-stdin", daemon=True).start()


async def keep_running(demo: Demo, example: str, stdin: TextIO) -> None:
    _keep_instructions(demo, example)
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    await _read_lines(queue, stdin)
    while (line := await queue.get()) is not None:
        if line:
            await send(demo, line)
            demo.say()


async def walkthrough(demo: Demo, video: Path, link: str) -> bool:
    """The demo's main path: an upload and a link, each followed to its reply."""
    ts = await post_upload(demo, video, "here's today's standup")
    gists = await follow(demo, set(), 0)
    await show_reactions(demo, ts)
    demo.say()
    known = {m.ts for m in _bot_messages(demo)}
    ts = await post_link(demo, f"launch teaser: {link}")
    gists += await follow(demo, known, len(await _jobs(demo)))
    await show_reactions(demo, ts)
    return gists == 2


async def _session(demo: Demo, video: Path, link: str, keep: bool, stdin: TextIO) -> int:
    demo.say(f"fake TwelveLabs API   {demo.tl.base_url}")
    demo.say(f"fake Slack            {demo.slack.base_url}")
    demo.say(f"gistbot (HTTP mode)   {demo.app_url}   log: {demo.workdir / 'gistbot.log'}")
    demo.say()
    ok = await walkthrough(demo, video, link)
    demo.say()
    demo.say("Both videos have their gist." if ok else "Something went wrong: see the log above.")
    if keep:
        await keep_running(demo, link, stdin)
    return 0 if ok else 1


async def run(
    out: TextIO = sys.stdout,
    *,
    keep: bool = False,
    port: int = 0,
    color: bool = False,
    processing_s: tuple[float, float] = (1.5, 3.0),
    stdin: TextIO = sys.stdin,
) -> int:
    """Start everything, walk through, stop everything. 0 when both videos got a gist."""
    workdir = Path(tempfile.mkdtemp(prefix="gistbot-demo-"))
    asset_s, task_s = processing_s
    video = make_video(6.0, width=640, height=360, directory=workdir, name="team-standup.mp4")
    teaser = make_video(8.0, directory=workdir, name="launch-teaser.mp4")
    slack = FakeSlack(bot_token="xoxb-demo-token")
    tl = FakeTwelveLabs(api_key=API_KEY, asset_processing_s=asset_s, task_processing_s=task_s)
    try:
        with slack, tl:
            async with media_server({teaser.name: teaser}) as media_url:
                env = app_env(slack, tl, workdir, port)
                proc, app_url = await start_app(env, workdir)
                driver = SlackDriver(app_url=app_url, signing_secret=env["SLACK_SIGNING_SECRET"])
                demo = Demo(slack, tl, driver, proc, app_url, media_url, workdir, out, color)
                try:
                    return await _session(demo, video, media_url + teaser.name, keep, stdin)
                finally:
                    await driver.aclose()
                    demo.say(f"gistbot stopped (exit {await stop_app(proc)}).")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--keep", action="store_true", help="keep running; post more from stdin")
    parser.add_argument("--port", type=int, default=0, help="gistbot's port (default: any free)")
    parser.add_argument("--no-color", action="store_true", help="no bold or dim text")
    args = parser.parse_args(argv)
    color = sys.stdout.isatty() and not args.no_color and "NO_COLOR" not in os.environ
    try:
        return asyncio.run(run(keep=args.keep, port=args.port, color=color))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
