"""search_index: a full-text index for product search (issue 18)

* MariaDB with the Mroonga engine (Debian's mariadb-plugin-mroonga, `INSTALL SONAME 'ha_mroonga'`): a table
  `product_search` in Mroonga storage mode, one row per product (its status, sales and the three normalised
  search texts), with one FULLTEXT index over the texts (bigrams over every character, so a query word
  matches as a substring, Chinese and pinyin alike). Mroonga storage is not transactional: the app writes
  these rows only after a commit, from the committed product row (app.catalog.search_index).
* SQLite: an FTS5 table with the trigram tokenizer over the products' search columns (external content),
  kept in step by triggers, inside the writing transaction.
* Anything else (MariaDB without the plugin, MySQL): nothing; the app searches with LIKE as before and says
  so once in its log.

Revision ID: search_index
Revises: flash_sales
Create Date: 2026-11-30 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "search_index"
down_revision: str | Sequence[str] | None = "flash_sales"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept equal to app.catalog.search_index (a migration must not change when the app does, so it is copied).
MROONGA_TABLE = """
CREATE TABLE product_search (
    product_id BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    sales_count INT NOT NULL,
    name TEXT NOT NULL,
    subtitle TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (product_id),
    KEY ix_product_search_status (status),
    FULLTEXT KEY ft_product_search (name, subtitle, body)
        COMMENT 'tokenizer "TokenBigramSplitSymbolAlphaDigit", normalizer "NormalizerAuto"'
) ENGINE=Mroonga DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
"""
MROONGA_FILL = """
REPLACE INTO product_search (product_id, status, sales_count, name, subtitle, body)
SELECT id, status, sales_count, search_name, search_subtitle, search_body FROM products
"""

SQLITE = [
    "CREATE VIRTUAL TABLE product_fts USING fts5("
    "search_name, search_subtitle, search_body, content='products', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN "
    "INSERT INTO product_fts(rowid, search_name, search_subtitle, search_body) "
    "VALUES (new.id, new.search_name, new.search_subtitle, new.search_body); END",
    "CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN "
    "INSERT INTO product_fts(product_fts, rowid, search_name, search_subtitle, search_body) "
    "VALUES ('delete', old.id, old.search_name, old.search_subtitle, old.search_body); END",
    "CREATE TRIGGER products_fts_update AFTER UPDATE OF search_name, search_subtitle, search_body "
    "ON products BEGIN "
    "INSERT INTO product_fts(product_fts, rowid, search_name, search_subtitle, search_body) "
    "VALUES ('delete', old.id, old.search_name, old.search_subtitle, old.search_body); "
    "INSERT INTO product_fts(rowid, search_name, search_subtitle, search_body) "
    "VALUES (new.id, new.search_name, new.search_subtitle, new.search_body); END",
    "INSERT INTO product_fts(product_fts) VALUES ('rebuild')",
]


def _has_mroonga(bind: sa.engine.Connection) -> bool:
    engines = bind.execute(
        sa.text(
            "SELECT COUNT(*) FROM information_schema.ENGINES WHERE ENGINE = 'Mroonga' AND SUPPORT IN ('YES', 'DEFAULT')"
        )
    ).scalar_one()
    return bool(engines)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE:
            op.execute(statement)
    elif bind.dialect.name == "mysql" and _has_mroonga(bind):
        op.execute(MROONGA_TABLE)
        op.execute(MROONGA_FILL)
    # Otherwise the app keeps its LIKE search (and logs that it does).


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("products_fts_insert", "products_fts_delete", "products_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS product_fts")
    elif bind.dialect.name == "mysql":
        op.execute("DROP TABLE IF EXISTS product_search")
