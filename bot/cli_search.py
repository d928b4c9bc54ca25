"""`gistbot search "<words>" [--json]`: search the index from a terminal, hits with their times.

Whoever holds the API key may see the whole index, so nothing is filtered by Slack membership
here; `--team` and `--in` narrow like Slack's search does. Titles and the Slack message of each
hit come from the job store when one is configured (GIST_DATABASE_URL, or an existing
GIST_DB_PATH file); without it a hit shows what its metadata says.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from bot import logs
from bot.jobs.store_base import Store, StoreUnavailable, make_store
from bot.search.models import Cursor, Hit, Outcome, Status
from bot.search.service import MAX_QUERY_TOKENS, Scope, SearchService, query_too_long, search_client
from bot.settings import SettingsError, StoreSettings, TwelveLabsSettings, load

EXIT_OK, EXIT_BAD_INPUT, EXIT_TRANSIENT, EXIT_CONFIG = 0, 2, 4, 78
MAX_LIMIT = 50
_SAYS = {
    Status.NOTHING: "No results.",
    Status.EMPTY: "Nothing is searchable in the index yet.",
    Status.NO_INDEX: "There is no index named GIST_INDEX_NAME yet: nothing has been indexed.",
    Status.DISABLED: "Indexing is off (GIST_INDEX_ENABLED=false): there is nothing to search.",
    Status.BUSY: "TwelveLabs is busy (rate limited). Try again in a minute.",
    Status.UNAVAILABLE: "TwelveLabs didn't answer the search (see the log line above).",
}


def add_parser(sub: Any) -> None:
    search = sub.add_parser("search", help="search the team's indexed videos; print the hits")
    search.add_argument("words", nargs="+", help="what is shown or said in the video")
    search.add_argument("--json", action="store_true", help="print the hits as JSON")
    search.add_argument("--team", help="only this Slack workspace (team id)")
    search.add_argument("--in", dest="channel", help="only this conversation (channel id)")
    search.add_argument("--limit", type=int, default=5, help=f"hits to print (1–{MAX_LIMIT})")
    search.add_argument("-v", "--verbose", action="store_true", help="log API calls and retries")
    search.set_defaults(func=run)


def _clock(seconds: float) -> str:
    total = max(0, int(seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_hit(number: int, hit: Hit) -> str:
    where = f"{hit.channel}" + (f", message {hit.message_ts}" if hit.message_ts else "")
    lines = [f"{number}. {hit.title}  [{where}]"]
    for moment in hit.moments:
        spoken = f"  “{moment.text}”" if moment.text else ""
        lines.append(f"   {_clock(moment.start)}–{_clock(moment.end)}{spoken}")
    return "\n".join(lines)


def as_json(query: str, outcome: Outcome, hits: list[Hit]) -> dict[str, Any]:
    return {
        "query": query,
        "status": outcome.status.value,
        "pending": outcome.pending,
        "results": [
            {
                "rank": h.rank,
                "title": h.title,
                "video_id": h.video_id,
                "team_id": h.team_id,
                "channel": h.channel,
                "message_ts": h.message_ts,
                "job_id": h.job_id,
                "thumbnail_url": h.thumbnail_url,
                "moments": [{"start": m.start, "end": m.end, "text": m.text} for m in h.moments],
            }
            for h in hits
        ],
    }


async def _store(settings: StoreSettings) -> Store | None:
    """The job store, if one is configured; never a new SQLite file made by a search."""
    if not settings.gist_database_url and not settings.gist_db_path.is_file():
        return None
    store = make_store(settings)
    try:
        await store.open()
    except StoreUnavailable as exc:
        await store.close()
        print(f"warning: {exc}; showing what TwelveLabs knows only", file=sys.stderr)
        return None
    return store


async def search(
    settings: TwelveLabsSettings, where: StoreSettings, args: argparse.Namespace, query: str
) -> int:
    store = await _store(where)
    try:
        async with search_client(settings) as client:
            service = SearchService(client, store, settings)
            cursor: Cursor | None = Cursor(query, args.channel)
            hits: list[Hit] = []
            outcome = Outcome(Status.NOTHING)
            while cursor is not None and len(hits) < args.limit:
                outcome = await service.search(Scope(args.team, None), cursor)
                hits += outcome.hits
                cursor = outcome.next
            await service.aclose()
    finally:
        if store is not None:
            await store.close()
    hits = hits[: args.limit]
    if args.json:
        print(json.dumps(as_json(query, outcome, hits), ensure_ascii=False, indent=2))
    else:
        for number, hit in enumerate(hits, start=1):
            print(format_hit(number, hit))
        if not hits:
            print(_SAYS.get(outcome.status, "No results."))
        if outcome.pending:
            print(f"({outcome.pending} recently indexed video(s) are not searchable yet)")
    if outcome.status in (Status.BUSY, Status.UNAVAILABLE):
        return EXIT_TRANSIENT
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    query = " ".join(args.words).strip()
    if not query or not 1 <= args.limit <= MAX_LIMIT:
        print(f"error: give some words to search for, and --limit 1–{MAX_LIMIT}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if query_too_long(query):
        limit = f"TwelveLabs takes up to {MAX_QUERY_TOKENS} tokens"
        print(f"error: the search is too long ({limit})", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        settings: TwelveLabsSettings = load(TwelveLabsSettings)
        where: StoreSettings = load(StoreSettings)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    logs.setup(
        "DEBUG" if args.verbose else "WARNING",
        secrets=[settings.twelvelabs_api_key.get_secret_value()],
    )
    try:
        return asyncio.run(search(settings, where, args, query))
    except KeyboardInterrupt:
        return 130
