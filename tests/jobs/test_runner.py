"""The job runner at its ports: the real store, the real gist service against the fake
TwelveLabs, a recording notifier and a fake file fetcher. Each test drives `JobRunner` the way
the listeners do (accept, start) and checks what the notifier saw, what the store holds and
which TwelveLabs calls were made."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import pytest
from slack_sdk.errors import SlackApiError

from bot.gist.errors import GistFailure
from bot.jobs.models import JobState, Trigger
from bot.jobs.phases import Phase
from bot.slack.intake import follow_up_job
from tests.fakes.twelvelabs import Fault
from tests.jobs.rig import TEAM, USER, MediaServer, Rig, link_job, stub_job, upload_job

MakeRig = Callable[..., Awaitable[Rig]]


def slack_error(code: str) -> SlackApiError:
    """What slack_sdk raises for `{"ok": false, "error": code}`."""
    message = f"The request to the Slack API failed: {code}"
    return SlackApiError(message, {"ok": False, "error": code})  # type: ignore[no-untyped-call]


def in_order(seen: list[Phase | None], expected: list[Phase]) -> bool:
    """`seen` goes through `expected` in order, a phase perhaps shown more than once (with its
    percentage) or skipped (progress edits are coalesced)."""
    changes = [p for i, p in enumerate(seen) if i == 0 or p is not seen[i - 1]]
    rest = iter(expected)
    return all(any(phase is want for want in rest) for phase in changes)


# --------------------------------------------------------------------------- happy paths


async def test_link_is_gisted_and_the_notifier_sees_each_phase(
    rig: Rig, media: MediaServer
) -> None:
    job = link_job(media.url("talk.mp4"))
    [done] = await rig.run(job)

    assert done.state is JobState.DONE and done.error_code is None
    assert done.gist is not None and done.gist.title
    kinds = [s.kind for s in rig.notifier.calls(job_id=job.id)]
    assert kinds[0] == "started" and kinds[-1] == "result"
    assert set(kinds[1:-1]) <= {"progress"}
    phases = rig.notifier.phases(job.id)
    assert all(isinstance(p, Phase) for p in phases)
    assert in_order(phases, [Phase.UPLOADING, Phase.PROCESSING, Phase.ANALYSING])
    assert Phase.ANALYSING in phases  # the analysis takes a while: its phase is shown
    assert rig.count("POST", "/assets") == 1 and rig.count("POST", "/analyze/tasks") == 1
    assert done.asset_id in rig.tl.assets and done.task_id in rig.tl.tasks
    usage = await rig.store.usage_today(TEAM, USER)
    assert usage["jobs"] == 1 and usage["video_seconds"] == pytest.approx(5.0, abs=0.5)
    assert usage["tokens"] > 0
    assert await rig.store.unfinished() == []


async def test_upload_is_downloaded_uploaded_and_its_download_released(rig: Rig) -> None:
    job = upload_job()
    [done] = await rig.run(job)

    assert done.state is JobState.DONE and done.gist is not None
    phases = rig.notifier.phases(job.id)
    assert in_order(phases, [Phase.DOWNLOADING, Phase.UPLOADING, Phase.PROCESSING, Phase.ANALYSING])
    assert Phase.ANALYSING in phases
    [download] = rig.fetcher.fetched
    assert not download.exists() and rig.downloads() == []  # released once TwelveLabs has it
    assert done.tmp_path is None
    assert done.sha256 == hashlib.sha256(rig.fetcher.video.read_bytes()).hexdigest()
    [asset] = rig.tl.assets.values()
    assert asset.method == "direct" and asset.sha256 == done.sha256
    assert (await rig.store.usage_today(TEAM, USER))["jobs"] == 1


# --------------------------------------------------------------------------- shared work, cache


async def test_two_jobs_for_one_video_share_one_asset_and_one_task(
    rig: Rig, media: MediaServer
) -> None:
    first, second = link_job(media.url()), link_job(media.url())  # two messages, one video
    done = await rig.run(first, second)

    assert [j.state for j in done] == [JobState.DONE, JobState.DONE]
    assert rig.count("POST", "/assets") == 1 and rig.count("POST", "/analyze/tasks") == 1
    assert len(rig.notifier.calls("result", ok=True)) == 2
    assert sorted(j.cached for j in done) == [False, True]  # the follower paid nothing
    assert done[0].gist is not None and done[1].gist is not None
    assert done[0].gist.title == done[1].gist.title
    assert (await rig.store.usage_today(TEAM))["jobs"] == 1  # the work is counted once


async def test_same_video_again_is_cached_and_regenerate_makes_a_new_task(
    rig: Rig, media: MediaServer
) -> None:
    [first] = await rig.run(link_job(media.url()))
    mark = len(rig.tl.calls)

    [again] = await rig.run(link_job(media.url()))
    assert again.state is JobState.DONE and again.cached
    assert rig.tl_calls(mark) == []  # not one TwelveLabs call
    assert again.gist is not None and first.gist is not None
    assert again.gist.title == first.gist.title
    assert rig.notifier.calls("result", again.id, ok=True)

    fresh = follow_up_job(
        first,
        trigger=Trigger.REGENERATE,
        user="U999",
        timeout_s=600,
        message_ts=str(first.slack.placeholder_ts),
        response_url=None,
    )
    [regenerated] = await rig.run(fresh)
    assert regenerated.state is JobState.DONE and not regenerated.cached
    assert rig.count("POST", "/analyze/tasks") == 2  # a new analysis …
    assert rig.count("POST", "/assets") == 1  # … of the asset already there
    assert regenerated.asset_id == first.asset_id
    assert regenerated.task_id not in (None, first.task_id)


async def test_regenerate_of_a_cached_answer_skips_the_cache(rig: Rig, media: MediaServer) -> None:
    await rig.run(link_job(media.url()))
    [cached] = await rig.run(link_job(media.url()))
    assert cached.cached and cached.asset_id is None  # nothing of its own to reuse

    fresh = follow_up_job(
        cached,
        trigger=Trigger.REGENERATE,
        user="U999",
        timeout_s=600,
        message_ts=str(cached.slack.placeholder_ts),
        response_url=None,
    )
    [regenerated] = await rig.run(fresh)
    assert regenerated.state is JobState.DONE and not regenerated.cached
    assert rig.count("POST", "/assets") == 2 and rig.count("POST", "/analyze/tasks") == 2


# --------------------------------------------------------------------------- stubs


async def test_passive_stub_that_is_not_a_video_ends_silently(rig: Rig) -> None:
    rig.fetcher.resolve_as = GistFailure("not_video")
    job = stub_job()
    [done] = await rig.run(job)

    assert rig.fetcher.resolved == [job.id]
    assert done.state is JobState.DONE and done.error_code == "not_video"
    assert rig.notifier.seen == []  # nobody asked: nothing is said
    assert rig.tl_calls() == []


async def test_explicit_stub_that_is_not_a_video_is_explained(rig: Rig) -> None:
    rig.fetcher.resolve_as = GistFailure("not_video")
    job = stub_job(trigger=Trigger.SHORTCUT)
    [done] = await rig.run(job)

    assert done.state is JobState.FAILED and done.error_code == "not_video"
    assert [(s.kind, s.code) for s in rig.notifier.seen] == [
        ("started", None),
        ("failed", "not_video"),
    ]
    assert rig.tl_calls() == []


async def test_passive_stub_that_is_a_video_is_gisted(rig: Rig) -> None:
    job = stub_job()
    [done] = await rig.run(job)
    assert done.state is JobState.DONE and done.gist is not None
    assert done.source.url and rig.fetcher.fetched


# --------------------------------------------------------------------------- transient faults


async def test_transient_fault_on_a_step_is_retried_with_backoff(
    rig: Rig, media: MediaServer
) -> None:
    # Each try of the step sends POST /assets twice (once + one client retry): two tries fail.
    rig.tl.add_fault(Fault("POST", "/assets", "503", times=4))
    job = link_job(media.url())
    [done] = await rig.run(job)

    assert done.state is JobState.DONE and done.gist is not None
    assert rig.clock.delays == [0.5, 1.0]  # equal jitter: half of 1 s, then of 2 s
    assert rig.count("POST", "/assets") == 5
    assert len(rig.tl.assets) == 1  # each try looked first: one asset in the end
    assert rig.notifier.calls("failed") == []


async def test_download_is_kept_across_a_transient_failure_then_released(rig: Rig) -> None:
    rig.tl.add_fault(Fault("POST", "/assets", "503", times=2))
    kept: list[bool] = []
    rig.clock.hooks.append(lambda: kept.append(bool(rig.downloads())))
    [done] = await rig.run(upload_job())

    assert done.state is JobState.DONE
    assert rig.clock.delays == [0.5] and kept == [True]  # on disk between the two tries
    assert len(rig.fetcher.fetched) == 1  # downloaded once
    assert rig.downloads() == [] and done.tmp_path is None


async def test_download_is_released_on_a_permanent_failure(rig: Rig) -> None:
    rig.tl.add_fault(Fault("POST", "/assets", "401"))
    job = upload_job()
    [done] = await rig.run(job)

    assert done.state is JobState.FAILED and done.error_code == "api_key"
    assert rig.clock.delays == []  # permanent: not tried again
    assert len(rig.fetcher.fetched) == 1 and rig.downloads() == [] and done.tmp_path is None
    assert [s.code for s in rig.notifier.calls("failed", job.id)] == ["api_key"]


# --------------------------------------------------------------------------- deadlines


async def test_deadline_during_slow_work_says_deadline(rig: Rig, media: MediaServer) -> None:
    rig.tl.configure(task_processing_s=600.0)
    job = link_job(media.url(), deadline_s=1.5)
    [done] = await rig.run(job)

    assert done.state is JobState.FAILED and done.error_code == "deadline"
    assert done.error_fields == {"minutes": "60"}
    assert [s.code for s in rig.notifier.calls("failed", job.id)] == ["deadline"]
    assert rig.notifier.calls("result") == []


async def test_deadline_during_an_outage_says_which_outage(rig: Rig, media: MediaServer) -> None:
    rig.tl.add_fault(Fault("POST", "/assets", "503", times=10_000))
    rig.clock.block = True  # the outage outlasts the job: its deadline ends the wait
    job = link_job(media.url(), deadline_s=2.0)
    [done] = await rig.run(job)

    assert rig.clock.delays == [0.5]
    assert done.state is JobState.FAILED and done.error_code == "unavailable"
    assert [s.code for s in rig.notifier.calls("failed", job.id)] == ["unavailable"]


async def test_step_retries_stop_at_the_deadline(rig: Rig, media: MediaServer) -> None:
    rig.tl.add_fault(Fault("POST", "/assets", "503", times=10_000))
    job = link_job(media.url(), deadline_at=rig.clock.now + 20.0)
    [done] = await rig.run(job)

    # Backoff doubles up to the 8 s ceiling (half of it, with this jitter), and the last wait
    # is cut to what is left before the deadline.
    assert rig.clock.delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 0.5]
    assert done.state is JobState.FAILED and done.error_code == "unavailable"
    assert len(rig.tl.assets) == 0


# --------------------------------------------------------------------------- delivery


async def test_result_delivery_outlasts_a_slack_outage(rig: Rig, media: MediaServer) -> None:
    rig.notifier.fail("result", slack_error("service_unavailable"), ConnectionResetError())
    job = link_job(media.url())
    [done] = await rig.run(job)

    assert done.state is JobState.DONE and done.result_posted
    assert [s.ok for s in rig.notifier.calls("result", job.id)] == [False, False, True]
    assert rig.clock.delays == [0.5, 1.0]
    assert rig.notifier.calls("failed") == []  # never an error after a gist
    assert rig.count("POST", "/analyze/tasks") == 1


async def test_undeliverable_gist_is_never_turned_into_an_error(
    make_rig: MakeRig, media: MediaServer
) -> None:
    rig = await make_rig(gist_delivery_timeout_s=30.0)
    rig.notifier.fail("result", *[slack_error("service_unavailable")] * 1000)
    job = link_job(media.url())
    [done] = await rig.run(job)

    assert done.state is JobState.FAILED and done.error_code == "undelivered"
    assert rig.notifier.calls("failed") == []
    attempts = rig.notifier.calls("result", job.id)
    assert len(attempts) == len(rig.clock.delays) + 1 and not any(s.ok for s in attempts)
    assert sum(rig.clock.delays) == pytest.approx(30.0, abs=5.0)
    # The work is not lost: the same video later is answered from the cache.
    mark = len(rig.tl.calls)
    [again] = await rig.run(link_job(media.url()))
    assert again.cached and rig.tl_calls(mark) == []


async def test_channel_gone_before_the_work_ends_the_job_quietly(
    rig: Rig, media: MediaServer
) -> None:
    rig.notifier.fail("started", slack_error("channel_not_found"))
    job = link_job(media.url())
    [done] = await rig.run(job)

    assert done.state is JobState.FAILED and done.error_code == "channel_gone"
    assert rig.notifier.calls("failed") == [] and rig.clock.delays == []
    assert rig.tl_calls() == []  # nobody can be told: nothing is paid for


async def test_channel_gone_at_the_result_ends_the_job_quietly(
    rig: Rig, media: MediaServer
) -> None:
    rig.notifier.fail("result", slack_error("is_archived"))
    job = link_job(media.url())
    [done] = await rig.run(job)

    assert done.state is JobState.FAILED
    assert len(rig.notifier.calls("result", job.id)) == 1  # not tried again
    assert rig.notifier.calls("failed") == [] and rig.clock.delays == []


async def test_placeholder_failing_transiently_does_not_hold_up_the_work(
    rig: Rig, media: MediaServer
) -> None:
    rig.notifier.fail("started", slack_error("service_unavailable"))
    job = link_job(media.url())
    [done] = await rig.run(job)

    assert done.state is JobState.DONE
    started = rig.notifier.calls("started", job.id)
    # Posted at delivery instead, looking first for what the failed try may have posted.
    assert [(s.ok, s.recover) for s in started] == [(False, False), (True, True)]
    assert rig.notifier.calls("progress", job.id) == []  # no placeholder to edit meanwhile
    assert rig.notifier.calls("result", job.id, ok=True)
