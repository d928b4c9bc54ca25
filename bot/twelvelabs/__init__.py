"""Async TwelveLabs API v1.3 client (no Slack code, no job code).

from bot.twelvelabs import TwelveLabsClient, errors, models
"""

from . import errors, models
from .client import DEFAULT_BASE_URL, ProgressCb, StartedCb, StatusCb, TwelveLabsClient
from .multipart import MultipartSettings
from .polling import poll_until
from .retry import RetryMode, RetryPolicy
from .session import ClientStats

__all__ = [
    "DEFAULT_BASE_URL",
    "ClientStats",
    "MultipartSettings",
    "ProgressCb",
    "RetryMode",
    "RetryPolicy",
    "StartedCb",
    "StatusCb",
    "TwelveLabsClient",
    "errors",
    "models",
    "poll_until",
]
