"""`?page=1&size=20` (size capped at 100) → {"items", "total", "page", "size"}."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from app.kit.params import MAX_ID, DigitsOnly

T = TypeVar("T")

MAX_PAGE_SIZE = 100


class PageParams(BaseModel):
    page: int = 1
    size: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def page_params(
    page: Annotated[int, Query(ge=1, le=100_000, description="1-based page number"), DigitsOnly] = 1,
    size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page (at most 100)"), DigitsOnly
    ] = 20,
) -> PageParams:
    return PageParams(page=page, size=size)


PageParamsDep = Annotated[PageParams, Depends(page_params)]


def page_count(total: int, size: int) -> int:
    """How many pages `total` items fill at `size` a page; an empty list still has its page 1."""
    return max(1, -(-total // size))


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        """For page links; a property, not a field, so the API's JSON stays {"items", "total", "page", "size"}."""
        return page_count(self.total, self.size)


class CursorPage(Page[T], Generic[T]):
    """A page of a list that can grow without bound: `total` is exact only when `total_exact`
    (otherwise "at least total"), and `next_cursor`, passed back as `?after=`, gives the next page in
    constant time however deep it is. `page` and `size` still work as in every list."""

    next_cursor: str | None = None
    total_exact: bool = True


def cursor_param(
    after: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_ID,
            description="next_cursor of the previous page: continue after it (page is ignored)",
        ),
        DigitsOnly,
    ] = None,
) -> int | None:
    return after


CursorDep = Annotated[int | None, Depends(cursor_param)]
