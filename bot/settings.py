"""All settings, read from the environment or a `.env` file (DESIGN.md holds the contract)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.gist.models import GistType

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
    gist_default_types: CsvList = Field(default_factory=lambda: [t.value for t in GistType])
    gist_index_enabled: bool = True
    gist_index_name: str = Field(default="gistbot", min_length=1)
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
        valid = {t.value for t in GistType}
        bad = [v for v in value if v not in valid]
        if bad or not value:
            raise ValueError(f"use a comma list of {', '.join(sorted(valid))}")
        return value

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

    @property
    def default_types(self) -> frozenset[GistType]:
        return frozenset(GistType(v) for v in self.gist_default_types)


class Settings(TwelveLabsSettings):
    """Everything `gistbot run` needs on top of the TwelveLabs settings."""

    slack_bot_token: SecretStr = Field(min_length=1)
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_file_hosts: CsvList = Field(default_factory=lambda: ["files.slack.com"])
    port: int = Field(default=3000, ge=0, le=65535)
    host: str = "0.0.0.0"

    # Jobs
    gist_db_path: Path = Path("gistbot.sqlite3")
    gist_database_url: str | None = None  # postgresql://…: state in PostgreSQL, for replicas
    gist_lease_s: float = Field(default=30.0, gt=0)  # a replica's claim on a job, unrenewed
    gist_max_concurrent_uploads: int = Field(default=2, ge=1, le=64)
    gist_max_concurrent_analyses: int = Field(default=8, ge=1, le=256)
    gist_job_timeout_s: float = Field(default=3600.0, gt=0)
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

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator(
        "slack_file_hosts", "gist_passive_channels", "gist_allowed_channels", mode="before"
    )
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _csv(value)

    @field_validator("gist_database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if urlsplit(value).scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL (unset: the SQLite file GIST_DB_PATH)")
        return value

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

    @model_validator(mode="after")
    def _check_mode(self) -> Settings:
        if self.slack_app_token is None and not (
            self.slack_signing_secret and self.slack_signing_secret.get_secret_value()
        ):
            raise ValueError(
                "SLACK_SIGNING_SECRET is required in HTTP mode "
                "(or set SLACK_APP_TOKEN for Socket Mode)"
            )
        return self

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def max_file_bytes(self) -> int:
        return int(self.gist_max_file_mb * 1024 * 1024)


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


_HINTS = {
    "missing": "is required",
}


def format_errors(exc: ValidationError) -> str:
    """One line per problem, naming the environment variable and how to fix it."""
    lines = ["gistbot cannot start: the configuration has problems (environment or .env):"]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        name = loc[0].upper() if loc else "SETTINGS"
        message = _HINTS.get(err["type"], err["msg"])
        message = message.removeprefix("Value error, ")
        if err["type"] == "missing":
            message = f"is required: set {name} in the environment or in .env"
        lines.append(f"  - {name}: {message}")
    return "\n".join(lines)


def load(kind: type[TwelveLabsSettings] = Settings, **overrides: Any) -> Any:
    """Build settings or raise SettingsError with every problem in one message."""
    try:
        return kind(**overrides)
    except ValidationError as exc:
        raise SettingsError(format_errors(exc)) from None
