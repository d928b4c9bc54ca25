"""Transient or permanent: the one place that decides, for every transport gistbot uses.

Transient (worth trying again later, until the job's deadline):
- Slack Web API: HTTP 429 and 5xx, timeouts, connection errors, and the error codes
  `ratelimited`, `service_unavailable`, `fatal_error`, `internal_error`, `request_timeout`;
- TwelveLabs: 429, 5xx, transport errors (`TwelveLabsError.transient`), but not a polling
  deadline, which is a limit the operator set;
- Slack's file host: 5xx, 429, timeouts, dropped or short downloads (the download module says
  which of its failures those are, through `GistFailure.transient`).

Everything else is permanent: it ends the job with its message.
"""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError

from bot.gist.errors import GistFailure
from bot.twelvelabs import errors as tl

SLACK_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}
)
# Slack answers that mean nobody in that conversation can be told anything, ever.
SLACK_CHANNEL_GONE = frozenset(
    {
        "is_archived",
        "channel_not_found",
        "not_in_channel",
        "restricted_action",
        "team_access_not_granted",
    }
)


def slack_error_code(exc: SlackApiError) -> str:
    response = exc.response
    try:
        return str(response.get("error") or "")
    except Exception:  # a non-JSON answer: slack_sdk hands over the raw HTTP response
        return ""


def slack_status(exc: SlackApiError) -> int:
    response = exc.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return int(status) if isinstance(status, int) else 0


def is_transient_slack(exc: BaseException) -> bool:
    if isinstance(exc, SlackApiError):
        status = slack_status(exc)
        return status == 429 or status >= 500 or slack_error_code(exc) in SLACK_TRANSIENT_ERRORS
    return isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError)


def slack_never_sent(exc: BaseException) -> bool:
    """True when the failure proves Slack never saw the request (safe to send it again)."""
    if isinstance(exc, SlackApiError):
        return slack_status(exc) == 429 or slack_error_code(exc) == "ratelimited"
    return isinstance(exc, aiohttp.ClientConnectorError)


def is_channel_gone(exc: BaseException) -> bool:
    return isinstance(exc, SlackApiError) and slack_error_code(exc) in SLACK_CHANNEL_GONE


def is_transient(exc: BaseException) -> bool:
    """Worth trying the same step again later."""
    if isinstance(exc, GistFailure):
        return exc.transient
    if isinstance(exc, tl.PollTimeout):
        return False
    if isinstance(exc, tl.TwelveLabsError):
        return exc.transient
    if isinstance(exc, httpx.TransportError):
        return True
    return is_transient_slack(exc)
