"""A small async client for the TwelveLabs API v1.3 — only what gistbot uses.

    async with TwelveLabsClient(api_key) as tl:
        asset = await tl.upload_asset_file(path, request_key=job_id)
        asset = await tl.wait_for_asset(asset.id, timeout_s=600)
        ref = await tl.create_analysis_task(asset_id=asset.id, prompt=..., json_schema=...)
        task = await tl.wait_for_analysis_task(ref.task_id, timeout_s=900)

Retries, backoff and error mapping live in `session.py` / `retry.py`; creates that must not
be repeated blindly in `creates.py` (with the look-ups in `lookups.py`); polling in
`polling.py`; the large-file upload in `multipart.py`. The methods are grouped: assets in
`assets.py`, analysis in `analysis.py`, indexes here.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

import httpx

from . import errors, lookups, models
from .analysis import AnalysisMethods
from .assets import AssetMethods, ProgressCb, StartedCb
from .creates import create_once
from .multipart import MultipartSettings, MultipartUploader
from .polling import PollSettings, StatusCb
from .retry import RetryMode, RetryPolicy
from .session import ApiSession, ClientStats

__all__ = ["DEFAULT_BASE_URL", "ProgressCb", "StartedCb", "StatusCb", "TwelveLabsClient"]

DEFAULT_BASE_URL = "https://api.twelvelabs.io/v1.3"
INDEX_MODEL = "marengo3.0"
INDEX_MODEL_OPTIONS = ("visual", "audio")
SleepFn = Callable[[float], Awaitable[None]]

# Path templates: what logs, errors and `stats` show.
T_INDEXES = "/indexes"
T_INDEXED_ASSETS = "/indexes/{index_id}/indexed-assets"
T_INDEXED_ASSET = "/indexes/{index_id}/indexed-assets/{indexed_asset_id}"


def _name_taken(exc: errors.TwelveLabsError) -> bool:
    return isinstance(exc, errors.BadRequestError) and (
        exc.status_code == 409 or exc.code == "index_name_already_exists"
    )


class TwelveLabsClient(AssetMethods, AnalysisMethods):
    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        max_retries: int = 5,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        retry_after_max_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 120.0,
        analyze_timeout_s: float | None = None,
        direct_upload_limit: int = 200 * 1024 * 1024,
        poll_initial_s: float = 1.0,
        poll_max_interval_s: float = 15.0,
        poll_factor: float = 1.5,
        multipart: MultipartSettings | None = None,
        max_connections: int = 20,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: SleepFn | None = None,
        clock: Callable[[], float] | None = None,
        rng: Callable[[float, float], float] | None = None,
    ) -> None:
        """`max_retries` counts retries after the first attempt (0 disables retrying).

        `analyze_timeout_s` is the read timeout of the sync `POST /analyze` (default: 10 ×
        `read_timeout_s`, since the answer comes only once the whole video is analysed).
        Every wait (retry backoff, create look-ups, polling) goes through `sleep` (default
        `asyncio.sleep`); polling deadlines read `clock` (default: the event loop's);
        `rng(lo, hi)` draws the backoff jitter (default `random.uniform`).
        """
        self._session = ApiSession(
            api_key=api_key,
            base_url=base_url,
            policy=RetryPolicy(
                max_retries=max(0, max_retries),
                backoff_initial_s=backoff_initial_s,
                backoff_max_s=backoff_max_s,
                retry_after_max_s=retry_after_max_s,
                rng=rng or random.uniform,
            ),
            timeout=httpx.Timeout(
                connect=connect_timeout_s,
                read=read_timeout_s,
                write=read_timeout_s,
                pool=read_timeout_s,
            ),
            transport=transport,
            max_connections=max_connections,
            sleep=sleep or asyncio.sleep,
        )
        self._clock = clock
        self.base_url = self._session.base_url
        self.direct_upload_limit = direct_upload_limit
        self.poll = PollSettings(poll_initial_s, poll_max_interval_s, poll_factor)
        self.analyze_timeout_s = analyze_timeout_s or read_timeout_s * 10
        self._uploader = MultipartUploader(self._session, multipart)
        self._index_lock = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._session.aclose()

    def __repr__(self) -> str:  # never shows the key
        return f"TwelveLabsClient(base_url={self.base_url!r})"

    @property
    def stats(self) -> ClientStats:
        """HTTP attempts and retries per (method, path template)."""
        return self._session.stats

    # ------------------------------------------------------------------ indexes

    async def find_index(self, name: str) -> models.Index | None:
        """The index named exactly `name`, or None."""
        return await lookups.find_index(self._session, name)

    async def find_or_create_index(self, name: str) -> models.Index:
        """Find the index by name, else create it (`marengo3.0`, visual + audio).

        Two creators racing: the loser's `index_name_already_exists` (or 409) leads to finding
        the winner's index. A create whose outcome is unknown (5xx, connection dropped) is
        resolved the same way: look again before trying again.
        """
        async with self._index_lock:
            found = await self.find_index(name)
            if found is not None:
                return found
            spec = [{"model_name": INDEX_MODEL, "model_options": list(INDEX_MODEL_OPTIONS)}]

            async def create() -> models.Index:
                created = await self._call(
                    models.Index,
                    "POST",
                    T_INDEXES,
                    mode=RetryMode.CREATE,
                    json={"index_name": name, "models": spec},
                )
                # The 201 carries only `_id`: fill in what we asked for.
                return created.model_copy(
                    update={
                        "index_name": created.index_name or name,
                        "models": created.models
                        or [models.IndexModel.model_validate(m) for m in spec],
                    }
                )

            return await create_once(
                self._session,
                "POST",
                T_INDEXES,
                create,
                lambda: self.find_index(name),
                what=f"index {name!r}",
                exists=_name_taken,
            )

    async def create_indexed_asset(
        self,
        index_id: str,
        asset_id: str,
        *,
        enable_video_stream: bool = False,
        user_metadata: dict[str, Any] | None = None,
    ) -> models.IndexedAssetRef:
        """`POST /indexes/{index_id}/indexed-assets` (202). The asset must be `ready`.

        After an ambiguous failure the asset's own index listing says whether it got in.
        """
        payload: dict[str, Any] = {"asset_id": asset_id}
        if enable_video_stream:
            payload["enable_video_stream"] = True
        if user_metadata:
            payload["user_metadata"] = user_metadata

        async def create() -> models.IndexedAssetRef:
            return await self._call(
                models.IndexedAssetRef,
                "POST",
                T_INDEXED_ASSETS,
                mode=RetryMode.CREATE,
                path_params={"index_id": index_id},
                json=payload,
            )

        return await create_once(
            self._session,
            "POST",
            T_INDEXED_ASSETS,
            create,
            lambda: lookups.find_indexed_asset(self._session, index_id, asset_id),
            what=f"asset {asset_id} in index {index_id}",
        )

    async def get_indexed_asset(self, index_id: str, indexed_asset_id: str) -> models.IndexedAsset:
        return await self._call(
            models.IndexedAsset,
            "GET",
            T_INDEXED_ASSET,
            path_params={"index_id": index_id, "indexed_asset_id": indexed_asset_id},
        )

    async def wait_for_indexed_asset(
        self,
        index_id: str,
        indexed_asset_id: str,
        *,
        timeout_s: float,
        on_status: StatusCb | None = None,
    ) -> models.IndexedAsset:
        """Poll until `ready`; `failed` raises `IndexingFailed`."""
        return await self._wait(
            lambda: self.get_indexed_asset(index_id, indexed_asset_id),
            models.INDEXED_ASSET_TERMINAL,
            errors.IndexingFailed,
            what="indexed asset",
            resource_id=indexed_asset_id,
            timeout_s=timeout_s,
            on_status=on_status,
        )
