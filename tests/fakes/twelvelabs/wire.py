"""The API's wire conventions the endpoints share: error bodies, JSON answers, parameters,
pages, and the request's `Call` record (kept on the request under `CALL`)."""

from __future__ import annotations

import json
import math
import secrets
from typing import Any

from aiohttp import web

from tests.fakes.twelvelabs.state import Call

API_PREFIX = "/v1.3"
CALL = web.RequestKey("call", Call)


class ApiError(Exception):
    """Raised inside handlers; turned into the endpoint's error body by the middleware."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def new_id() -> str:
    return secrets.token_hex(12)


def _nested(template: str) -> bool:
    return template.startswith("/analyze/tasks") or template.startswith("/analyze/batches")


def error_body(template: str, code: str, message: str) -> dict[str, Any]:
    """The analysis-task endpoints nest their errors; the others don't."""
    if _nested(template):
        return {"error": {"code": code, "message": message}}
    return {"code": code, "message": message}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=json.dumps)


def as_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("true", "1", "yes", "on")


def invalid(name: str) -> ApiError:
    return ApiError(400, "parameter_invalid", f"The {name} parameter is invalid.")


def missing(name: str) -> ApiError:
    return ApiError(
        400, "parameter_not_provided", f"The {name} parameter is required but was not provided."
    )


def not_found(kind: str, resource_id: str, status: int = 404) -> ApiError:
    return ApiError(
        status,
        "resource_not_exist",
        f"Resource with id {resource_id} does not exist in {kind}.",
    )


def int_param(value: Any, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            raise invalid(name)
    if minimum is not None and value < minimum:
        raise invalid(name)
    return int(value)


def page_args(request: web.Request) -> tuple[int, int]:
    page = int_param(request.query.get("page", "1"), "page", minimum=1)
    limit = int_param(request.query.get("page_limit", "10"), "page_limit", minimum=1)
    if limit > 50:
        raise invalid("page_limit")
    return page, limit


def page_info(page: int, limit: int, total: int) -> dict[str, int]:
    return {
        "limit_per_page": limit,
        "page": page,
        "total_page": max(1, math.ceil(total / limit)),
        "total_results": total,
    }


def paged(page: int, limit: int, found: list[Any], data: list[Any]) -> web.Response:
    """A list endpoint's 200: `data` (this page of `found`) and its `page_info`."""
    return json_response(200, {"data": data, "page_info": page_info(page, limit, len(found))})


def origin_of(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, also recorded on its `Call`."""
    raw = await request.read()
    call = request[CALL]
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        call.body = raw.decode("utf-8", "replace")
        raise ApiError(400, "parameter_invalid", "The request body is not valid JSON.") from None
    call.body = body
    if not isinstance(body, dict):
        raise ApiError(400, "parameter_invalid", "The request body must be a JSON object.")
    return body
