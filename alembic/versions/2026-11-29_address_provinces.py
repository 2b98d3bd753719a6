"""address_provinces: provinces become one of the 34 divisions; unpaid orders counted per customer

Every address's province is rewritten to its canonical name (app.kit.regions: 新疆 → 新疆维吾尔自治区,
traditional characters, pinyin, invisible characters...). One that names no division is kept as typed and
marked `needs_correction`: the customer sees it on the address page and must choose the province again
before checking out with it. Downgrading drops the mark; the canonical names stay (they were valid before).

The index on orders (user_id, status) lets checkout count a customer's unpaid orders without reading the
rest of their history.

Revision ID: address_provinces
Revises: catalog_version
Create Date: 2026-11-29 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.kit.regions import canonical

revision: str = "address_provinces"
down_revision: str | Sequence[str] | None = "catalog_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000

addresses = sa.table(
    "addresses",
    sa.column("id", sa.BigInteger()),
    sa.column("province", sa.String(32)),
    sa.column("needs_correction", sa.Boolean()),
)


def upgrade() -> None:
    with op.batch_alter_table("addresses") as batch:
        batch.add_column(
            sa.Column("needs_correction", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index("ix_orders_user_id_status", "orders", ["user_id", "status"])

    conn = op.get_bind()
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(addresses.c.id, addresses.c.province)
            .where(addresses.c.id > last_id)
            .order_by(addresses.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        for row in rows:
            name = canonical(row.province)
            if name is None:
                conn.execute(addresses.update().where(addresses.c.id == row.id).values(needs_correction=True))
            elif name != row.province:
                conn.execute(addresses.update().where(addresses.c.id == row.id).values(province=name))


def downgrade() -> None:
    op.drop_index("ix_orders_user_id_status", table_name="orders")
    with op.batch_alter_table("addresses") as batch:
        batch.drop_column("needs_correction")
