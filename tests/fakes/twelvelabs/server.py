"""A fake TwelveLabs API v1.3: a real aiohttp server on loopback speaking the real wire format.

`FakeTwelveLabs` puts the API nouns together over the shared loopback server
(`tests/fakes/base.py`): `multipart` uploads, `assets`, `indexes` (with indexed assets) and
`analysis`, each a mixin over `core.TwelveLabsCore` (knobs, resources, faults); `middleware`
records every call and applies faults. This module adds the `/_fake/*` control surface. See
`tests/fakes/twelvelabs/__init__.py` for the interface in brief.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, cast

from aiohttp import web

from tests.fakes.base import Route
from tests.fakes.twelvelabs.analysis import AnalysisApi
from tests.fakes.twelvelabs.assets import AssetsApi
from tests.fakes.twelvelabs.core import KNOBS
from tests.fakes.twelvelabs.indexes import IndexesApi
from tests.fakes.twelvelabs.middleware import Gateway
from tests.fakes.twelvelabs.multipart import MultipartApi
from tests.fakes.twelvelabs.search import FakeSearch
from tests.fakes.twelvelabs.state import Fault
from tests.fakes.twelvelabs.wire import json_response

__all__ = ["KNOBS", "FakeTwelveLabs"]


def _bad_request(exc: Exception) -> web.Response:
    return json_response(400, {"code": "parameter_invalid", "message": str(exc)})


class FakeTwelveLabs(MultipartApi, AssetsApi, IndexesApi, AnalysisApi, Gateway):
    """Fake TwelveLabs API v1.3 server. Knobs are plain attributes and constructor kwargs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.search = FakeSearch(self)

    def _clear_state(self) -> None:
        super()._clear_state()
        if hasattr(self, "search"):  # the base clears once while constructing
            self.search.clear()

    def _add_routes(self, app: web.Application) -> None:
        # Order matters: "/assets/multipart-uploads" before "/assets/{id}".
        api = [
            *self._multipart_routes(),
            *self._asset_routes(),
            *self._index_routes(),
            *self._analysis_routes(),
            ("POST", "/search", self.search.create),
            ("GET", "/search/{token}", self.search.retrieve),
            ("PATCH", "/indexes/{id}/indexed-assets/{iid}", self.search.patch_indexed_asset),
        ]
        self._add_api_routes(app, api, self._chunk_route())

    def _control_routes(self) -> Sequence[Route]:
        return [
            ("POST", "/config", self._ctl_config),
            ("GET", "/config", self._ctl_get_config),
            ("POST", "/faults", self._ctl_add_fault),
            ("DELETE", "/faults", self._ctl_clear_faults),
            ("GET", "/calls", self._ctl_calls),
            ("POST", "/reset", self._ctl_reset),
            *self._asset_media_routes(),
        ]

    async def _ctl_config(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            self.configure(**body)
        except (ValueError, TypeError) as exc:
            return _bad_request(exc)
        return json_response(200, self.config())

    async def _ctl_get_config(self, request: web.Request) -> web.StreamResponse:
        return json_response(200, self.config())

    async def _ctl_add_fault(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            fault = Fault(**cast(dict[str, Any], body))
        except (ValueError, TypeError) as exc:
            return _bad_request(exc)
        self.add_fault(fault)
        return json_response(201, asdict(fault))

    async def _ctl_clear_faults(self, request: web.Request) -> web.StreamResponse:
        self.clear_faults()
        return web.Response(status=204)

    async def _ctl_calls(self, request: web.Request) -> web.StreamResponse:
        return json_response(200, [asdict(c) for c in list(self.calls)])

    async def _ctl_reset(self, request: web.Request) -> web.StreamResponse:
        await self._reset_async()
        return web.Response(status=204)
