"""A few seconds (or an hour) of Slack or TwelveLabs trouble never costs a gist: transient
failures are retried until a deadline, work already paid for is never thrown away, and a call
whose outcome is unknown is looked up before it is repeated: nothing is posted twice."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.jobs import tmpfiles
from bot.jobs.models import JobState
from tests.e2e.conftest import CHANNEL, SIGNING_SECRET, Harness, until
from tests.fakes.twelvelabs import Fault
from tests.slack_driver import message_event, next_ts, sign
from tests.videos import make_video

QUIET = {"gist_progress_interval_s": 1000.0}  # no progress edits: chat.update is the result


async def _upload(h: Harness, name: str = "clip.mp4") -> str:
    file = h.slack.add_file(name, make_video(5.0).read_bytes(), channel=CHANNEL)
    ts = next_ts()
    resp = await h.driver.post_event(message_event(CHANNEL, ts, "", files=[file]))
    assert resp.status_code == 200
    return ts


async def _settled(h: Harness, ts: str) -> list[Any]:
    await until(lambda: h.results(ts) or h.errors(ts), 30)
    await h.running.runner.wait_idle(10)
    await asyncio.sleep(0.3)  # a second message, if one were coming, would show now
    return h.thread(ts)


async def _one_result(h: Harness, ts: str) -> None:
    thread = await _settled(h, ts)
    assert len(thread) == 1, [m.text for m in thread]
    assert len(h.results(ts)) == 1 and h.errors(ts) == []
    assert "white_check_mark" in h.slack.reactions(CHANNEL, ts)


async def test_slack_5xx_while_posting_the_result_delays_it_only(make_harness: Any) -> None:
    h: Harness = await make_harness(**QUIET)
    h.slack.server_error("chat.update", times=12, status=503)  # outlasts the client's retries
    ts = await _upload(h)
    await _one_result(h, ts)
    assert await h.running.store.unfinished() == []
    assert h.tl.count("POST", "/analyze/tasks") == 1  # nothing paid twice


async def test_slack_5xx_when_the_video_is_posted_the_work_goes_on(make_harness: Any) -> None:
    h: Harness = await make_harness(**QUIET)
    h.slack.server_error("chat.postMessage", times=3, status=503)  # no placeholder for now
    ts = await _upload(h)
    await _one_result(h, ts)


async def test_placeholder_posted_but_answer_lost_is_not_posted_again(make_harness: Any) -> None:
    h: Harness = await make_harness(**QUIET)
    h.slack.server_error("chat.postMessage", times=1, status=502, after_effect=True)
    ts = await _upload(h)
    await _one_result(h, ts)
    assert h.slack.calls("conversations.replies")  # it looked before posting again


async def test_result_delivered_but_answer_lost_is_never_overwritten(make_harness: Any) -> None:
    h: Harness = await make_harness(**QUIET)
    h.slack.server_error("chat.update", times=1, status=502, after_effect=True)
    ts = await _upload(h)
    await _one_result(h, ts)
    assert "went wrong" not in str(h.thread(ts)[0].blocks)


async def test_failure_notice_is_retried_until_shown(make_harness: Any) -> None:
    h: Harness = await make_harness(**QUIET)
    h.tl.add_fault(Fault("POST", "/assets", "401", times=1))  # permanent: the job fails
    h.slack.server_error("chat.update", times=12, status=503)
    ts = await _upload(h)
    thread = await _settled(h, ts)
    assert len(thread) == 1 and len(h.errors(ts)) == 1
    assert "x" in h.slack.reactions(CHANNEL, ts)


async def test_command_thread_opener_posted_but_answer_lost(
    make_harness: Any, video_server: str
) -> None:
    h: Harness = await make_harness(**QUIET)
    h.slack.server_error("chat.postMessage", times=1, status=502, after_effect=True)
    url = h.slack.new_response_url(channel=CHANNEL)
    resp = await h.driver.slash_command(
        f"{video_server}/media/cmd.mp4", channel=CHANNEL, user="U1", response_url=url
    )
    assert resp.status_code == 200
    tops = await until(
        lambda: (
            [m for m in h.slack.messages(CHANNEL) if "asked for a gist" in m.text]
            and [m for m in h.slack.messages(CHANNEL) if "asked for a gist" in m.text]
        ),
        30,
    )
    await _one_result(h, tops[0].ts)
    assert len([m for m in h.slack.messages(CHANNEL) if "asked for a gist" in m.text]) == 1


@pytest.mark.parametrize("kind", ["drop-after", "502"])
async def test_asset_create_with_unknown_outcome_is_looked_up(make_harness: Any, kind: str) -> None:
    h: Harness = await make_harness(**QUIET)
    h.tl.add_fault(Fault("POST", "/assets", kind, times=1))
    ts = await _upload(h)
    await _one_result(h, ts)
    assert len(h.tl.assets) == 1  # the one created, never a second


async def test_file_host_5xx_is_retried(make_harness: Any) -> None:
    h: Harness = await make_harness(**QUIET)
    file = h.slack.add_file("host.mp4", make_video(5.0).read_bytes(), channel=CHANNEL)
    h.slack.fail_download(file["id"], times=7, status=503)  # more than one download's budget
    ts = next_ts()
    await h.driver.post_event(message_event(CHANNEL, ts, "", files=[file]))
    await _one_result(h, ts)


async def test_channel_gone_ends_quietly_in_one_line(
    make_harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    h: Harness = await make_harness(**QUIET)
    h.slack.fail("chat.postMessage", "is_archived", times=100)
    ts = await _upload(h)
    await until(lambda: h.running.runner.in_flight == 0 and h.slack.calls("chat.postMessage"))
    await h.running.runner.wait_idle(10)
    assert h.thread(ts) == []
    assert not [r for r in caplog.records if r.exc_info]  # no traceback
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [m for m in warnings if "channel_gone" in m]
    assert h.tl.calls == []  # nobody can be told: nothing is paid for either


async def test_delivery_survives_a_restart(make_harness: Any) -> None:
    h: Harness = await make_harness(**QUIET)
    h.slack.server_error("chat.update", times=100_000, status=503)
    ts = await _upload(h)

    async def computed() -> bool:
        jobs = await h.running.store.unfinished()
        return bool(jobs) and jobs[0].gist is not None

    deadline = asyncio.get_running_loop().time() + 30
    while not await computed():
        assert asyncio.get_running_loop().time() < deadline, "the gist was never computed"
        await asyncio.sleep(0.05)
    await h.running.stop(grace_s=0.2)  # Slack still down: the job stays for the next start
    h.slack.clear_faults()
    h2: Harness = await make_harness(**QUIET)
    await _one_result(h2, ts)
    assert h.tl.count("POST", "/analyze/tasks") == 1  # delivered, not recomputed


async def test_malformed_bodies_are_cheap(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = harness.driver.url
    async with httpx.AsyncClient() as http:
        body = "not json {{{ SECRET-PAYLOAD"
        unsigned = await http.post(url, content=body, headers={"content-type": "text/plain"})
        form = {"content-type": "application/x-www-form-urlencoded"}
        signed = await http.post(
            url, content=body, headers={**form, **sign(body, SIGNING_SECRET, int(time.time()))}
        )
        as_json = {"content-type": "application/json"}
        signed_json = await http.post(
            url,
            content="{oops",
            headers={**as_json, **sign("{oops", SIGNING_SECRET, int(time.time()))},
        )
    assert unsigned.status_code == 401
    assert signed.status_code == 400 and signed_json.status_code == 400
    assert not [r for r in caplog.records if r.exc_info]
    assert not [r for r in caplog.records if "SECRET-PAYLOAD" in r.getMessage()]
    assert await harness.running.store.count() == 0


async def test_downloads_are_removed_and_swept(make_harness: Any, tmp_path: Path) -> None:
    h: Harness = await make_harness(**QUIET)
    downloads = tmpfiles.downloads_dir(h.settings.tmp_dir)
    ts = await _upload(h)
    await _one_result(h, ts)
    assert [p for p in downloads.iterdir()] == []  # removed once TwelveLabs had the bytes
    await h.running.stop(grace_s=0.2)
    stale = downloads / "slack-left-by-a-killed-process.mp4"
    stale.write_bytes(b"x" * 1000)
    await make_harness(**QUIET)
    assert not stale.exists()


async def test_stored_job_states_after_transient_storm(make_harness: Any) -> None:
    h: Harness = await make_harness(**QUIET)
    h.tl.add_fault(Fault("GET", "/assets/{id}", "503", times=8))
    ts = await _upload(h)
    await _one_result(h, ts)
    assert await h.running.store.count(JobState.DONE) == 1
    assert await h.running.store.count(JobState.FAILED) == 0
