"""The platform fetching a video from a URL (URL assets, analysis of a URL): follow redirects,
stream to disk, hash, cap the size."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import aiohttp

READ_BLOCK = 1 << 20


@dataclass
class Fetched:
    path: Path | None
    size: int
    sha256: str
    error: str | None
    filename: str
    content_type: str | None


def url_filename(url: str) -> str:
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return name or "video"


async def fetch_url(session: aiohttp.ClientSession, url: str, path: Path, limit: int) -> Fetched:
    """GET `url` into `path` (at most `limit` bytes); never raises for the URL's faults."""
    digest = hashlib.sha256()
    size = 0
    name = url_filename(url)
    try:
        async with session.get(url, allow_redirects=True, max_redirects=10) as resp:
            if not 200 <= resp.status < 300:
                return Fetched(
                    None,
                    0,
                    "",
                    f"The platform could not download the file from the URL (HTTP {resp.status}).",
                    name,
                    None,
                )
            name = url_filename(str(resp.url)) if name == "video" else name
            with path.open("wb") as out:
                async for data in resp.content.iter_chunked(READ_BLOCK):
                    size += len(data)
                    if size > limit:
                        raise ValueError("too large")
                    out.write(data)
                    digest.update(data)
            ctype = resp.headers.get("Content-Type")
    except ValueError:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        return Fetched(None, size, "", "The file at the URL exceeds the 4 GB limit.", name, None)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        reason = str(exc) or type(exc).__name__
        return Fetched(None, 0, "", f"The platform could not access the URL: {reason}.", name, None)
    return Fetched(path, size, digest.hexdigest(), None, name, ctype)
