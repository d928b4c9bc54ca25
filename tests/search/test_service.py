"""The search service against the fake TwelveLabs and the real store: mapping hits to messages,
the privacy filter, paging with a look-ahead, page tokens that expire, videos indexed before
they were tagged, and every answer that isn't a list of results."""

from __future__ import annotations

import json
from dataclasses import replace

from bot.search.models import Cursor, Status
from bot.search.origin import KEY_CHANNEL, KEY_TEAM
from bot.search.service import PAGE_SIZE, Scope
from tests.fakes.twelvelabs import Fault
from tests.search.conftest import TEAM, Library, scope


async def test_hits_map_back_to_their_messages(library: Library) -> None:
    await library.add_many([("onboarding-flow.mp4", "C1"), ("budget-plan.mp4", "C1")])
    outcome = await library.service().search(scope("C1"), Cursor("the new onboarding flow"))
    assert outcome.status is Status.OK and outcome.next is None
    [hit] = outcome.hits
    job = library.jobs["onboarding-flow.mp4"]
    assert hit.video_id == library.ids["onboarding-flow.mp4"] and hit.rank == 1
    assert (hit.title, hit.channel, hit.message_ts, hit.job_id) == (
        "Gist of onboarding-flow.mp4",
        "C1",
        job.slack.source_ts,
        job.id,
    )
    assert hit.moments and all(0 <= m.start < m.end <= 5.0 for m in hit.moments)
    assert any(m.text and "onboarding" in m.text for m in hit.moments)
    assert hit.thumbnail_url and hit.thumbnail_url.endswith(".png")
    [search] = library.fake.search.searches
    assert json.loads(search["filter"]) == {KEY_TEAM: TEAM}
    assert search["group_by"] == "video"


async def test_hidden_hits_leave_no_trace(library: Library) -> None:
    await library.add_many(
        [("roadmap-secret.mp4", "G0PRIVATE"), ("roadmap-dm.mp4", "D0DM"), ("other.mp4", "C1")]
    )
    service = library.service()
    hidden = await service.search(scope("C1"), Cursor("roadmap"))
    no_match = await service.search(scope("C1"), Cursor("zeppelin"))
    assert hidden.status is Status.NOTHING and hidden.hits == () and hidden.next is None
    assert replace(hidden, cursor=None) == replace(no_match, cursor=None)
    member = await service.search(scope("C1", "G0PRIVATE"), Cursor("roadmap"))
    assert [h.channel for h in member.hits] == ["G0PRIVATE"]


async def test_another_workspace_is_never_shown(library: Library) -> None:
    await library.add("roadmap.mp4", "C1", team="T0THEM")
    outcome = await library.service().search(scope("C1"), Cursor("roadmap"))
    assert outcome.status is Status.NOTHING


async def test_pages_of_five_with_a_look_ahead(library: Library) -> None:
    # 14 matching videos; 5 of them in a conversation the person is not in.
    names = [(f"demo-{i:02d}.mp4", "C0SECRET" if i % 3 == 1 else "C1") for i in range(14)]
    await library.add_many(names)
    visible = {library.ids[n] for n, ch in names if ch == "C1"}
    service, who = library.service(), scope("C1")
    seen: list[str] = []
    cursor: Cursor | None = Cursor("demo")
    pages = 0
    while cursor is not None:
        outcome = await service.search(who, Cursor.from_value(cursor.to_value()) or cursor)
        assert outcome.status is Status.OK and len(outcome.hits) <= PAGE_SIZE
        assert [h.rank for h in outcome.hits] == sorted(h.rank for h in outcome.hits)
        seen += [h.video_id for h in outcome.hits]
        if outcome.next is not None:
            assert outcome.next.shown == len(seen)
        cursor, pages = outcome.next, pages + 1
    assert pages == 2 and sorted(seen) == sorted(visible) and len(visible) == 9
    # One charged search; the rest by page token (free).
    assert library.fake.count("POST", "/search") == 1
    assert library.fake.count("GET", "/search/{token}") >= 1


async def test_exactly_a_page_offers_no_next_page(library: Library) -> None:
    await library.add_many(
        [(f"demo-{i}.mp4", "C1") for i in range(PAGE_SIZE)] + [("demo-x.mp4", "C0SECRET")]
    )
    outcome = await library.service().search(scope("C1"), Cursor("demo"))
    assert len(outcome.hits) == PAGE_SIZE and outcome.next is None


async def test_an_expired_page_token_searches_again(library: Library) -> None:
    await library.add_many([(f"demo-{i:02d}.mp4", "C1") for i in range(12)])
    service, who = library.service(), scope("C1")
    first = await service.search(who, Cursor("demo"))
    second = await service.search(who, first.next or Cursor("x"))
    assert second.next is not None and second.next.token  # the resume point is on page 2
    library.fake.search.expire_pages()
    third = await service.search(who, second.next)
    shown = [h.video_id for o in (first, second, third) for h in o.hits]
    assert len(shown) == len(set(shown)) == 12
    assert library.fake.count("POST", "/search") == 2  # the first, and one after the expiry


async def test_in_channel_narrows_at_twelvelabs(library: Library) -> None:
    await library.add_many([("demo-one.mp4", "C1"), ("demo-two.mp4", "C2")])
    outcome = await library.service().search(scope("C1", "C2"), Cursor("demo", channel="C2"))
    assert [h.channel for h in outcome.hits] == ["C2"]
    assert json.loads(library.fake.search.searches[-1]["filter"]) == {
        KEY_TEAM: TEAM,
        KEY_CHANNEL: "C2",
    }


async def test_videos_indexed_before_tagging_are_mapped_and_tagged(library: Library) -> None:
    await library.add("legacy-clip.mp4", "C1", tagged=False)
    video_id = library.ids["legacy-clip.mp4"]
    service = library.service()
    # The workspace filter can't find an untagged video; the start-up pass tags it.
    assert (await service.search(scope("C1"), Cursor("legacy"))).status is Status.NOTHING
    assert await service.tag_untagged() == 1
    assert library.fake.indexed_assets[video_id].user_metadata == {
        "gistbot_team": TEAM,
        "gistbot_channel": "C1",
        "gistbot_ts": library.jobs["legacy-clip.mp4"].slack.source_ts,
        "gistbot_job": library.jobs["legacy-clip.mp4"].id,
    }
    assert await service.tag_untagged() == 0  # remembered: nothing to do the second time
    [hit] = (await service.search(scope("C1"), Cursor("legacy"))).hits
    assert hit.title == "Gist of legacy-clip.mp4" and hit.channel == "C1"


async def test_an_unfiltered_search_maps_untagged_hits_through_the_store(
    library: Library,
) -> None:
    await library.add("legacy-clip.mp4", "C1", tagged=False)
    service = library.service()
    [hit] = (await service.search(Scope(None, None), Cursor("legacy"))).hits  # the CLI's view
    assert hit.job_id == library.jobs["legacy-clip.mp4"].id
    await service.aclose()
    assert library.fake.count("GET", "/indexes/{id}/indexed-assets/{iid}") >= 1
    assert (await library.store.indexed_videos([hit.video_id]))[hit.video_id].channel == "C1"


async def test_answers_without_results(library: Library) -> None:
    who = scope("C1")
    off = library.service(gist_index_enabled=False)
    assert (await off.search(who, Cursor("demo"))).status is Status.DISABLED
    assert (await library.service().search(who, Cursor("demo"))).status is Status.NO_INDEX
    await library.index_id()  # the index exists, nothing in it yet
    assert (await library.service().search(who, Cursor("demo"))).status is Status.EMPTY
    assert (await library.service().search(who, Cursor("word " * 501))).status is Status.TOO_LONG
    assert library.fake.search.searches and len(library.fake.search.searches) == 1


async def test_busy_after_retries(library: Library) -> None:
    await library.add("demo.mp4", "C1")
    library.fake.add_fault(Fault(method="POST", path="/search", kind="429-empty", times=10))
    outcome = await library.service().search(scope("C1"), Cursor("demo"))
    assert outcome.status is Status.BUSY
    assert library.fake.count("POST", "/search") == 3  # the first try and two retries


async def test_pending_counts_only_what_the_person_may_see(library: Library) -> None:
    library.fake.configure(index_processing_s=30.0)
    await library.add("slow-one.mp4", "C1", wait=False)
    await library.add("slow-two.mp4", "C0SECRET", wait=False)
    service = library.service()
    outcome = await service.search(scope("C1"), Cursor("slow"))
    assert (outcome.status, outcome.pending) == (Status.EMPTY, 1)
    assert (await service.search(scope("C1", "C0SECRET"), Cursor("slow"))).pending == 2
    assert (await service.search(scope("C9"), Cursor("slow"))).pending == 0


def test_cursor_round_trips_and_stays_within_a_button() -> None:
    cursor = Cursor("q", channel="C1", token="tok", at=3, pos=13, shown=5)
    assert Cursor.from_value(cursor.to_value()) == cursor
    long = Cursor("w" * 1500, token="t" * 600, at=2, pos=12)
    value = long.to_value()
    assert len(value) <= 2000 and Cursor.from_value(value) == Cursor("w" * 1500, at=12, pos=12)
    assert Cursor.from_value("not json") is None
    assert Cursor.from_value('{"q": "x", "p": -1}') is None
