"""Printable label sheets (A4, 3 x 8 labels: the QR code with the code printed under it) and CSV exports.

`batch_label_sheet` is the one way to print a batch's labels: the staff API and the back-office page call it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from app.traceability import codes as codebook

COLUMNS, ROWS = 3, 8
MARGIN_X, MARGIN_Y = 8 * mm, 10 * mm
QR_SIZE = 25 * mm


def _draw_qr(pdf: canvas.Canvas, data: str, x: float, y: float, size: float) -> None:
    """Vector QR: one rectangle per run of dark modules, so labels stay sharp at any printer resolution."""
    qr = segno.make_qr(data, error="m")
    matrix = list(qr.matrix_iter(scale=1, border=0))
    module = size / len(matrix)
    for row_index, row in enumerate(matrix):
        top = y + size - (row_index + 1) * module
        start = None
        for col, dark in enumerate(list(row) + [0]):
            if dark and start is None:
                start = col
            elif not dark and start is not None:
                pdf.rect(x + start * module, top, (col - start) * module, module, stroke=0, fill=1)
                start = None


def label_sheet(codes: list[str], url_for: Callable[[str], str], title: str) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=1)
    pdf.setTitle(title)
    page_w, page_h = A4
    cell_w = (page_w - 2 * MARGIN_X) / COLUMNS
    cell_h = (page_h - 2 * MARGIN_Y) / ROWS
    per_page = COLUMNS * ROWS
    for index, code in enumerate(codes):
        slot = index % per_page
        if index and slot == 0:
            pdf.showPage()
        col, row = slot % COLUMNS, slot // COLUMNS
        x0 = MARGIN_X + col * cell_w
        y0 = page_h - MARGIN_Y - (row + 1) * cell_h
        qr_x = x0 + (cell_w - QR_SIZE) / 2
        qr_y = y0 + cell_h - QR_SIZE - 3 * mm
        _draw_qr(pdf, url_for(code), qr_x, qr_y, QR_SIZE)
        pdf.setFont("Courier-Bold", 9)
        pdf.drawCentredString(x0 + cell_w / 2, qr_y - 4 * mm, codebook.pretty(code))
    if not codes:
        pdf.setFont("Helvetica", 12)
        pdf.drawString(MARGIN_X, page_h - MARGIN_Y - 12, "No codes to print.")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@dataclass(frozen=True)
class LabelSheet:
    batch_no: str
    pdf: bytes

    @property
    def filename(self) -> str:
        return f"labels-{self.batch_no}.pdf"


def codes_csv(rows: Iterable[tuple[str, str, str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["code", "printed", "url", "batch_no", "status"])
    for row in rows:
        writer.writerow(row)
    return out.getvalue()
