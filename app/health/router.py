from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from app.db import get_sessionmaker
from app.redis import redis_status

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "down"]
    redis: Literal["ok", "disabled", "down"]


async def database_status() -> str:
    try:
        async with get_sessionmaker()() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        return "down"
    return "ok"


@router.get(
    "/api/health",
    response_model=Health,
    summary="Liveness and dependencies: 503 when the database is unreachable",
    responses={503: {"model": Health, "description": "The database is unreachable"}},
)
async def health() -> JSONResponse:
    database = await database_status()
    body = Health(
        status="ok" if database == "ok" else "degraded", database=database, redis=await redis_status()
    )
    return JSONResponse(body.model_dump(), status_code=200 if database == "ok" else 503)
