"""What the analysis endpoints check before and after they look at the video: the request's
parameters (model, video source, prompt, sampling, `response_format`) and the video's length."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes.twelvelabs.generate import schema_problems
from tests.fakes.twelvelabs.media import MediaInfo
from tests.fakes.twelvelabs.wire import ApiError, invalid, missing

ANALYSIS_MODELS = ("pegasus1.5", "pegasus1.6")
MIN_ANALYSIS_S = 4.0
_VIDEO_KINDS = ("asset_id", "url", "base64_string")


@dataclass
class Source:
    """What an analysis request points at, once resolved."""

    filename: str
    sha256: str
    media: MediaInfo | None
    error: str | None = None


def validate_analysis(body: dict[str, Any]) -> dict[str, Any] | None:
    """Check an analyze request; return its json_schema (None when absent)."""
    _check_model(body)
    _check_video(body)
    _check_prompt(body)
    _check_sampling(body)
    return _response_schema(body.get("response_format"))


def _check_model(body: dict[str, Any]) -> None:
    model = body.get("model_name", "pegasus1.5")
    if model not in ANALYSIS_MODELS:
        raise ApiError(
            400,
            "parameter_invalid",
            f"The model_name parameter is invalid: {model!r} is not supported. "
            f"Supported models: {', '.join(ANALYSIS_MODELS)}.",
        )


def _check_video(body: dict[str, Any]) -> None:
    if "video_id" in body:
        raise ApiError(
            400,
            "parameter_invalid",
            "The video_id parameter is not supported by this model. "
            "Use video: {type: asset_id | url | base64_string}.",
        )
    if body.get("image") is not None:
        raise ApiError(400, "parameter_invalid", "The fake supports only video input.")
    video = body.get("video")
    if video is None:
        raise missing("video")
    if (
        not isinstance(video, dict)
        or video.get("type") not in _VIDEO_KINDS
        or not isinstance(video.get(str(video.get("type"))), str)
        or sum(1 for k in _VIDEO_KINDS if k in video) != 1
    ):
        raise ApiError(
            400,
            "parameter_invalid",
            "The video parameter is invalid: give exactly one of "
            '{"type":"asset_id","asset_id":…}, {"type":"url","url":…} or '
            '{"type":"base64_string","base64_string":…}.',
        )


def _check_prompt(body: dict[str, Any]) -> None:
    prompt, prompt_v2 = body.get("prompt"), body.get("prompt_v2")
    if prompt is not None and prompt_v2 is not None:
        raise ApiError(400, "parameter_invalid", "Use either prompt or prompt_v2, not both.")
    if prompt is None and prompt_v2 is None:
        raise missing("prompt")
    if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
        raise invalid("prompt")


def _check_sampling(body: dict[str, Any]) -> None:
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 1
    ):
        raise invalid("temperature")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 512 <= max_tokens <= 98_304
    ):
        raise ApiError(
            400,
            "parameter_invalid",
            "The max_tokens parameter is invalid: it must be between 512 and 98304.",
        )


def _response_schema(response_format: Any) -> dict[str, Any] | None:
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise invalid("response_format")
    if response_format.get("type") != "json_schema":
        raise ApiError(
            400,
            "parameter_invalid",
            "The response_format.type parameter is invalid: the fake supports json_schema.",
        )
    schema = response_format.get("json_schema")
    if not isinstance(schema, dict):
        raise invalid("response_format.json_schema")
    problems = schema_problems(schema)
    if problems:
        raise ApiError(
            422,
            "parameter_invalid",
            "The json_schema uses keywords the platform does not support: " + "; ".join(problems),
        )
    return schema


def duration_problem(source: Source, maximum: float) -> tuple[str, str] | None:
    """(error code, message) when the video can't be analysed for its length, else None."""
    if source.error is not None:
        return "video_file_broken", source.error
    duration = source.media.duration if source.media else None
    if duration is None:
        return "video_file_broken", "The video duration could not be determined."
    if duration < MIN_ANALYSIS_S:
        return (
            "video_duration_too_short",
            f"Video duration is too short: {duration:g} seconds. "
            f"The minimum duration is {MIN_ANALYSIS_S:g} seconds.",
        )
    if duration > maximum:
        return (
            "video_duration_too_long",
            f"Video duration exceeds maximum allowed duration ({maximum:g} seconds).",
        )
    return None
