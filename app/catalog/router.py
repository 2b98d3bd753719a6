"""Public catalogue reads (pre-serialised JSON from the cache) and the staff back-office API."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from app.catalog import categories, gallery, reads, service
from app.catalog.errors import (
    CategoryCycle,
    CategoryInUse,
    CategoryNotFound,
    ImageNotFound,
    ImageOrderMismatch,
    ImageTooLarge,
    InvalidImage,
    PriceAboveOriginal,
    ProductNotFound,
    ProductNotPublishable,
    SkuNotFound,
    UnknownCategory,
)
from app.catalog.schemas import (
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    ImageOrder,
    ImageRead,
    ProductAdminListItem,
    ProductAdminRead,
    ProductCreate,
    ProductDetail,
    ProductListPage,
    ProductListQuery,
    ProductUpdate,
    SkuAdminRead,
    SkuCreate,
    SkuUpdate,
    SortOption,
    StockSet,
)
from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated, StorageUnavailable
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath, IdQuery
from app.users.dependencies import StaffUser

router = APIRouter()
PUBLIC = ["catalog"]
ADMIN = ["catalog admin"]
STAFF_ERRORS = (NotAuthenticated, Forbidden)


def _json(body: bytes, status_code: int = 200) -> Response:
    return Response(content=body, status_code=status_code, media_type="application/json")


@router.get(
    "/api/categories",
    tags=PUBLIC,
    summary="All categories (a tree: follow parent_id)",
    response_model=list[CategoryRead],
)
async def list_categories() -> Response:
    return _json(await categories.categories_json())


@router.get(
    "/api/products",
    tags=PUBLIC,
    summary="Published products: search, filter, sort, page",
    response_model=ProductListPage,
    responses=problem_responses(),
)
async def list_products(params: Annotated[ProductListQuery, Query()]) -> Response:
    # One query model instead of eight separate parameters: the hottest route pays for one validation.
    return _json(await reads.public_product_list_json(params))


@router.get(
    "/api/products/{product_id}",
    tags=PUBLIC,
    summary="A published product with its SKUs (live stock), images, batches and certificates",
    response_model=ProductDetail,
    responses=problem_responses(ProductNotFound),
)
async def get_product(product_id: IdPath) -> Response:
    return _json(await reads.product_detail_json(product_id))


# ---------------------------------------------------------------- staff: products


@router.get(
    "/api/admin/products",
    tags=ADMIN,
    summary="All products, drafts and archived ones too",
    response_model=Page[ProductAdminListItem],
    responses=problem_responses(*STAFF_ERRORS),
)
async def admin_list_products(
    _staff: StaffUser,
    session: SessionDep,
    page: PageParamsDep,
    q: Annotated[str | None, Query(max_length=2000)] = None,
    status_: Annotated[Literal["draft", "published", "archived"] | None, Query(alias="status")] = None,
    category_id: IdQuery = None,
    sort: SortOption | None = None,
) -> Page[ProductAdminListItem]:
    return await service.admin_product_list(
        session, page, q=q, status=status_, category_id=category_id, sort=sort
    )


@router.get(
    "/api/admin/products/{product_id}",
    tags=ADMIN,
    summary="One product, whatever its status, with all its SKUs",
    response_model=ProductAdminRead,
    responses=problem_responses(*STAFF_ERRORS, ProductNotFound),
)
async def admin_get_product(product_id: IdPath, _staff: StaffUser, session: SessionDep) -> ProductAdminRead:
    return await service.admin_product(session, await service.get_product_or_raise(session, product_id))


@router.post(
    "/api/admin/products",
    status_code=status.HTTP_201_CREATED,
    tags=ADMIN,
    summary="Create a product with its SKUs (draft or published)",
    response_model=ProductAdminRead,
    responses=problem_responses(*STAFF_ERRORS, UnknownCategory, ProductNotPublishable),
)
async def admin_create_product(
    data: ProductCreate, staff: StaffUser, session: SessionDep
) -> ProductAdminRead:
    product = await service.create_product(session, staff, data)
    return await service.admin_product(session, product)


@router.patch(
    "/api/admin/products/{product_id}",
    tags=ADMIN,
    summary="Change a product (any field; status too)",
    response_model=ProductAdminRead,
    responses=problem_responses(*STAFF_ERRORS, ProductNotFound, UnknownCategory, ProductNotPublishable),
)
async def admin_update_product(
    product_id: IdPath, data: ProductUpdate, staff: StaffUser, session: SessionDep
) -> ProductAdminRead:
    product = await service.update_product(session, staff, product_id, data)
    return await service.admin_product(session, product)


@router.post(
    "/api/admin/products/{product_id}/publish",
    tags=ADMIN,
    summary="Publish a product (it needs an active SKU)",
    response_model=ProductAdminRead,
    responses=problem_responses(*STAFF_ERRORS, ProductNotFound, ProductNotPublishable, validation=False),
)
async def admin_publish_product(
    product_id: IdPath, staff: StaffUser, session: SessionDep
) -> ProductAdminRead:
    product = await service.set_product_status(session, staff, product_id, "published")
    return await service.admin_product(session, product)


@router.post(
    "/api/admin/products/{product_id}/archive",
    tags=ADMIN,
    summary="Archive a product: gone from the shop (404), kept for old orders",
    response_model=ProductAdminRead,
    responses=problem_responses(*STAFF_ERRORS, ProductNotFound, validation=False),
)
async def admin_archive_product(
    product_id: IdPath, staff: StaffUser, session: SessionDep
) -> ProductAdminRead:
    product = await service.set_product_status(session, staff, product_id, "archived")
    return await service.admin_product(session, product)


# ---------------------------------------------------------------- staff: SKUs


@router.post(
    "/api/admin/products/{product_id}/skus",
    status_code=status.HTTP_201_CREATED,
    tags=ADMIN,
    summary="Add a SKU to a product",
    response_model=SkuAdminRead,
    responses=problem_responses(*STAFF_ERRORS, ProductNotFound),
)
async def admin_add_sku(
    product_id: IdPath, data: SkuCreate, staff: StaffUser, session: SessionDep
) -> SkuAdminRead:
    return SkuAdminRead.model_validate(await service.add_sku(session, staff, product_id, data))


@router.patch(
    "/api/admin/skus/{sku_id}",
    tags=ADMIN,
    summary="Change a SKU (is_active: false deactivates it)",
    response_model=SkuAdminRead,
    responses=problem_responses(*STAFF_ERRORS, SkuNotFound, PriceAboveOriginal, ProductNotPublishable),
)
async def admin_update_sku(
    sku_id: IdPath, data: SkuUpdate, staff: StaffUser, session: SessionDep
) -> SkuAdminRead:
    return SkuAdminRead.model_validate(await service.update_sku(session, staff, sku_id, data))


@router.post(
    "/api/admin/skus/{sku_id}/deactivate",
    tags=ADMIN,
    summary="Take a SKU off sale (kept for old orders)",
    response_model=SkuAdminRead,
    responses=problem_responses(*STAFF_ERRORS, SkuNotFound, ProductNotPublishable, validation=False),
)
async def admin_deactivate_sku(sku_id: IdPath, staff: StaffUser, session: SessionDep) -> SkuAdminRead:
    return SkuAdminRead.model_validate(
        await service.update_sku(session, staff, sku_id, SkuUpdate(is_active=False))
    )


@router.put(
    "/api/admin/skus/{sku_id}/stock",
    tags=ADMIN,
    summary="Set a SKU's stock (shows at the next read)",
    response_model=SkuAdminRead,
    responses=problem_responses(*STAFF_ERRORS, SkuNotFound),
)
async def admin_set_stock(
    sku_id: IdPath, data: StockSet, staff: StaffUser, session: SessionDep
) -> SkuAdminRead:
    return SkuAdminRead.model_validate(await service.set_stock(session, staff, sku_id, data.stock))


# ---------------------------------------------------------------- staff: categories


@router.post(
    "/api/admin/categories",
    status_code=status.HTTP_201_CREATED,
    tags=ADMIN,
    summary="Create a category",
    response_model=CategoryRead,
    responses=problem_responses(*STAFF_ERRORS, UnknownCategory),
)
async def admin_create_category(data: CategoryCreate, staff: StaffUser, session: SessionDep) -> CategoryRead:
    return CategoryRead.model_validate(await categories.create_category(session, staff, data))


@router.patch(
    "/api/admin/categories/{category_id}",
    tags=ADMIN,
    summary="Rename or move a category",
    response_model=CategoryRead,
    responses=problem_responses(*STAFF_ERRORS, CategoryNotFound, UnknownCategory, CategoryCycle),
)
async def admin_update_category(
    category_id: IdPath, data: CategoryUpdate, staff: StaffUser, session: SessionDep
) -> CategoryRead:
    return CategoryRead.model_validate(await categories.update_category(session, staff, category_id, data))


@router.delete(
    "/api/admin/categories/{category_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=ADMIN,
    summary="Delete an empty category",
    responses=problem_responses(*STAFF_ERRORS, CategoryNotFound, CategoryInUse, validation=False),
)
async def admin_delete_category(category_id: IdPath, staff: StaffUser, session: SessionDep) -> Response:
    await categories.delete_category(session, staff, category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- staff: images


@router.post(
    "/api/admin/products/{product_id}/images",
    status_code=status.HTTP_201_CREATED,
    tags=ADMIN,
    summary="Upload a product image (JPEG/PNG/WebP, ≤ 5 MB; re-encoded, EXIF removed)",
    response_model=ImageRead,
    responses=problem_responses(
        *STAFF_ERRORS, ProductNotFound, InvalidImage, ImageTooLarge, StorageUnavailable
    ),
)
async def admin_upload_image(
    product_id: IdPath,
    staff: StaffUser,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="the image")],
    alt: Annotated[str, Form(max_length=100)] = "",
) -> ImageRead:
    from app.catalog.images import MAX_UPLOAD_BYTES

    data = await file.read(MAX_UPLOAD_BYTES + 1)
    image = await gallery.upload_image(session, staff, product_id, data, alt.strip())
    return ImageRead.model_validate(image)


@router.put(
    "/api/admin/products/{product_id}/images/order",
    tags=ADMIN,
    summary="Reorder a product's images (the first is the cover)",
    response_model=list[ImageRead],
    responses=problem_responses(*STAFF_ERRORS, ProductNotFound, ImageOrderMismatch),
)
async def admin_reorder_images(
    product_id: IdPath, data: ImageOrder, staff: StaffUser, session: SessionDep
) -> list[ImageRead]:
    images = await gallery.reorder_images(session, staff, product_id, data.image_ids)
    return [ImageRead.model_validate(i) for i in images]


@router.delete(
    "/api/admin/products/{product_id}/images/{image_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=ADMIN,
    summary="Delete a product image",
    responses=problem_responses(*STAFF_ERRORS, ProductNotFound, ImageNotFound, validation=False),
)
async def admin_delete_image(
    product_id: IdPath, image_id: IdPath, staff: StaffUser, session: SessionDep
) -> Response:
    await gallery.remove_image(session, staff, product_id, image_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
