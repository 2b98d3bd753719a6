"""scale_indexes: an index for every catalogue sort, the staff order list, low stock and flagged codes

Found with EXPLAIN on a shop of 10k products / 100k orders / 1M codes (issue 18): each list sorted with a
filesort over every published product, low stock joined all products, flagged codes scanned every code.
Published products without `published_at` (rows older than the column's use) get their creation time, so
"newest" can sort on an index.

Revision ID: scale_indexes
Revises: payment_notices_and_keys
Create Date: 2026-11-30 00:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "scale_indexes"
down_revision: str | Sequence[str] | None = "payment_notices_and_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("products", "ix_products_status_sort_weight", ["status", "sort_weight", "id"]),
    ("products", "ix_products_status_sales_count", ["status", "sales_count", "id"]),
    ("products", "ix_products_status_min_price_fen", ["status", "min_price_fen", "id"]),
    ("products", "ix_products_status_published_at", ["status", "published_at", "id"]),
    ("skus", "ix_skus_is_active_stock", ["is_active", "stock", "id"]),
    ("trace_codes", "ix_trace_codes_flagged_at", ["flagged_at"]),
    # (status, created_at): InnoDB appends the id, so "newest first" by status reads it in order. Not
    # (status, id): with it MariaDB ran `UPDATE ... WHERE id = ? AND status = ?` through that index and the
    # timeout job and a buyer's cancel deadlocked (tests/orders/test_concurrency.py).
    ("orders", "ix_orders_status_created_at", ["status", "created_at"]),
]


def upgrade() -> None:
    op.execute(
        "UPDATE products SET published_at = created_at WHERE status = 'published' AND published_at IS NULL"
    )
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
