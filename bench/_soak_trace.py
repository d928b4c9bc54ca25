"""Per request of a fault soak: every Slack and TwelveLabs call that belonged to it, in order,
with the fault chaos mode injected into it, and the app's job ids (to grep its log). This is
what turns "3 lost" into "lost because chat.postMessage got fatal_error"."""

from __future__ import annotations

from typing import Any

from bench._soak_tally import CHANNEL, SoakRequest
from tests.fakes.slack import ApiCall, FakeSlack
from tests.fakes.twelvelabs import Call, FakeTwelveLabs


def _mark(status: int, chaos: str | None, error: str | None = None) -> str:
    out = str(status)
    if error:
        out += f" {error}"
    return out + (f" [{chaos}]" if chaos else "")


def _slack_call_is_for(call: ApiCall, request: SoakRequest, threads: set[str]) -> bool:
    params = call.params
    if call.method == "chat.postMessage":
        if params.get("thread_ts") in threads:
            return True
        return "asked for a gist" in str(params.get("text")) and request.name in str(
            params.get("text")
        )
    if call.method in ("reactions.add", "reactions.remove"):
        return params.get("timestamp") in threads
    if call.method.startswith("conversations."):
        return params.get("ts") in threads
    return False


def slack_trace(slack: FakeSlack, request: SoakRequest, threads: set[str]) -> list[str]:
    own = {m.ts for ts in threads for m in slack.thread(CHANNEL, ts)}
    lines = []
    for call in slack.calls():
        mine = _slack_call_is_for(call, request, threads) or (
            call.method == "chat.update" and call.params.get("ts") in own
        )
        if mine:
            lines.append(f"{call.method} {_mark(call.status, call.chaos, call.error)}")
    for download in slack.downloads():
        if request.name in download.path:
            lines.append(f"download {_mark(download.status, download.chaos)}")
    if request.response_url:
        state = slack.response_url_state(request.response_url)
        lines += [f"response_url [{kind}]" for kind in state.chaos]
        lines += [f"response_url rejected {status} {body}" for status, body in state.rejected]
        lines += [f"response_url posted {len(state.posts)}"] if state.posts else []
    return lines


def _tl_call_is_for(call: Call, name: str, ids: set[str]) -> bool:
    if any(i in call.path for i in ids):
        return True
    body = call.body if isinstance(call.body, dict) else {}
    if call.template == "/assets" and call.method == "POST":
        return body.get("filename") == name or str(body.get("url", "")).endswith("/" + name)
    if call.template == "/analyze/tasks" and call.method == "POST":
        return (body.get("video") or {}).get("asset_id") in ids
    return False


def tl_trace(tl: FakeTwelveLabs, request: SoakRequest) -> list[str]:
    assets = {a.id for a in list(tl.assets.values()) if a.filename == request.name}
    tasks = {t.id for t in list(tl.tasks.values()) if t.video.get("asset_id") in assets}
    ids = assets | tasks
    return [
        f"{c.method} {c.template} {_mark(c.status, c.chaos)}"
        for c in list(tl.calls)
        if _tl_call_is_for(c, request.name, ids)
    ]


def job_ids(jobs: list[dict[str, Any]], request: SoakRequest) -> list[str]:
    found = []
    for job in jobs:
        source = job.get("source") or {}
        if request.name in f"{source.get('filename')} {source.get('url')}":
            found.append(f"{job.get('id')} {job.get('state')} {job.get('error_code') or ''}")
    return found


def traces(
    slack: FakeSlack,
    tl: FakeTwelveLabs,
    requests: list[SoakRequest],
    jobs: list[dict[str, Any]],
) -> dict[str, dict[str, list[str]]]:
    out = {}
    for request in requests:
        threads = {request.ts} if request.ts else set()
        for message in slack.messages(CHANNEL):
            if message.thread_ts is None and request.name in message.text:
                threads.add(message.ts)  # a /gist parent
        out[request.name] = {
            "jobs": job_ids(jobs, request),
            "slack": slack_trace(slack, request, threads),
            "twelvelabs": tl_trace(tl, request),
        }
    return out
