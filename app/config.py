"""Settings. Nothing else in the code base reads os.environ."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-secret-key-change-me-0123456789abcdef"
DEFAULT_SANDBOX_SECRET = "dev-sandbox-secret-change-me"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'daoxiang.db'}"
    redis_url: str | None = None
    secret_key: str = DEFAULT_SECRET_KEY
    payment_sandbox_secret: str = DEFAULT_SANDBOX_SECRET
    public_base_url: str = "http://127.0.0.1:8000"
    media_dir: Path = PROJECT_ROOT / "var" / "media"
    var_dir: Path = PROJECT_ROOT / "var"
    log_level: str = "INFO"
    sql_echo: bool = False
    db_pool_size: int = Field(default=20, ge=1, le=500)
    db_max_overflow: int = Field(default=20, ge=0, le=500)

    # Auth
    jwt_issuer: str = "daoxiang"
    jwt_audience: str = "daoxiang-api"
    access_token_minutes: float = Field(default=15, gt=0, le=24 * 60)
    refresh_token_days: float = Field(default=30, gt=0, le=365)
    login_max_failures_per_phone: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=30, ge=1)
    login_failure_window_seconds: int = Field(default=60, ge=1)
    register_max_per_ip: int = Field(default=100, ge=1)
    register_window_seconds: int = Field(default=3600, ge=1)
    trust_forwarded_for: bool = False

    # HTTP
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_upload_bytes: int = Field(default=8 * 1_048_576, ge=1024)

    # Orders
    order_pay_timeout_minutes: float = Field(default=30, gt=0)
    auto_confirm_days: float = Field(default=10, gt=0)
    worker_interval_seconds: float = Field(default=5, gt=0)
    # At most this many of one SKU in one order (and in the cart).
    order_max_quantity_per_sku: int = Field(default=99, ge=1, le=9999)
    order_max_lines: int = Field(default=50, ge=1, le=200)
    # Idempotency-Key records are kept at least this long (the contract promises 24 hours).
    idempotency_retention_hours: float = Field(default=24, ge=24)
    # A claim whose request died (crash, failed commit) may be taken over after this long.
    idempotency_stale_claim_seconds: float = Field(default=60, gt=0)

    # Shipping fee: free from the threshold on, otherwise the flat fee; remote provinces always add the
    # surcharge (matched by prefix, so 新疆 matches 新疆维吾尔自治区).
    shipping_free_threshold_fen: int = Field(default=9900, ge=0)
    shipping_flat_fee_fen: int = Field(default=1000, ge=0)
    shipping_remote_surcharge_fen: int = Field(default=1500, ge=0)
    shipping_remote_provinces: list[str] = ["新疆", "西藏", "青海", "内蒙古", "宁夏", "甘肃", "海南"]

    # Payments. Keys and certificates: PEM text in the variable, or the path of a PEM file (Alipay's bare
    # base64 key form is accepted too). A channel whose keys are not set is refused when chosen.
    # Sandbox: on unless APP_ENV=prod (it lets anyone mark an order paid); set true/false to override.
    payment_sandbox_enabled: bool | None = None
    # The reconciliation job asks the gateway about payments still pending after this long.
    payment_reconcile_after_minutes: float = Field(default=10, ge=0)
    payment_gateway_timeout_seconds: float = Field(default=10, gt=0)
    alipay_app_id: str | None = None
    alipay_private_key: str | None = None  # the merchant's RSA2 private key (signs requests)
    alipay_public_key: str | None = None  # Alipay's public key (verifies notifications and answers)
    alipay_gateway_url: str = "https://openapi.alipay.com/gateway.do"
    wechat_mch_id: str | None = None
    wechat_app_id: str | None = None
    wechat_apiv3_key: str | None = None  # 32 bytes, decrypts notification resources
    wechat_private_key: str | None = None  # the merchant's API private key (signs requests)
    wechat_merchant_serial: str | None = None  # serial number of the merchant's API certificate
    wechat_platform_key: str | None = None  # WeChat Pay platform certificate or public key (PEM)
    wechat_platform_serial: str | None = None  # its serial / public key id (read from a certificate if unset)
    wechat_api_base_url: str = "https://api.mch.weixin.qq.com"

    # Events: outbox → Redis stream `daoxiang:events` (see app.eventbus)
    event_stream_maxlen: int = Field(default=100_000, ge=100, description="XADD MAXLEN ~ bound of the stream")
    event_relay_batch_size: int = Field(default=1000, ge=1, le=10_000)
    event_relay_poll_seconds: float = Field(
        default=0.2, gt=0, le=60, description="how often an idle relay looks for new outbox events"
    )
    event_relay_backoff_seconds: float = Field(default=2, gt=0, description="first retry delay; doubles")
    event_relay_backoff_max_seconds: float = Field(default=300, gt=0)
    event_outbox_retention_days: float = Field(default=7, gt=0, description="published rows kept this long")
    event_processed_retention_days: float = Field(
        default=30,
        ge=1,
        description="consumers' processed-event records kept this long (deduplication window)",
    )
    event_consumer_group: str = Field(default="notifications", min_length=1, max_length=64)
    event_consumer_block_ms: int = Field(default=5000, ge=1)
    event_consumer_claim_idle_ms: int = Field(
        default=60_000, ge=1, description="pending entries idle this long are taken over from a dead consumer"
    )

    # Traceability
    trace_suspicious_scans: int = Field(default=20, ge=1)
    trace_max_misses_per_ip: int = Field(default=30, ge=1)
    trace_miss_window_seconds: int = Field(default=600, ge=1)
    block_sale_on_expired_gi: bool = False

    @field_validator("database_url")
    @classmethod
    def _map_driver(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("payment_sandbox_enabled", mode="before")
    @classmethod
    def _empty_is_auto(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("redis_url")
    @classmethod
    def _empty_redis_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _refuse_default_secrets_in_prod(self) -> Settings:
        if self.app_env == "prod":
            if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError("APP_ENV=prod needs SECRET_KEY set to a random value of 32+ characters")
            if self.payment_sandbox_secret == DEFAULT_SANDBOX_SECRET:
                raise ValueError("APP_ENV=prod needs PAYMENT_SANDBOX_SECRET set")
        return self

    @property
    def sandbox_payments_enabled(self) -> bool:
        if self.payment_sandbox_enabled is None:
            return self.app_env != "prod"
        return self.payment_sandbox_enabled

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def normalize_database_url(url: str) -> str:
    """Map the synchronous URL forms people write (as in the original description) to our async drivers."""
    for prefix in (
        "mysql+pymysql://",
        "mysql+mysqldb://",
        "mysql+aiomysql://",
        "mariadb+pymysql://",
        "mariadb://",
        "mysql://",
    ):
        if url.startswith(prefix):
            url = "mysql+asyncmy://" + url[len(prefix) :]
            break
    if url.startswith("sqlite://") or url.startswith("sqlite+pysqlite://"):
        url = "sqlite+aiosqlite://" + url.split("://", 1)[1]
    if url.startswith("mysql+asyncmy://") and "charset=" not in url:
        url += ("&" if "?" in url else "?") + "charset=utf8mb4"
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
