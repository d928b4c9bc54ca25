"""The container sniffer: real files from ffmpeg for each container, and the look-alikes it
must refuse (text renamed .mp4, audio and images that share a container's magic)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from bot.sources.sniff import HEAD_BYTES, describe, sniff_container

# (file name, ffmpeg output options, expected container)
CONTAINERS = [
    ("a.mp4", ["-c:v", "libx264", "-preset", "ultrafast"], "mp4"),
    ("a.mov", ["-c:v", "libx264", "-preset", "ultrafast"], "mov"),
    ("a.3gp", ["-c:v", "h263", "-s", "176x144"], "3gp"),
    ("a.webm", ["-c:v", "libvpx", "-b:v", "100k"], "webm"),
    ("a.mkv", ["-c:v", "mpeg4"], "matroska"),
    ("a.avi", ["-c:v", "mpeg4"], "avi"),
    ("a.ts", ["-c:v", "mpeg2video"], "mpeg-ts"),
    ("a.flv", ["-c:v", "flv"], "flv"),
    ("a.wmv", ["-c:v", "wmv2"], "asf"),
    ("a.mpg", ["-c:v", "mpeg1video", "-r", "25", "-f", "mpeg"], "mpeg-ps"),
    ("a.m1v", ["-c:v", "mpeg1video", "-r", "25", "-f", "mpeg1video"], "mpeg"),
    ("a.ogv", ["-c:v", "libtheora"], "ogg"),
]


def _ffmpeg(
    out: Path, *options: str, source: str = "testsrc=size=176x144:rate=5:duration=1"
) -> Path:
    quiet = ["-hide_banner", "-loglevel", "error", "-y"]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), *quiet, "-f", "lavfi", "-i", source, *options, str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return out


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(HEAD_BYTES)


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sniff")


@pytest.mark.parametrize(("name", "options", "container"), CONTAINERS)
def test_real_videos_are_recognised(
    media_dir: Path, name: str, options: list[str], container: str
) -> None:
    video = _ffmpeg(media_dir / name, *options)
    assert sniff_container(_head(video)) == container


@pytest.mark.parametrize(
    ("name", "options", "what"),
    [
        ("a.wav", [], "an audio file (WAV)"),
        ("a.m4a", ["-c:a", "aac"], "an audio file (M4A)"),
        ("a.mp3", ["-c:a", "libmp3lame"], "an audio file (MP3)"),
        ("a.oga", ["-c:a", "libvorbis"], "an Ogg file without video (audio?)"),
    ],
)
def test_audio_in_video_like_containers_is_refused(
    media_dir: Path, name: str, options: list[str], what: str
) -> None:
    audio = _ffmpeg(media_dir / name, *options, source="sine=frequency=440:duration=1")
    head = _head(audio)
    assert sniff_container(head) is None
    assert describe(head) == what


def test_still_images_are_refused(media_dir: Path) -> None:
    png = _ffmpeg(media_dir / "a.png", "-frames:v", "1")
    jpg = _ffmpeg(media_dir / "a.jpg", "-frames:v", "1")
    assert sniff_container(_head(png)) is None and describe(_head(png)) == "an image (PNG)"
    assert sniff_container(_head(jpg)) is None and describe(_head(jpg)) == "an image (JPEG)"
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
    assert sniff_container(heic) is None and describe(heic) == "an image (HEIC)"


@pytest.mark.parametrize(
    ("head", "what"),
    [
        (b"meeting notes\nnext steps: ship it\n", "a text file"),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "a web page (HTML)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
        (b"", "an empty file"),
        (bytes(range(256)) * 4, "a file of an unknown kind"),
        # One "G" (the MPEG-TS sync byte) at the start is text, not a transport stream.
        (b"G" + b"ood morning " * 40, "a text file"),
    ],
)
def test_other_files_are_refused_and_described(head: bytes, what: str) -> None:
    assert sniff_container(head) is None
    assert describe(head) == what


def test_transport_stream_needs_every_sync_byte(media_dir: Path) -> None:
    ts = bytearray(_head(_ffmpeg(media_dir / "b.ts", "-c:v", "mpeg2video")))
    assert sniff_container(bytes(ts)) == "mpeg-ts"
    ts[188] = 0x00
    assert sniff_container(bytes(ts)) is None
