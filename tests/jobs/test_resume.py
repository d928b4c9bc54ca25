"""Resume at each durable step: a job stored as a killed process left it is picked up by the
next process (`resume_all`) from its last saved step; nothing already paid for is paid again,
and nothing already shown is shown again."""

from __future__ import annotations

import hashlib
import time

from bot.gist.models import Gist, GistType, Usage
from bot.gist.schema import build_prompt, build_schema
from bot.gist.service import Source
from bot.jobs import tmpfiles
from bot.jobs.models import Job, JobState
from tests.jobs.rig import TEAM, USER, MediaServer, Rig, link_job, upload_job


async def _asset(rig: Rig, job: Job, *, ready: bool) -> str:
    """The asset an earlier process created for this job (as the pipeline creates it)."""
    assert job.source.url is not None
    asset_id = await rig.service.create_asset(
        Source(url=job.source.url, filename=job.source.name), request_key=job.id
    )
    if ready:
        info = await rig.service.wait_for_asset(asset_id)
        job.asset_ready, job.video_seconds = True, info.duration_s
    job.asset_requested, job.asset_id = True, asset_id
    return asset_id


async def _task(rig: Rig, job: Job) -> str:
    """The analysis task an earlier process created for this job."""
    assert job.asset_id is not None
    ref = await rig.client.analysis.create(
        asset_id=job.asset_id,
        prompt=build_prompt(rig.settings.gist_prompt, job.type_set),
        json_schema=build_schema(job.type_set),
        model_name=rig.settings.gist_model,
        idempotency_key=f"{job.id}-1",
    )
    job.task_id = ref.task_id
    return ref.task_id


def _computed(job: Job) -> Job:
    job.gist = Gist(
        types=list(GistType.all()),
        title="Saved before the restart",
        topics=["restarts"],
        hashtags=["#resume"],
        usage=Usage(output_tokens=40, input_tokens=10),
    )
    job.video_seconds = 5.0
    job.delivery_deadline_at = time.time() + 3600
    return job


async def test_asset_requested_and_created_is_found_not_created_again(
    rig: Rig, media: MediaServer
) -> None:
    job = link_job(media.url())
    asset_id = await _asset(rig, job, ready=False)
    job.asset_id = None  # the process died before it heard the answer
    mark = len(rig.tl.calls)
    [done] = await rig.resume(job)

    assert done.state is JobState.DONE and done.asset_id == asset_id
    assert rig.count("GET", "/assets", mark) >= 1  # looked it up …
    assert rig.count("POST", "/assets", mark) == 0  # … and found it
    assert len(rig.tl.assets) == 1


async def test_asset_requested_but_never_created_is_created(rig: Rig, media: MediaServer) -> None:
    job = link_job(media.url())
    job.asset_requested = True  # the request never reached TwelveLabs
    [done] = await rig.resume(job)

    assert done.state is JobState.DONE
    assert rig.count("GET", "/assets") >= 1 and rig.count("POST", "/assets") == 1


async def test_asset_id_saved_waits_for_that_asset(rig: Rig, media: MediaServer) -> None:
    job = link_job(media.url())
    asset_id = await _asset(rig, job, ready=False)
    mark = len(rig.tl.calls)
    [done] = await rig.resume(job)

    assert done.state is JobState.DONE and done.asset_id == asset_id
    assert rig.count("POST", "/assets", mark) == 0 and rig.count("GET", "/assets", mark) == 0
    assert rig.count("GET", "/assets/{id}", mark) >= 1
    assert rig.count("POST", "/analyze/tasks", mark) == 1


async def test_asset_ready_goes_straight_to_the_analysis(rig: Rig, media: MediaServer) -> None:
    job = link_job(media.url())
    await _asset(rig, job, ready=True)
    mark = len(rig.tl.calls)
    [done] = await rig.resume(job)

    assert done.state is JobState.DONE
    first = rig.tl_calls(mark)[0]
    assert (first.method, first.template) == ("POST", "/analyze/tasks")
    assert rig.count("GET", "/assets/{id}", mark) == 0
    assert rig.count("POST", "/analyze/tasks", mark) == 1


async def test_task_id_saved_is_polled_not_created_again(rig: Rig, media: MediaServer) -> None:
    job = link_job(media.url())
    await _asset(rig, job, ready=True)
    task_id = await _task(rig, job)
    mark = len(rig.tl.calls)
    [done] = await rig.resume(job)

    assert done.state is JobState.DONE and done.gist is not None
    assert done.gist.analysis_task_id == task_id
    assert {(c.method, c.template) for c in rig.tl_calls(mark)} == {("GET", "/analyze/tasks/{id}")}
    assert len(rig.tl.tasks) == 1


async def test_gist_computed_is_delivered_without_any_new_work(rig: Rig) -> None:
    job = _computed(link_job("https://cdn.example/v.mp4"))
    job.slack.placeholder_ts = "1700000000.000900"
    [done] = await rig.resume(job)

    assert done.state is JobState.DONE and done.result_posted
    assert [s.kind for s in rig.notifier.seen] == ["result"]
    assert rig.tl_calls() == []
    usage = await rig.store.usage_today(TEAM, USER)
    assert usage["jobs"] == 1 and usage["tokens"] == 50


async def test_gist_computed_with_placeholder_unknown_looks_for_it_first(rig: Rig) -> None:
    job = _computed(link_job("https://cdn.example/v.mp4"))
    job.placeholder_requested = True  # posted, or not: the answer was lost
    [done] = await rig.resume(job)

    assert done.state is JobState.DONE
    assert [(s.kind, s.recover) for s in rig.notifier.seen] == [
        ("started", True),
        ("result", False),
    ]
    assert rig.tl_calls() == []


async def test_gist_posted_but_not_finished_is_only_finished(rig: Rig) -> None:
    job = _computed(link_job("https://cdn.example/v.mp4"))
    job.slack.placeholder_ts, job.result_posted = "1700000000.000900", True
    [done] = await rig.resume(job)

    assert done.state is JobState.DONE
    assert rig.notifier.seen == [] and rig.tl_calls() == []
    assert (await rig.store.usage_today(TEAM, USER))["jobs"] == 1


async def test_failure_decided_but_not_shown_is_shown(rig: Rig) -> None:
    job = link_job("https://cdn.example/v.mp4")
    job.slack.placeholder_ts = "1700000000.000900"
    job.error_code, job.delivery_deadline_at = "unavailable", time.time() + 3600
    [done] = await rig.resume(job)

    assert done.state is JobState.FAILED and done.error_code == "unavailable"
    assert [(s.kind, s.code) for s in rig.notifier.seen] == [("failed", "unavailable")]
    assert rig.tl_calls() == []


async def test_kept_download_is_uploaded_without_downloading_again(rig: Rig) -> None:
    job = upload_job()
    tmp = tmpfiles.downloads_dir(rig.settings.tmp_dir)
    tmp.mkdir(parents=True)
    data = rig.fetcher.video.read_bytes()
    kept = tmp / f"{job.id}-clip.mp4"
    kept.write_bytes(data)
    stray = tmp / "partial-from-a-killed-download.mp4"
    stray.write_bytes(data[:100])
    job.tmp_path, job.sha256 = str(kept), hashlib.sha256(data).hexdigest()
    job.source.size_bytes = len(data)
    [done] = await rig.resume(job)

    assert done.state is JobState.DONE
    assert rig.fetcher.fetched == []  # the kept download was used
    assert rig.count("POST", "/assets") == 1
    assert not kept.exists() and not stray.exists()  # released, and swept at start-up
