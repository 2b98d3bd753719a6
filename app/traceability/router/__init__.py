"""Traceability's API: one router per seam, mounted in this order (the OpenAPI document follows it)."""

from fastapi import APIRouter

from app.traceability.router import certificates, codes, public, supply

router = APIRouter()
for part in (supply, certificates, codes, public):
    router.include_router(part.router)
