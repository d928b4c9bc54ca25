"""All settings, read from the environment or a `.env` file (DESIGN.md holds the contract)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# This module imports nothing from bot.*: every other module may import it.

# The words GIST_DEFAULT_TYPES accepts, to their canonical names (the values of
# bot.gist.models.GistType). The same table as bot.gist.vocabulary.TYPE_WORDS, repeated here so
# settings stay a leaf; tests/test_settings.py checks the two agree.
TYPE_NAMES: dict[str, str] = {
    "title": "title",
    "titles": "title",
    "topic": "topic",
    "topics": "topic",
    "hashtag": "hashtag",
    "hashtags": "hashtag",
    "tag": "hashtag",
    "tags": "hashtag",
}

SEARCH_OPTIONS = ("visual", "audio", "transcription")  # as TwelveLabs names them

DEFAULT_PROMPT = (
    "Watch the whole video and describe what it is about for a team that reviews video content. "
    "Answer in the language spoken in the video, or English if there is no speech. "
    "{instructions}"
)


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


class SettingsError(Exception):
    """Raised with one message naming every problem with the configuration."""


class TwelveLabsSettings(BaseSettings):
    """What `gistbot gist` needs: TwelveLabs access and the analysis choices."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    twelvelabs_api_key: SecretStr = Field(min_length=1)
    twelvelabs_base_url: str = "https://api.twelvelabs.io/v1.3"
    gist_model: Literal["pegasus1.5", "pegasus1.6"] = "pegasus1.5"
    gist_prompt: str = DEFAULT_PROMPT
    gist_max_tokens: int = Field(default=2048, ge=512, le=98304)
    gist_temperature: float = Field(default=0.2, ge=0.0, le=1.0)
    gist_default_types: CsvList = Field(default_factory=lambda: ["title", "topic", "hashtag"])
    gist_index_enabled: bool = True
    gist_index_name: str = Field(default="gistbot", min_length=1)
    # Search: what TwelveLabs matches (visual, audio = non-speech sound, transcription = spoken
    # words), and how often a busy answer (429) is retried before the person is told so.
    gist_search_options: CsvList = Field(
        default_factory=lambda: ["visual", "audio", "transcription"]
    )
    gist_search_max_retries: int = Field(default=2, ge=0, le=10)
    gist_asset_timeout_s: float = Field(default=1800.0, gt=0)
    gist_analysis_timeout_s: float = Field(default=1800.0, gt=0)
    gist_poll_initial_s: float = Field(default=1.0, gt=0)
    gist_poll_max_interval_s: float = Field(default=10.0, gt=0)
    twelvelabs_max_retries: int = Field(default=5, ge=0, le=20)
    twelvelabs_backoff_initial_s: float = Field(default=0.5, gt=0)

    @field_validator("gist_default_types", mode="before")
    @classmethod
    def _split_types(cls, value: Any) -> Any:
        return _csv(value)

    @field_validator("gist_default_types")
    @classmethod
    def _check_types(cls, value: list[str]) -> list[str]:
        names = [TYPE_NAMES.get(v.lower()) for v in value]
        if not names or None in names:
            raise ValueError("use a comma list of title, topics, hashtags")
        return list(dict.fromkeys(n for n in names if n))  # canonical, no repeats

    @field_validator("gist_search_options", mode="before")
    @classmethod
    def _split_search_options(cls, value: Any) -> Any:
        return _csv(value)

    @field_validator("gist_search_options")
    @classmethod
    def _check_search_options(cls, value: list[str]) -> list[str]:
        options = [v.lower() for v in value]
        if not options or not set(options) <= set(SEARCH_OPTIONS):
            raise ValueError("use a comma list of visual, audio, transcription")
        return list(dict.fromkeys(options))

    @field_validator("twelvelabs_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("gist_prompt")
    @classmethod
    def _check_prompt(cls, value: str) -> str:
        if "{instructions}" not in value:
            raise ValueError("must contain the placeholder {instructions}")
        return value


class StoreSettings(BaseSettings):
    """Where the job store is: what `gistbot run` and `gistbot search` (for titles) read."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    gist_db_path: Path = Path("gistbot.sqlite3")
    gist_database_url: str | None = None  # postgresql://…: state in PostgreSQL, for replicas

    @field_validator("gist_database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if urlsplit(value).scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL (unset: the SQLite file GIST_DB_PATH)")
        return value

    @field_validator("gist_db_path")
    @classmethod
    def _check_db_path(cls, value: Path) -> Path:
        if _is_dir(value):
            raise ValueError(f"{value} is a folder; give the path of the database file")
        _check_folder(value.parent)
        return value


class Settings(TwelveLabsSettings, StoreSettings):
    """Everything `gistbot run` needs on top of the TwelveLabs settings."""

    slack_bot_token: SecretStr = Field(min_length=1)
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_file_hosts: CsvList = Field(default_factory=lambda: ["files.slack.com"])
    slack_max_retries: int = Field(default=4, ge=0, le=20)
    slack_backoff_initial_s: float = Field(default=0.5, gt=0)
    port: int = Field(default=3000, ge=0, le=65535)
    host: str = "0.0.0.0"
    # Set: POST /twelvelabs/webhook takes TwelveLabs' signed events (a hint to read a task now).
    twelvelabs_webhook_secret: SecretStr | None = None

    # Jobs
    gist_lease_s: float = Field(default=30.0, gt=0)  # a replica's claim on a job, unrenewed
    gist_max_concurrent_uploads: int = Field(default=2, ge=1, le=64)
    gist_max_concurrent_analyses: int = Field(default=64, ge=1, le=256)
    gist_job_timeout_s: float = Field(default=3600.0, gt=0)
    # A computed gist (or an error notice) keeps being delivered this long, across restarts.
    gist_delivery_timeout_s: float = Field(default=6 * 3600.0, gt=0)
    gist_retry_initial_s: float = Field(default=1.0, gt=0)
    gist_retry_max_interval_s: float = Field(default=60.0, gt=0)
    gist_shutdown_grace_s: float = Field(default=10.0, ge=0)
    gist_progress_interval_s: float = Field(default=5.0, ge=0)
    gist_max_videos_per_message: int = Field(default=3, ge=1, le=20)
    gist_cache_ttl_s: float = Field(default=30 * 24 * 3600.0, ge=0)
    gist_tmp_dir: Path | None = None

    # Cost guardrails (off or generous by default)
    gist_passive_channels: CsvList = Field(default_factory=list)  # empty: every channel
    gist_passive_enabled: bool = True
    gist_allowed_channels: CsvList = Field(default_factory=list)  # empty: any channel
    gist_user_daily_minutes: float | None = Field(default=None, gt=0)
    gist_team_daily_minutes: float | None = Field(default=None, gt=0)
    gist_max_video_minutes: float = Field(default=120.0, gt=0)  # analysis limit is 2 h
    gist_min_video_seconds: float = Field(default=4.0, ge=0)  # analysis needs ≥ 4 s
    gist_max_file_mb: float = Field(default=2048.0, gt=0)
    gist_allow_private_urls: bool = False
    gist_admin_channel: str | None = None  # where API-key problems are reported
    # Search: how long who-is-in-which-conversation answers from Slack are reused.
    gist_search_membership_ttl_s: float = Field(default=60.0, ge=0, le=3600)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator(
        "slack_file_hosts", "gist_passive_channels", "gist_allowed_channels", mode="before"
    )
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _csv(value)

    @field_validator("slack_api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        value = _check_http_url(value)
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_bot_token")
    @classmethod
    def _check_bot_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _check_app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("twelvelabs_webhook_secret")
    @classmethod
    def _blank_secret_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("gist_tmp_dir")
    @classmethod
    def _check_tmp_dir(cls, value: Path | None) -> Path | None:
        if value is not None:
            _check_folder(value)
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem_at_once(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Report the mode problem together with the field problems: an "after" validator
        would only run once every field is valid, so a user would learn of it on a second try."""
        extra = _mode_problems(data)
        try:
            settings = handler(data)
        except ValidationError as exc:
            errors: list[Any] = [*exc.errors(), *extra]
            raise ValidationError.from_exception_data(exc.title, errors) from None
        if extra:
            raise ValidationError.from_exception_data(cls.__name__, extra)
        return settings

    @property
    def tmp_dir(self) -> Path:
        """Where Slack uploads are streamed before upload."""
        return self.gist_tmp_dir or Path(tempfile.gettempdir()) / "gistbot"

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def max_file_bytes(self) -> int:
        return int(self.gist_max_file_mb * 1024 * 1024)


def _given(value: Any) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return isinstance(value, str) and bool(value.strip())


def _mode_problems(data: Any) -> list[InitErrorDetails]:
    if not isinstance(data, dict):
        return []
    if _given(data.get("slack_app_token")) or _given(data.get("slack_signing_secret")):
        return []
    message = "HTTP mode needs SLACK_SIGNING_SECRET; Socket Mode needs SLACK_APP_TOKEN: set one"
    return [{"type": PydanticCustomError("mode", message), "loc": (), "input": None}]


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _check_folder(folder: Path) -> None:
    """Raise ValueError unless `folder` exists as a writable folder or could be created:
    its nearest existing ancestor must be a folder this user may write to. No side effects;
    `prepare_folders` creates them when the app starts."""
    probe = folder.absolute()
    try:
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
    except OSError as exc:
        raise ValueError(f"the folder {folder} can't be used: {exc.strerror}") from None
    if not probe.is_dir():
        raise ValueError(f"the folder {folder} can't be created: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "used" if probe == folder.absolute() else "created"
        raise ValueError(
            f"the folder {folder} can't be {what}: this user (uid {os.getuid()}) "
            f"may not write to {probe}"
        )


def prepare_folders(settings: Settings) -> list[str]:
    """Create the database and temp folders; one line per problem (empty: all usable).

    The validators only reason about permissions; this really creates the folders and a file
    in each, which is what counts (root, read-only mounts, full disks)."""
    problems: list[str] = []
    for name, folder in (
        ("GIST_DB_PATH", settings.gist_db_path.parent),
        ("GIST_TMP_DIR", settings.tmp_dir),
    ):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            problems.append(f"  - {name}: the folder {folder} is not usable: {exc.strerror}")
    if problems:
        problems.insert(0, _HEADER)
    return problems


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


_HEADER = "gistbot cannot start: the configuration has problems (environment or .env):"


def format_errors(exc: ValidationError) -> str:
    """One line per problem, naming the environment variable and how to fix it. Never the
    value itself: it may be a secret."""
    lines = [_HEADER]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        message = err["msg"].removeprefix("Value error, ")
        if not loc:
            lines.append(f"  - {message}")
            continue
        name = loc[0].upper()
        if err["type"] == "missing":
            message = f"is required: set {name} in the environment or in .env"
        lines.append(f"  - {name}: {message}")
    return "\n".join(lines)


def load(kind: type[BaseSettings] = Settings, **overrides: Any) -> Any:
    """Build settings or raise SettingsError with every problem in one message."""
    try:
        return kind(**overrides)
    except ValidationError as exc:
        raise SettingsError(format_errors(exc)) from None
