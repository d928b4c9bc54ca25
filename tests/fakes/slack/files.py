"""``files.info``, and the file host: private and download URLs (bot token required, else the
login page), the CDN hop of redirecting files, thumbnails, ``Range`` requests, and the faults a
test can queue on downloads (failed answers, connections cut mid-body)."""

from __future__ import annotations

import collections
import os
import time
from dataclasses import replace
from urllib.parse import quote

from aiohttp import web

from tests.fakes.base import Route
from tests.fakes.chaos import Injected

from . import chaos as faults
from .core import ApiMethod, SlackCore, SlackError, pop_first
from .file_objects import FILE_MODES, FakeFile, Unsatisfiable, content_size, requested_range
from .models import Download, JSONDict

_LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en-US" class="supports_custom_scrollbar">
<head>
<meta charset="utf-8">
<title>Slack</title>
<meta name="robots" content="noindex,nofollow">
</head>
<body class="full_height">
<div id="page"><div id="page_contents">
<h1>Sign in to {team}</h1>
<p class="medium_bottom_margin">{domain}.slack.com</p>
<form id="signin_form" action="/" method="post" accept-charset="UTF-8">
<input type="email" name="email" placeholder="you@example.com">
<input type="password" name="password" placeholder="password">
<button type="submit" id="signin_btn">Sign in</button>
</form>
</div></div>
</body>
</html>
"""


def _not_found() -> web.Response:
    return web.Response(
        status=404, text="<html><body>Not Found</body></html>", content_type="text/html"
    )


class FilesApi(SlackCore):
    def _files_methods(self) -> dict[str, ApiMethod]:
        return {"files.info": self._files_info}

    def _file_routes(self) -> list[Route]:
        return [
            ("GET", "/files-pri/{stem}/download/{name}", self._handle_private_file),
            ("GET", "/files-pri/{stem}/{name}", self._handle_private_file),
            ("GET", "/files-edge/{stem}/{secret}/{name}", self._handle_edge_file),
            ("GET", "/files-tmb/{stem}/{name}", self._handle_thumb),
        ]

    # ------------------------------------------------------------------ setup and inspection

    def add_file(
        self,
        name: str,
        content: bytes | os.PathLike[str],
        *,
        mimetype: str = "video/mp4",
        filetype: str = "mp4",
        mode: str = "hosted",
        channel: str | None = None,
        redirect: bool = False,
        duration_ms: int | None = None,
        user: str = "U123",
        title: str | None = None,
    ) -> JSONDict:
        """Register a file; return its object as it appears in a message event's ``files[]``.

        ``content`` may be bytes, or a path whose bytes are streamed from disk.
        """
        if mode not in FILE_MODES:
            raise ValueError(f"mode must be one of {FILE_MODES}, not {mode!r}")
        data, size = content_size(content)
        with self._lock:
            file_id = f"F{next(self._file_seq):010d}"
            f = FakeFile(
                id=file_id,
                team_id=self.team_id,
                name=name,
                title=title if title is not None else name,
                mimetype=mimetype,
                filetype=filetype,
                mode=mode,
                user=user,
                channel=channel,
                content=data,
                size=size,
                redirect=redirect,
                duration_ms=duration_ms,
                created=int(time.time()),
            )
            self._files[file_id] = f
            return f.event_object(self.base_url)

    def file_info(self, file_id: str) -> JSONDict:
        """The full file object (what ``files.info`` returns for a live file)."""
        with self._lock:
            return self._files[file_id].info_object(self.base_url)

    def delete_file(self, file_id: str) -> None:
        """Delete a file: downloads then answer 404 and ``files.info`` ``file_deleted``."""
        with self._lock:
            self._files[file_id].deleted = True

    def break_download(self, file_id: str, after_bytes: int = 0, times: int = 1) -> None:
        """The next ``times`` answers carrying bytes of ``file_id`` drop the connection after
        ``after_bytes`` body bytes (of that answer: a resumed one counts from its range start)."""
        with self._lock:
            queue = self._broken_downloads.setdefault(file_id, collections.deque())
            queue.extend([after_bytes] * times)

    def fail_download(
        self, file_id: str, times: int = 1, status: int = 503, retry_after: int | None = None
    ) -> None:
        """The next ``times`` requests for ``file_id``'s bytes (the hop that would send them)
        answer HTTP ``status``, with ``Retry-After`` when ``retry_after`` is given."""
        with self._lock:
            queue = self._failed_downloads.setdefault(file_id, collections.deque())
            queue.extend([(status, retry_after)] * times)

    def downloads(self, file_id: str | None = None) -> list[Download]:
        """GETs of file URLs (every hop, including the CDN edge), oldest first."""
        with self._lock:
            return [d for d in self._downloads if file_id is None or d.file_id == file_id]

    # ------------------------------------------------------------------ files.info

    def _files_info(self, params: JSONDict) -> JSONDict:
        file_id = params.get("file")
        f = self._files.get(file_id) if isinstance(file_id, str) else None
        if f is None:
            raise SlackError("file_not_found")
        if f.deleted or f.mode == "tombstone":
            raise SlackError("file_deleted")
        if f.channel is not None and f.channel in self.not_in_channel:
            raise SlackError("file_not_found")
        return {
            "file": f.info_object(self.base_url),
            "content": "",
            "is_truncated": False,
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    # ------------------------------------------------------------------ the file host

    def _login_page(self) -> web.Response:
        return web.Response(
            status=200,
            text=_LOGIN_PAGE.format(team=self.team_name, domain=self.team_domain),
            content_type="text/html",
            charset="utf-8",
        )

    def _record_download(
        self,
        request: web.Request,
        f: FakeFile | None,
        kind: str,
        status: int,
        ctype: str,
        *,
        chaos: str | None = None,
    ) -> int:
        """Record a file GET; return its index (for `_count_sent`)."""
        header = request.headers.get("Authorization")
        with self._lock:
            self._downloads.append(
                Download(
                    file_id=f.id if f is not None else "",
                    path=request.path,
                    host=request.host,
                    kind=kind,
                    authorization=header,
                    authorized=self._is_authorized(header),
                    status=status,
                    content_type=ctype,
                    time=time.time(),
                    range=request.headers.get("Range"),
                    chaos=chaos,
                )
            )
            return len(self._downloads) - 1

    def _count_sent(self, index: int, sent: int) -> None:
        with self._lock:
            if index < len(self._downloads):  # a reset() may have cleared the list meanwhile
                self._downloads[index] = replace(self._downloads[index], bytes_sent=sent)

    def _file_by_stem(self, stem: str) -> FakeFile | None:
        team, _, file_id = stem.partition("-")
        with self._lock:
            f = self._files.get(file_id)
        if f is None or team != f.team_id:
            return None
        return f

    async def _handle_private_file(self, request: web.Request) -> web.StreamResponse:
        kind = "download" if "/download/" in request.path else "private"
        f = self._file_by_stem(request.match_info["stem"])
        injected = self._chaos.pick(faults.FILE_ENDPOINT, faults.FILE_KINDS)
        if injected is not None and injected.kind == "5xx":
            self._record_download(request, f, kind, 503, "text/plain", chaos=injected.kind)
            return faults.gateway_error(503)
        if not self._is_authorized(request.headers.get("Authorization")):
            self._record_download(request, f, kind, 200, "text/html")
            return self._login_page()
        if f is None or f.deleted or f.mode in ("tombstone", "hidden_by_limit"):
            self._record_download(request, f, kind, 404, "text/html")
            return _not_found()
        if f.redirect:
            host = self.redirect_host or request.url.host or "127.0.0.1"
            location = (
                f"{request.scheme}://{host}:{self._port}/files-edge/{f.stem}/{f.secret}/"
                f"{quote(f.name)}"
            )
            self._record_download(request, f, kind, 302, "")
            raise web.HTTPFound(location)
        return await self._stream(request, f, kind, injected)

    async def _handle_edge_file(self, request: web.Request) -> web.StreamResponse:
        f = self._file_by_stem(request.match_info["stem"])
        injected = self._chaos.pick(faults.FILE_ENDPOINT, faults.FILE_KINDS)
        if injected is not None and injected.kind == "5xx":
            self._record_download(request, f, "edge", 503, "text/plain", chaos=injected.kind)
            return faults.gateway_error(503)
        if f is None or f.deleted or request.match_info["secret"] != f.secret:
            self._record_download(request, f, "edge", 404, "text/html")
            return _not_found()
        if self.edge_requires_auth and not self._is_authorized(
            request.headers.get("Authorization")
        ):
            self._record_download(request, f, "edge", 200, "text/html")
            return self._login_page()
        return await self._stream(request, f, "edge", injected)

    async def _handle_thumb(self, request: web.Request) -> web.StreamResponse:
        # A 1x1 JPEG-ish placeholder; only the auth behaviour matters.
        f = self._file_by_stem(request.match_info["stem"].rsplit("-", 1)[0])
        if not self._is_authorized(request.headers.get("Authorization")):
            self._record_download(request, f, "thumb", 200, "text/html")
            return self._login_page()
        if f is None or f.deleted:
            self._record_download(request, f, "thumb", 404, "text/html")
            return web.Response(status=404, text="Not Found", content_type="text/html")
        self._record_download(request, f, "thumb", 200, "image/jpeg")
        return web.Response(
            body=b"\xff\xd8\xff\xe0fake-thumbnail\xff\xd9", content_type="image/jpeg"
        )

    def _failure(self, request: web.Request, f: FakeFile, kind: str) -> web.Response | None:
        with self._lock:
            failure = pop_first(self._failed_downloads, f.id)
        if failure is None:
            return None
        status, retry_after = failure
        self._record_download(request, f, kind, status, "text/plain")
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return web.Response(status=status, text=f"fake failure {status}", headers=headers)

    async def _stream(
        self, request: web.Request, f: FakeFile, kind: str, injected: Injected | None = None
    ) -> web.StreamResponse:
        failed = self._failure(request, f, kind)
        if failed is not None:
            return failed
        try:
            span = None if self.ignore_range else requested_range(f, request.headers)
        except Unsatisfiable:
            self._record_download(request, f, kind, 416, "text/plain")
            return web.Response(status=416, headers={"Content-Range": f"bytes */{f.size}"})
        with self._lock:
            break_after = pop_first(self._broken_downloads, f.id)
        first, last = span if span is not None else (0, f.size - 1)
        cut = injected is not None and injected.kind == "mid-body" and request.method != "HEAD"
        if cut and break_after is None:
            assert injected is not None
            break_after = faults.cut_after(injected, last - first + 1)
        status = 200 if span is None else 206
        index = self._record_download(
            request, f, kind, status, f.mimetype, chaos="mid-body" if cut else None
        )
        response = web.StreamResponse(status=status, headers=self._file_headers(f, kind, span))
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        sent = 0
        for chunk in f.chunks(limit=break_after, start=first, end=last + 1):
            # Counted before the write: a client can read it all before write() returns.
            sent += len(chunk)
            self._count_sent(index, sent)
            await response.write(chunk)
        if break_after is not None:
            # Drop the connection mid-body: the client sees fewer bytes than Content-Length.
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response

    def _file_headers(self, f: FakeFile, kind: str, span: tuple[int, int] | None) -> dict[str, str]:
        first, last = span if span is not None else (0, f.size - 1)
        headers = {"Content-Type": f.mimetype, "Content-Length": str(last - first + 1)}
        if span is not None:
            headers["Content-Range"] = f"bytes {first}-{last}/{f.size}"
        if not self.ignore_range:
            headers["Accept-Ranges"] = "bytes"
        headers["ETag"] = f.etag
        disposition = "attachment" if kind == "download" else "inline"
        ascii_name = f.name.encode("ascii", "replace").decode().replace('"', "'")
        headers["Content-Disposition"] = (
            f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(f.name)}"
        )
        headers["Cache-Control"] = "private, no-cache"
        return headers
