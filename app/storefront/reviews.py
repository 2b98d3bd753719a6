"""Reviews as pages, on app.reviews.service (the same calls as the API): the review form reached from
我的订单 (photos uploaded with it), a product's reviews with thumbnails and a photo viewer (CSS only, no
script), and the back office's moderation list (hide with a reason, show again, reply)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.catalog import reads as catalog_reads
from app.catalog.images import MAX_UPLOAD_BYTES
from app.db import SessionDep, refusable, session_scope
from app.errors import AppError
from app.kit.pagination import PageParams, page_count
from app.kit.params import IdPath, parse_id
from app.reviews import service as reviews_service
from app.reviews.schemas import MAX_IMAGES, MAX_TEXT, ReviewCreate
from app.storefront.dependencies import SignedInPageUser, StaffPageUser, load_cart_count, staff_pages_router
from app.storefront.forms import FormStr, page_number
from app.storefront.templating import ADMIN_SECTIONS, render

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(load_cart_count)])
admin_router = staff_pages_router()

ADMIN_SECTIONS.append(("reviews", "/admin/reviews", "评价"))

REVIEWS_PER_PAGE = 10
ADMIN_PER_PAGE = 20
MESSAGES = {
    "already_reviewed": "这件商品已经评价过了。",
    "order_not_reviewable": "确认收货后才能评价。",
    "review_not_editable": "评价只能在 7 天内修改一次。",
    "review_image_invalid": "照片无法使用，请重新选择。",
    "invalid_image": "只能上传 JPEG、PNG 或 WebP 格式的照片。",
    "image_too_large": "照片太大了（每张最多 5 MB）。",
    "storage_unavailable": "照片暂时无法保存，请稍后再试。",
}
NOTICES = {"created": "评价已发布，感谢您的分享！", "edited": "评价已修改。"}
ADMIN_NOTICES = {"hidden": "评价已隐藏", "shown": "评价已恢复显示", "replied": "回复已发布"}


def stars(rating: int) -> str:
    return "★" * rating + "☆" * (5 - rating)


async def latest_for_product_page(product_id: int) -> dict[str, Any]:
    """The product page's review section: the newest three and how many have photos."""
    async with session_scope() as session:
        items, with_photos = await reviews_service.latest(session, product_id)
    return {"items": [i.model_dump() for i in items], "with_photos": with_photos, "stars": stars}


# ---------------------------------------------------------------------------------------------- customers


async def _form(
    request: Request,
    session: SessionDep,
    user: Any,
    order_id: int,
    sku_id: int,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    order, item, review = await reviews_service.line_with_review(session, user.id, order_id, sku_id)
    mine = reviews_service.to_mine(review) if review else None
    editable = bool(mine and mine.editable_until and mine.status == "visible")
    return render(
        request,
        "storefront/review_form.html",
        {
            "order": order,
            "item": item,
            "review": mine,
            "editable": editable,
            "values": values
            or ({"rating": str(mine.rating), "text": mine.text} if mine else {"rating": "5"}),
            "error": error,
            "max_text": MAX_TEXT,
            "max_images": MAX_IMAGES,
            "stars": stars,
        },
        status_code=status_code,
        csp=True,
    )


@router.get("/account/reviews/{order_id}/{sku_id}", summary="The review form of one line of my order")
async def review_form(
    request: Request, order_id: IdPath, sku_id: IdPath, session: SessionDep, user: SignedInPageUser
) -> Response:
    return await _form(request, session, user, order_id, sku_id)


@router.post("/account/reviews/{order_id}/{sku_id}", summary="Publish (or edit) my review of a line")
async def submit_review(
    request: Request,
    order_id: IdPath,
    sku_id: IdPath,
    session: SessionDep,
    user: SignedInPageUser,
    rating: FormStr = "",
    text: FormStr = "",
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    values = {"rating": rating, "text": text}
    files = [f for f in photos or [] if f.filename]
    if len(files) > MAX_IMAGES:
        return await _form(
            request, session, user, order_id, sku_id, values=values,
            error=f"最多上传 {MAX_IMAGES} 张照片。", status_code=422,
        )  # fmt: skip
    try:
        data = ReviewCreate.model_validate({"rating": int(rating) if rating.isdigit() else 0, "text": text})
    except ValidationError:
        return await _form(
            request, session, user, order_id, sku_id, values=values,
            error=f"请选择 1–5 星，评价最多 {MAX_TEXT} 字。", status_code=422,
        )  # fmt: skip
    _order, _item, existing = await reviews_service.line_with_review(session, user.id, order_id, sku_id)
    try:
        async with refusable(session):
            image_ids: list[int] = []
            for upload in files:
                image = await reviews_service.upload_image(
                    session, user.id, await upload.read(MAX_UPLOAD_BYTES + 1)
                )
                image_ids.append(image.id)
            data = data.model_copy(update={"image_ids": image_ids})
            if existing is None:
                review = await reviews_service.create(session, user, order_id, sku_id, data)
            else:
                if not files:  # an edit without new photos keeps the ones it had
                    data = data.model_copy(
                        update={"image_ids": await reviews_service.image_ids_of(session, existing.id)}
                    )
                review = await reviews_service.edit(session, user, order_id, sku_id, data)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        message = MESSAGES.get(exc.code) or exc.detail
        return await _form(
            request,
            session,
            user,
            order_id,
            sku_id,
            values=values,
            error=message,
            status_code=exc.status_code,
        )
    done = "created" if existing is None else "edited"
    return RedirectResponse(
        f"/products/{review.product_id}/reviews?done={done}#review-{review.id}", status_code=303
    )


@router.get("/products/{product_id}/reviews", summary="A product's reviews with photos")
async def product_reviews(request: Request, product_id: str, session: SessionDep) -> Response:
    from app.catalog.errors import ProductNotFound

    pid = parse_id(product_id)
    if pid is None:
        raise ProductNotFound("No such product.")
    product = await catalog_reads.product_detail(pid)
    params = request.query_params
    with_images = params.get("with_images") == "true"
    page_no = page_number(params.get("page"))
    page = await reviews_service.list_public(
        session, pid, PageParams(page=page_no, size=REVIEWS_PER_PAGE), with_images=with_images
    )
    base = {"with_images": "true"} if with_images else {}
    return render(
        request,
        "storefront/reviews.html",
        {
            "product": product,
            "page": page,
            "page_no": page_no,
            "pages": page_count(page.total, REVIEWS_PER_PAGE),
            "page_url": lambda n: f"/products/{pid}/reviews?" + urlencode({**base, "page": n}),
            "with_images": with_images,
            "notice": NOTICES.get(params.get("done", "")),
            "stars": stars,
        },
        csp=True,
    )


# ---------------------------------------------------------------------------------------------- staff


@admin_router.get("/reviews", summary="Back office: the moderation list of reviews")
async def admin_reviews(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    params = request.query_params
    status = params.get("status") if params.get("status") in ("visible", "hidden") else None
    page_no = page_number(params.get("page"))
    page = await reviews_service.list_for_staff(
        session, PageParams(page=page_no, size=ADMIN_PER_PAGE), status
    )
    return render(
        request,
        "admin/reviews.html",
        {
            "section": "reviews",
            "page": page,
            "status": status,
            "page_no": page_no,
            "pages": page_count(page.total, ADMIN_PER_PAGE),
            "notice": ADMIN_NOTICES.get(params.get("done", "")),
            "error": "请填写原因或回复内容（1–200 字）。" if params.get("error") else None,
            "stars": stars,
        },
    )


def _back(done: str | None = None, error: bool = False) -> Response:
    return RedirectResponse("/admin/reviews?" + ("error=1" if error else f"done={done}"), status_code=303)


@admin_router.post("/reviews/{review_id}/hide", summary="Back office: hide a review")
async def admin_hide(
    review_id: IdPath, session: SessionDep, staff: StaffPageUser, reason: FormStr = ""
) -> Response:
    reason = reason.strip()
    if not 1 <= len(reason) <= 200:
        return _back(error=True)
    await reviews_service.hide(session, staff, review_id, reason)
    return _back("hidden")


@admin_router.post("/reviews/{review_id}/unhide", summary="Back office: show a hidden review again")
async def admin_unhide(review_id: IdPath, session: SessionDep, staff: StaffPageUser) -> Response:
    await reviews_service.unhide(session, staff, review_id)
    return _back("shown")


@admin_router.post("/reviews/{review_id}/reply", summary="Back office: reply to a review")
async def admin_reply(
    review_id: IdPath, session: SessionDep, staff: StaffPageUser, text: FormStr = ""
) -> Response:
    text = text.strip()
    if not 1 <= len(text) <= MAX_TEXT:
        return _back(error=True)
    await reviews_service.reply(session, staff, review_id, text)
    return _back("replied")
