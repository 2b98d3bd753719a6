"""Recipient lists: typed in, or uploaded as CSV (UTF-8, with or without BOM, or GB18030 as Excel on Chinese
Windows saves it) or XLSX (the first sheet). The first row of a file names the columns, in English or
Chinese, in any order. Every row is validated like a customer's address (app.users.schemas.AddressBase: the
province from the list, a mobile phone); every bad row is reported by its row number (the file's own
numbering: the header is row 1) with the reason, and nothing is stored unless every row is valid.

Files are parsed row by row (csv reader; openpyxl in read-only mode, which streams the sheet), so a list of
thousands of rows takes a fraction of a second and little memory."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import TypeAdapter, ValidationError

from app.gifts.errors import InvalidRecipients, UnsupportedFile
from app.gifts.schemas import RecipientIn

MAX_ROWS = 10_000
MAX_REPORTED = 200  # errors reported at most (a wrong file would otherwise answer thousands of them)
FIELDS = ("recipient", "phone", "province", "city", "district", "detail", "quantity")
HEADERS = {
    "recipient": "recipient",
    "收件人": "recipient",
    "姓名": "recipient",
    "phone": "phone",
    "电话": "phone",
    "手机": "phone",
    "手机号": "phone",
    "province": "province",
    "省份": "province",
    "省": "province",
    "city": "city",
    "城市": "city",
    "市": "city",
    "district": "district",
    "区县": "district",
    "区": "district",
    "detail": "detail",
    "详细地址": "detail",
    "地址": "detail",
    "quantity": "quantity",
    "数量": "quantity",
}
CHINESE_HEADER = ("收件人", "手机号", "省份", "城市", "区县", "详细地址", "数量")
XLSX_MAGIC = b"PK\x03\x04"

_recipient = TypeAdapter(RecipientIn)


def validate(rows: Iterable[tuple[int, dict[str, Any]]], quantity: int) -> list[RecipientIn]:
    """Every row valid and their quantities adding up to `quantity`, or InvalidRecipients with every error
    (row number, reason)."""
    valid: list[RecipientIn] = []
    errors: list[dict[str, Any]] = []
    for row_no, raw in rows:
        if len(valid) + len(errors) >= MAX_ROWS:
            raise InvalidRecipients(f"At most {MAX_ROWS} recipients per request.", errors=[])
        try:
            valid.append(_recipient.validate_python(raw))
        except ValidationError as exc:
            errors.append({"row": row_no, "reason": _reason(exc)})
    if errors:
        raise InvalidRecipients(
            f"{len(errors)} rows are not valid; nothing was stored.", errors=errors[:MAX_REPORTED]
        )
    if not valid:
        raise InvalidRecipients("The list has no recipients.", errors=[])
    total = sum(r.quantity for r in valid)
    if total != quantity:
        raise InvalidRecipients(
            f"The recipients' quantities add up to {total}, not to the request's {quantity}.", errors=[]
        )
    return valid


def _reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "row"
        message = error["msg"]
        if field in ("province",):
            message = "不是中国的省级行政区（请从列表中选择）/ not a province of China"
        elif field in ("phone",):
            message = "手机号须为 11 位数字 / not a mainland mobile number"
        elif error["type"] == "missing":
            message = "缺少此项 / missing"
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def typed(recipients: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Typed-in rows, numbered from 1."""
    return ((i, row) for i, row in enumerate(recipients, start=1))


def parse_file(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, row) of an uploaded CSV or XLSX, sniffed from its bytes (never the name)."""
    if data.startswith(XLSX_MAGIC):
        return _xlsx_rows(data)
    if b"\x00" in data[:4096]:
        raise UnsupportedFile("Upload a CSV or XLSX file (UTF-8 or GB18030 CSV).")
    return _csv_rows(data)


def _text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnsupportedFile("The CSV file is neither UTF-8 nor GB18030.")


def _columns(header: Iterable[Any]) -> list[str | None]:
    columns = [HEADERS.get(str(cell or "").strip().lower()) for cell in header]
    missing = [field for field in FIELDS if field not in columns]
    if missing:
        raise UnsupportedFile(
            "The first row must name the columns: "
            + ", ".join(FIELDS)
            + " (or "
            + ", ".join(CHINESE_HEADER)
            + "); missing: "
            + ", ".join(missing)
            + ".",
        )
    return columns


def _row(columns: list[str | None], cells: Iterable[Any]) -> dict[str, Any] | None:
    row: dict[str, Any] = {}
    for column, cell in zip(columns, cells, strict=False):
        if column is None or cell is None:
            continue
        row[column] = _cell(column, cell)
    return row or None


def _cell(column: str, cell: Any) -> Any:
    if column == "quantity":
        if isinstance(cell, float) and cell.is_integer():
            return int(cell)
        if isinstance(cell, str) and cell.strip().isdigit():
            return int(cell.strip())
        return cell
    if isinstance(cell, float) and cell.is_integer():  # a phone typed into a number cell
        cell = int(cell)
    text = str(cell).strip()
    return text or None


def _csv_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(_text(data), newline=""))
    header = next(reader, None)
    if header is None:
        raise UnsupportedFile("The file is empty.")
    columns = _columns(header)
    for row_no, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        row = _row(columns, cells)
        if row is not None:
            yield row_no, row


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    from openpyxl import load_workbook  # only when an XLSX comes

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnsupportedFile("This XLSX file cannot be read.") from exc
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise UnsupportedFile("The file is empty.")
        columns = _columns(header)
        for row_no, cells in enumerate(rows, start=2):
            row = _row(columns, cells)
            if row is not None:
                yield row_no, row
    finally:
        book.close()


def shipping_list_xlsx(rows: Iterable[tuple[Any, ...]], header: tuple[str, ...]) -> bytes:
    """The courier's shipping list (write-only workbook: rows stream into the file)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("发货清单")
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
