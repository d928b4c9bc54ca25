"""Block Kit builders: Slack's limits hold for any input, and the content is what was asked."""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from bot.gist.models import Gist, GistType, VideoInfo
from bot.slack.blocks import (
    ACTION_REGENERATE,
    ACTION_RETRY,
    Message,
    Phase,
    error_message,
    escape_mrkdwn,
    help_message,
    notice_message,
    progress_message,
    result_message,
    usage_message,
)

# --------------------------------------------------------------------------------------------
# A checker for Slack's limits, measured independently of the code under test
# --------------------------------------------------------------------------------------------

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
# A ping or link markup that only an attacker-controlled string could have brought in.
INJECTED = ("<!channel>", "<!here>", "<!everyone>", "<@UEVIL>", "<#CEVIL>", "<https://evil")


def units(s: str) -> int:
    """UTF-16 code units: what a JavaScript-based server would count."""
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def check(msg: Message) -> dict[str, Any]:
    """Assert every Slack limit the brief names; return the serialised message."""
    payload = msg.as_kwargs()  # runs every block's to_dict() validation
    assert set(payload) == {"text", "blocks"}
    text = payload["text"]
    assert isinstance(text, str) and text.strip(), "fallback text must be non-empty"
    assert units(text) <= 3000
    assert "\n" not in text, "fallback is a one-liner"
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    # The whole payload can be sent as UTF-8 JSON (no lone surrogates).
    json.dumps(payload, ensure_ascii=False).encode("utf-8")
    for s in strings(payload):
        assert not CONTROL.search(s), f"control character in {s[:80]!r}"
    # mrkdwn (and the fallback, which Slack formats as mrkdwn) must carry no live markup from
    # input; plain_text is shown verbatim and never parses mentions, so it is exempt.
    mrkdwn = [n["text"] for n in walk(blocks) if n.get("type") == "mrkdwn"]
    for s in [text, *mrkdwn]:
        for bad in INJECTED:
            assert bad not in s, f"unescaped {bad} in {s[:200]!r}"

    for block in blocks:
        assert units(block.get("block_id", "")) <= 255
        kind = block["type"]
        if kind == "header":
            t = block["text"]
            assert t["type"] == "plain_text"
            assert t["text"].strip() and units(t["text"]) <= 150
        elif kind == "section":
            if "text" in block:
                assert block["text"]["text"].strip()
                assert units(block["text"]["text"]) <= 3000
            fields = block.get("fields", [])
            assert len(fields) <= 10
            for f in fields:
                assert f["text"].strip() and units(f["text"]) <= 2000
            assert "text" in block or fields
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            for el in block["elements"]:
                if el["type"] in ("mrkdwn", "plain_text"):
                    assert el["text"].strip() and units(el["text"]) <= 3000
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
        else:
            assert kind in ("image", "divider"), kind
    for node in walk(blocks):
        if node.get("type") == "button":
            assert node["text"]["type"] == "plain_text"
            assert 0 < units(node["text"]["text"]) <= 75
            assert 0 < units(node["value"]) <= 2000
            assert units(node["action_id"]) <= 255
        if node.get("type") == "image":
            assert units(node["image_url"]) <= 3000
            assert node["image_url"].startswith(("http://", "https://"))
            assert 0 < units(node["alt_text"]) <= 2000
    return payload


def section_texts(payload: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and "text" in b]


def context_text(payload: dict[str, Any]) -> str:
    return " ".join(
        el.get("text", "")
        for b in payload["blocks"]
        if b["type"] == "context"
        for el in b["elements"]
    )


def buttons(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in walk(payload["blocks"]) if n.get("type") == "button"]


def header(payload: dict[str, Any]) -> str:
    (h,) = [b for b in payload["blocks"] if b["type"] == "header"]
    text: str = h["text"]["text"]
    return text


# --------------------------------------------------------------------------------------------
# Adversarial inputs
# --------------------------------------------------------------------------------------------

NASTY = [
    "",
    " ",
    "\n\n\t",
    "<!channel>",
    "<!here> <@UEVIL> <#CEVIL|general> <https://evil.example|click>",
    "&<>&amp;&lt;",
    "a\nb\r\nc\u2028d",
    "\x00\x07\x1b\x7f\x85\x9f",
    "\u202eevil\u202c",
    "\ud800 lone surrogate \udfff",
    "😀" * 200,
    "👨‍👩‍👧‍👦" * 100,
    "e\u0301" * 300,
    "*bold* _it_ ~s~ `code` ```block```",
    "中文标题" * 100,
    "&" * 5000,
    "<" * 5000,
    "x" * 100_000,
]

PIECES = [
    "a",
    "Word ",
    "&",
    "<",
    ">",
    "<!channel>",
    "<@UEVIL>",
    "\n",
    "\t",
    "\x00",
    "\x1b",
    "\x85",
    "😀",
    "👩‍💻",
    "\u202e",
    "\ud83d",
    "é",
    "中",
    "*",
    "`",
    "|",
    " ",
]


def random_text(rng: random.Random) -> str:
    n = rng.choice([0, 1, 5, 40, 149, 150, 151, 400, 3000, 12000])
    return "".join(rng.choice(PIECES) for _ in range(n))


def all_type_sets() -> list[frozenset[GistType]]:
    ts = list(GistType)
    return [frozenset(c) for r in range(1, 4) for c in itertools.combinations(ts, r)]


# --------------------------------------------------------------------------------------------
# escape_mrkdwn and Message
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a & b", "a &amp; b"),
        ("<!channel>", "&lt;!channel&gt;"),
        ("&lt;", "&amp;lt;"),
        ("*bold* _x_ ~y~ `z` > quote", "*bold* _x_ ~y~ `z` &gt; quote"),
        ("😀 \"quotes\" 'single'", "😀 \"quotes\" 'single'"),
        ("", ""),
    ],
)
def test_escape_mrkdwn_only_touches_amp_lt_gt(raw: str, escaped: str) -> None:
    assert escape_mrkdwn(raw) == escaped


def test_message_rejects_empty_text_and_too_many_blocks() -> None:
    block = notice_message("x").blocks[0]
    with pytest.raises(ValueError):
        Message(text=" ", blocks=[block])
    with pytest.raises(ValueError):
        Message(text="x", blocks=[block] * 51)
    assert len(Message(text="x", blocks=[block] * 50).as_kwargs()["blocks"]) == 50


# --------------------------------------------------------------------------------------------
# result_message
# --------------------------------------------------------------------------------------------


def make_gist(**kw: Any) -> Gist:
    base: dict[str, Any] = {
        "title": "Product launch walkthrough",
        "topics": ["Product demo", "Pricing"],
        "hashtags": ["#launch", "#demo"],
        "video": VideoInfo(duration_s=83.6, thumbnail_url="https://cdn.example.com/thumb.jpg"),
        "model": "pegasus1.2",
    }
    base.update(kw)
    return Gist(**base)


def result(gist: Gist, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "source_name": "clip.mp4",
        "source_url": "https://cdn.example.com/clip.mp4",
        "requester_id": "U012ABCDEF",
        "elapsed_s": 75.0,
        "job_id": "job-123",
    }
    args.update(kw)
    return check(result_message(gist, **args))


def test_result_layout() -> None:
    p = result(make_gist(), cached=True)
    assert [b["type"] for b in p["blocks"]] == [
        "header",
        "section",
        "section",
        "context",
        "actions",
    ]
    assert header(p) == "Product launch walkthrough"
    topics, tags = section_texts(p)
    assert topics == "*Topics*\n• Product demo\n• Pricing"
    assert tags == "*Hashtags*\n#launch #demo"
    assert p["blocks"][1]["accessory"] == {
        "type": "image",
        "image_url": "https://cdn.example.com/thumb.jpg",
        "alt_text": "Thumbnail of clip.mp4",
    }
    ctx = context_text(p)
    assert "<https://cdn.example.com/clip.mp4|clip.mp4>" in ctx
    assert "1:23" in ctx
    assert "pegasus1.2" in ctx
    assert "took 1:15" in ctx
    assert "requested by <@U012ABCDEF>" in ctx
    assert "from cache" in ctx
    (button,) = buttons(p)
    assert button["action_id"] == ACTION_REGENERATE == "gist_regenerate"
    assert button["value"] == "job-123"
    assert button["text"]["text"] == "Regenerate"
    assert (
        p["text"]
        == "Gist: Product launch walkthrough — topics: Product demo, Pricing — #launch #demo"
    )


def test_result_not_cached_and_optional_context_parts_absent() -> None:
    gist = make_gist(video=VideoInfo(), model=None)
    p = result(gist, source_url=None, requester_id=None, elapsed_s=None)
    ctx = context_text(p)
    assert "from cache" not in ctx and "requested by" not in ctx and "took" not in ctx
    assert "clip.mp4" in ctx and "<https://" not in ctx
    assert "accessory" not in p["blocks"][1]


@pytest.mark.parametrize("types", all_type_sets(), ids=lambda t: "+".join(sorted(t)))
def test_result_shows_only_requested_types(types: frozenset[GistType]) -> None:
    p = result(make_gist(types=sorted(types)))
    texts = section_texts(p)
    assert any(t.startswith("*Topics*") for t in texts) == (GistType.TOPIC in types)
    assert any(t.startswith("*Hashtags*") for t in texts) == (GistType.HASHTAG in types)
    expected_header = "Product launch walkthrough" if GistType.TITLE in types else "clip.mp4"
    assert header(p) == expected_header
    assert ("Pricing" in p["text"]) == (GistType.TOPIC in types)
    assert ("#launch" in p["text"]) == (GistType.HASHTAG in types)
    # Topics come before hashtags whatever order the types were listed in.
    if {GistType.TOPIC, GistType.HASHTAG} <= types:
        assert texts[0].startswith("*Topics*") and texts[1].startswith("*Hashtags*")
    # The thumbnail is shown once, whichever blocks there are.
    images = [n for n in walk(p["blocks"]) if n.get("type") == "image"]
    assert len(images) == 1


def test_result_unrequested_fields_hidden_even_if_present() -> None:
    p = result(make_gist(types=[GistType.HASHTAG], topics=["SECRET TOPIC"], title="SECRET"))
    dumped = json.dumps(p)
    assert "SECRET" not in dumped


def test_result_title_only_puts_thumbnail_in_context() -> None:
    p = result(make_gist(types=[GistType.TITLE]))
    assert [b["type"] for b in p["blocks"]] == ["header", "context", "actions"]
    ctx = next(b for b in p["blocks"] if b["type"] == "context")
    assert ctx["elements"][0]["type"] == "image"


def test_result_requested_but_empty_says_so() -> None:
    p = result(make_gist(topics=["", " \n", "\x00"], hashtags=["", "  ", "#", "# \t"], title=None))
    assert header(p) == "clip.mp4"
    assert section_texts(p) == ["*Topics*\n_No topics found._", "*Hashtags*\n_No hashtags found._"]
    assert p["text"] == "Gist: clip.mp4"


def test_result_header_falls_back_to_video_when_everything_blank() -> None:
    p = result(make_gist(title="   \n\t"), source_name="\x00\n")
    assert header(p) == "Video"


@pytest.mark.parametrize(
    "title",
    ["x" * 100_000, "😀" * 151, "👨‍👩‍👧‍👦" * 60, "a" * 149 + "😀", "word " * 40, "&<>" * 100],
)
def test_result_long_title_truncated_with_ellipsis(title: str) -> None:
    p = result(make_gist(title=title))
    h = header(p)
    assert units(h) <= 150
    assert h.endswith("…")
    assert title.startswith(h[:-1].rstrip())


def test_result_title_of_exactly_150_is_kept_whole() -> None:
    assert header(result(make_gist(title="t" * 150))) == "t" * 150


def test_result_header_is_plain_text_not_escaped() -> None:
    # plain_text is shown verbatim: no entities, and it can't mention anyone.
    p = result(make_gist(title="Q&A <live> @channel"))
    assert header(p) == "Q&A <live> @channel"
    assert p["text"].startswith("Gist: Q&amp;A &lt;live&gt; @channel")


def test_result_escapes_topics_and_hashtags() -> None:
    p = result(make_gist(topics=["<!channel> & friends", "a\nb"], hashtags=["#a<b>", "no hash"]))
    topics, tags = section_texts(p)
    assert "• &lt;!channel&gt; &amp; friends" in topics
    assert "• a b" in topics
    assert tags == "*Hashtags*\n#a&lt;b&gt; #nohash"


def test_result_thousand_topics_truncated_with_count() -> None:
    topics = [f"topic {i} " + "y" * 50 for i in range(1000)]
    p = result(make_gist(topics=topics, hashtags=[f"#tag{i}" for i in range(1000)]))
    assert len(p["blocks"]) <= 50
    topic_text, tag_text = section_texts(p)
    shown = topic_text.count("\n• ")
    assert 10 < shown < 1000
    assert topic_text.endswith(f"_…and {1000 - shown} more_")
    shown_tags = len([w for w in tag_text.split() if w.startswith("#tag")])
    assert tag_text.endswith(f"_…and {1000 - shown_tags} more_")


def test_result_one_huge_topic_is_clipped_not_dropped() -> None:
    p = result(make_gist(topics=["z" * 100_000]))
    (topic_text, _) = section_texts(p)
    assert topic_text.startswith("*Topics*\n• zzz") and topic_text.endswith("…")
    assert units(topic_text) < 400


def test_result_entity_never_cut_in_half() -> None:
    p = result(make_gist(topics=["&" * 10_000]))
    body = section_texts(p)[0].split("• ", 1)[1]
    assert body.endswith("…")
    assert re.fullmatch(r"(&amp;)+…", body)


def test_result_thumbnail_rules() -> None:
    no_thumb = result(make_gist(), include_thumbnail=False)
    assert not [n for n in walk(no_thumb["blocks"]) if n.get("type") == "image"]
    for bad in ["javascript:alert(1)", "ftp://x/y.jpg", "https://x/" + "a" * 3000, "https://a b"]:
        p = result(make_gist(video=VideoInfo(thumbnail_url=bad)))
        assert not [n for n in walk(p["blocks"]) if n.get("type") == "image"], bad


def test_result_source_link_is_safe() -> None:
    p = result(make_gist(), source_url="https://x.example/a|b>c d?x=1&y=2", source_name="a|b")
    ctx = context_text(p)
    assert "<https://x.example/a%7Cb%3Ec%20d?x=1&amp;y=2|a|b>" in ctx
    for url in ["javascript:alert(1)", "https://x/" + "a" * 5000, "mailto:a@b.c", "not a url"]:
        ctx = context_text(result(make_gist(), source_url=url))
        assert "<" not in ctx.replace("<@U012ABCDEF>", ""), url


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0:00"),
        (59.9, "0:59"),
        (61, "1:01"),
        (3599, "59:59"),
        (3600, "1:00:00"),
        (7325, "2:02:05"),
    ],
)
def test_result_duration_format(seconds: float, shown: str) -> None:
    ctx = context_text(result(make_gist(video=VideoInfo(duration_s=seconds))))
    assert f" · {shown} · " in ctx


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), 1e30])
def test_result_nonsense_numbers_are_omitted(bad: float) -> None:
    p = result(make_gist(video=VideoInfo(duration_s=bad)), elapsed_s=bad)
    assert "took" not in context_text(p)


@pytest.mark.parametrize("requester", ["<!channel>", "U1>", "", "u123", "U" + "1" * 300])
def test_result_invalid_requester_dropped(requester: str) -> None:
    assert "requested by" not in context_text(result(make_gist(), requester_id=requester))


@pytest.mark.parametrize("job_id", ["", "j" * 2001])
def test_result_no_regenerate_without_usable_job_id(job_id: str) -> None:
    assert buttons(result(make_gist(), job_id=job_id)) == []


def test_result_job_id_at_limit() -> None:
    assert buttons(result(make_gist(), job_id="j" * 2000))[0]["value"] == "j" * 2000


@pytest.mark.parametrize("nasty", NASTY, ids=range(len(NASTY)))
def test_result_nasty_strings_everywhere(nasty: str) -> None:
    gist = make_gist(
        title=nasty,
        topics=[nasty] * 5,
        hashtags=[nasty, "#" + nasty],
        model=nasty,
        video=VideoInfo(duration_s=10, thumbnail_url=nasty or None),
    )
    result(gist, source_name=nasty, source_url=nasty, requester_id=nasty, job_id="j")


def test_result_fuzz() -> None:
    rng = random.Random(20260215)
    for _ in range(150):
        types = rng.choice(all_type_sets())
        gist = make_gist(
            types=sorted(types),
            title=random_text(rng) if rng.random() < 0.9 else None,
            topics=[random_text(rng) for _ in range(rng.choice([0, 1, 3, 40]))],
            hashtags=[random_text(rng) for _ in range(rng.choice([0, 1, 3, 40]))],
            model=random_text(rng),
            video=VideoInfo(
                duration_s=rng.choice([None, 0.0, 12.5, 1e9, -5.0]),
                thumbnail_url=rng.choice([None, "https://t.example/x.jpg", random_text(rng)]),
            ),
        )
        result(
            gist,
            source_name=random_text(rng),
            source_url=rng.choice([None, random_text(rng), "https://e.x/" + random_text(rng)]),
            requester_id=rng.choice([None, "U123", random_text(rng)]),
            elapsed_s=rng.choice([None, 3.0, float("nan")]),
            job_id=rng.choice(["j", "x" * 2000]),
            cached=rng.random() < 0.5,
        )


# --------------------------------------------------------------------------------------------
# progress_message
# --------------------------------------------------------------------------------------------


def test_progress_line_and_steps() -> None:
    p = check(
        progress_message(
            phase=Phase.UPLOADING,
            source_name="clip.mp4",
            elapsed_s=17.9,
            percent=42.7,
            requester_id="U1ABC",
        )
    )
    (line,) = section_texts(p)
    assert line == ":hourglass_flowing_sand: Uploading *clip.mp4* — 42% · 0:17 elapsed"
    ctx = context_text(p)
    assert "✓ Queued · ✓ Downloading · ▶ *Uploading* · Processing · Analysing" in ctx
    assert "requested by <@U1ABC>" in ctx
    assert p["text"] == "Uploading clip.mp4 — 42% · 0:17 elapsed"
    assert buttons(p) == []
    assert len(p["blocks"]) == 2


def test_progress_steps_for_a_link_skip_downloading() -> None:
    steps = [Phase.QUEUED, Phase.UPLOADING, Phase.PROCESSING, Phase.ANALYSING]
    p = check(progress_message(phase=Phase.ANALYSING, source_name="a", elapsed_s=0, steps=steps))
    assert context_text(p) == "✓ Queued · ✓ Uploading · ✓ Processing · ▶ *Analysing*"
    # A phase missing from `steps` falls back to the full list rather than lying.
    p = check(progress_message(phase=Phase.DOWNLOADING, source_name="a", elapsed_s=0, steps=steps))
    assert "▶ *Downloading*" in context_text(p)


@pytest.mark.parametrize(
    ("percent", "shown"), [(None, None), (-5, "0%"), (100.0, "100%"), (250, "100%"), (99.99, "99%")]
)
def test_progress_percent_clamped(percent: float | None, shown: str | None) -> None:
    p = check(progress_message(phase=Phase.QUEUED, source_name="a", elapsed_s=1, percent=percent))
    line = section_texts(p)[0]
    assert line.startswith(":hourglass: Queued *a*")
    if shown is None:
        assert "%" not in line
    else:
        assert f"— {shown} ·" in line


def test_progress_nan_values() -> None:
    p = check(
        progress_message(
            phase=Phase.PROCESSING, source_name="a", elapsed_s=float("nan"), percent=float("nan")
        )
    )
    assert section_texts(p)[0].endswith("*a* · 0:00 elapsed")


def test_progress_note_is_escaped() -> None:
    p = check(
        progress_message(
            phase=Phase.PROCESSING, source_name="a", elapsed_s=1, note="Large file <!here> & co"
        )
    )
    assert section_texts(p)[0].endswith("\nLarge file &lt;!here&gt; &amp; co")


def test_progress_fuzz() -> None:
    rng = random.Random(7)
    for nasty in [*NASTY, *(random_text(rng) for _ in range(60))]:
        check(
            progress_message(
                phase=rng.choice(list(Phase)),
                source_name=nasty,
                elapsed_s=rng.choice([0.0, 1e12, -3.0]),
                percent=rng.choice([None, 50.0]),
                requester_id=nasty,
                note=nasty,
            )
        )


# --------------------------------------------------------------------------------------------
# error_message
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retryable", "job_id", "has_retry"),
    [(True, "job-9", True), (True, None, False), (True, "", False), (False, "job-9", False)],
)
def test_error_retry_only_when_retryable_with_job(
    retryable: bool, job_id: str | None, has_retry: bool
) -> None:
    p = check(
        error_message(
            headline="Couldn't fetch the video",
            detail="The link answered 404. Check it still works, then try again.",
            source_name="clip.mp4",
            job_id=job_id,
            retryable=retryable,
        )
    )
    first = section_texts(p)[0]
    assert first == (
        ":x: *Couldn't fetch the video*\n"
        "The link answered 404. Check it still works, then try again."
    )
    assert "clip.mp4" in context_text(p)
    bs = buttons(p)
    if has_retry:
        assert [(b["action_id"], b["value"], b["text"]["text"]) for b in bs] == [
            (ACTION_RETRY, "job-9", "Retry")
        ]
    else:
        assert bs == []
    assert p["text"].startswith("Couldn't fetch the video: The link answered 404.")


def test_error_escapes_and_limits() -> None:
    for nasty in NASTY:
        p = check(
            error_message(
                headline=nasty, detail=nasty * 3, source_name=nasty, job_id="j", retryable=True
            )
        )
        assert section_texts(p)[0].startswith(":x: *")
    p = check(error_message(headline="a", detail="", source_name=None))
    assert section_texts(p) == [":x: *a*"]
    assert [b["type"] for b in p["blocks"]] == ["section"]


def test_error_blank_headline_still_says_something() -> None:
    p = check(error_message(headline=" \n", detail=""))
    assert section_texts(p) == [":x: *Something went wrong*"]
    assert p["text"] == "Something went wrong"


# --------------------------------------------------------------------------------------------
# notice, help, usage
# --------------------------------------------------------------------------------------------


def test_notice_is_one_section() -> None:
    p = check(notice_message("Skipped 3 more videos: at most 3 per message"))
    assert section_texts(p) == ["Skipped 3 more videos: at most 3 per message"]
    assert len(p["blocks"]) == 1
    assert p["text"] == "Skipped 3 more videos: at most 3 per message"


@pytest.mark.parametrize("nasty", NASTY, ids=range(len(NASTY)))
def test_notice_nasty(nasty: str) -> None:
    p = check(notice_message(nasty))
    assert len(p["blocks"]) == 1


def test_help_content() -> None:
    p = check(help_message())
    body = "\n".join(section_texts(p))
    for needle in [
        "/gist &lt;video-url&gt; [title|topics|hashtags",
        "/gist usage",
        "/gist help",
        "Gist this video",
        "@-mention",
        ".mp4",
        "uploaded to Slack",
        "YouTube",
        "Vimeo",
        "Loom",
        "Google Drive",
        "Dropbox",
    ]:
        assert needle in body, needle
    assert "<video-url>" not in json.dumps(p)


def test_usage_content() -> None:
    p = check(
        usage_message(
            user_id="U1ABC",
            user_minutes=12.34,
            team_minutes=100,
            user_limit_min=60,
            team_limit_min=None,
            jobs_today=3,
            tokens_today=12345,
        )
    )
    fields = [f["text"] for b in p["blocks"] for f in b.get("fields", [])]
    assert fields == [
        "*You* (<@U1ABC>)\n12.3 min of 60.0 min (21%)",
        "*Team*\n100.0 min (no limit)",
        "*Jobs today*\n3",
        "*Tokens today*\n12,345",
    ]
    assert "Usage today" in section_texts(p)[0]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0, 1e300, 0.0])
def test_usage_odd_numbers(bad: float) -> None:
    check(
        usage_message(
            user_id="<!channel>",
            user_minutes=bad,
            team_minutes=bad,
            user_limit_min=bad,
            team_limit_min=0.0,
            jobs_today=-4,
            tokens_today=10**40,
            period="<!here>" * 100,
        )
    )
