"""Every indexed video knows where it came from: the indexed asset carries the workspace, the
conversation, the message and the job in `user_metadata`, and the store remembers the video."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.search.origin import KEY_CHANNEL, KEY_JOB, KEY_TEAM, KEY_TS, Origin
from tests.jobs.rig import CHANNEL, TEAM, MediaServer, Rig, link_job, upload_job


async def wait_indexed(rig: Rig, count: int) -> None:
    await rig.service.aclose(timeout_s=10)  # lets background indexing finish
    assert len(rig.tl.indexed_assets) >= count


async def test_indexed_asset_carries_its_slack_origin(
    make_rig: Callable[..., Awaitable[Rig]], media: MediaServer
) -> None:
    rig = await make_rig(gist_index_enabled=True)
    job = link_job(media.url("onboarding.mp4"))
    upload = upload_job()
    await rig.run(job, upload)
    await wait_indexed(rig, 2)
    by_asset = {item.asset_id: item for item in rig.tl.indexed_assets.values()}
    stored = {j.id: await rig.reload(j) for j in (job, upload)}
    for original in (job, upload):
        saved = stored[original.id]
        assert saved.asset_id is not None
        item = by_asset[saved.asset_id]
        assert item.user_metadata == {
            KEY_TEAM: TEAM,
            KEY_CHANNEL: CHANNEL,
            KEY_TS: original.slack.source_ts,
            KEY_JOB: original.id,
        }
        assert Origin.from_metadata(item.user_metadata) == Origin(
            TEAM, CHANNEL, original.slack.source_ts, original.id
        )
        row = (await rig.store.indexed_videos([item.id]))[item.id]
        assert (row.asset_id, row.job_id, row.channel, row.message_ts) == (
            saved.asset_id,
            original.id,
            CHANNEL,
            original.slack.source_ts,
        )
        assert row.index_id == item.index_id


async def test_no_index_no_metadata_when_indexing_is_off(rig: Rig, media: MediaServer) -> None:
    [done] = await rig.run(link_job(media.url()))
    assert done.gist is not None
    await rig.service.aclose()
    assert rig.tl.indexed_assets == {} and rig.tl.indexes == {}
    assert await rig.store.indexed_since(TEAM, 0.0) == []


def test_origin_from_foreign_or_partial_metadata() -> None:
    assert Origin.from_metadata(None) is None
    assert Origin.from_metadata({"team": "T"}) is None
    assert Origin.from_metadata({KEY_TEAM: "T", KEY_CHANNEL: 5}) is None
    assert Origin.from_metadata({KEY_TEAM: "T", KEY_CHANNEL: "C", KEY_TS: ""}) == Origin("T", "C")
