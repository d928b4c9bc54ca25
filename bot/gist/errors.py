"""What went wrong, as a stable code whose words live in `bot.messages`."""

from __future__ import annotations

from bot import messages
from bot.twelvelabs import errors as tl


class GistFailure(Exception):
    """A request that ended without a gist. `code` is stable (logs, tests, metrics); the text
    people see comes from the catalogue, with `fields` filled into its `{placeholders}`."""

    def __init__(self, code: str, *, transient: bool = False, **fields: object) -> None:
        self.code = code
        self.transient = transient  # the cause may go away: the job tries the step again
        self.fields = fields
        self.text = messages.failure_text(code)
        super().__init__(f"{code}: {self.headline}")

    @classmethod
    def restore(cls, code: str, fields: dict[str, str]) -> GistFailure:
        """A failure saved on a job (code and fields), to show after a restart."""
        failure = cls(code)
        failure.fields = dict(fields)
        return failure

    @property
    def headline(self) -> str:
        return self.text.headline

    @property
    def detail(self) -> str:
        return _fill(self.text.detail, self.fields)

    @property
    def cli_detail(self) -> str:
        return _fill(self.text.cli, self.fields) if self.text.cli else self.detail

    @property
    def retryable(self) -> bool:
        return self.text.retry_helps

    @property
    def admin(self) -> bool:
        """The fix is an admin's (bad key), not the user's."""
        return self.text.alert_admin

    @property
    def audience(self) -> messages.Audience:
        return self.text.audience


def _fill(template: str, fields: dict[str, object]) -> str:
    try:
        return template.format(**fields).strip()
    except (KeyError, IndexError):  # a missing field must never hide the failure itself
        return template.replace("{", "").replace("}", "")


def explain(exc: BaseException) -> GistFailure:
    """Map any exception from the pipeline to a GistFailure; unknown ones become 'internal'."""
    if isinstance(exc, GistFailure):
        return exc
    if isinstance(exc, tl.TwelveLabsError):
        return _explain_twelvelabs(exc)
    return GistFailure("internal")


def _explain_twelvelabs(exc: tl.TwelveLabsError) -> GistFailure:
    if isinstance(exc, tl.AuthenticationError):
        return GistFailure("api_key")
    if isinstance(exc, tl.PermissionDeniedError):
        return GistFailure("api_permission")
    if isinstance(exc, tl.RateLimitedError):
        return GistFailure("rate_limited")
    if isinstance(exc, tl.AssetFailed):
        return GistFailure("video_unreadable", reason=short(exc.message))
    if isinstance(exc, tl.AnalysisFailed):
        msg = exc.message or "The analysis failed."
        low = msg.lower()
        if "duration" in low or "too long" in low or "too short" in low:
            return GistFailure("video_duration", reason=short(msg))
        return GistFailure("analysis_failed", reason=short(msg))
    if isinstance(exc, tl.PollTimeout):
        return GistFailure("timeout")
    if isinstance(exc, tl.ConfigurationError):  # the base URL doesn't point at the API
        return GistFailure("config_base_url")
    if isinstance(exc, tl.BadRequestError):
        return GistFailure("rejected", reason=short(exc.message or "The request was refused."))
    if isinstance(exc, tl.NotFoundError):
        return GistFailure("not_found")
    return GistFailure("unavailable")  # server errors, transport errors


def short(text: str | None, limit: int = 300) -> str:
    text = (text or "").strip()
    if not text:
        return ""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text if text.endswith((".", "!", "?", "…")) else text + "."
