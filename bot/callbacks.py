"""The callback shapes shared across layers, one name per signature (a leaf module)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]  # the injectable wait of every retry loop
BytesCb = Callable[[int, int | None], Awaitable[None]]  # (bytes so far, bytes in all if known)
StatusCb = Callable[[str], Awaitable[None]]  # a polled resource's new status
MultipartStartedCb = Callable[[str, str], Awaitable[None]]  # (upload_id, asset_id)
TaskCb = Callable[[str, int], Awaitable[None]]  # (analysis task_id, attempt)
