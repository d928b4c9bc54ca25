"""What went wrong, in words a Slack user (or an admin) can act on."""

from __future__ import annotations

from bot.twelvelabs import errors as tl


class GistFailure(Exception):
    """A request that ended without a gist. `code` is stable (logs, tests, metrics)."""

    def __init__(
        self,
        code: str,
        headline: str,
        detail: str,
        *,
        retryable: bool,
        admin: bool = False,
    ) -> None:
        super().__init__(f"{code}: {headline}")
        self.code = code
        self.headline = headline
        self.detail = detail
        self.retryable = retryable
        self.admin = admin  # the fix is an admin's (bad key), not the user's


def explain(exc: BaseException) -> GistFailure:
    """Map any exception from the pipeline to a GistFailure; unknown ones become 'internal'."""
    if isinstance(exc, GistFailure):
        return exc
    if isinstance(exc, tl.AuthenticationError):
        return GistFailure(
            "api_key",
            "gistbot can't reach TwelveLabs right now",
            "Its API key was refused. An admin has been told; try again once it is fixed.",
            retryable=True,
            admin=True,
        )
    if isinstance(exc, tl.PermissionDeniedError):
        return GistFailure(
            "api_permission",
            "TwelveLabs refused this request",
            "The account's plan or permissions don't allow it. An admin has been told.",
            retryable=True,
            admin=True,
        )
    if isinstance(exc, tl.RateLimitedError):
        return GistFailure(
            "rate_limited",
            "TwelveLabs is busy",
            "It asked us to slow down and kept refusing. Try again in a few minutes.",
            retryable=True,
        )
    if isinstance(exc, tl.AssetFailed):
        return GistFailure(
            "video_unreadable",
            "TwelveLabs couldn't read this video",
            f"{_short(exc.message)} Check that the link or file is a playable video.",
            retryable=False,
        )
    if isinstance(exc, tl.AnalysisFailed):
        msg = exc.message or "The analysis failed."
        low = msg.lower()
        if "duration" in low or "too long" in low or "too short" in low:
            return GistFailure(
                "video_duration",
                "This video's length isn't supported",
                f"{_short(msg)} Videos must be between 4 seconds and 2 hours.",
                retryable=False,
            )
        return GistFailure("analysis_failed", "The analysis failed", _short(msg), retryable=True)
    if isinstance(exc, tl.PollTimeout):
        return GistFailure(
            "timeout",
            "This is taking too long",
            "TwelveLabs hasn't finished in time. Try again later.",
            retryable=True,
        )
    if isinstance(exc, tl.BadRequestError):
        return GistFailure(
            "rejected",
            "TwelveLabs rejected this video",
            _short(exc.message or "The request was refused."),
            retryable=False,
        )
    if isinstance(exc, tl.NotFoundError):
        return GistFailure(
            "not_found",
            "TwelveLabs lost track of this video",
            "Try again; it will be uploaded anew.",
            retryable=True,
        )
    if isinstance(exc, tl.TwelveLabsError):  # server errors, transport errors
        return GistFailure(
            "unavailable",
            "TwelveLabs is having trouble",
            "Its service kept failing. Try again in a few minutes.",
            retryable=True,
        )
    return GistFailure(
        "internal",
        "Something went wrong on our side",
        "The error was logged. Try again; if it keeps happening, tell your admin.",
        retryable=True,
    )


def _short(text: str | None, limit: int = 300) -> str:
    text = (text or "").strip()
    if not text:
        return ""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text if text.endswith((".", "!", "?", "…")) else text + "."
