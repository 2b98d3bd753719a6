"""The customer's shop pages: home, product list and search, product detail. They read through
app.catalog.reads (the same cached functions as /api/products), so a page and the API always agree."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from app.catalog import categories as catalog_categories
from app.catalog import reads as catalog_reads
from app.kit.pagination import PageParams, page_count
from app.kit.params import parse_id, parse_page
from app.storefront import reviews as review_pages
from app.storefront.dependencies import PageUser, load_cart_count
from app.storefront.presales import presale_cards
from app.storefront.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(load_cart_count)])

PRODUCTS_PER_PAGE = 20
SORTS = [
    ("", "综合"),
    ("sales", "销量"),
    ("newest", "新品"),
    ("price_asc", "价格从低到高"),
    ("price_desc", "价格从高到低"),
]
_SORT_VALUES = {value for value, _ in SORTS if value}


def page(request: Request, template: str, context: dict | None = None, status_code: int = 200) -> Response:
    return render(request, template, context or {}, status_code=status_code, csp=True)


async def _categories() -> list[dict]:
    return orjson.loads(await catalog_categories.categories_json())


@router.get("/", summary="Home page")
async def home(request: Request, user: PageUser) -> Response:
    featured = orjson.loads(await catalog_reads.product_list_json(PageParams(page=1, size=8), sort="sales"))
    categories = [c for c in await _categories() if c["parent_id"] is None]
    return page(request, "storefront/home.html", {"products": featured["items"], "categories": categories})


@router.get("/products", summary="Product list, filters and search")
async def products(request: Request, user: PageUser) -> Response:
    params = request.query_params
    q = (params.get("q") or "").strip()[:50]
    category_id = parse_id(params.get("category_id"))
    sort = params.get("sort") if params.get("sort") in _SORT_VALUES else ""
    page_no = parse_page(params.get("page"))
    listing = orjson.loads(
        await catalog_reads.product_list_json(
            PageParams(page=page_no, size=PRODUCTS_PER_PAGE),
            q=q or None,
            category_id=category_id,
            sort=sort or None,
        )
    )
    categories = await _categories()
    category = next((c for c in categories if c["id"] == category_id), None)
    base = {k: v for k, v in {"q": q, "category_id": category_id or "", "sort": sort}.items() if v}

    def page_url(n: int) -> str:
        return "/products?" + urlencode({**base, "page": n})

    return page(
        request,
        "storefront/products.html",
        {
            "products": listing["items"],
            "total": listing["total"],
            "total_exact": listing.get("total_exact", True),
            "q": q,
            "category": category,
            "categories": categories,
            "sort": sort,
            "sorts": SORTS,
            "page": page_no,
            "pages": page_count(listing["total"], PRODUCTS_PER_PAGE),
            "page_url": page_url,
        },
    )


@router.get("/products/{product_id}", summary="Product detail")
async def product_detail(request: Request, product_id: str, user: PageUser) -> Response:
    from app.catalog.errors import ProductNotFound

    pid = parse_id(product_id)
    if pid is None:
        raise ProductNotFound("No such product.")
    product = await catalog_reads.product_detail(pid)
    reviews = await review_pages.latest_for_product_page(pid)
    return page(
        request,
        "storefront/product_detail.html",
        {"product": product, "presales": await presale_cards(product), "reviews": reviews},
    )


@router.get("/verify", summary="Trace-code lookup form target: go to the trace page of the code")
async def verify_code(code: str = "") -> Response:
    code = "".join(code.split())[:64]
    if not code:
        return RedirectResponse("/", status_code=303)
    return RedirectResponse(f"/trace/{quote(code, safe='')}", status_code=303)
