"""`client.search`: search an index (`POST /search`), then page on (`GET /search/{page-token}`).

    page = await tl.search.query(index_id, "onboarding flow", filter={"team": "T1"})
    async for page in tl.search.pages(index_id, "onboarding flow", max_pages=3):
        for video in page.videos(): ...

A search is a read: the session retries it on 429 (which TwelveLabs answers with an empty body),
5xx and transport errors like any idempotent request. Only the first page is charged; the next
ones come by page token until it expires (`search_page_token_expired`, HTTP 400).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

from ..formdata import FormBody
from ..retry import RetryMode
from ..search_models import SearchPage
from ._base import Resource

__all__ = ["MAX_PAGE_LIMIT", "SEARCH_OPTIONS", "T_SEARCH", "T_SEARCH_PAGE", "Search"]

T_SEARCH = "/search"
T_SEARCH_PAGE = "/search/{page_token}"
SEARCH_OPTIONS = ("visual", "audio", "transcription")  # audio: non-speech sound
MAX_PAGE_LIMIT = 50
EXPIRED_TOKEN = "search_page_token_expired"

GroupBy = Literal["video", "clip"]
Operator = Literal["or", "and"]


def _bool(value: bool) -> str:
    return "true" if value else "false"


class Search(Resource):
    async def query(
        self,
        index_id: str,
        query_text: str,
        *,
        search_options: Sequence[str] = SEARCH_OPTIONS,
        group_by: GroupBy = "video",
        page_limit: int = 10,
        filter: Mapping[str, Any] | None = None,
        operator: Operator | None = None,
        transcription_options: Sequence[str] | None = None,
        include_user_metadata: bool = True,
    ) -> SearchPage:
        """`POST /search` (multipart/form-data): the first page, best first.

        `search_options` is sent once per value, as the API wants; `filter` is JSON-encoded
        (`{"field": "value"}`, `{"duration": {"gte": 10}}`, `{"id": [...]}`; user metadata
        keys too). With `group_by="video"`, `page_limit` counts videos.
        """
        if not search_options:
            raise ValueError("search needs at least one search option")
        if not 1 <= page_limit <= MAX_PAGE_LIMIT:
            raise ValueError(f"page_limit must be 1..{MAX_PAGE_LIMIT}")
        fields = [("index_id", index_id), ("query_text", query_text)]
        fields += [("search_options", option) for option in search_options]
        fields += [("transcription_options", o) for o in transcription_options or ()]
        fields += [("group_by", group_by), ("page_limit", str(page_limit))]
        if operator is not None:
            fields.append(("operator", operator))
        if filter:
            fields.append(("filter", json.dumps(dict(filter), ensure_ascii=False)))
        fields.append(("include_user_metadata", _bool(include_user_metadata)))
        return await self._call(
            SearchPage, "POST", T_SEARCH, mode=RetryMode.IDEMPOTENT, body=FormBody(fields)
        )

    async def retrieve(self, page_token: str, *, include_user_metadata: bool = True) -> SearchPage:
        """`GET /search/{page-token}`: the page a `next_page_token` names (not charged)."""
        return await self._call(
            SearchPage,
            "GET",
            T_SEARCH_PAGE,
            path_params={"page_token": page_token},
            params={"include_user_metadata": _bool(include_user_metadata)},
        )

    async def pages(
        self, index_id: str, query_text: str, *, max_pages: int = 5, **options: Any
    ) -> AsyncGenerator[SearchPage, None]:
        """The first page, then each next one by its token, up to `max_pages` pages."""
        page = await self.query(index_id, query_text, **options)
        include = bool(options.get("include_user_metadata", True))
        for number in range(1, max_pages + 1):
            yield page
            token = page.next_page_token
            if not token or number == max_pages:
                return
            page = await self.retrieve(token, include_user_metadata=include)
