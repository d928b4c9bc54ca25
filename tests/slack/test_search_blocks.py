"""Search results, the Home tab and the search modal as Block Kit: Slack's limits hold for any
title, spoken words or query, times read `m:ss–m:ss`, and no total is ever shown."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.views import View

from bot.search.models import Hit, Moment
from bot.slack.blocks import help_message
from bot.slack.blocks.home import RecentGist, home_view, search_modal
from bot.slack.blocks.search import (
    ACTION_SEARCH_MORE,
    ACTION_SEARCH_SHARE,
    ShownHit,
    search_results_message,
)
from tests.fakes.slack import validate_blocks
from tests.slack.test_blocks import INJECTED, check, section_texts

NASTY = "<!channel> & <@UEVIL> <#CEVIL> <https://evil|x> \u202e\x00" + "é" * 4000


def hit(n: int = 1, *, title: str = "Onboarding flow", text: str | None = "we click Next") -> Hit:
    return Hit(
        video_id=f"v{n}",
        rank=n,
        title=title,
        team_id="T1",
        channel="C0GENERAL",
        message_ts="1700000000.000100",
        job_id=f"job{n}",
        moments=(Moment(12.4, 15.9, text), Moment(62.0, 65.0, None), Moment(3725.0, 3730.0)),
        thumbnail_url=f"https://cdn.example/thumb-{n}.png",
    )


def test_a_page_of_results() -> None:
    shown = [
        ShownHit(hit(n), f"https://fake.slack.com/archives/C0GENERAL/p{n}", "public")
        for n in (1, 2)
    ]
    p = check(search_results_message("onboarding", shown, start=6, more_value="m", share_value="s"))
    [first, _] = [b for b in p["blocks"] if b["type"] == "section"]
    text = first["text"]["text"]
    assert text.startswith("*6. <https://fake.slack.com/archives/C0GENERAL/p1|Onboarding flow>*")
    assert "in <#C0GENERAL>" in text
    assert "`0:12–0:15` “we click Next”" in text and "`1:02–1:05`" in text
    assert "`1:02:05–1:02:10`" in text  # past an hour: h:mm:ss
    assert first["accessory"]["image_url"] == "https://cdn.example/thumb-1.png"
    body = str(p)
    assert "Showing 6–7" in body and " of " not in body.split("Showing")[1][:20]
    actions = next(b for b in p["blocks"] if b["type"] == "actions")["elements"]
    assert [(e["action_id"], e["value"]) for e in actions] == [
        (ACTION_SEARCH_MORE, "m"),
        (ACTION_SEARCH_SHARE, "s"),
    ]
    assert not validate_blocks(p["blocks"])


def test_where_a_video_was_shared() -> None:
    texts = {}
    for kind in ("public", "private", "im", "mpim"):
        p = check(search_results_message("q", [ShownHit(hit(), None, kind)]))
        texts[kind] = section_texts(p)[0]
    assert "in <#C0GENERAL>" in texts["public"] and "in <#C0GENERAL>" in texts["private"]
    assert "in a direct message" in texts["im"] and "in a group DM" in texts["mpim"]
    assert "<http" not in texts["public"]  # no permalink: the title is not a link


def test_untrusted_text_cannot_ping_or_break_limits() -> None:
    nasty = Hit("v", 1, NASTY, "T", "C1", None, None, (Moment(0, 1, NASTY),) * 3, NASTY)
    p = check(
        search_results_message(
            NASTY, [ShownHit(nasty, NASTY, "public")] * 5, more_value="x" * 2001, shared_by=NASTY
        )
    )
    body = str(p)
    assert all(bad not in body for bad in INJECTED)
    assert "accessory" not in body  # not an image URL
    assert not [b for b in p["blocks"] if b["type"] == "actions"]  # value too long: no button


def test_without_thumbnails_and_shared() -> None:
    p = check(
        search_results_message(
            "q", [ShownHit(hit())], include_thumbnails=False, shared_by="U0SHARER"
        )
    )
    assert "accessory" not in str(p) and "shared by <@U0SHARER>" in str(p)
    assert "gist_search" not in str(p)  # a shared list has no buttons


def test_help_mentions_search() -> None:
    p = check(help_message())
    assert any("/gist search" in t for t in section_texts(p))


def _view_ok(view: dict[str, Any]) -> None:
    View(**view).to_dict()  # slack_sdk's own checks, again from the serialised form
    assert not validate_blocks(view["blocks"], max_blocks=100)


def test_home_view() -> None:
    recent = [
        RecentGist("Launch review", "C0GENERAL", "public", "https://x.slack.com/a/p1", 1.7e9),
        RecentGist(NASTY, "D0DM", "im", None, 1.7e9),
    ]
    view = home_view(recent)
    _view_ok(view)
    body = str(view)
    assert "<https://x.slack.com/a/p1|Launch review>" in body and "in a direct message" in body
    assert "<!date^1700000000^" in body and "gist_search_open" in body
    assert all(bad not in body for bad in INJECTED)
    empty = home_view([], note="Slack didn't answer")
    _view_ok(empty)
    assert "No gists yet" in str(empty) and "Slack didn't answer" in str(empty)


def test_search_modal() -> None:
    modal = search_modal()
    _view_ok(modal)
    assert modal["callback_id"] == "gist_search_modal" and modal["submit"]["text"] == "Search"
    shown = [ShownHit(hit(n), None, "public") for n in range(1, 6)]
    results = search_modal(NASTY, shown=shown, start=1, more_value="m", note="2 pending")
    _view_ok(results)
    assert len(results["blocks"][0]["element"]["initial_value"]) <= 1500
    assert "Showing 1–5" in str(results) and ACTION_SEARCH_MORE in str(results)
