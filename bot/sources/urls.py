"""What kind of link a URL is (a direct media file, a hosting page, something else), and a
display name for it. Pure, and not Slack's: the CLI and the Slack side both use it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

__all__ = [
    "DIRECT_MEDIA_EXTENSIONS",
    "ClassifiedUrl",
    "UrlKind",
    "classify_url",
    "filename_from_url",
    "is_http_url",
]

# Video container extensions TwelveLabs (and ffmpeg) can take from a direct link.
DIRECT_MEDIA_EXTENSIONS = frozenset(
    {
        "mp4",
        "m4v",
        "mov",
        "qt",
        "webm",
        "mkv",
        "avi",
        "mpeg",
        "mpg",
        "mpe",
        "m2v",
        "wmv",
        "asf",
        "flv",
        "f4v",
        "3gp",
        "3g2",
        "ts",
        "mts",
        "m2ts",
        "ogv",
        "mxf",
        "vob",
        "dv",
        "divx",
    }
)

# Hosts whose links are pages (players, share pages), not media files. A host matches a domain
# when it is the domain or a subdomain of it.
_HOSTING_DOMAINS: tuple[tuple[str, str], ...] = (
    ("youtube.com", "YouTube"),
    ("youtu.be", "YouTube"),
    ("youtube-nocookie.com", "YouTube"),
    ("vimeo.com", "Vimeo"),
    ("loom.com", "Loom"),
    ("drive.google.com", "Google Drive"),
    ("docs.google.com", "Google Drive"),
    ("photos.google.com", "Google Photos"),
    ("photos.app.goo.gl", "Google Photos"),
    ("dropbox.com", "Dropbox"),
    ("db.tt", "Dropbox"),
    ("tiktok.com", "TikTok"),
    ("instagram.com", "Instagram"),
    ("instagr.am", "Instagram"),
    ("facebook.com", "Facebook"),
    ("fb.watch", "Facebook"),
    ("fb.com", "Facebook"),
    ("twitter.com", "X"),
    ("x.com", "X"),
    ("twitch.tv", "Twitch"),
    ("dailymotion.com", "Dailymotion"),
    ("dai.ly", "Dailymotion"),
    ("streamable.com", "Streamable"),
    ("wistia.com", "Wistia"),
    ("vidyard.com", "Vidyard"),
    ("frame.io", "Frame.io"),
    ("box.com", "Box"),
    ("onedrive.live.com", "OneDrive"),
    ("1drv.ms", "OneDrive"),
    ("sharepoint.com", "SharePoint"),
    ("linkedin.com", "LinkedIn"),
    ("reddit.com", "Reddit"),
    ("v.redd.it", "Reddit"),
)


def is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


class UrlKind(StrEnum):
    DIRECT_MEDIA = "direct_media"
    HOSTING_PAGE = "hosting_page"
    OTHER = "other"


@dataclass(frozen=True)
class ClassifiedUrl:
    url: str
    kind: UrlKind
    service: str | None = None  # the hosting service's name, for HOSTING_PAGE


def _host(url: str) -> str:
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".").lower()


def _extension(url: str) -> str:
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return ""
    last = unquote(path.rstrip("/").rsplit("/", 1)[-1])
    if "." not in last:
        return ""
    return last.rsplit(".", 1)[-1].strip().lower()


def _hosting_service(host: str) -> str | None:
    for domain, service in _HOSTING_DOMAINS:
        if host == domain or host.endswith("." + domain):
            return service
    return None


def _is_vimeo_file_link(host: str, url: str) -> bool:
    """Vimeo's own direct-file links (paid plans): player.vimeo.com/external/….mp4 and
    player.vimeo.com/progressive_redirect/….mp4 redirect to the file itself."""
    if host != "player.vimeo.com":
        return False
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return False
    return path.startswith(("/external/", "/progressive_redirect/"))


def classify_url(url: str) -> ClassifiedUrl:
    """DIRECT_MEDIA by the path's extension; HOSTING_PAGE by host (a page, even one whose path
    ends in `.mp4`, such as a Dropbox share link); OTHER for the rest and for non-http(s).

    Exception: Vimeo's direct-file links (`player.vimeo.com/external/…`, `/progressive_redirect/…`)
    with a media extension are DIRECT_MEDIA."""
    if not is_http_url(url.strip()):
        return ClassifiedUrl(url, UrlKind.OTHER)
    host = _host(url)
    is_media = _extension(url) in DIRECT_MEDIA_EXTENSIONS
    if is_media and _is_vimeo_file_link(host, url):
        return ClassifiedUrl(url, UrlKind.DIRECT_MEDIA)
    service = _hosting_service(host)
    if service is not None:
        return ClassifiedUrl(url, UrlKind.HOSTING_PAGE, service)
    if is_media:
        return ClassifiedUrl(url, UrlKind.DIRECT_MEDIA)
    return ClassifiedUrl(url, UrlKind.OTHER)


def filename_from_url(url: str) -> str:
    """The last path segment, URL-decoded; else the host; else "video"."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "video"
    segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
    name = unquote(segment).strip()
    if name:
        return name
    return (parts.hostname or "").rstrip(".") or "video"
