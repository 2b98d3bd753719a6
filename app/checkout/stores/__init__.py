"""Where checkout reads and writes: one interface (`CheckoutStore`), one implementation per database.

* `OrmCheckoutStore` (SQLite): SQLAlchemy statements in the request's session; the request's unit of work
  commits it. Its Idempotency-Key protocol: a claim row committed in its own short unit of work before the
  order (app.orders.idempotency), whose answer the order's transaction fills in.
* `LeanCheckoutStore` (MariaDB/MySQL): plain statements on an asyncmy cursor inside its own short
  transaction (app.kit.leandb), in three round trips: the reads, the order with its lines, then the rest with
  the stock UPDATEs (and, where the server enforces CHECK constraints, the COMMIT). Its Idempotency-Key
  protocol: the key's row is inserted with the order, in the order's transaction, without waiting for a lock;
  its unique-key lock is the claim (see `LeanCheckoutStore.read_for_checkout` and `take_stock`).

Which one runs is decided once per process by the database (app.checkout.service.backend). Both write the
same rows for the same request: tests/checkout/test_store_contract.py runs every case on each. The lean
store's INSERT statements are generated from the models' tables, values missing from a row take the
column's Python-side default, and at import every required column must be one the pipeline fills or one
with such a default: a new column cannot be filled on one path only.
"""

from app.checkout.stores.base import (
    ADOPTION_FIELDS,
    ITEM_FIELDS,
    KEY_FIELDS,
    ORDER_FIELDS,
    OUTBOX_FIELDS,
    PRESALE_SHARE_FIELDS,
    PURCHASE_FIELDS,
    CheckoutAddress,
    CheckoutCoupon,
    CheckoutReads,
    CheckoutSku,
    CheckoutStore,
    IdempotentRequest,
    KeyAlreadyStored,
    KeyInUse,
    _answer_text,
    _auth_state,
    _aware_utc,
    _checkout_coupon,
)
from app.checkout.stores.inserts import (
    _AS_IS,
    ADOPTION_INSERT,
    HEX_FROM_CHARS,
    ITEM_INSERT,
    KEY_INSERT,
    ONLY_ITEM_INSERT,
    ORDER_INSERT,
    OUTBOX_INSERT,
    PRESALE_SHARE_INSERT,
    PURCHASE_INSERT,
    _aware,
    _Insert,
    _insertable,
    _naive_utc,
    _param,
    _python_default,
    check_covered,
)
from app.checkout.stores.lean import LeanCheckoutStore
from app.checkout.stores.orm import OrmCheckoutStore

__all__ = [
    "ADOPTION_FIELDS",
    "ADOPTION_INSERT",
    "CheckoutAddress",
    "CheckoutCoupon",
    "CheckoutReads",
    "CheckoutSku",
    "CheckoutStore",
    "HEX_FROM_CHARS",
    "ITEM_FIELDS",
    "ITEM_INSERT",
    "IdempotentRequest",
    "KEY_FIELDS",
    "KEY_INSERT",
    "KeyAlreadyStored",
    "KeyInUse",
    "LeanCheckoutStore",
    "ONLY_ITEM_INSERT",
    "ORDER_FIELDS",
    "ORDER_INSERT",
    "OUTBOX_FIELDS",
    "OUTBOX_INSERT",
    "OrmCheckoutStore",
    "PRESALE_SHARE_FIELDS",
    "PRESALE_SHARE_INSERT",
    "PURCHASE_FIELDS",
    "PURCHASE_INSERT",
    "_AS_IS",
    "_Insert",
    "_answer_text",
    "_auth_state",
    "_aware",
    "_aware_utc",
    "_checkout_coupon",
    "_insertable",
    "_naive_utc",
    "_param",
    "_python_default",
    "check_covered",
]
