"""The product detail with its story: the catalog's product page shows the batches and certificates
traceability knows of. Traceability sits above catalog (it builds on products), so catalog cannot call
it; this flow hands traceability's story teller to catalog once, when the app starts (`install()`,
called by app.main.create_app)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import reads as catalog_reads
from app.traceability import stories as trace_stories


async def product_story(session: AsyncSession, product_id: int) -> dict[str, list[Any]]:
    story = await trace_stories.product_story(session, product_id)
    return {"certificates": list(story.get("certificates", [])), "batches": list(story.get("batches", []))}


def install() -> None:
    catalog_reads.tell_stories_with(product_story)
