"""Reviews (晒单评价): customers review the lines of their completed orders, the public reads a product's
reviews, staff hide, show again and reply."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, UploadFile, status

from app.catalog.errors import ImageTooLarge, InvalidImage, ProductNotFound
from app.catalog.images import MAX_UPLOAD_BYTES
from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated, StorageUnavailable
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath
from app.reviews import service
from app.reviews.errors import (
    AlreadyReviewed,
    OrderLineNotFound,
    OrderNotReviewable,
    ReviewImageInvalid,
    ReviewNotEditable,
    ReviewNotFound,
    ReviewRejected,
)
from app.reviews.schemas import (
    HideRequest,
    MyReviewRead,
    ReplyRequest,
    ReviewAdminRead,
    ReviewCreate,
    ReviewImageRead,
    ReviewRead,
    ReviewUpdate,
)
from app.users.dependencies import CurrentUser, StaffUser

router = APIRouter()
TAGS = ["reviews"]
ADMIN_TAGS = ["reviews (staff)"]
STAFF_ERRORS = (NotAuthenticated, Forbidden)
WRITE_ERRORS = (NotAuthenticated, OrderLineNotFound, ReviewRejected, ReviewImageInvalid)


@router.post(
    "/api/orders/{order_id}/items/{sku_id}/review",
    status_code=status.HTTP_201_CREATED,
    response_model=MyReviewRead,
    tags=TAGS,
    summary="Review one line of my completed order (once; 评价来自批次 … is filled from its shipment)",
    responses=problem_responses(*WRITE_ERRORS, OrderNotReviewable, AlreadyReviewed),
)
async def create_review(
    order_id: IdPath, sku_id: IdPath, data: ReviewCreate, user: CurrentUser, session: SessionDep
) -> MyReviewRead:
    return service.to_mine(await service.create(session, user, order_id, sku_id, data))


@router.put(
    "/api/orders/{order_id}/items/{sku_id}/review",
    response_model=MyReviewRead,
    tags=TAGS,
    summary="Edit my review of this line: once, within 7 days",
    responses=problem_responses(*WRITE_ERRORS, ReviewNotFound, ReviewNotEditable),
)
async def edit_review(
    order_id: IdPath, sku_id: IdPath, data: ReviewUpdate, user: CurrentUser, session: SessionDep
) -> MyReviewRead:
    return service.to_mine(await service.edit(session, user, order_id, sku_id, data))


@router.post(
    "/api/review-images",
    status_code=status.HTTP_201_CREATED,
    response_model=ReviewImageRead,
    tags=TAGS,
    summary="Upload a photo for a review (JPEG, PNG or WebP; re-encoded, EXIF removed)",
    responses=problem_responses(NotAuthenticated, InvalidImage, ImageTooLarge, StorageUnavailable),
)
async def upload_review_image(
    user: CurrentUser, session: SessionDep, file: Annotated[UploadFile, File(description="the photo")]
) -> ReviewImageRead:
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    return ReviewImageRead.model_validate(await service.upload_image(session, user.id, data))


@router.get(
    "/api/products/{product_id}/reviews",
    response_model=Page[ReviewRead],
    tags=TAGS,
    summary="A product's reviews, newest first (hidden ones left out)",
    responses=problem_responses(ProductNotFound),
)
async def list_product_reviews(
    product_id: IdPath,
    session: SessionDep,
    page: PageParamsDep,
    with_images: Annotated[bool, Query(description="only reviews with photos (晒图)")] = False,
) -> Page[ReviewRead]:
    return await service.list_public(session, product_id, page, with_images=with_images)


# ---------------------------------------------------------------------------------------------- staff


@router.get(
    "/api/admin/reviews",
    response_model=Page[ReviewAdminRead],
    tags=ADMIN_TAGS,
    summary="Every review, newest first (the moderation list)",
    responses=problem_responses(*STAFF_ERRORS),
)
async def admin_list_reviews(
    staff: StaffUser,
    session: SessionDep,
    page: PageParamsDep,
    status_: Annotated[Literal["visible", "hidden"] | None, Query(alias="status")] = None,
) -> Page[ReviewAdminRead]:
    return await service.list_for_staff(session, page, status_)


@router.post(
    "/api/admin/reviews/{review_id}/hide",
    response_model=ReviewAdminRead,
    tags=ADMIN_TAGS,
    summary="Hide a review (the reason is kept); it leaves the product's rating",
    responses=problem_responses(*STAFF_ERRORS, ReviewNotFound),
)
async def admin_hide_review(
    review_id: IdPath, staff: StaffUser, session: SessionDep, data: HideRequest | None = None
) -> ReviewAdminRead:
    reason = (data or HideRequest()).reason
    return service.to_admin(await service.hide(session, staff, review_id, reason))


@router.post(
    "/api/admin/reviews/{review_id}/unhide",
    response_model=ReviewAdminRead,
    tags=ADMIN_TAGS,
    summary="Show a hidden review again; it counts in the product's rating again",
    responses=problem_responses(*STAFF_ERRORS, ReviewNotFound, validation=False),
)
async def admin_unhide_review(review_id: IdPath, staff: StaffUser, session: SessionDep) -> ReviewAdminRead:
    return service.to_admin(await service.unhide(session, staff, review_id))


@router.post(
    "/api/admin/reviews/{review_id}/reply",
    response_model=ReviewAdminRead,
    tags=ADMIN_TAGS,
    summary="Reply to a review as the shop (replaces an earlier reply)",
    responses=problem_responses(*STAFF_ERRORS, ReviewNotFound),
)
async def admin_reply_review(
    review_id: IdPath, data: ReplyRequest, staff: StaffUser, session: SessionDep
) -> ReviewAdminRead:
    return service.to_admin(await service.reply(session, staff, review_id, data.text))
