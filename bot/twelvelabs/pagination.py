"""The page shape, one page loop for every paged `GET`, and the async iterator built on it.

The v1.3 listings page by number: `?page=N&page_limit=L` answers one page with
`page_info: {page, total_page, …}`. The loop asks for `PAGE_LIMIT` items a page (the API's
maximum) and stops at whichever comes first:

- a page with no items (the official SDK's only stop: it never reads `total_page`);
- a page without `page_info.total_page`, or page number `total_page` itself;
- `max_pages` pages read — `MAX_PAGES` unless a caller says otherwise (with its reason).

    async for asset in client.assets.list(filename="clip"):   # items, pages fetched lazily
        ...
    found = await client.indexes.list(index_name="team").find(lambda i: i.index_name == "team")

Pages are fetched only as the items are consumed: `find` reads no further than its match.
`Page` / `Listing` are the shape every page shares; `models.py` names each listing's items.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence, Sized
from contextlib import aclosing
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .retry import RetryMode
from .session import ApiSession, parse_model

__all__ = [
    "MAX_PAGES",
    "PAGE_LIMIT",
    "AsyncPaginator",
    "Listing",
    "Page",
    "PageInfo",
    "iter_pages",
    "paginate",
]

PAGE_LIMIT = 50  # items a page: the API's maximum
# The cap on a listing: 1000 items. Look-ups narrow their listing with a filter first, so
# reading further would mean a filter that did not narrow. The only callers that pass another
# cap: an asset look-up without a filename (fewer pages) and a session's chunks (all of them).
MAX_PAGES = 20

T = TypeVar("T")


class PageInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit_per_page: int | None = None
    page: int | None = None
    total_page: int | None = None
    total_results: int | None = None


class Page(BaseModel):
    """One page of a paged `GET`; its items are in a field of the subclass (`models.py`)."""

    model_config = ConfigDict(extra="ignore")

    page_info: PageInfo | None = None


class Listing(Page, Generic[T]):
    """One page of a `GET` listing: `{data: [...], page_info: {...}}`."""

    data: list[T] = Field(default_factory=list)


P = TypeVar("P", bound=Page)


def _is_last(info: PageInfo | None, items: Sized, number: int) -> bool:
    return not items or info is None or info.total_page is None or number >= info.total_page


async def iter_pages(
    session: ApiSession,
    template: str,
    model: type[P],
    items: Callable[[P], Sized],
    *,
    params: Mapping[str, Any] | None = None,
    path_params: Mapping[str, str] | None = None,
    max_pages: int = MAX_PAGES,
) -> AsyncGenerator[P, None]:
    """Each page of `GET template` as `model`, from page 1 (the loop every listing uses).

    `items(page)` is the page's item list (its emptiness ends the listing). Each request is an
    idempotent `GET`, retried by the session like any other.
    """
    for number in range(1, max_pages + 1):
        response = await session.request(
            "GET",
            template,
            mode=RetryMode.IDEMPOTENT,
            path_params=path_params,
            params={**(params or {}), "page": number, "page_limit": PAGE_LIMIT},
        )
        page = parse_model(model, response, method="GET", path=template)
        yield page
        if _is_last(page.page_info, items(page), number):
            return


class AsyncPaginator(Generic[T]):
    """The items of one listing across its pages: `async for`, `to_list()` or `find(match)`.

    Nothing is sent until it is iterated; each iteration starts again from page 1.
    """

    def __init__(
        self,
        session: ApiSession,
        template: str,
        model: type[P],
        items: Callable[[P], Sequence[T]],
        *,
        params: Mapping[str, Any] | None = None,
        path_params: Mapping[str, str] | None = None,
        max_pages: int = MAX_PAGES,
    ) -> None:
        async def item_pages() -> AsyncGenerator[Sequence[T], None]:
            pages = iter_pages(
                session,
                template,
                model,
                items,
                params=params,
                path_params=path_params,
                max_pages=max_pages,
            )
            async with aclosing(pages):
                async for page in pages:
                    yield items(page)

        self._item_pages = item_pages

    async def items(self) -> AsyncGenerator[T, None]:
        async with aclosing(self._item_pages()) as pages:
            async for page in pages:
                for item in page:
                    yield item

    def __aiter__(self) -> AsyncIterator[T]:
        return self.items()

    async def to_list(self) -> list[T]:
        """Every item, in the API's order."""
        return [item async for item in self.items()]

    async def find(self, match: Callable[[T], bool]) -> T | None:
        """The first item `match` accepts, reading no further pages than needed."""
        async with aclosing(self.items()) as items:
            async for item in items:
                if match(item):
                    return item
        return None


def _data(page: Listing[T]) -> list[T]:
    return page.data


def paginate(
    session: ApiSession,
    template: str,
    model: type[Listing[T]],
    *,
    params: Mapping[str, Any] | None = None,
    path_params: Mapping[str, str] | None = None,
    max_pages: int = MAX_PAGES,
) -> AsyncPaginator[T]:
    """An `AsyncPaginator` over a `{data: [...], page_info}` listing; `None` params are left out."""
    return AsyncPaginator(
        session,
        template,
        model,
        _data,
        params=params,
        path_params=path_params,
        max_pages=max_pages,
    )
