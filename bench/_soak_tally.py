"""What the fakes hold after a fault soak, request by request: results, errors, placeholders,
/gist parent messages, TwelveLabs assets and tasks. Pure reads of the fakes' state."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fakes.slack import FakeSlack, Message
from tests.fakes.twelvelabs import FakeTwelveLabs

Kind = Literal["link", "upload", "command"]
CHANNEL = "C0SOAK"
_HEADLINE = re.compile(r":x: \*([^*]+)\*")


@dataclass
class SoakRequest:
    """One gist asked for. `name` (the file name, or the link's last path part) is unique in
    the run and becomes the TwelveLabs asset's filename, so assets map back to requests."""

    index: int
    kind: Kind
    name: str
    url: str | None = None  # link and /gist
    ts: str | None = None  # the user's message (link, upload)
    event_id: str | None = None
    response_url: str | None = None
    sent_at: float = 0.0  # wall clock (the fake's message times are wall clock too)
    acks: list[int] = field(default_factory=list)  # HTTP status per delivery (0: no answer)
    redelivered: int = 0  # deliveries beyond the first (deliberate duplicates and retries)


@dataclass
class Seen:
    """What one request ended with in Slack."""

    results: int = 0
    errors: int = 0
    working: int = 0  # bot messages still showing progress
    replaced: int = 0  # messages that showed a result and now show something else
    thread_messages: int = 0  # bot messages in the request's thread(s), deleted ones excluded
    parents: int = 0  # /gist: "asked for a gist" messages
    reactions: set[str] = field(default_factory=set)  # the bot's on the request's message
    result_at: float | None = None  # wall clock of the first result
    headlines: list[str] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return self.results > 0 or self.errors > 0


def _classify(blocks_text: str) -> str:
    if "gist_regenerate" in blocks_text:
        return "result"
    if ":x:" in blocks_text:
        return "error"
    if ":hourglass" in blocks_text:
        return "working"
    return "other"


def _add_message(seen: Seen, message: Message) -> None:
    text = str(message.blocks) + message.text
    kind = _classify(text)
    earlier = [_classify(str(v.blocks) + v.text) for v in message.edits]
    if kind != "result" and "result" in earlier:
        seen.replaced += 1
    if kind == "result":
        seen.results += 1
        at = message.updated_at or message.posted_at
        seen.result_at = at if seen.result_at is None else min(seen.result_at, at)
    elif kind == "error":
        seen.errors += 1
        seen.headlines.extend(_HEADLINE.findall(text)[:1])
    elif kind == "working":
        seen.working += 1


def _parents(slack: FakeSlack, request: SoakRequest) -> list[Message]:
    return [
        m
        for m in slack.messages(CHANNEL)
        if m.thread_ts is None
        and not m.deleted
        and "asked for a gist" in m.text
        and request.name in m.text
    ]


def seen_for(slack: FakeSlack, request: SoakRequest) -> Seen:
    seen = Seen()
    threads: list[str] = []
    if request.kind == "command":
        parents = _parents(slack, request)
        seen.parents = len(parents)
        threads = [p.ts for p in parents]
    elif request.ts:
        threads = [request.ts]
    for thread_ts in threads:
        seen.reactions |= slack.reactions(CHANNEL, thread_ts)
        for message in slack.thread(CHANNEL, thread_ts):
            if not message.deleted:
                seen.thread_messages += 1
                _add_message(seen, message)
    if request.response_url:
        for post in slack.responses(request.response_url):
            text = str(post.get("blocks")) + str(post.get("text"))
            kind = _classify(text)
            seen.results += kind == "result"
            seen.errors += kind == "error"
            if kind == "error":
                seen.headlines.extend(_HEADLINE.findall(text)[:1])
    return seen


def _by_request(tl: FakeTwelveLabs, names: set[str]) -> dict[str, Counter[str]]:
    """Assets, analysis tasks and index entries per request name."""
    assets = dict(tl.assets)
    owner = {a.id: a.filename for a in assets.values() if a.filename in names}
    out: dict[str, Counter[str]] = {name: Counter() for name in names}
    for name in owner.values():
        out[name]["assets"] += 1
    for task in list(tl.tasks.values()):
        task_of = owner.get(str(task.video.get("asset_id")))
        if task_of is not None:
            out[task_of]["tasks"] += 1
    for entry in list(tl.indexed_assets.values()):
        entry_of = owner.get(entry.asset_id)
        if entry_of is not None:
            out[entry_of]["index_entries"] += 1
    return out


def _seconds(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "max": None}
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 1),
        "max": round(ordered[-1], 1),
    }


def tally(slack: FakeSlack, tl: FakeTwelveLabs, requests: list[SoakRequest]) -> dict[str, Any]:
    """The figures of one run."""
    seen = {r.name: seen_for(slack, r) for r in requests}
    work = _by_request(tl, set(seen))
    first_sent = min((r.sent_at for r in requests), default=0.0)
    result_times = [s.result_at - first_sent for s in seen.values() if s.result_at is not None]
    per_request = [
        {
            "name": r.name,
            "kind": r.kind,
            "results": s.results,
            "errors": s.errors,
            "working": s.working,
            "replaced": s.replaced,
            "thread_messages": s.thread_messages,
            "parents": s.parents,
            "reactions": sorted(s.reactions),
            "headlines": s.headlines,
            "acks": r.acks,
            **dict(work[r.name]),
        }
        for r in requests
        for s in [seen[r.name]]
    ]
    values = list(seen.values())
    return {
        "requests": len(requests),
        "by_kind": dict(Counter(r.kind for r in requests)),
        "delivered_exactly_once": sum(s.results == 1 for s in values),
        "lost_no_result_no_error": sum(not s.settled for s in values),
        "lost_but_x_reaction": sum(not s.settled and "x" in s.reactions for s in values),
        "error_shown_no_result": sum(s.results == 0 and s.errors > 0 for s in values),
        "error_and_result": sum(s.results > 0 and s.errors > 0 for s in values),
        "results_overwritten": sum(s.replaced for s in values),
        "duplicate_results": sum(max(0, s.results - 1) for s in values),
        "duplicate_thread_messages": sum(max(0, s.thread_messages - 1) for s in values),
        "duplicate_command_parents": sum(max(0, s.parents - 1) for s in values),
        "commands_without_parent": sum(
            r.kind == "command" and seen[r.name].parents == 0 for r in requests
        ),
        "placeholders_left_working": sum(s.working for s in values),
        "duplicate_assets": sum(max(0, c["assets"] - 1) for c in work.values()),
        "duplicate_tasks": sum(max(0, c["tasks"] - 1) for c in work.values()),
        "duplicate_index_entries": sum(max(0, c["index_entries"] - 1) for c in work.values()),
        "requests_without_asset": sum(c["assets"] == 0 for c in work.values()),
        "error_headlines": dict(Counter(h for s in values for h in s.headlines)),
        "time_to_last_gist_s": _seconds(result_times)["max"],
        "time_to_result_s": _seconds(result_times),
        "acks_not_2xx": sum(1 for r in requests for a in r.acks if not 200 <= a < 300),
        "redeliveries": sum(r.redelivered for r in requests),
        "per_request": per_request,
    }


def all_settled(slack: FakeSlack, requests: list[SoakRequest]) -> bool:
    return all(seen_for(slack, r).settled for r in requests)
