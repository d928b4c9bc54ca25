"""Bad inputs, end to end: every one ends in a clear answer the user can see (or, for passive
channel traffic that isn't a video, in deliberate silence), never in silence by accident and
never in two answers.

`BAD_INPUTS` below is the catalogue: one row per case, one test per row (`test_<name>`), so
`len(BAD_INPUTS)` is the number of bad inputs covered. `test_catalogue_matches_the_tests`
keeps the table and the tests in step.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import CHANNEL, TL_KEY, Harness, until
from tests.fakes.slack import Message
from tests.fakes.twelvelabs import Fault
from tests.slack_driver import app_mention_event, message_event, next_ts
from tests.videos import make_padded_video, make_video

USER = "U123"
ADMIN_CHANNEL = "CADMIN01"
MakeHarness = Callable[..., Any]


@dataclass(frozen=True)
class Case:
    name: str  # the test is test_<name>
    via: str  # passive | shortcut | /gist | mention | button
    given: str
    expect: str


BAD_INPUTS: list[Case] = [
    Case("non_video_upload_passive", "passive", "a PDF uploaded to the channel",
         "ignored: no reply, no reaction, no job"),
    Case("non_video_upload_shortcut", "shortcut", "“Gist this video” on a PDF upload",
         "ephemeral: not a video"),
    Case("non_video_stub_passive", "passive", "a PDF arriving as a file_access stub "
         "(Slack Connect)", "ignored: no reply, no reaction"),
    Case("video_stub_passive_works", "passive", "a video arriving as a file_access stub",
         "files.info resolves it: one result; ✅"),
    Case("hosting_page_passive", "passive", "YouTube/Vimeo/Loom/Drive/Dropbox page link",
         "ignored"),
    Case("hosting_page_command", "/gist", "YouTube/Vimeo/Loom/Drive/Dropbox page link",
         "ack explains: direct link needed; nothing queued"),
    Case("hosting_page_mention", "mention", "@gistbot + a hosting-page link",
         "thread note explains; nothing queued"),
    Case("dead_link", "passive", ".mp4 link answering 404",
         "thread: TwelveLabs couldn't read this video (HTTP 404); ❌"),
    Case("html_at_mp4_url", "passive", ".mp4 link serving an HTML page",
         "thread: TwelveLabs couldn't read this video; ❌"),
    Case("extensionless_page_command", "/gist", "extensionless link to a web page",
         "thread: that link isn't a video (probe); no asset"),
    Case("extensionless_video_command", "/gist", "extensionless link to a real video",
         "works: one result; ✅"),
    Case("zero_byte_file", "passive", "a 0-byte .mp4 upload",
         "thread: this file is empty; no download, no asset; ❌"),
    Case("file_over_size_cap", "passive", "upload over GIST_MAX_FILE_MB",
         "thread: too big; no download, no asset; ❌"),
    Case("video_too_short", "passive", "a 2 s video",
         "thread: too short (after the asset reports 2 s); no analysis; ❌"),
    Case("video_too_short_analysis_refuses", "passive", "a 2 s video, GIST_MIN_VIDEO_SECONDS=0",
         "the analysis fails: length isn't supported, no Retry; ❌"),
    Case("video_too_long_after_asset", "passive", "a 5 s video, limit 3 s, no duration_ms",
         "thread: too long (after the asset reports 5 s); no analysis; ❌"),
    Case("video_too_long_declared", "passive", "a 5 s video, limit 3 s, Slack's duration_ms",
         "thread: too long before any download; ❌"),
    Case("corrupt_video", "passive", "random bytes as video/mp4",
         "thread: TwelveLabs couldn't read this video; no analysis; ❌"),
    Case("deleted_slack_file", "passive", "upload deleted before the download",
         "thread: no longer available; ❌"),
    Case("tombstone_file", "passive", "a tombstone file stub",
         "thread: no longer available (files.info); ❌"),
    Case("hidden_by_limit_file", "passive", "a hidden_by_limit file stub",
         "thread: hidden by plan limits; ❌"),
    Case("login_page_off_allowlist", "passive", "download redirected to a host not in "
         "SLACK_FILE_HOSTS that answers with Slack's sign-in page",
         "thread: isn't hosted where gistbot may fetch it; token withheld there; ❌"),
    Case("login_page_with_token", "passive", "an allowed file host answers the bot token "
         "with an HTML sign-in page", "thread: sign-in page instead of the file; ❌"),
    Case("file_host_not_allowed", "passive", "url_private_download on a host not in "
         "SLACK_FILE_HOSTS", "thread: not hosted where gistbot may fetch it; no request; ❌"),
    Case("command_garbage_text", "/gist", "“please gist my thing”",
         "short ack naming the problem; nothing queued"),
    Case("command_10k_argument", "/gist", "10,000 characters",
         "short ack: too long, input not echoed; nothing queued"),
    Case("tl_bad_key", "passive", "TWELVELABS_API_KEY refused (401)",
         "generic 'admin told' message, no '401', no key; admin alert; Retry; ❌"),
    Case("tl_401_while_polling", "passive", "401 on GET /analyze/tasks/{id}",
         "same generic message; polling stops at once"),
    Case("tl_429_storm_on_create_then_retry", "passive", "429 ×3 on POST /assets "
         "(max_retries=2)", "TwelveLabs is busy + Retry; click → one result in that message"),
    Case("tl_429_storm_while_polling", "passive", "endless 429 on GET /analyze/tasks/{id} "
         "(analysis deadline 1 s)", "TwelveLabs is busy + Retry; one task; ❌"),
    Case("tl_429_burst_recovers", "passive", "429 ×2 on POST /assets and on the poll",
         "recovers: one result; ✅"),
    Case("tl_5xx_on_create", "passive", "503 on POST /assets (never retried blindly)",
         "TwelveLabs is having trouble + Retry; one POST /assets; ❌"),
    Case("tl_5xx_storm_while_polling", "passive", "endless 500/503 on GET /analyze/tasks/{id} "
         "(analysis deadline 1 s)", "TwelveLabs is having trouble + Retry; one task; ❌"),
    Case("tl_5xx_burst_recovers", "passive", "503 ×5 on the poll (more than max_retries)",
         "polling carries on: one result"),
    Case("invalid_json_analysis", "passive", "analysis data 'not json'",
         "2 tasks (larger budget) then 'didn't produce a usable answer' + Retry; ❌"),
    Case("length_once_then_ok", "passive", "finish_reason=length once",
         "2 tasks, one result; ✅"),
    Case("regenerate_reuses_asset", "button", "Regenerate on a result",
         "same message re-analysed: POST /assets unchanged, POST /analyze/tasks +1"),
    Case("retry_clears_the_x_reaction", "button", "Retry succeeds after a failure",
         "source message ends ✅ only"),
    Case("too_big_message_numbers", "passive", "1.4 MB upload, 1 MB cap",
         "the message's size and limit differ"),
]  # fmt: skip


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _all_text(m: Message) -> str:
    return m.text + "\n" + json.dumps(m.blocks or [], ensure_ascii=False)


def _visible(m: Message) -> str:
    """What a person reads: the fallback text and every `text` in the blocks (not button
    values, which hold job ids that may contain any digits)."""
    found: list[str] = [m.text]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                elif key != "value":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(m.blocks or [])
    return "\n".join(found)


def _button(m: Message, action_id: str) -> str | None:
    for block in m.blocks or []:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return str(element.get("value"))
    return None


async def _settle(h: Harness, extra_s: float = 0.3) -> None:
    """Let every job finish and stray listener work land, so 'exactly one' means it."""
    await h.running.runner.wait_idle(10)
    await asyncio.sleep(extra_s)
    await h.running.runner.wait_idle(10)


async def _jobs(h: Harness) -> int:
    return int(await h.running.store.count())


def _reactions(h: Harness, ts: str) -> set[str]:
    return h.slack.reactions(CHANNEL, ts)


async def _post_upload(
    h: Harness, name: str, content: bytes | Path, **file_kwargs: Any
) -> tuple[str, dict[str, Any]]:
    file = h.slack.add_file(name, content, channel=CHANNEL, **file_kwargs)
    ts = next_ts()
    resp = await h.driver.post_event(message_event(CHANNEL, ts, "", files=[file]))
    assert resp.status_code == 200
    return ts, file


async def _post_link(h: Harness, url: str, text: str = "have a look") -> str:
    ts = next_ts()
    resp = await h.driver.post_event(message_event(CHANNEL, ts, f"{text} <{url}>"))
    assert resp.status_code == 200
    return ts


async def _one_error(h: Harness, ts: str, wait_s: float = 15.0) -> Message:
    """Wait for the error in the thread of `ts`; then check it is the thread's only message,
    carries no result, and the source message ended in ❌."""
    await until(lambda: h.errors(ts), wait_s)
    await _settle(h)
    thread = h.thread(ts)
    assert len(thread) == 1, [m.text for m in thread]  # the placeholder became the error
    assert h.results(ts) == []
    error: Message = thread[0]
    assert ":x:" in _all_text(error)
    assert "Traceback" not in _all_text(error)
    assert "x" in _reactions(h, ts)
    assert "white_check_mark" not in _reactions(h, ts)
    assert "eyes" not in _reactions(h, ts)
    return error


async def _one_result(h: Harness, ts: str, wait_s: float = 15.0) -> Message:
    await until(lambda: h.results(ts), wait_s)
    await _settle(h)
    thread = h.thread(ts)
    assert len(thread) == 1, [m.text for m in thread]
    assert h.errors(ts) == []
    assert _reactions(h, ts) >= {"white_check_mark"}
    assert "x" not in _reactions(h, ts) and "eyes" not in _reactions(h, ts)
    result: Message = thread[0]
    return result


async def _assert_silent(h: Harness, ts: str) -> None:
    await _settle(h)
    assert await _jobs(h) == 0
    assert h.thread(ts) == []
    assert _reactions(h, ts) == set()
    assert h.slack.calls("chat.postMessage") == []
    assert h.slack.downloads() == []
    assert h.tl.calls == []


async def _gist(h: Harness, text: str) -> tuple[httpx.Response, str]:
    response_url = h.slack.new_response_url(channel=CHANNEL)
    resp = await h.driver.slash_command(text, channel=CHANNEL, user=USER, response_url=response_url)
    assert resp.status_code == 200
    return resp, response_url


def _ack_text(resp: httpx.Response) -> str:
    """What the /gist ack shows the user: Bolt answers plain text for `ack(text=…)` alone and
    JSON when blocks are given."""
    if resp.headers.get("content-type", "").startswith("application/json"):
        body = resp.json()
        return str(body.get("text") or "") + "\n" + json.dumps(body.get("blocks") or [])
    return resp.text


async def _command_thread(h: Harness) -> str:
    """The ts of the channel message a /gist opens ("@user asked for a gist of …")."""
    tops: list[Message] = await until(
        lambda: [m for m in h.slack.messages(CHANNEL) if m.thread_ts is None]
    )
    assert len(tops) == 1
    assert "asked for a gist" in tops[0].text
    return tops[0].ts


# --------------------------------------------------------------------------------------------
# the catalogue
# --------------------------------------------------------------------------------------------


def test_catalogue_matches_the_tests() -> None:
    names = [c.name for c in BAD_INPUTS]
    assert len(names) == len(set(names))
    module = sys.modules[__name__]
    missing = [n for n in names if not callable(getattr(module, f"test_{n}", None))]
    assert missing == []
    tests = {n[5:] for n in dir(module) if n.startswith("test_")} - {"catalogue_matches_the_tests"}
    assert tests == set(names), tests ^ set(names)


# --------------------------------------------------------------------------------------------
# non-videos and hosting pages
# --------------------------------------------------------------------------------------------


async def test_non_video_upload_passive(harness: Harness) -> None:
    ts, _ = await _post_upload(
        harness, "notes.pdf", b"%PDF-1.4 fake", mimetype="application/pdf", filetype="pdf"
    )
    await _assert_silent(harness, ts)


async def test_non_video_upload_shortcut(harness: Harness) -> None:
    file = harness.slack.add_file(
        "notes.pdf", b"%PDF-1.4 fake", mimetype="application/pdf", filetype="pdf",
        channel=CHANNEL,
    )  # fmt: skip
    ts = next_ts()
    response_url = harness.slack.new_response_url(channel=CHANNEL)
    resp = await harness.driver.message_shortcut(
        message_event(CHANNEL, ts, "", files=[file]),
        channel=CHANNEL, user=USER, response_url=response_url,
    )  # fmt: skip
    assert resp.status_code == 200
    answers = await until(lambda: harness.slack.responses(response_url))
    await _settle(harness)
    answers = harness.slack.responses(response_url)
    assert len(answers) == 1
    text = answers[0]["text"]
    assert answers[0].get("response_type") == "ephemeral"
    assert "didn't find a video" in text
    assert "notes.pdf is not a video" in text
    assert await _jobs(harness) == 0
    assert harness.thread(ts) == [] and harness.tl.calls == [] and harness.slack.downloads() == []


async def test_non_video_stub_passive(harness: Harness) -> None:
    ts, file = await _post_upload(
        harness, "notes.pdf", b"%PDF-1.4 fake", mimetype="application/pdf", filetype="pdf",
        mode="file_access",
    )  # fmt: skip
    assert "mimetype" not in file  # the event carries only the stub
    await _settle(harness)
    assert harness.thread(ts) == []
    assert _reactions(harness, ts) == set()
    assert harness.slack.downloads() == [] and harness.tl.calls == []


async def test_video_stub_passive_works(harness: Harness) -> None:
    ts, file = await _post_upload(harness, "cut.mp4", make_video(5.0), mode="file_access")
    assert "mimetype" not in file
    await _one_result(harness, ts)
    assert harness.slack.calls("files.info")


HOSTING_PAGES = {
    "YouTube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "Vimeo": "https://vimeo.com/76979871",
    "Loom": "https://www.loom.com/share/0123456789abcdef",
    "Google Drive": "https://drive.google.com/file/d/1AbCdEf/view?usp=sharing",
    "Dropbox": "https://www.dropbox.com/s/abc123/clip.mp4?dl=0",
}


@pytest.mark.parametrize("service", list(HOSTING_PAGES))
async def test_hosting_page_passive(harness: Harness, service: str) -> None:
    ts = await _post_link(harness, HOSTING_PAGES[service])
    await _assert_silent(harness, ts)


@pytest.mark.parametrize("service", list(HOSTING_PAGES))
async def test_hosting_page_command(harness: Harness, service: str) -> None:
    resp, response_url = await _gist(harness, HOSTING_PAGES[service])
    text = _ack_text(resp)
    assert f"{service} pages can't be analysed" in text
    assert "direct link" in text
    await _settle(harness)
    assert await _jobs(harness) == 0
    assert harness.slack.messages(CHANNEL) == []
    assert harness.slack.responses(response_url) == []  # the ack was the answer, once
    assert harness.tl.calls == []


@pytest.mark.parametrize("service", ["YouTube", "Dropbox"])
async def test_hosting_page_mention(harness: Harness, service: str) -> None:
    ts = next_ts()
    event = app_mention_event(CHANNEL, ts, f"<@UBOT> <{HOSTING_PAGES[service]}>")
    assert (await harness.driver.post_event(event)).status_code == 200
    await until(lambda: harness.thread(ts))
    await _settle(harness)
    [note] = harness.thread(ts)
    assert f"{service} pages can't be analysed" in note.text
    assert await _jobs(harness) == 0
    assert harness.tl.calls == []


# --------------------------------------------------------------------------------------------
# links that aren't what they say
# --------------------------------------------------------------------------------------------


async def test_dead_link(harness: Harness, video_server: str) -> None:
    ts = await _post_link(harness, f"{video_server}/missing/x.mp4")
    error = await _one_error(harness, ts)
    text = _all_text(error)
    assert "couldn't read this video" in text
    assert "HTTP 404" in text
    assert _button(error, "gist_retry") is None  # a dead link won't heal by retrying
    assert harness.tl.count("POST", "/analyze/tasks") == 0


async def test_html_at_mp4_url(harness: Harness, video_server: str) -> None:
    ts = await _post_link(harness, f"{video_server}/html/x.mp4")
    error = await _one_error(harness, ts)
    assert "couldn't read this video" in _all_text(error)
    assert "not a valid video" in _all_text(error)
    assert harness.tl.count("POST", "/analyze/tasks") == 0


async def test_extensionless_page_command(harness: Harness, video_server: str) -> None:
    resp, response_url = await _gist(harness, f"{video_server}/page")
    assert "On it" in _ack_text(resp)
    thread_ts = await _command_thread(harness)
    error = await _one_error(harness, thread_ts)
    text = _all_text(error)
    assert "That link isn't a video" in text
    assert "web page" in text
    assert harness.tl.calls == []  # the probe answered; TwelveLabs was never asked
    assert harness.slack.responses(response_url) == []
    assert await _jobs(harness) == 1


async def test_extensionless_video_command(harness: Harness, video_server: str) -> None:
    url = f"{video_server}/stream/abc"
    resp, response_url = await _gist(harness, url)
    assert "On it" in _ack_text(resp)
    thread_ts = await _command_thread(harness)
    await _one_result(harness, thread_ts)
    [create] = [c for c in harness.tl.calls if c.method == "POST" and c.template == "/assets"]
    assert create.body["method"] == "url" and create.body["url"] == url
    assert harness.slack.responses(response_url) == []


# --------------------------------------------------------------------------------------------
# uploads that can't be used
# --------------------------------------------------------------------------------------------


async def test_zero_byte_file(harness: Harness) -> None:
    ts, _ = await _post_upload(harness, "empty.mp4", b"")
    error = await _one_error(harness, ts)
    assert "This file is empty" in _all_text(error)
    assert _button(error, "gist_retry") is None
    assert harness.slack.downloads() == []
    assert harness.tl.calls == []


async def test_file_over_size_cap(make_harness: MakeHarness) -> None:
    h: Harness = await make_harness(gist_max_file_mb=0.01)
    ts, _ = await _post_upload(h, "big.mp4", make_video(5.0))  # ~46 KB > 10 KB
    error = await _one_error(h, ts)
    assert "This video is too big" in _all_text(error)
    _assert_size_differs_from_limit(error)
    assert _button(error, "gist_retry") is None
    assert h.slack.downloads() == []  # refused on Slack's declared size
    assert h.tl.calls == []


async def test_too_big_message_numbers(make_harness: MakeHarness, tmp_path: Path) -> None:
    h: Harness = await make_harness(gist_max_file_mb=1)
    big = make_padded_video(tmp_path / "big.mp4", 1_450_000)  # 1.38 MB
    ts, _ = await _post_upload(h, "big.mp4", big)
    error = await _one_error(h, ts)
    assert "This video is too big" in _all_text(error)
    _assert_size_differs_from_limit(error)


def _assert_size_differs_from_limit(error: Message) -> None:
    """The user must be able to see why: the size shown differs from the limit shown."""
    found = re.search(r"It is (.+?); this workspace's limit is (.+?)\. Trim", error.text)
    assert found, error.text
    assert found.group(1).strip() != found.group(2).strip(), error.text


async def test_video_too_short(harness: Harness) -> None:
    ts, _ = await _post_upload(harness, "blink.mp4", make_video(2.0))
    error = await _one_error(harness, ts)
    text = _all_text(error)
    assert "too short" in text
    assert "4 s" in text
    assert harness.tl.count("POST", "/assets") == 1
    assert harness.tl.count("POST", "/analyze/tasks") == 0  # refused before paying for one


async def test_video_too_short_analysis_refuses(make_harness: MakeHarness) -> None:
    # Without our own minimum, TwelveLabs' analysis refuses the 2 s video.
    h: Harness = await make_harness(gist_min_video_seconds=0)
    ts, _ = await _post_upload(h, "blink.mp4", make_video(2.0))
    error = await _one_error(h, ts)
    text = _all_text(error)
    assert "length isn't supported" in text
    assert "4 seconds" in text
    assert _button(error, "gist_retry") is None  # retrying can't make it longer
    assert h.tl.count("POST", "/analyze/tasks") == 1


async def test_video_too_long_after_asset(make_harness: MakeHarness) -> None:
    h: Harness = await make_harness(gist_max_video_minutes=0.05)  # 3 s
    ts, _ = await _post_upload(h, "long.mp4", make_video(5.0))
    error = await _one_error(h, ts)
    text = _all_text(error)
    assert "This video is too long" in text
    assert "5 s" in text and "3 s" in text
    assert h.tl.count("POST", "/assets") == 1
    assert h.tl.count("POST", "/analyze/tasks") == 0


async def test_video_too_long_declared(make_harness: MakeHarness) -> None:
    h: Harness = await make_harness(gist_max_video_minutes=0.05)
    ts, _ = await _post_upload(h, "long.mp4", make_video(5.0), duration_ms=5000)
    error = await _one_error(h, ts)
    assert "This video is too long" in _all_text(error)
    assert h.slack.downloads() == []  # Slack said how long it is: nothing fetched
    assert h.tl.calls == []


async def test_corrupt_video(harness: Harness) -> None:
    junk = bytes(range(256)) * 200
    ts, _ = await _post_upload(harness, "corrupt.mp4", junk, mimetype="video/mp4")
    error = await _one_error(harness, ts)
    assert "couldn't read this video" in _all_text(error)
    assert _button(error, "gist_retry") is None
    assert harness.tl.count("POST", "/assets") == 1
    assert harness.tl.count("POST", "/analyze/tasks") == 0


async def test_deleted_slack_file(harness: Harness) -> None:
    file = harness.slack.add_file("gone.mp4", make_video(5.0), channel=CHANNEL)
    harness.slack.delete_file(file["id"])
    ts = next_ts()
    await harness.driver.post_event(message_event(CHANNEL, ts, "", files=[file]))
    error = await _one_error(harness, ts)
    assert "no longer available" in _all_text(error)
    assert _button(error, "gist_retry") is None
    assert harness.tl.calls == []


async def test_tombstone_file(harness: Harness) -> None:
    ts, file = await _post_upload(harness, "old.mp4", make_video(5.0), mode="tombstone")
    assert file == {"id": file["id"], "mode": "tombstone"}
    error = await _one_error(harness, ts)
    assert "no longer available" in _all_text(error)
    assert harness.slack.calls("files.info")
    assert harness.slack.downloads() == [] and harness.tl.calls == []


async def test_hidden_by_limit_file(harness: Harness) -> None:
    ts, _ = await _post_upload(harness, "old.mp4", make_video(5.0), mode="hidden_by_limit")
    error = await _one_error(harness, ts)
    assert "hidden by the workspace's plan limits" in _all_text(error)
    assert harness.slack.downloads() == [] and harness.tl.calls == []


async def test_login_page_off_allowlist(make_harness: MakeHarness) -> None:
    # Slack's file host redirects to a CDN host that isn't in SLACK_FILE_HOSTS; the token is
    # withheld there and the CDN answers with Slack's sign-in page.
    h: Harness = await make_harness(slack_file_hosts=["127.0.0.1"])
    h.slack.redirect_host = "localhost"
    h.slack.edge_requires_auth = True
    ts, file = await _post_upload(h, "cdn.mp4", make_video(5.0), redirect=True)
    error = await _one_error(h, ts)
    text = _all_text(error)
    assert "isn't hosted where gistbot may fetch it" in text
    assert "SLACK_FILE_HOSTS" in text
    hops = h.slack.downloads(file["id"])
    assert [d.kind for d in hops] == ["download", "edge"]
    assert hops[0].authorized and hops[0].host.startswith("127.0.0.1")
    assert hops[1].host.startswith("localhost") and not hops[1].had_token
    assert h.tl.calls == []


async def test_login_page_with_token(harness: Harness, video_server: str) -> None:
    # What Slack does when the token lacks files:read: HTTP 200 with its sign-in page.
    file = harness.slack.add_file("clip.mp4", make_video(5.0), channel=CHANNEL)
    file = {**file, "url_private_download": f"{video_server}/html/clip.mp4"}
    ts = next_ts()
    await harness.driver.post_event(message_event(CHANNEL, ts, "", files=[file]))
    error = await _one_error(harness, ts)
    text = _all_text(error)
    assert "sign-in page instead of the file" in text
    assert "files:read" in text
    assert harness.tl.calls == []


async def test_file_host_not_allowed(make_harness: MakeHarness) -> None:
    h: Harness = await make_harness(slack_file_hosts=["files.slack.com"])
    ts, _ = await _post_upload(h, "clip.mp4", make_video(5.0))
    await until(lambda: "x" in _reactions(h, ts))  # failed() has run
    await _settle(h)
    assert h.slack.downloads() == []  # not even a token-less request
    assert h.tl.calls == []
    updates = [c.params.get("text", "") for c in h.slack.calls("chat.update")]
    assert any("isn't hosted where gistbot may fetch it" in t for t in updates)
    # What the user is left looking at must be that error, not a late progress edit
    # (regression: the "Downloading — 0%" edit used to land after the error and hide it).
    error = await _one_error(h, ts, wait_s=1.0)
    assert "isn't hosted where gistbot may fetch it" in _all_text(error)


# --------------------------------------------------------------------------------------------
# /gist with nonsense
# --------------------------------------------------------------------------------------------


async def test_command_garbage_text(harness: Harness) -> None:
    resp, response_url = await _gist(harness, "please gist my thing")
    text = _ack_text(resp)
    assert "please" in text
    assert "title, topics, hashtags" in text
    assert len(resp.json()["text"]) < 300
    await _settle(harness)
    assert await _jobs(harness) == 0
    assert harness.slack.messages(CHANNEL) == [] and harness.slack.responses(response_url) == []
    assert harness.tl.calls == []


async def test_command_10k_argument(harness: Harness) -> None:
    resp, response_url = await _gist(harness, "https://x.test/" + "a" * 9985)
    text = _ack_text(resp)
    assert "too long" in text
    assert "10,000" in text
    assert "aaaaaaaaaa" not in resp.text  # the input isn't echoed back
    assert len(resp.text) < 1500
    await _settle(harness)
    assert await _jobs(harness) == 0
    assert harness.slack.messages(CHANNEL) == [] and harness.slack.responses(response_url) == []
    assert harness.tl.calls == []


# --------------------------------------------------------------------------------------------
# TwelveLabs refuses, throttles, fails
# --------------------------------------------------------------------------------------------


def _assert_generic_key_message(error: Message, key: str) -> None:
    text = _visible(error)
    assert "can't reach TwelveLabs right now" in text
    assert "admin has been told" in text
    assert "401" not in text
    assert key not in text and TL_KEY not in text
    assert "api_key" not in text.lower().replace("api key", "")


async def test_tl_bad_key(make_harness: MakeHarness) -> None:
    wrong = "tlk-wrong-key-987654"
    h: Harness = await make_harness(twelvelabs_api_key=wrong, gist_admin_channel=ADMIN_CHANNEL)
    ts, _ = await _post_upload(h, "clip.mp4", make_video(5.0))
    error = await _one_error(h, ts)
    _assert_generic_key_message(error, wrong)
    assert _button(error, "gist_retry")  # once the key is fixed, Retry helps
    alerts = await until(lambda: h.slack.messages(ADMIN_CHANNEL))
    assert len(alerts) == 1
    assert "TWELVELABS_API_KEY" in alerts[0].text
    assert wrong not in _all_text(alerts[0])
    assert h.tl.count("POST", "/assets") == 1  # a 401 isn't retried


async def test_tl_401_while_polling(make_harness: MakeHarness) -> None:
    h: Harness = await make_harness(gist_admin_channel=ADMIN_CHANNEL)
    h.tl.add_fault(Fault("GET", "/analyze/tasks/{id}", "401", times=1))
    ts, _ = await _post_upload(h, "clip.mp4", make_video(5.0))
    error = await _one_error(h, ts)
    _assert_generic_key_message(error, TL_KEY)
    assert h.tl.count("GET", "/analyze/tasks/{id}") == 1  # no polling loop on a 401
    assert len(await until(lambda: h.slack.messages(ADMIN_CHANNEL))) == 1


async def _click(h: Harness, action_id: str, value: str, message: Message, source_ts: str) -> None:
    resp = await h.driver.block_action(
        action_id, value, channel=CHANNEL, message_ts=message.ts, user=USER,
        response_url=h.slack.new_response_url(channel=CHANNEL), thread_ts=source_ts,
    )  # fmt: skip
    assert resp.status_code == 200


async def test_tl_429_storm_on_create_then_retry(make_harness: MakeHarness) -> None:
    # A storm that outlasts the request layer's retries is retried at the job level until the
    # job's deadline; then the error names the cause (not just "too long") and offers Retry.
    h: Harness = await make_harness(
        twelvelabs_max_retries=2,
        gist_job_timeout_s=2.0,
        gist_retry_initial_s=0.05,
        gist_retry_max_interval_s=0.2,
    )
    h.tl.add_fault(Fault("POST", "/assets", "429", times=100_000, retry_after="0"))
    ts, _ = await _post_upload(h, "clip.mp4", make_video(5.0))
    error = await _one_error(h, ts)
    assert "TwelveLabs is busy" in _all_text(error)
    assert "429" not in _visible(error)
    assert h.tl.count("POST", "/assets") > 3  # beyond 1 + max_retries: retried until the deadline
    assert h.tl.assets == {}  # a 429 creates nothing
    job_id = _button(error, "gist_retry")
    assert job_id

    h.tl.clear_faults()
    await _click(h, "gist_retry", job_id, error, ts)
    await until(lambda: h.results(ts))
    await _settle(h)
    thread = h.thread(ts)
    assert len(thread) == 1 and thread[0].ts == error.ts  # the error message became the result
    assert len(h.results(ts)) == 1 and h.errors(ts) == []
    assert h.tl.count("POST", "/analyze/tasks") == 1


async def test_retry_clears_the_x_reaction(make_harness: MakeHarness) -> None:
    h: Harness = await make_harness(twelvelabs_max_retries=0)
    h.tl.add_fault(Fault("POST", "/assets", "401", times=1))  # permanent: ends the job
    ts, _ = await _post_upload(h, "clip.mp4", make_video(5.0))
    error = await _one_error(h, ts)
    job_id = _button(error, "gist_retry")
    assert job_id
    await _click(h, "gist_retry", job_id, error, ts)
    await until(lambda: h.results(ts))
    await _settle(h)
    assert "white_check_mark" in _reactions(h, ts)
    assert _reactions(h, ts) == {"white_check_mark"}, _reactions(h, ts)


async def test_tl_429_storm_while_polling(make_harness: MakeHarness) -> None:
    # A storm that outlasts the request layer's retries *and* the job's deadline.
    h: Harness = await make_harness(
        twelvelabs_max_retries=2,
        gist_analysis_timeout_s=1.0,
        gist_job_timeout_s=3.0,
        gist_retry_initial_s=0.05,
        gist_retry_max_interval_s=0.2,
    )
    h.tl.add_fault(Fault("GET", "/analyze/tasks/{id}", "429", times=100_000, retry_after="0"))
    ts, _ = await _post_upload(h, "clip.mp4", make_video(5.0))
    error = await _one_error(h, ts)
    assert "TwelveLabs is busy" in _all_text(error)
    assert "429" not in _visible(error)
    assert _button(error, "gist_retry")
    assert h.tl.count("GET", "/analyze/tasks/{id}") >= 3
    assert h.tl.count("POST", "/analyze/tasks") == 1  # the storm didn't buy a second task


async def test_tl_429_burst_recovers(make_harness: MakeHarness) -> None:
    h: Harness = await make_harness(twelvelabs_max_retries=2)
    h.tl.add_fault(Fault("POST", "/assets", "429", times=2, retry_after="0"))
    h.tl.add_fault(Fault("GET", "/analyze/tasks/{id}", "429", times=2, retry_after="0"))
    ts, _ = await _post_upload(h, "clip.mp4", make_video(5.0))
    await _one_result(h, ts)
    assert h.tl.count("POST", "/assets") == 3
    assert h.tl.count("POST", "/analyze/tasks") == 1


@pytest.mark.parametrize("status", ["503", "500"])
async def test_tl_5xx_on_create(make_harness: MakeHarness, status: str) -> None:
    h: Harness = await make_harness(
        twelvelabs_max_retries=2,
        gist_job_timeout_s=2.0,
        gist_retry_initial_s=0.05,
        gist_retry_max_interval_s=0.2,
    )
    h.tl.add_fault(Fault("POST", "/assets", status, times=100_000))
    ts, _ = await _post_upload(h, "clip.mp4", make_video(5.0))
    error = await _one_error(h, ts)
    assert "TwelveLabs is having trouble" in _all_text(error)
    assert status not in _visible(error)
    assert _button(error, "gist_retry")
    # A create whose outcome is unknown is looked up before it is sent again: never two assets.
    assert h.tl.count("POST", "/assets") > 1
    assert h.tl.count("GET", "/assets") >= 1
    assert len(h.tl.assets) <= 1


@pytest.mark.parametrize("status", ["500", "503"])
async def test_tl_5xx_storm_while_polling(make_harness: MakeHarness, status: str) -> None:
    h: Harness = await make_harness(
        twelvelabs_max_retries=2,
        gist_analysis_timeout_s=1.0,
        gist_job_timeout_s=3.0,
        gist_retry_initial_s=0.05,
        gist_retry_max_interval_s=0.2,
    )
    h.tl.add_fault(Fault("GET", "/analyze/tasks/{id}", status, times=100_000))
    ts, _ = await _post_upload(h, "clip.mp4", make_video(5.0))
    error = await _one_error(h, ts)
    assert "TwelveLabs is having trouble" in _all_text(error)
    assert status not in _visible(error)
    assert _button(error, "gist_retry")
    assert h.tl.count("GET", "/analyze/tasks/{id}") >= 3
    assert h.tl.count("POST", "/analyze/tasks") == 1


async def test_tl_5xx_burst_recovers(make_harness: MakeHarness) -> None:
    # 5 failures in a row: more than the request layer retries (1 + 2), fewer than the poll
    # deadline allows; polling carries on and the gist arrives.
    h: Harness = await make_harness(twelvelabs_max_retries=2)
    h.tl.add_fault(Fault("GET", "/analyze/tasks/{id}", "503", times=5))
    ts, _ = await _post_upload(h, "clip.mp4", make_video(5.0))
    await _one_result(h, ts)
    assert h.tl.count("GET", "/analyze/tasks/{id}") > 5
    assert h.tl.count("POST", "/analyze/tasks") == 1


# --------------------------------------------------------------------------------------------
# analysis output
# --------------------------------------------------------------------------------------------


def _task_budgets(h: Harness) -> list[int]:
    return [
        int(c.body["max_tokens"])
        for c in h.tl.calls
        if c.method == "POST" and c.template == "/analyze/tasks" and isinstance(c.body, dict)
    ]


async def test_invalid_json_analysis(harness: Harness) -> None:
    harness.tl.analysis_override = "not json"
    ts, _ = await _post_upload(harness, "clip.mp4", make_video(5.0))
    error = await _one_error(harness, ts)
    assert "didn't produce a usable answer" in _all_text(error)
    assert _button(error, "gist_retry")
    budgets = _task_budgets(harness)
    assert len(budgets) == 2 and budgets[1] > budgets[0]
    assert harness.tl.count("POST", "/assets") == 1


async def test_length_once_then_ok(harness: Harness) -> None:
    harness.tl.analysis_length_times = 1
    ts, _ = await _post_upload(harness, "clip.mp4", make_video(5.0))
    await _one_result(harness, ts)
    budgets = _task_budgets(harness)
    assert len(budgets) == 2 and budgets[1] > budgets[0]
    assert harness.tl.count("POST", "/assets") == 1


async def test_regenerate_reuses_asset(harness: Harness) -> None:
    ts, _ = await _post_upload(harness, "clip.mp4", make_video(5.0))
    result = await _one_result(harness, ts)
    assets, tasks = harness.tl.count("POST", "/assets"), harness.tl.count("POST", "/analyze/tasks")
    job_id = _button(result, "gist_regenerate")
    assert job_id
    await _click(harness, "gist_regenerate", job_id, result, ts)
    await until(lambda: harness.tl.count("POST", "/analyze/tasks") == tasks + 1)
    await until(lambda: len(harness.thread(ts)[0].edits) > len(result.edits))
    await _settle(harness)
    assert harness.tl.count("POST", "/assets") == assets
    assert harness.tl.count("POST", "/analyze/tasks") == tasks + 1
    thread = harness.thread(ts)
    assert len(thread) == 1 and thread[0].ts == result.ts
    assert len(harness.results(ts)) == 1 and harness.errors(ts) == []
    assert harness.slack.downloads() and len(harness.slack.downloads()) == 1  # not re-fetched
