"""What happens to every API request before and after its handler: it is recorded as a `Call`
(under its route template), checked for the API key, and given a targeted `Fault` or a chaos
fault, which may strike before the request is handled or after it was carried out."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from tests.fakes.base import Route
from tests.fakes.chaos import drop_connection
from tests.fakes.twelvelabs import chaos as chaos_faults
from tests.fakes.twelvelabs.core import TwelveLabsCore
from tests.fakes.twelvelabs.ratelimit import retry_after_header
from tests.fakes.twelvelabs.state import Call, Fault
from tests.fakes.twelvelabs.wire import API_PREFIX, CALL, ApiError, error_body, json_response

UPLOAD_TEMPLATE = "/_upload"  # presigned chunk PUTs: the storage host, not the API
_HANDLED_KINDS = (
    "delay",
    "drop-after",
    "error-after",
    "stall-after",
    "502-after",
)  # the request is carried out
_BAD_KEY = (
    "API Key is either invalid or expired. Please check your API key or "
    "generate a new one from the dashboard and try again."
)


def _canonical(route: web.AbstractRoute) -> str:
    resource = route.resource
    return resource.canonical if resource is not None else ""


class Gateway(TwelveLabsCore):
    def _middlewares(self) -> Sequence[Middleware]:
        return [self._middleware]

    def _add_api_routes(self, app: web.Application, api: Sequence[Route], upload: Route) -> None:
        """Register `api` under the version prefix and the storage host's `upload` route,
        remembering each route's template (what calls and faults are matched by)."""
        self._templates: dict[str, str] = {}
        for method, template, handler in api:
            route = app.router.add_route(method, API_PREFIX + template, handler)
            self._templates[_canonical(route)] = template
        method, path, handler = upload
        self._templates[_canonical(app.router.add_route(method, path, handler))] = UPLOAD_TEMPLATE

    def _template_of(self, request: web.Request) -> str:
        route = request.match_info.route
        resource = route.resource
        if resource is not None and resource.canonical in self._templates:
            return self._templates[resource.canonical]
        return request.path.removeprefix(API_PREFIX) or "/"

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_fake/"):
            return await handler(request)
        template = self._template_of(request)
        call = self._new_call(request, template)
        fault = self._fault_for(request.method, template, call) or self._over_rate(template)
        if fault is not None and fault.delay_s > 0 and fault.kind != "stall-after":
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.kind == "drop":
            return drop_connection(request)
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        response: web.StreamResponse | None
        if fault is not None and fault.kind not in _HANDLED_KINDS:
            response = self._fault_response(fault, template)
        else:
            response = await self._handle(request, handler, template)
        if fault is not None:
            response = await self._after(fault, template, response)
        if response is None:
            return drop_connection(request)
        response.headers.setdefault("X-Api-Version", "1.3")
        call.status = response.status
        return response

    def _new_call(self, request: web.Request, template: str) -> Call:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if "x-api-key" in headers:
            headers["x-api-key"] = "[redacted]"
        call = Call(
            method=request.method,
            path=request.path.removeprefix(API_PREFIX),
            template=template,
            query=dict(request.query),
            headers=headers,
            at=time.monotonic(),
        )
        self._record_call(call)
        request[CALL] = call
        return call

    def _fault_for(self, method: str, template: str, call: Call) -> Fault | None:
        """A queued targeted fault, else maybe a chaos one (never on the storage host)."""
        fault = self._take_fault(method, template)
        if fault is None and template != UPLOAD_TEMPLATE:
            injected = self._chaos.pick(
                chaos_faults.endpoint(method, template), chaos_faults.API_KINDS
            )
            if injected is not None:
                call.chaos = injected.kind
                fault = chaos_faults.as_fault(injected)
        return fault

    def _over_rate(self, template: str) -> Fault | None:
        """A 429 when the account's rate limit is spent (API calls only)."""
        rate = self.rate_limit_per_s
        if rate is None or template == UPLOAD_TEMPLATE:
            return None
        wait_s = self._bucket.take(rate, self.rate_limit_burst)
        if wait_s is None:
            return None
        if not self.rate_limit_retry_after:
            return Fault(method="*", path="*", kind="429-empty")
        return Fault(method="*", path="*", kind="429", retry_after=retry_after_header(wait_s))

    async def _handle(
        self, request: web.Request, handler: Handler, template: str
    ) -> web.StreamResponse:
        """The handler's answer, with errors in the endpoint's error format."""
        try:
            if template != UPLOAD_TEMPLATE and request.headers.get("x-api-key") != self.api_key:
                raise ApiError(401, "api_key_invalid", _BAD_KEY)
            return await handler(request)
        except ApiError as exc:
            return json_response(
                exc.status, error_body(template, exc.code, exc.message), exc.headers
            )
        except web.HTTPException as exc:
            if exc.status not in (404, 405):
                raise
            code = "endpoint_not_exists" if exc.status == 404 else "method_not_allowed"
            message = f"{request.method} {request.path}: {exc.reason}"
            return json_response(exc.status, error_body(template, code, message))

    async def _after(
        self, fault: Fault, template: str, response: web.StreamResponse
    ) -> web.StreamResponse | None:
        """Faults that strike once the request was carried out. None: drop the connection."""
        if fault.kind == "drop-after":
            return None
        if fault.kind == "error-after":
            # The work is done (the asset, index or task exists) but the answer is an error.
            return self._fault_response(fault, template)
        if fault.kind == "502-after":
            # Carried out (the asset or task exists) but the gateway answers 502.
            if response.prepared:
                return None
            return self._fault_response(Fault(method="*", path="*", kind="502"), template)
        if fault.kind == "stall-after":
            # The work is done (e.g. the asset exists) but the answer is late: a client
            # killed now never learns it. Restart-safety tests need exactly that window.
            await asyncio.sleep(fault.delay_s)
        return response

    def _fault_response(self, fault: Fault, template: str) -> web.Response:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        if fault.ratelimit_reset is not None:
            headers["X-Ratelimit-Reset"] = str(math.ceil(fault.ratelimit_reset))
        if fault.kind == "429":
            message = "You have exceeded the rate limit. Please try again later."
            if fault.retry_after:
                message = (
                    "You have exceeded the rate limit (60 requests per minute). "
                    f"Please try again later after {fault.retry_after} seconds."
                )
            body = error_body(template, "too_many_requests", message)
            return json_response(429, body, headers)
        if fault.kind == "429-empty":
            return web.Response(status=429, headers=headers)
        if fault.kind == "401":
            body = error_body(template, "api_key_invalid", "API Key is either invalid or expired.")
            return json_response(401, body, headers)
        status = fault.status if fault.kind == "error-after" else int(fault.kind)
        if status in (502, 504):
            reason = "Bad Gateway" if status == 502 else "Gateway Timeout"
            html = (
                f"<html><head><title>{status} {reason}</title></head><body>{reason}</body></html>"
            )
            return web.Response(status=status, text=html, content_type="text/html", headers=headers)
        code = "internal_error" if status == 500 else "service_unavailable"
        message = "An internal error occurred." if status == 500 else "Service temporarily down."
        return json_response(status, error_body(template, code, message), headers)
