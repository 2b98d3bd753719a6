"""The label sheet is a real A4 PDF whose QR codes decode back to each code's public trace URL."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app.config import get_settings
from app.traceability import codes as codebook
from app.users.models import Role
from tests.traceability import factories as f
from tests.users.factories import auth, create_user

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils (pdftoppm)")


def run(*args: str) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=True).stdout


def decode_pdf(pdf: bytes, tmp_path: Path) -> tuple[list[str], int]:
    import zxingcpp
    from PIL import Image

    source = tmp_path / "labels.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(source), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    texts = []
    for page in pages:
        texts += [
            r.text
            for r in zxingcpp.read_barcodes(Image.open(page))
            if r.format == zxingcpp.BarcodeFormat.QRCode
        ]
    return texts, len(pages)


class TestLabelSheet:
    async def test_qr_codes_decode_to_the_trace_urls(self, client, tmp_path):
        staff = auth(await create_user(role=Role.merchant))
        batch = await f.create_batch()
        codes = await f.create_codes(batch, 30)
        revoke = codes[0]
        await client.post("/api/admin/trace-codes/revoke", json={"codes": [revoke]}, headers=staff)

        response = await client.get(f"/api/admin/batches/{batch.id}/codes/labels.pdf", headers=staff)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-") and response.content.rstrip().endswith(b"%%EOF")

        texts, pages = decode_pdf(response.content, tmp_path)
        base = get_settings().public_base_url
        assert pages == 2  # 29 labels at 24 a page
        assert sorted(texts) == sorted(f"{base}/trace/{c}" for c in codes[1:])

        # The printed text under each QR is the code in groups of four.
        text = run("pdftotext", str(tmp_path / "labels.pdf"), "-")
        assert codebook.pretty(codes[1]) in text and codebook.pretty(revoke) not in text

    async def test_a4_page_size(self, client, tmp_path):
        staff = auth(await create_user(role=Role.merchant))
        batch = await f.create_batch()
        await f.create_codes(batch, 1)
        pdf = (await client.get(f"/api/admin/batches/{batch.id}/codes/labels.pdf", headers=staff)).content
        (tmp_path / "a.pdf").write_bytes(pdf)
        info = run("pdfinfo", str(tmp_path / "a.pdf"))
        assert "595.276 x 841.89 pts (A4)" in info
