"""Links and files in Slack message payloads."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.links import (
    ClassifiedUrl,
    UrlKind,
    classify_url,
    extract_urls,
    filename_from_url,
    split_files,
    video_files,
)

# --------------------------------------------------------------------------------------------
# extract_urls
# --------------------------------------------------------------------------------------------

# A message as Slack sends it: the text holds link markup with `&amp;`, the rich_text blocks
# hold the raw URLs; mentions, channels and mailto: are also there and must be ignored.
RICH_EVENT: dict[str, Any] = {
    "type": "message",
    "channel": "C0123456789",
    "user": "U0123456789",
    "ts": "1717171717.000100",
    "event_ts": "1717171717.000100",
    "channel_type": "channel",
    "team": "T0123456789",
    "client_msg_id": "0b3c2f1e-9d0a-4c63-9e54-1f5f7b1a2c3d",
    "text": (
        "New cut: <https://cdn.example.com/v/launch.mp4?sig=a1&amp;exp=99> and "
        "<https://www.youtube.com/watch?v=dQw4w9WgXcQ|youtube.com/watch?v=dQw4w9WgXcQ> "
        "cc <@U0AAAAAAA> in <#C0BBBBBBB|video-review> <mailto:a@example.com|a@example.com> "
        "<!here>"
    ),
    "blocks": [
        {
            "type": "rich_text",
            "block_id": "Xk3p",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [
                        {"type": "text", "text": "New cut: "},
                        {
                            "type": "link",
                            "url": "https://cdn.example.com/v/launch.mp4?sig=a1&exp=99",
                        },
                        {"type": "text", "text": " and "},
                        {
                            "type": "link",
                            "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                            "text": "youtube.com/watch?v=dQw4w9WgXcQ",
                        },
                        {"type": "text", "text": " cc "},
                        {"type": "user", "user_id": "U0AAAAAAA"},
                        {"type": "text", "text": " in "},
                        {"type": "channel", "channel_id": "C0BBBBBBB"},
                        {"type": "text", "text": " "},
                        {"type": "link", "url": "mailto:a@example.com", "text": "a@example.com"},
                        {"type": "text", "text": " "},
                        {"type": "broadcast", "range": "here"},
                    ],
                }
            ],
        }
    ],
}


def test_extract_from_rich_text_blocks() -> None:
    assert extract_urls(RICH_EVENT) == [
        "https://cdn.example.com/v/launch.mp4?sig=a1&exp=99",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    ]


def test_extract_from_text_when_no_blocks() -> None:
    event = {k: v for k, v in RICH_EVENT.items() if k != "blocks"}
    assert extract_urls(event) == [
        "https://cdn.example.com/v/launch.mp4?sig=a1&exp=99",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    ]


def test_extract_from_text_when_blocks_have_no_rich_text() -> None:
    event = {
        "text": "see <https://a.example/x.mov|the clip>",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "<https://b.example>"}}],
    }
    assert extract_urls(event) == ["https://a.example/x.mov"]


def test_extract_nested_lists_quotes_and_preformatted_in_order_deduplicated() -> None:
    event = {
        "text": "ignored because the blocks have links",
        "blocks": [
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_quote",
                        "elements": [{"type": "link", "url": "https://q.example/1.mp4"}],
                    },
                    {
                        "type": "rich_text_list",
                        "style": "bullet",
                        "indent": 0,
                        "elements": [
                            {
                                "type": "rich_text_section",
                                "elements": [{"type": "link", "url": "https://l.example/2.webm"}],
                            },
                            {
                                "type": "rich_text_section",
                                "elements": [
                                    {"type": "link", "url": "https://q.example/1.mp4"},
                                    {"type": "link", "url": "HTTPS://UPPER.example/3.MOV"},
                                ],
                            },
                        ],
                    },
                    {
                        "type": "rich_text_preformatted",
                        "elements": [{"type": "link", "url": "http://p.example/4.mkv"}],
                    },
                ],
            },
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "link", "url": "https://second.example/5.mp4"}],
                    }
                ],
            },
        ],
    }
    assert extract_urls(event) == [
        "https://q.example/1.mp4",
        "https://l.example/2.webm",
        "HTTPS://UPPER.example/3.MOV",
        "http://p.example/4.mkv",
        "https://second.example/5.mp4",
    ]


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("<https://a.example/v.mp4>", ["https://a.example/v.mp4"]),
        ("<https://a.example/v.mp4|label with spaces & stuff>", ["https://a.example/v.mp4"]),
        ("<https://a.example/v.mp4?x=1&amp;y=2&amp;z=&lt;3&gt;>", ["https://a.example/v.mp4?x=1&y=2&z=<3>"]),
        ("<http://a.example/>", ["http://a.example/"]),
        ("<HTTPS://A.EXAMPLE/X>", ["HTTPS://A.EXAMPLE/X"]),
        ("<https://a.example/1> <https://a.example/1|again> <https://b.example/2>",
         ["https://a.example/1", "https://b.example/2"]),
        ("<@U123> <#C123|general> <!channel> <!subteam^S1|@team> <mailto:x@y.z>", []),
        ("<ftp://files.example/v.mp4> <slack://open>", []),
        ("bare https://not-linked.example/v.mp4 text", []),  # Slack always wraps real links
        ("<https://>", []),
        ("", []),
    ],
)  # fmt: skip
def test_extract_from_text_table(text: str, urls: list[str]) -> None:
    assert extract_urls({"text": text}) == urls


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"text": None},
        {"blocks": None},
        {"blocks": "nonsense"},
        {"blocks": [None, 1, "x", {"type": "rich_text"}]},
        {"blocks": [{"type": "rich_text", "elements": [{"type": "link", "url": 5}]}]},
        {"blocks": [{"type": "rich_text", "elements": [{"type": "link"}]}]},
    ],
)
def test_extract_tolerates_odd_payloads(event: dict[str, Any]) -> None:
    assert extract_urls(event) == []


def test_extract_blocks_with_only_mailto_fall_back_to_text() -> None:
    event = {
        "text": "<https://a.example/v.mp4>",
        "blocks": [
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "link", "url": "mailto:a@b.example"}],
                    }
                ],
            }
        ],
    }
    assert extract_urls(event) == ["https://a.example/v.mp4"]


# --------------------------------------------------------------------------------------------
# classify_url
# --------------------------------------------------------------------------------------------

D, H, OTH = UrlKind.DIRECT_MEDIA, UrlKind.HOSTING_PAGE, UrlKind.OTHER


@pytest.mark.parametrize(
    ("url", "kind", "service"),
    [
        ("https://cdn.example.com/v/clip.mp4", D, None),
        ("https://cdn.example.com/v/clip.MP4", D, None),
        ("https://cdn.example.com/v/clip.mov?X-Amz-Signature=abc&x=.html", D, None),
        ("https://cdn.example.com/v/clip.webm#t=10", D, None),
        ("http://10.0.0.5:8080/a/b/c.mkv", D, None),
        ("https://e.example/a.m4v", D, None),
        ("https://e.example/a.avi", D, None),
        ("https://e.example/a.mpeg", D, None),
        ("https://e.example/a.mpg", D, None),
        ("https://e.example/a.wmv", D, None),
        ("https://e.example/a.flv", D, None),
        ("https://e.example/a.3gp", D, None),
        ("https://e.example/a.ts", D, None),
        ("https://e.example/a.m2ts", D, None),
        ("https://e.example/a.ogv", D, None),
        ("https://e.example/a.mxf", D, None),
        ("https://e.example/my%20clip.mp4", D, None),
        ("https://e.example/clip.mp4/", D, None),
        ("https://dl.dropboxusercontent.com/s/abc/clip.mp4", D, None),
        ("https://video.twimg.com/ext_tw_video/1/pu/vid/720x1280/x.mp4?tag=12", D, None),
        ("https://player.vimeo.com/external/123.hd.mp4?s=abc", D, None),
        ("https://player.vimeo.com/progressive_redirect/playback/1/rendition/720p/f.mp4", D, None),
        ("https://www.youtube.com/watch?v=abc", H, "YouTube"),
        ("https://youtube.com/shorts/abc", H, "YouTube"),
        ("https://m.youtube.com/watch?v=abc", H, "YouTube"),
        ("https://youtu.be/abc", H, "YouTube"),
        ("https://vimeo.com/123456", H, "Vimeo"),
        ("https://player.vimeo.com/video/123456", H, "Vimeo"),
        ("https://www.loom.com/share/abc", H, "Loom"),
        ("https://drive.google.com/file/d/abc/view?usp=sharing", H, "Google Drive"),
        ("https://docs.google.com/file/d/abc/edit", H, "Google Drive"),
        ("https://www.dropbox.com/s/abc/clip.mp4?dl=0", H, "Dropbox"),
        ("https://www.dropbox.com/scl/fi/abc/clip.mov?rlkey=x&dl=1", H, "Dropbox"),
        ("https://www.tiktok.com/@u/video/1", H, "TikTok"),
        ("https://vm.tiktok.com/ZM123/", H, "TikTok"),
        ("https://www.instagram.com/reel/abc/", H, "Instagram"),
        ("https://www.facebook.com/watch/?v=1", H, "Facebook"),
        ("https://fb.watch/abc/", H, "Facebook"),
        ("https://twitter.com/u/status/1", H, "X"),
        ("https://x.com/u/status/1", H, "X"),
        ("https://WWW.YOUTUBE.COM./watch?v=abc", H, "YouTube"),
        ("https://example.com/page", OTH, None),
        ("https://example.com/video", OTH, None),
        ("https://example.com/stream.m3u8", OTH, None),
        ("https://example.com/song.mp3", OTH, None),
        ("https://example.com/mp4", OTH, None),
        ("https://example.com/?file=clip.mp4", OTH, None),
        ("https://notyoutube.com/watch", OTH, None),
        ("https://box.example/x", OTH, None),
        ("https://dl.dropboxusercontent.com/s/abc/readme", OTH, None),
        ("ftp://example.com/clip.mp4", OTH, None),
        ("javascript:alert(1)//x.mp4", OTH, None),
        ("not a url", OTH, None),
        ("", OTH, None),
        ("https://[::1/clip.mp4", OTH, None),
    ],
)
def test_classify_table(url: str, kind: UrlKind, service: str | None) -> None:
    assert classify_url(url) == ClassifiedUrl(url, kind, service)


# --------------------------------------------------------------------------------------------
# filename_from_url
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://cdn.example.com/v/clip.mp4", "clip.mp4"),
        ("https://cdn.example.com/v/my%20clip%E2%9C%93.mp4?sig=1", "my clip✓.mp4"),
        ("https://cdn.example.com/v/clip.mp4/", "clip.mp4"),
        ("https://cdn.example.com/", "cdn.example.com"),
        ("https://cdn.example.com", "cdn.example.com"),
        ("https://CDN.Example.com:8443", "cdn.example.com"),
        ("https://www.youtube.com/watch?v=abc", "watch"),
        ("", "video"),
        ("https://[::1/x", "video"),
    ],
)
def test_filename_from_url(url: str, name: str) -> None:
    assert filename_from_url(url) == name


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------

VIDEO = {
    "id": "F0VIDEO1",
    "created": 1717171717,
    "name": "launch.mp4",
    "title": "launch.mp4",
    "mimetype": "video/mp4",
    "filetype": "mp4",
    "pretty_type": "MPEG 4 Video",
    "user": "U0123456789",
    "mode": "hosted",
    "size": 5_242_880,
    "url_private": "https://files.slack.com/files-pri/T1-F0VIDEO1/launch.mp4",
    "url_private_download": "https://files.slack.com/files-pri/T1-F0VIDEO1/download/launch.mp4",
    "permalink": "https://acme.slack.com/files/U0123456789/F0VIDEO1/launch.mp4",
    "thumb_video": "https://files.slack.com/files-tmb/T1-F0VIDEO1-abc/launch_thumb_video.jpg",
    "duration_ms": 83_600,
    "media_display_type": "video",
}
MOV_GENERIC_MIME = {
    **VIDEO,
    "id": "F0MOV",
    "mimetype": "application/octet-stream",
    "filetype": "mov",
}
QUICKTIME = {**VIDEO, "id": "F0QT", "mimetype": "VIDEO/QUICKTIME", "filetype": "mov"}
IMAGE = {**VIDEO, "id": "F0PNG", "name": "s.png", "mimetype": "image/png", "filetype": "png"}
AUDIO = {**VIDEO, "id": "F0MP3", "name": "a.mp3", "mimetype": "audio/mpeg", "filetype": "mp3"}
ACCESS_STUB = {"id": "F0STUB", "mode": "file_access", "file_access": "check_file_info"}
HIDDEN = {"id": "F0HIDE", "mode": "hidden_by_limit", "mimetype": "video/mp4"}
TOMBSTONE = {"id": "F0GONE", "mode": "tombstone"}
NO_MIME = {"id": "F0NOMIME", "name": "x.mp4", "mode": "hosted"}


def file_share_event(files: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "file_share",
        "text": "here's the cut",
        "files": files,
        "upload": True,
        "user": "U0123456789",
        "display_as_bot": False,
        "channel": "C0123456789",
        "ts": "1717171717.000200",
    }


def test_split_files() -> None:
    event = file_share_event(
        [VIDEO, IMAGE, ACCESS_STUB, MOV_GENERIC_MIME, HIDDEN, AUDIO, TOMBSTONE, NO_MIME, QUICKTIME]
    )
    videos, others, stubs = split_files(event)
    assert [f["id"] for f in videos] == ["F0VIDEO1", "F0MOV", "F0QT"]
    assert [f["id"] for f in others] == ["F0PNG", "F0MP3"]
    assert [f["id"] for f in stubs] == ["F0STUB", "F0HIDE", "F0GONE", "F0NOMIME"]
    assert video_files(event) == [VIDEO, MOV_GENERIC_MIME, QUICKTIME]


@pytest.mark.parametrize("files", [None, "x", {}, [], [None, 3, "f"]])
def test_split_files_tolerates_odd_payloads(files: Any) -> None:
    assert split_files(file_share_event(files)) == ([], [], [])
    assert split_files({}) == ([], [], [])
