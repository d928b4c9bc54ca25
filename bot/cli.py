"""`gistbot run` (the Slack app), `gistbot gist` (one video, no Slack) and `gistbot search`
(the team's indexed videos, from a terminal: `cli_search.py`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TextIO

from bot import cli_search, logs
from bot.callbacks import Sleep
from bot.gist.errors import GistFailure, explain
from bot.gist.models import Gist, GistType
from bot.gist.service import GistService, Source, twelvelabs_client
from bot.gist.vocabulary import VALID_WORDS_TEXT, UnknownTypeWord, parse_type_words
from bot.settings import Settings, SettingsError, TwelveLabsSettings, load, prepare_folders
from bot.sources.sniff import HEAD_BYTES, describe, sniff_container
from bot.sources.urls import UrlKind, classify_url
from bot.twelvelabs import errors as tl_errors

# Exit codes: tell bad input, a refusal by the API, and a transient failure apart.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_TRANSIENT = 4
EXIT_CONFIG = 78  # EX_CONFIG


class BadInput(Exception):
    pass


def parse_types(text: str | None) -> frozenset[GistType]:
    """`--types`: the same words `/gist` takes (title(s), topic(s), hashtag(s), tag(s))."""
    if text is None:
        return GistType.all()
    try:
        kinds = parse_type_words(re.split(r"[\s,]+", text))
    except UnknownTypeWord as exc:
        raise BadInput(str(exc)) from None
    if not kinds:
        raise BadInput(f"give at least one of {VALID_WORDS_TEXT}")
    return kinds


def check_video_file(path: Path, shown: str) -> None:
    """Refuse a file that is not a video container before anything is uploaded."""
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    if sniff_container(head) is None:
        raise BadInput(
            f"{shown} is not a video: it looks like {describe(head)}. Give a video file "
            "(MP4, MOV, WebM, MKV, AVI, MPEG-TS, FLV, WMV, MPEG …) or a direct link to one."
        )


def source_for(arg: str) -> Source:
    if arg.startswith(("http://", "https://")):
        url = classify_url(arg)
        if url.kind is UrlKind.HOSTING_PAGE:
            raise BadInput(
                f"{url.service} pages can't be analysed: TwelveLabs needs a direct link to the "
                "video file (for example one ending in .mp4), or download it and pass the file."
            )
        return Source(url=arg)
    path = Path(arg).expanduser()
    if not path.is_file():
        raise BadInput(f"{arg}: no such file (give a path to a video or an http(s) URL)")
    if path.stat().st_size == 0:
        raise BadInput(f"{arg}: the file is empty")
    try:
        check_video_file(path, arg)
    except OSError as exc:
        raise BadInput(f"{arg}: can't be read ({exc.strerror})") from None
    return Source(path=path)


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class Progress:
    """Upload bar and processing status on stderr; plain lines when stderr isn't a terminal.

    While TwelveLabs works nothing reports progress for minutes, so `ticking()` redraws the
    line every second (elapsed time moves) and, in a log, adds a line now and then."""

    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
        tick_s: float = 1.0,
        log_every_s: float = 30.0,
    ) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._clock = clock
        self._tick_s = tick_s
        self._log_every_s = log_every_s
        self._started = clock()
        self._phase = ""
        self._percent: float | None = None
        self._last: tuple[str, int | None] = ("", None)
        self._written_at = self._started
        self._drawn = False

    async def __call__(self, phase: str, percent: float | None) -> None:
        whole = None if percent is None else int(percent)
        if not self._tty and whole is not None:
            whole = whole // 10 * 10  # a line every 10 % is enough in a log
        self._phase, self._percent = phase, percent
        if (phase, whole) == self._last:
            return
        self._last = (phase, whole)
        self._write()

    def tick(self) -> None:
        """Called every `tick_s`: redraw the terminal line, or log a line now and then."""
        if not self._phase:
            return
        if self._tty or self._clock() - self._written_at >= self._log_every_s:
            self._write()

    @contextlib.asynccontextmanager
    async def ticking(self, sleep: Sleep = asyncio.sleep) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await sleep(self._tick_s)
                self.tick()

        task = asyncio.create_task(loop(), name="progress-ticker")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _write(self) -> None:
        now = self._clock()
        if self._percent is not None:
            filled = int(30 * min(self._percent, 100.0) / 100)
            text = f"{self._phase:<10} [{'#' * filled}{'.' * (30 - filled)}] {self._percent:5.1f}%"
        else:
            text = f"{self._phase:<10} …"
        text = f"{text}  {_clock_text(now - self._started)}"
        if self._tty:
            self._stream.write("\r\x1b[2K" + text)
            self._drawn = True
        else:
            self._stream.write(text + "\n")
        self._stream.flush()
        self._written_at = now

    def done(self) -> None:
        if self._tty and self._drawn:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()


def format_gist(gist: Gist) -> str:
    lines: list[str] = []
    if gist.title:
        lines.append(gist.title)
        lines.append("=" * min(len(gist.title), 80))
    if gist.topics:
        lines.append("Topics:   " + " · ".join(gist.topics))
    if gist.hashtags:
        lines.append("Hashtags: " + " ".join(gist.hashtags))
    if gist.video.duration_s:
        lines.append(f"Duration: {gist.video.duration_s:.0f}s")
    return "\n".join(lines)


async def run_gist(
    settings: TwelveLabsSettings, source: Source, types: frozenset[GistType], as_json: bool
) -> int:
    progress = Progress(sys.stderr)
    async with twelvelabs_client(settings) as client:
        service = GistService(client, settings)
        try:
            async with progress.ticking():
                gist = await service.gist(source, types, progress=progress)
        except tl_errors.ConfigurationError as exc:  # e.g. a base URL without /v1.3
            progress.done()
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        except Exception as exc:
            progress.done()
            failure = explain(exc)
            if failure.code == "internal":
                raise
            print(f"error: {failure.headline}. {failure.cli_detail}", file=sys.stderr)
            if failure.code == "config_base_url":
                return EXIT_CONFIG
            return EXIT_TRANSIENT if failure.retryable and not failure.admin else EXIT_REFUSED
        finally:
            await service.aclose()
    progress.done()
    if as_json:
        print(json.dumps(gist.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        print(format_gist(gist))
    return EXIT_OK


def _cmd_gist(args: argparse.Namespace) -> int:
    try:
        types = parse_types(args.types)
        source = source_for(args.source)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        settings: TwelveLabsSettings = load(TwelveLabsSettings)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    # A one-off gist doesn't add the video to the team's index (that costs) unless asked;
    # the service's own switch carries the choice.
    settings = settings.model_copy(update={"gist_index_enabled": args.index})
    logs.setup(
        "DEBUG" if args.verbose else "WARNING",
        secrets=[settings.twelvelabs_api_key.get_secret_value()],
    )
    try:
        return asyncio.run(run_gist(settings, source, types, args.json))
    except GistFailure as exc:  # pragma: no cover - explain() handles these above
        print(f"error: {exc.headline}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        settings: Settings = load(Settings)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    problems = prepare_folders(settings)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return EXIT_CONFIG
    from bot.runtime import serve  # Slack imports only when the app runs

    secrets = [
        s.get_secret_value()
        for s in (
            settings.twelvelabs_api_key,
            settings.slack_bot_token,
            settings.slack_app_token,
            settings.slack_signing_secret,
        )
        if s is not None
    ]
    logs.setup(settings.log_level, settings.log_format, secrets)
    return serve(settings)


def _cmd_health(args: argparse.Namespace) -> int:
    """Docker's HEALTHCHECK (exec form, so no shell expands $PORT): GET /healthz."""
    url = args.url
    if url is None:
        host = os.environ.get("HOST", "").strip()
        host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        url = f"http://{host}:{os.environ.get('PORT', '3000').strip() or '3000'}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as resp:
            body = resp.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: HTTP {exc.code} from {url}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    print(body.strip())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gistbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the Slack app (Socket Mode if SLACK_APP_TOKEN is set)")
    run.set_defaults(func=_cmd_run)
    gist = sub.add_parser("gist", help="gist one video URL or file and print the result")
    gist.add_argument("source", help="a direct video URL or a path to a video file")
    gist.add_argument(
        "--types", help=f"comma list of {VALID_WORDS_TEXT} (singular or plural; default: all)"
    )
    gist.add_argument("--json", action="store_true", help="print the gist as JSON")
    gist.add_argument(
        "--index",
        action="store_true",
        help="also add the video to the TwelveLabs index GIST_INDEX_NAME (searchable; costs)",
    )
    gist.add_argument("-v", "--verbose", action="store_true", help="log API calls and retries")
    gist.set_defaults(func=_cmd_gist)
    cli_search.add_parser(sub)
    health = sub.add_parser("health", help="check a running app's /healthz (exit 0 or 1)")
    health.add_argument("--url", help="default: http://127.0.0.1:$PORT/healthz")
    health.add_argument("--timeout", type=float, default=4.0)
    health.set_defaults(func=_cmd_health)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
