"""`/gist` command text and @-mention type words."""

from __future__ import annotations

import random

import pytest

from bot.gist.models import GistType
from bot.slack.commands import GistCommand, parse_gist_command, parse_mention_types

T, P, H = GistType.TITLE, GistType.TOPIC, GistType.HASHTAG
ALL = frozenset({T, P, H})
URL = "https://cdn.example.com/v/clip.mp4"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "help"),
        ("   \n ", "help"),
        ("help", "help"),
        ("HELP", "help"),
        ("  help  ", "help"),
        ("--help", "help"),
        ("?", "help"),
        ("help!", "help"),
        ("usage", "usage"),
        ("usage.", "usage"),
        ("Usage", "usage"),
    ],
)
def test_help_and_usage(text: str, kind: str) -> None:
    assert parse_gist_command(text) == GistCommand(kind=kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "url", "types"),
    [
        (URL, URL, ALL),
        (f"  {URL}  ", URL, ALL),
        (f"{URL} title", URL, {T}),
        (f"{URL} titles", URL, {T}),
        (f"{URL} topic", URL, {P}),
        (f"{URL} topics", URL, {P}),
        (f"{URL} hashtag", URL, {H}),
        (f"{URL} hashtags", URL, {H}),
        (f"{URL} tags", URL, {H}),
        (f"{URL} tag", URL, {H}),
        (f"{URL} TITLE Topics", URL, {T, P}),
        (f"{URL} title,topics", URL, {T, P}),
        (f"{URL} title, hashtags", URL, {T, H}),
        (f"{URL} title|topics|hashtags", URL, ALL),
        (f"{URL} [title|topics]", URL, {T, P}),
        (f"{URL} title title", URL, {T}),
        (f"{URL} all", URL, ALL),
        (f"topics {URL}", URL, {P}),
        (f"<{URL}> hashtags", URL, {H}),
        (f"<{URL}|clip.mp4> title", URL, {T}),
        (f"<{URL}|a label, with spaces> topics", URL, {P}),
        ("https://e.example/v.mp4?a=1&amp;b=2 title", "https://e.example/v.mp4?a=1&b=2", {T}),
        ("<https://e.example/v.mp4?a=1&amp;b=2>", "https://e.example/v.mp4?a=1&b=2", ALL),
        ("<https://e.example/v.mp4?a=1&amp;b=2|e.example>", "https://e.example/v.mp4?a=1&b=2", ALL),
        ("&lt;https://e.example/v.mp4&gt; topics", "https://e.example/v.mp4", {P}),
        ("HTTP://E.EXAMPLE/V.MP4", "HTTP://E.EXAMPLE/V.MP4", ALL),
        (f"{URL}, title", URL, {T}),
        (f"{URL},title", f"{URL},title", ALL),  # no space: one token, read as the URL
        (
            "https://res.cloudinary.com/demo/video/upload/w_300,c_scale/dog.mp4 tags",
            "https://res.cloudinary.com/demo/video/upload/w_300,c_scale/dog.mp4",
            {H},
        ),
        ("http://127.0.0.1:8000/x", "http://127.0.0.1:8000/x", ALL),
        ("https://www.youtube.com/watch?v=x", "https://www.youtube.com/watch?v=x", ALL),
    ],
)
def test_gist(text: str, url: str, types: set[GistType]) -> None:
    cmd = parse_gist_command(text)
    assert cmd == GistCommand(kind="gist", url=url, types=frozenset(types))


def test_wrapped_url_may_hold_a_comma() -> None:
    cmd = parse_gist_command("<https://cdn.example.com/a,b.mp4> title")
    assert cmd.url == "https://cdn.example.com/a,b.mp4" and cmd.types == {T}


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (f"{URL} summary", ["“summary”", "title, topics, hashtags"]),
        (f"{URL} title, chapters", ["“chapters”"]),
        ("title topics", ["Which video?", "/gist https://"]),
        ("hashtags", ["Which video?"]),
        ("please", ["“please”"]),
        (f"{URL} {URL}", ["One video"]),
        (f"<{URL}> https://other.example/x.mp4", ["One video"]),
        ("ftp://example.com/v.mp4", ["http:// and https://", "ftp://example.com/v.mp4"]),
        ("<mailto:a@example.com|a@example.com>", ["http:// and https://"]),
        ("example.com/v.mp4", ["full link", "https://"]),
        ("www.example.com/v.mp4", ["full link"]),
        ("clip.mp4", ["full link"]),
        ("https://", ["no host name"]),
        ("https:///path", ["no host name"]),
        ("https://e.example:99999/x", ["isn't a valid link"]),
        ("<@U123ABC> title", ["mention, not a link"]),
        ("<#C123|general>", ["mention", "general"]),
        ("<!channel>", ["mention"]),
        ("https://e.example/" + "a" * 5000, ["too long"]),
    ],
)
def test_errors(text: str, needles: list[str]) -> None:
    cmd = parse_gist_command(text)
    assert cmd.kind == "error" and cmd.url is None
    assert cmd.error is not None
    for needle in needles:
        assert needle in cmd.error, (needle, cmd.error)


def test_error_never_echoes_much_input() -> None:
    for text in [
        "x" * 10_000,
        "word " * 3000,
        "y" * 7000,
        f"{URL} " + "z" * 7000,
        "ftp://" + "q" * 3000,
        "<@U" + "9" * 3000 + ">",
        "<#C1|" + "g" * 3000 + ">",
        "e.xample/" + "p" * 3000,
    ]:
        cmd = parse_gist_command(text)
        assert cmd.kind == "error"
        assert cmd.error is not None and len(cmd.error) <= 300, cmd.error
        longest_run = max(len(run) for run in cmd.error.replace("…", " ").split())
        assert longest_run <= 70, cmd.error


def test_error_echo_is_defanged() -> None:
    cmd = parse_gist_command(f"{URL} <!here>&amp;\x00\x1b")
    assert cmd.kind == "error" and cmd.error is not None
    assert "<" not in cmd.error and ">" not in cmd.error and "&" not in cmd.error
    assert "\x00" not in cmd.error and "\x1b" not in cmd.error


def test_fuzz_never_raises() -> None:
    rng = random.Random(1234)
    alphabet = [
        "a", " ", ",", "<", ">", "|", "&", "&amp;", "://", "https://", "http", "title", "tags",
        ".", "/", ":", "@", "#", "!", "\n", "\x00", "😀", "\ud800", "[", "]", "%", "?", "=",
    ]  # fmt: skip
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        cmd = parse_gist_command(text)
        assert cmd.kind in ("help", "usage", "gist", "error")
        if cmd.kind == "gist":
            assert cmd.url is not None and cmd.url.lower().startswith(("http://", "https://"))
            assert cmd.types and cmd.types <= ALL
            assert cmd.error is None
        if cmd.kind == "error":
            assert cmd.error and len(cmd.error) <= 300
        parse_mention_types(text)


@pytest.mark.parametrize(
    ("text", "types"),
    [
        ("<@U0BOT> can you gist this?", ALL),
        ("<@U0BOT>", ALL),
        ("", ALL),
        ("<@U0BOT> title please", {T}),
        ("<@U0BOT> Topics and hashtags, thanks!", {P, H}),
        ("<@U0BOT> just the TAGS", {H}),
        ("<@U0BOT> title/topics", {T, P}),
        ("<@U0BOT> <https://e.example/title/topics.mp4|title.mp4>", ALL),
        ("<@U0BOT> subtitles entitled", ALL),
        ("<@U0BOT> #hashtags", {H}),
    ],
)
def test_mention_types(text: str, types: set[GistType]) -> None:
    assert parse_mention_types(text) == frozenset(types)
