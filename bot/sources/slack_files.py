"""Stream a Slack upload (`url_private_download`) to a temporary file, safely.

Token rules
-----------
The bot token (``Authorization: Bearer …``) goes only to hosts in ``allowed_hosts``
(``SLACK_FILE_HOSTS``). Matching is on the host name, exact and case-insensitive (a trailing dot
is ignored; no wildcards). An entry may carry a port — ``127.0.0.1:8123`` or ``[::1]:8123`` —
and then matches only that port; an entry without a port matches the host on any port. An entry
written as a URL (``https://files.slack.com``) is accepted and reduced to its host[:port].

Redirects are followed by hand (``follow_redirects=False``), at most ``max_redirects`` hops, and
every hop is re-checked:

* the first URL's host must be allowed, else ``forbidden_host`` and nothing is sent;
* a hop to an allowed host keeps the token, unless it downgrades ``https`` to ``http``;
* a hop to any other host is followed **without** the token, and from then on the token is never
  sent again in that chain (a host outside the list can't steer the token anywhere);
* if a token-less hop ends in a sign-in page or 401/403 the error is ``forbidden_host``: the
  file lives on a host that isn't in ``SLACK_FILE_HOSTS``.

Any ``Authorization`` header the caller's client carries by default is removed from requests
that must not hold the token, and client-level ``auth`` is disabled for these requests.

Body rules
----------
The body is written in ``chunk_size`` pieces to a ``mkstemp`` file in ``dest_dir``; each write
and SHA-256 update runs in a worker thread (``asyncio.to_thread``), so the event loop never
blocks on disk and memory stays bounded by a couple of chunks. ``max_bytes`` is enforced while
streaming and, earlier, against ``Content-Length``, ``Content-Range`` and ``expected_size``. A
body that is HTML (by ``Content-Type`` or by its first bytes) is Slack's sign-in page — what
Slack sends, with HTTP 200, when the token is missing or lacks ``files:read``. On every error
the partial file is removed. ``Accept-Encoding: identity`` is requested so byte counts are the
file's own.

Retries
-------
A transient failure (`DownloadError.transient`: HTTP 408/429/500/502/503/504, a connect or read
timeout, a dropped connection, a body shorter or longer than announced) is tried again after an
exponential, fully jittered wait (`Backoff`), or after the host's ``Retry-After``. The whole
chain is walked again from the original URL (a CDN link may have expired), and a try that
already holds bytes asks for the rest with ``Range: bytes=N-`` (plus ``If-Range`` when the first
answer carried a strong ``ETag``):

* ``206`` whose ``Content-Range`` starts at N and agrees with the sizes known so far: the body
  is appended and the SHA-256 continues from its saved state;
* ``200`` (the host ignored Range, or the file changed): the file and hash start over;
* ``416`` or a ``206`` that doesn't fit: the file starts over at once, without Range, and this
  one re-request doesn't count as a try.

``progress`` never goes backwards: bytes fetched again after a start-over aren't reported until
they pass the highest count already reported. The budget is ``max_attempts`` tries in all and,
optionally, ``retry_deadline`` (a ``clock()`` time, monotonic by default): a wait that would
end past it, or a ``Retry-After`` longer than ``Backoff.retry_after_max_s``, isn't taken. Then
the last transient error is raised, with ``attempts`` set.

Logging names the host and path only — never the token, never the query string.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from bot.sources.download_errors import (
    BytesCb,
    DownloadedFile,
    DownloadError,
    DownloadErrorKind,
    too_large,
)
from bot.sources.download_retry import Backoff, Sleep
from bot.sources.partial_file import PartialFile
from bot.sources.slack_transfer import (
    HostAllowlist,
    RangeRefused,
    Transfer,
    looks_like_html,
    where,
)

__all__ = [
    "DEFAULT_BACKOFF",
    "Backoff",
    "BytesCb",
    "DownloadError",
    "DownloadErrorKind",
    "DownloadedFile",
    "HostAllowlist",
    "download_slack_file",
    "looks_like_html",
]

logger = logging.getLogger(__name__)

DEFAULT_BACKOFF = Backoff()


def _first_url(url: str, allowlist: HostAllowlist) -> httpx.URL:
    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise DownloadError("forbidden_host", "The file link from Slack isn't valid.") from exc
    if current.scheme not in ("http", "https") or not current.host:
        raise DownloadError("forbidden_host", "The file link from Slack isn't an http(s) link.")
    if not allowlist.allows(current):
        logger.warning("refusing file download from non-allowed host %s", where(current))
        raise DownloadError(
            "forbidden_host",
            f"The file is on {current.host}, which isn't on the app's list of Slack file hosts. "
            "An admin can add it to SLACK_FILE_HOSTS.",
        )
    return current


async def download_slack_file(
    url: str,
    *,
    token: str,
    allowed_hosts: Sequence[str],
    dest_dir: Path,
    max_bytes: int,
    http: httpx.AsyncClient,
    expected_size: int | None = None,
    progress: BytesCb | None = None,
    max_redirects: int = 5,
    chunk_size: int = 1 << 20,
    max_attempts: int = 5,
    retry_deadline: float | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DownloadedFile:
    """Download a Slack file to a new temporary file in `dest_dir`; the caller deletes it.

    Raises `DownloadError`. Transient failures are retried within the budget (`max_attempts`
    tries in all; no new try would start waiting past `retry_deadline`, a `clock()` time), each
    wait awaited through `sleep`. `progress(bytes_so_far, total_or_None)` is awaited after every
    chunk (throttle in the callback if it talks to Slack). `OSError` from the local disk
    propagates.
    """
    if expected_size is not None and expected_size > max_bytes:
        raise too_large(max_bytes)
    allowlist = HostAllowlist(allowed_hosts)
    transfer = Transfer(
        url=_first_url(url, allowlist),
        token=token,
        allowlist=allowlist,
        http=http,
        sink=PartialFile(dest_dir),
        max_bytes=max_bytes,
        expected_size=expected_size,
        progress=progress,
        max_redirects=max_redirects,
        chunk_size=chunk_size,
    )
    try:
        return await _retrying(
            transfer, max_attempts, retry_deadline, backoff=backoff, sleep=sleep, clock=clock
        )
    except BaseException:
        transfer.sink.discard()
        raise


async def _retrying(
    transfer: Transfer,
    max_attempts: int,
    deadline: float | None,
    *,
    backoff: Backoff,
    sleep: Sleep,
    clock: Callable[[], float],
) -> DownloadedFile:
    failures = 0
    while True:
        try:
            return await transfer.attempt()
        except RangeRefused as exc:
            # Once without Range this can't happen again, so it needn't count against the budget.
            logger.warning("resume of %s refused (%s); starting over", where(transfer.url), exc)
            transfer.use_range = False
            await transfer.sink.restart()
            continue
        except DownloadError as exc:
            exc.attempts = transfer.tries
            if not exc.transient:
                raise
            failures += 1
            delay = backoff.delay(failures - 1, exc.retry_after)
            if (
                failures >= max_attempts
                or delay is None
                or (deadline is not None and clock() + delay > deadline)
            ):
                logger.warning(
                    "giving up on %s after %d tries: %s",
                    where(transfer.url),
                    transfer.tries,
                    exc.kind,
                )
                raise
            logger.info(
                "retrying %s in %.2fs after %s (%d bytes kept)",
                where(transfer.url),
                delay,
                exc,
                transfer.sink.size,
            )
        await sleep(delay)
