"""`gistbot run` (the Slack app) and `gistbot gist` (one video, no Slack)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from bot import logs
from bot.gist.errors import GistFailure, explain
from bot.gist.models import Gist, GistType
from bot.gist.service import GistService, Source, twelvelabs_client
from bot.settings import Settings, SettingsError, TwelveLabsSettings, load
from bot.sources.urls import UrlKind, classify_url
from bot.twelvelabs import errors as tl_errors

# Exit codes: tell bad input, a refusal by the API, and a transient failure apart.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_TRANSIENT = 4
EXIT_CONFIG = 78  # EX_CONFIG

_TYPE_WORDS = {
    "title": GistType.TITLE,
    "topic": GistType.TOPIC,
    "topics": GistType.TOPIC,
    "hashtag": GistType.HASHTAG,
    "hashtags": GistType.HASHTAG,
}


class BadInput(Exception):
    pass


def parse_types(text: str | None) -> frozenset[GistType]:
    if not text:
        return GistType.all()
    kinds: set[GistType] = set()
    for word in text.replace(" ", ",").split(","):
        if not word:
            continue
        kind = _TYPE_WORDS.get(word.strip().lower())
        if kind is None:
            raise BadInput(f"unknown type {word!r}: use title, topic, hashtag")
        kinds.add(kind)
    if not kinds:
        raise BadInput("give at least one of title, topic, hashtag")
    return frozenset(kinds)


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
    return Source(path=path)


class Progress:
    """Upload bar and processing status on stderr; plain lines when stderr isn't a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._started = time.monotonic()
        self._last: tuple[str, int | None] = ("", None)
        self._drawn = False

    async def __call__(self, phase: str, percent: float | None) -> None:
        whole = None if percent is None else int(percent)
        if not self._tty and percent is not None and whole is not None:
            whole = whole // 10 * 10  # a line every 10 % is enough in a log
        if (phase, whole) == self._last:
            return
        self._last = (phase, whole)
        elapsed = time.monotonic() - self._started
        if percent is not None:
            filled = int(30 * min(percent, 100.0) / 100)
            text = f"{phase:<10} [{'#' * filled}{'.' * (30 - filled)}] {percent:5.1f}%"
        else:
            text = f"{phase:<10} …"
        text = f"{text}  {elapsed:6.1f}s"
        if self._tty:
            self._stream.write("\r\x1b[2K" + text)
            self._drawn = True
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gistbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the Slack app (Socket Mode if SLACK_APP_TOKEN is set)")
    run.set_defaults(func=_cmd_run)
    gist = sub.add_parser("gist", help="gist one video URL or file and print the result")
    gist.add_argument("source", help="a direct video URL or a path to a video file")
    gist.add_argument("--types", help="comma list of title,topic,hashtag (default: all)")
    gist.add_argument("--json", action="store_true", help="print the gist as JSON")
    gist.add_argument("-v", "--verbose", action="store_true", help="log API calls and retries")
    gist.set_defaults(func=_cmd_gist)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
