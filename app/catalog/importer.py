"""`daoxiang import-products FILE.csv|FILE.xlsx`: bulk-create products, all or nothing.

One row per SKU; rows with the same `product` name make one product, whose product fields come from its first
row (later rows may leave them empty, but may not contradict them). Columns (header row first, any order):

    product*, category, subtitle, description, origin, variety, grade, harvest_year, shelf_life_days,
    storage_advice, status (draft|published, default draft), sku*, price* (yuan, e.g. 128.00; or price_fen),
    original_price (or original_price_fen), stock, weight_g*, gtin

`category` is a category name, or a path like `大米/五常大米` when names repeat. A product whose name already
exists is refused (this creates; it does not update). Every bad row is reported with its line number and
reason, and then nothing is imported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import service
from app.catalog.models import Category, Product
from app.catalog.schemas import ProductCreate, SkuCreate
from app.kit.money import MAX_PRICE_FEN, NotAnAmount, yuan_to_fen

MAX_ROWS = 10_000
PRODUCT_COLUMNS = (
    "category",
    "subtitle",
    "description",
    "origin",
    "variety",
    "grade",
    "harvest_year",
    "shelf_life_days",
    "storage_advice",
    "status",
)
KNOWN_COLUMNS = {
    "product",
    "sku",
    "price",
    "price_fen",
    "original_price",
    "original_price_fen",
    "stock",
    "weight_g",
    "gtin",
    *PRODUCT_COLUMNS,
}
IMPORT_ACTOR = SimpleNamespace(id=None, role="import")


class ImportFailed(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class PlannedProduct:
    name: str
    line: int
    fields: dict[str, Any]
    skus: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, {column: value}) for each data row; header names are lower-cased and trimmed."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        text = path.read_bytes().decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text))
        header: list[str] | None = None
        for row in reader:
            if header is None:
                header = [h.strip().lower() for h in row]
                _check_header(header)
                continue
            if not any(cell.strip() for cell in row):
                continue
            yield reader.line_num, dict(zip(header, row, strict=False))
    elif suffix == ".xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            rows = sheet.iter_rows(values_only=True)
            header = [str(h or "").strip().lower() for h in next(rows, [])]
            _check_header(header)
            for line, row in enumerate(rows, start=2):
                if not any(cell not in (None, "") for cell in row):
                    continue
                yield line, dict(zip(header, row, strict=False))
        finally:
            workbook.close()
    else:
        raise ImportFailed([f"{path.name}: only .csv and .xlsx files can be imported"])


def _check_header(header: list[str]) -> None:
    missing = [c for c in ("product", "sku", "weight_g") if c not in header]
    if "price" not in header and "price_fen" not in header:
        missing.append("price")
    unknown = [c for c in header if c and c not in KNOWN_COLUMNS]
    problems = []
    if missing:
        problems.append(f"line 1: missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"line 1: unknown column(s): {', '.join(unknown)}")
    if problems:
        raise ImportFailed(problems)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _integer(value: Any, name: str) -> int | None:
    text = _text(value)
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{name}: {text!r} is not a whole number") from None
    if number != number.to_integral_value():
        raise ValueError(f"{name}: {text!r} is not a whole number")
    return int(number)


def _amount_fen(value: Any, name: str) -> int | None:
    """A price in yuan (app.kit.money reads it), with the currency signs and thousands commas a sheet adds."""
    text = _text(value).replace("¥", "").replace("￥", "").replace(",", "")
    if not text:
        return None
    try:
        fen = yuan_to_fen(text)
    except NotAnAmount as exc:
        raise ValueError(f"{name}: {text!r} {exc}") from None
    if not 0 < fen <= MAX_PRICE_FEN:
        raise ValueError(f"{name}: {text!r} must be above 0 and at most {MAX_PRICE_FEN // 100} yuan")
    return fen


def _price(row: dict[str, Any], column: str) -> int | None:
    if _text(row.get(column + "_fen")):
        return _integer(row.get(column + "_fen"), column + "_fen")
    return _amount_fen(row.get(column), column)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "row"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _category_resolver(categories: list[Category]) -> Callable[[str], int | None]:
    by_id = {c.id: c for c in categories}

    def path_of(category: Category) -> str:
        names = [category.name]
        while category.parent_id is not None and category.parent_id in by_id:
            category = by_id[category.parent_id]
            names.append(category.name)
        return "/".join(reversed(names))

    by_path = {path_of(c): c.id for c in categories}
    by_name: dict[str, list[int]] = {}
    for c in categories:
        by_name.setdefault(c.name, []).append(c.id)

    def resolve(text: str) -> int | None:
        text = text.replace(">", "/").replace(" / ", "/").strip("/ ")
        if not text:
            return None
        if text in by_path:
            return by_path[text]
        found = by_name.get(text, [])
        if len(found) == 1:
            return found[0]
        if found:
            raise ValueError(f"category: {text!r} is ambiguous; write its path, e.g. 大米/{text}")
        raise ValueError(f"category: no category named {text!r}")

    return resolve


async def plan(session: AsyncSession, rows: list[tuple[int, dict[str, Any]]]) -> list[PlannedProduct]:
    """Validate every row; the products to create, or ImportFailed listing every bad row."""
    problems: list[str] = []
    if len(rows) > MAX_ROWS:
        raise ImportFailed([f"too many rows: {len(rows)} (at most {MAX_ROWS})"])
    if not rows:
        raise ImportFailed(["the file has no data rows"])
    resolve = _category_resolver(list((await session.execute(select(Category))).scalars()))
    existing = set((await session.execute(select(Product.name))).scalars())
    products: dict[str, PlannedProduct] = {}
    for line, row in rows:
        try:
            name = _text(row.get("product"))
            if not name:
                raise ValueError("product: the product name is empty")
            if name in existing:
                raise ValueError(f"product: {name!r} already exists in the shop")
            fields: dict[str, Any] = {}
            for column in PRODUCT_COLUMNS:
                text = _text(row.get(column))
                if not text:
                    continue
                if column == "category":
                    fields["category_id"] = resolve(text)
                elif column in ("harvest_year", "shelf_life_days"):
                    fields[column] = _integer(text, column)
                else:
                    fields[column] = text
            sku = {
                "name": _text(row.get("sku")),
                "price_fen": _price(row, "price"),
                "original_price_fen": _price(row, "original_price"),
                "stock": _integer(row.get("stock"), "stock") or 0,
                "weight_g": _integer(row.get("weight_g"), "weight_g"),
                "gtin": _text(row.get("gtin")) or None,
            }
            if sku["price_fen"] is None:
                raise ValueError("price: missing")
            SkuCreate.model_validate(sku)
            planned = products.get(name)
            if planned is None:
                ProductCreate.model_validate({"name": name, **fields})
                planned = products[name] = PlannedProduct(name=name, line=line, fields=fields)
            else:
                for key, value in fields.items():
                    if planned.fields.get(key, value) != value:
                        raise ValueError(
                            f"{key}: {value!r} contradicts {planned.fields[key]!r} on line {planned.line}"
                        )
                if any(s["name"] == sku["name"] for _, s in planned.skus):
                    raise ValueError(f"sku: {sku['name']!r} appears twice for {name!r}")
            planned.skus.append((line, sku))
        except ValidationError as exc:
            problems.append(f"line {line}: {_validation_message(exc)}")
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
    if problems:
        raise ImportFailed(problems)
    return list(products.values())


def to_create(planned: PlannedProduct) -> ProductCreate:
    return ProductCreate.model_validate(
        {
            "name": planned.name,
            **planned.fields,
            "skus": [dict(sku, sort_order=i) for i, (_, sku) in enumerate(planned.skus)],
        }
    )


def load(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        return list(read_rows(path))
    except UnicodeDecodeError as exc:
        raise ImportFailed([f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc
    except (OSError, csv.Error, ValueError, KeyError) as exc:
        raise ImportFailed([f"{path.name}: cannot be read ({exc})"]) from exc


async def import_products(
    path: Path,
    *,
    on_planned: Callable[[int], None] | None = None,
    on_created: Callable[[], None] | None = None,
) -> list[int]:
    """Create every product of the file in one transaction; their ids. ImportFailed: nothing was created."""
    from app.db import session_scope
    from app.errors import AppError

    rows = load(path)
    async with session_scope() as session:
        planned = await plan(session, rows)
        if on_planned:
            on_planned(len(planned))
        ids = []
        for item in planned:
            try:
                product = await service.create_product(session, IMPORT_ACTOR, to_create(item))
            except (AppError, ValidationError) as exc:
                raise ImportFailed([f"line {item.line}: {exc}"]) from exc
            ids.append(product.id)
            if on_created:
                on_created()
    return ids
