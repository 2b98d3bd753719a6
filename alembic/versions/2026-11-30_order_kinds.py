"""order_kinds: every order has a kind, every line its share of the discount (wave 2)

`orders.kind` says what an order sells (standard, flash_sale, presale, subscription, ...; CONTRACT "Commerce
beyond the list price"); every order placed before it is `standard`. `order_items.discount_fen` is a line's
share of the order's discount (coupons apply to eligible lines), 0 for every earlier line.

Revision ID: order_kinds
Revises: scale_indexes
Create Date: 2026-11-30 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "order_kinds"
down_revision: str | Sequence[str] | None = "scale_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("kind", sa.String(24), nullable=False, server_default="standard"))
    with op.batch_alter_table("order_items") as batch:
        batch.add_column(sa.Column("discount_fen", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("order_items") as batch:
        batch.drop_column("discount_fen")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("kind")
