"""Real, small video files for tests, made with the ffmpeg binary that ships in `imageio-ffmpeg`.

`make_video()` renders an H.264 mp4 (lavfi `testsrc`, `+faststart` so `moov/mvhd` sits near the
start) once per parameter set per session and hands out copies; `make_padded_video()` appends
streamed padding to a valid mp4 to reach any size (e.g. 1 GiB) without holding it in memory.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import imageio_ffmpeg

_lock = threading.Lock()
_cache_dir: Path | None = None


def _session_dir() -> Path:
    global _cache_dir
    if _cache_dir is None:
        _cache_dir = Path(tempfile.mkdtemp(prefix="gistbot-videos-"))
        atexit.register(shutil.rmtree, _cache_dir, True)
    return _cache_dir


def _render(out: Path, seconds: float, width: int, height: int, fps: int) -> None:
    tmp = out.with_name(out.name + ".part.mp4")
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        str(tmp),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not tmp.exists():
        raise RuntimeError(f"ffmpeg failed ({done.returncode}): {done.stderr.strip()}")
    os.replace(tmp, out)


def make_video(
    seconds: float = 5.0,
    *,
    width: int = 360,
    height: int = 360,
    fps: int = 2,
    name: str = "clip.mp4",
    directory: Path | None = None,
) -> Path:
    """Return a path to a real H.264 mp4 called `name`.

    With `directory`, the file is a fresh copy there (safe to modify). Without it, the file lives
    in a per-session cache shared by all callers asking for the same parameters and name: treat
    it as read-only.
    """
    key = f"{seconds:g}s-{width}x{height}-{fps}fps"
    with _lock:
        base = _session_dir()
        master = base / f"{key}.mp4"
        if not master.exists():
            _render(master, seconds, width, height, fps)
        if directory is None:
            target = base / key / name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(master, target)
            return target
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    shutil.copyfile(master, target)
    return target


def make_padded_video(path: Path, total_bytes: int, seconds: float = 5.0) -> Path:
    """Write a valid small mp4 followed by pseudo-random padding, `total_bytes` in all.

    Streams in 1 MiB blocks (each block distinct), so memory stays small for any size.
    """
    source = make_video(seconds)
    head = source.read_bytes()
    if total_bytes < len(head):
        raise ValueError(f"total_bytes must be at least {len(head)} (the video itself)")
    block = bytearray(os.urandom(1 << 20))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(head)
        remaining = total_bytes - len(head)
        counter = 0
        while remaining > 0:
            block[:8] = counter.to_bytes(8, "big")
            n = min(remaining, len(block))
            out.write(block[:n] if n < len(block) else block)
            remaining -= n
            counter += 1
    return path
