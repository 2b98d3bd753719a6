"""Back office: products, SKUs, stock and images, on app.catalog.service, categories and gallery (the same calls as
/api/admin/products). Prices are typed in yuan ("59.90") and become integer fen here, without floats."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.catalog import categories as catalog_categories
from app.catalog import gallery as catalog_gallery
from app.catalog import service as catalog_service
from app.catalog.schemas import ProductCreate, ProductUpdate, SkuCreate
from app.db import SessionDep, refusable
from app.errors import AppError
from app.kit import money
from app.kit.pagination import PageParams
from app.kit.params import IdPath, parse_int
from app.storefront import messages
from app.storefront.dependencies import StaffPageUser, staff_pages_router
from app.storefront.forms import FormStr, errors_by_field, page_number
from app.storefront.templating import render

router = staff_pages_router()

PRODUCTS_PER_PAGE = 20
PRODUCT_STATUS = {"draft": "草稿", "published": "在售", "archived": "已下架"}
# A typed price has at most seven digits before the point.
_TYPED_MAX_FEN = 999_999_999
PRODUCT_FIELDS = ("name", "subtitle", "description", "origin", "variety", "grade", "storage_advice")

# The form's own ?error= keys; an error code (?error=price_above_original) is said by the catalogue.
ERRORS = {
    "form": "填写有误，请检查后重试。",
    "price": "价格请填写元，例如 59.90。",
    "stock": "库存请填写 0 以上的整数。",
}
NOTICES = {
    "saved": "已保存",
    "created": "商品已创建",
    "stock": "库存已更新",
    "image": "图片已更新",
    "sku": "规格已添加",
}


def yuan_to_fen(text: str) -> int | None:
    """A price typed by staff ('59.90', '¥59.9', by app.kit.money); None when it is not one."""
    try:
        return money.yuan_to_fen(text.strip().removeprefix("¥"), max_fen=_TYPED_MAX_FEN)
    except money.NotAnAmount:
        return None


def _int(text: str, upper: int = 10_000_000) -> int | None:
    return parse_int(text.strip(), hi=upper)


def _back(product_id: int, *, done: str | None = None, error: str | None = None) -> RedirectResponse:
    query = urlencode({k: v for k, v in {"done": done, "error": error}.items() if v})
    return RedirectResponse(f"/admin/products/{product_id}" + (f"?{query}" if query else ""), status_code=303)


async def _categories() -> list[dict]:
    return orjson.loads(await catalog_categories.categories_json())


@router.get("/products", summary="Back office: products")
async def products(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    params = request.query_params
    q = (params.get("q") or "").strip()[:50] or None
    status = params.get("status") if params.get("status") in PRODUCT_STATUS else None
    page_no = page_number(params.get("page"))
    listing = await catalog_service.admin_product_list(
        session,
        PageParams(page=page_no, size=PRODUCTS_PER_PAGE),
        q=q,
        status=status,
        category_id=None,
        sort=None,
    )
    filters = {k: v for k, v in {"q": q, "status": status}.items() if v}
    return render(
        request,
        "admin/products.html",
        {
            "section": "products",
            "listing": listing,
            "filters": filters,
            "product_status": PRODUCT_STATUS,
            "page": page_no,
            "pages": listing.pages,
            "page_url": lambda n: "/admin/products?" + urlencode({**filters, "page": n}),
            "flash": NOTICES.get(params.get("done", "")),
        },
        csp=True,
    )


@router.get("/products/new", summary="Back office: new product form")
async def new_product_page(request: Request, staff: StaffPageUser) -> Response:
    return render(
        request,
        "admin/product_new.html",
        {"section": "products", "values": {}, "errors": {}, "categories": await _categories()},
        csp=True,
    )


@router.post("/products", summary="Back office: create a product")
async def create_product(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    form = await request.form()
    values = {
        k: str(form.get(k, ""))
        for k in (
            *PRODUCT_FIELDS,
            "category_id",
            "status",
            "sku_name",
            "sku_price",
            "sku_stock",
            "sku_weight_g",
        )
    }
    errors: dict[str, str] = {}
    price = yuan_to_fen(values["sku_price"])
    stock, weight = _int(values["sku_stock"] or "0"), _int(values["sku_weight_g"] or "0")
    if price is None:
        errors["sku_price"] = ERRORS["price"]
    if stock is None:
        errors["sku_stock"] = ERRORS["stock"]
    if weight is None:
        errors["sku_weight_g"] = "重量请填写克数（整数）。"
    payload: dict[str, Any] = {k: values[k] for k in PRODUCT_FIELDS}
    payload["category_id"] = _int(values["category_id"]) or None
    payload["status"] = values["status"] if values["status"] in ("draft", "published") else "draft"
    if not errors:
        payload["skus"] = [
            {"name": values["sku_name"], "price_fen": price, "stock": stock, "weight_g": weight}
        ]
        try:
            data = ProductCreate.model_validate(payload)
        except ValidationError as exc:
            errors.update({("sku_" + k if k == "skus" else k): v for k, v in errors_by_field(exc).items()})
    if errors:
        return render(
            request,
            "admin/product_new.html",
            {"section": "products", "values": values, "errors": errors, "categories": await _categories()},
            status_code=422,
            csp=True,
        )
    try:
        async with refusable(session):
            product = await catalog_service.create_product(session, staff, data)
    except AppError as exc:
        errors["__all__"] = messages.message_for(exc.code) or exc.detail
        return render(
            request,
            "admin/product_new.html",
            {"section": "products", "values": values, "errors": errors, "categories": await _categories()},
            status_code=exc.status_code,
            csp=True,
        )
    return _back(product.id, done="created")


@router.get("/products/{product_id}", summary="Back office: one product")
async def product_page(
    request: Request, product_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    product = await catalog_service.get_product_or_raise(session, product_id)
    detail = await catalog_service.admin_product(session, product)
    params = request.query_params
    return render(
        request,
        "admin/product_edit.html",
        {
            "section": "products",
            "product": detail,
            "categories": await _categories(),
            "product_status": PRODUCT_STATUS,
            "flash": NOTICES.get(params.get("done", "")),
            "error": ERRORS.get(params.get("error", "")) or messages.message_for(params.get("error")),
        },
        csp=True,
    )


@router.post("/products/{product_id}", summary="Back office: save a product")
async def update_product(
    request: Request, product_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    form = await request.form()
    payload: dict[str, Any] = {k: str(form.get(k, "")) for k in PRODUCT_FIELDS}
    category = _int(str(form.get("category_id", "")))
    if category:
        payload["category_id"] = category
    status = str(form.get("status", ""))
    if status in PRODUCT_STATUS:
        payload["status"] = status
    try:
        data = ProductUpdate.model_validate(payload)
    except ValidationError:
        await catalog_service.get_product_or_raise(session, product_id)
        return _back(product_id, error="form")
    try:
        async with refusable(session):
            await catalog_service.update_product(session, staff, product_id, data)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        return _back(product_id, error=exc.code)
    return _back(product_id, done="saved")


@router.post("/products/{product_id}/skus", summary="Back office: add a SKU")
async def add_sku(
    product_id: IdPath,
    session: SessionDep,
    staff: StaffPageUser,
    name: FormStr = "",
    price: FormStr = "",
    stock: FormStr = "0",
    weight_g: FormStr = "0",
) -> Response:
    price_fen, units, grams = yuan_to_fen(price), _int(stock or "0"), _int(weight_g or "0")
    if price_fen is None or units is None or grams is None:
        await catalog_service.get_product_or_raise(session, product_id)
        return _back(product_id, error="price" if price_fen is None else "stock")
    try:
        data = SkuCreate(name=name, price_fen=price_fen, stock=units, weight_g=grams)
    except ValidationError:
        await catalog_service.get_product_or_raise(session, product_id)
        return _back(product_id, error="form")
    try:
        async with refusable(session):
            await catalog_service.add_sku(session, staff, product_id, data)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        return _back(product_id, error=exc.code)
    return _back(product_id, done="sku")


@router.post("/skus/{sku_id}/stock", summary="Back office: set a SKU's stock")
async def set_stock(
    sku_id: IdPath, session: SessionDep, staff: StaffPageUser, stock: FormStr = ""
) -> Response:
    sku = await catalog_service.get_sku_or_raise(session, sku_id)
    units = _int(stock)
    if units is None:
        return _back(sku.product_id, error="stock")
    await catalog_service.set_stock(session, staff, sku_id, units)
    return _back(sku.product_id, done="stock")


@router.post("/products/{product_id}/images", summary="Back office: upload an image")
async def upload_image(
    product_id: IdPath,
    session: SessionDep,
    staff: StaffPageUser,
    file: UploadFile,
    alt: FormStr = "",
) -> Response:
    data = await file.read()
    try:
        async with refusable(session):
            await catalog_gallery.upload_image(session, staff, product_id, data, alt.strip()[:100])
    except AppError as exc:
        if exc.status_code == 404:
            raise
        return _back(product_id, error=exc.code)
    return _back(product_id, done="image")


@router.post("/products/{product_id}/images/{image_id}/delete", summary="Back office: delete an image")
async def delete_image(
    product_id: IdPath, image_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    await catalog_gallery.remove_image(session, staff, product_id, image_id)
    return _back(product_id, done="image")


__all__ = ["router", "yuan_to_fen", "quote"]
