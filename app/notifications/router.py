from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.db import SessionDep
from app.errors import NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath
from app.notifications import service
from app.notifications.errors import NotificationNotFound
from app.notifications.schemas import MarkedRead, NotificationRead
from app.users.dependencies import CurrentUser

router = APIRouter(tags=["notifications"])


@router.get(
    "/api/users/me/notifications",
    response_model=Page[NotificationRead],
    summary="My notifications (订单已发货 …), newest first",
    responses=problem_responses(NotAuthenticated),
)
async def list_notifications(
    user: CurrentUser,
    session: SessionDep,
    page: PageParamsDep,
    unread: Annotated[bool, Query(description="only the unread ones")] = False,
) -> Page[NotificationRead]:
    rows, total = await service.list_mine(session, user, page, unread_only=unread)
    return Page(
        items=[NotificationRead.model_validate(n) for n in rows], total=total, page=page.page, size=page.size
    )


@router.post(
    "/api/users/me/notifications/read-all",
    response_model=MarkedRead,
    summary="Mark all my notifications as read",
    responses=problem_responses(NotAuthenticated, validation=False),
)
async def mark_all_read(user: CurrentUser, session: SessionDep) -> MarkedRead:
    return MarkedRead(marked=await service.mark_all_read(session, user))


@router.post(
    "/api/users/me/notifications/{notification_id}/read",
    response_model=NotificationRead,
    summary="Mark one of my notifications as read",
    responses=problem_responses(NotAuthenticated, NotificationNotFound),
)
async def mark_read(notification_id: IdPath, user: CurrentUser, session: SessionDep) -> NotificationRead:
    return NotificationRead.model_validate(await service.mark_read(session, user, notification_id))
