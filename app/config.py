"""Settings. Nothing else in the code base reads os.environ."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.kit.regions import canonical

DEFAULT_SECRET_KEY = "dev-secret-key-change-me-0123456789abcdef"
DEFAULT_SANDBOX_SECRET = "dev-sandbox-secret-change-me"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "::1", "testserver")
# A host name or an IP address as it may appear in a Host header (IPv6 without its brackets).
_HOST_PATTERN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|[0-9a-f:.]+")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'daoxiang.db'}"
    redis_url: str | None = None
    # REDIS_URL names one node of a Redis Cluster (docs/scaling.md): keys that a script or transaction uses
    # together share a hash tag, and each process discovers the other masters from that node.
    redis_cluster: bool = False
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
    # Login throttling (the rule is in app.users.throttle): growing delays per phone and client network,
    # ceilings per phone across networks and per network across phones that never refuse a known network.
    login_free_failures: int = Field(default=5, ge=1, le=1000)
    login_backoff_base_seconds: float = Field(default=5, gt=0, le=86_400)
    login_backoff_max_seconds: float = Field(default=900, gt=0, le=86_400)
    login_failure_window_seconds: int = Field(default=86_400, ge=1, le=30 * 86_400)
    login_max_failures_per_phone: int = Field(default=100, ge=1)
    login_max_phones_per_network: int = Field(default=100, ge=1)
    login_network_window_seconds: int = Field(default=3600, ge=1, le=30 * 86_400)
    login_known_network_days: float = Field(default=30, gt=0, le=365)
    register_max_per_network: int = Field(default=100, ge=1)
    register_window_seconds: int = Field(default=3600, ge=1)
    # How long Redis keeps a user's token version, role and active flag (app.users.revocation); without
    # Redis each process keeps them this many seconds instead.
    auth_state_cache_seconds: float = Field(default=60, gt=0, le=3600)
    auth_state_local_cache_seconds: float = Field(default=2, ge=0, le=60)
    trust_forwarded_for: bool = False
    # The proxies whose X-Forwarded-For/-Proto are believed (with TRUST_FORWARDED_FOR=true): addresses or
    # networks, comma-separated; `*` is every peer. See app.kit.client.
    forwarded_allow_ips: str = "127.0.0.1"

    # HTTP
    # Host names the shop answers to, comma-separated (`.example.com` also matches its subdomains, `*` any).
    # Required with APP_ENV=prod; empty in dev/test: localhost, 127.0.0.1, ::1, testserver. The host of
    # PUBLIC_BASE_URL is always allowed.
    allowed_hosts: str = ""
    # /docs, /redoc and /openapi.json: empty = served unless APP_ENV=prod; true/false to override.
    api_docs_enabled: bool | None = None
    # GET /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is 404 and nothing is
    # timed per request (app.kit.metrics).
    metrics_token: str | None = None
    # Where every process writes its metrics so /metrics adds them up (prometheus-client's multi-process
    # mode). `daoxiang serve --workers N` (N > 1) makes a temporary one when unset; set it for the server
    # and `daoxiang worker` alike to see the worker's jobs in /metrics.
    prometheus_multiproc_dir: Path | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_upload_bytes: int = Field(default=8 * 1_048_576, ge=1024)

    # Orders
    order_pay_timeout_minutes: float = Field(default=30, gt=0)
    # An unpaid flash-sale order holds the sale's units this long (issue 19; fractions allowed).
    flash_sale_pay_timeout_minutes: float = Field(default=5, gt=0)
    # Custom gift boxes (企业定制礼盒): the smallest request, and how long an accepted quote's order waits
    # for payment (a company's bank transfer takes days).
    custom_min_quantity: int = Field(default=20, ge=1)
    custom_pay_timeout_minutes: float = Field(default=10080, gt=0)
    auto_confirm_days: float = Field(default=10, gt=0)
    # Reviews (issue 22): a completed order's lines left unreviewed this long get a default 5-star review.
    review_auto_positive_days: float = Field(default=15, gt=0)
    # Words a review may not contain, comma-separated (refused with 422 review_rejected naming them).
    review_banned_words: str = "刷单,好评返现,代购,假货"
    worker_interval_seconds: float = Field(default=5, gt=0)
    # At most this many of one SKU in one order (and in the cart).
    order_max_quantity_per_sku: int = Field(default=99, ge=1, le=9999)
    order_max_lines: int = Field(default=50, ge=1, le=200)
    # Idempotency-Key records are kept at least this long (the contract promises 24 hours).
    idempotency_retention_hours: float = Field(default=24, ge=24)
    # A claim whose request died (crash, failed commit) may be taken over after this long.
    idempotency_stale_claim_seconds: float = Field(default=60, gt=0)
    # What one customer may hold unpaid (stock reserved until the pay deadline): orders, and units of one SKU
    # across those orders (checked in the checkout's transaction, under a lock on the customer's row).
    max_unpaid_orders_per_customer: int = Field(default=3, ge=1)
    max_unpaid_units_per_sku: int = Field(default=20, ge=1)
    max_addresses_per_customer: int = Field(default=20, ge=1)
    # Refund requests per order (each rejected one may be followed by another, up to this many in all).
    max_refund_requests_per_order: int = Field(default=3, ge=1)

    # Shipping fee: free from the threshold on, otherwise the flat fee; remote provinces always add the
    # surcharge. Provinces are matched by canonical name (app.kit.regions); other forms given here (新疆,
    # Xinjiang...) are mapped to it, and a name that is no province refuses to start.
    shipping_free_threshold_fen: int = Field(default=9900, ge=0)
    shipping_flat_fee_fen: int = Field(default=1000, ge=0)
    shipping_remote_surcharge_fen: int = Field(default=1500, ge=0)
    shipping_remote_provinces: list[str] = [
        "新疆维吾尔自治区",
        "西藏自治区",
        "青海省",
        "内蒙古自治区",
        "宁夏回族自治区",
        "甘肃省",
        "海南省",
    ]

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
    # Alipay's certificate mode (公钥证书), instead of ALIPAY_PUBLIC_KEY: the app's public key certificate
    # (appCertPublicKey_<appid>.crt), Alipay's public key certificate (alipayCertPublicKey_RSA2.crt) and
    # Alipay's root certificate (alipayRootCert.crt); PEM text or file paths.
    alipay_app_cert: str | None = None
    alipay_public_cert: str | None = None
    alipay_root_cert: str | None = None
    # The merchant's Alipay account (2088…): when set, a notice for another seller is not ours to apply.
    alipay_seller_id: str | None = None
    wechat_mch_id: str | None = None
    wechat_app_id: str | None = None
    wechat_apiv3_key: str | None = None  # 32 bytes, decrypts notification resources
    wechat_private_key: str | None = None  # the merchant's API private key (signs requests)
    wechat_merchant_serial: str | None = None  # serial number of the merchant's API certificate
    wechat_platform_key: str | None = None  # WeChat Pay platform certificate or public key (PEM)
    wechat_platform_serial: str | None = None  # its serial / public key id (read from a certificate if unset)
    wechat_api_base_url: str = "https://api.mch.weixin.qq.com"
    # Gateway notices: processed ones (applied or refused) are deleted after this many days; refused ones
    # are also bounded in number per sending address. Per address and minute: at most so many notices,
    # and once so many were refused, nothing more is taken until the minute has passed.
    payment_notification_retention_days: float = Field(default=90, gt=0)
    payment_notify_max_per_ip: int = Field(default=120, ge=1)
    payment_notify_max_rejected_per_ip: int = Field(default=10, ge=1)
    payment_notify_rejected_kept_per_ip: int = Field(default=200, ge=1)

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

    # Webhooks (issue 23): private, loopback and link-local receivers are refused unless this is true
    # (a local test receiver, an ERP on the shop's own network).
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=5, gt=0, le=60, description="one attempt, all told")
    webhook_retry_hours: float = Field(default=24, gt=0, description="retries stop this long after the event")
    webhook_backoff_seconds: float = Field(default=30, gt=0, description="first retry delay; doubles")
    webhook_batch_size: int = Field(default=20, ge=1, le=500, description="messages one worker sends at once")
    webhook_log_retention_days: float = Field(
        default=30, gt=0, description="finished messages and their log kept"
    )

    # Traceability
    # More than this many distinct scanners (devices, or client networks with one User-Agent) make a code
    # suspicious: one code copied onto many bags is scanned in many places.
    trace_suspicious_scanners: int = Field(default=10, ge=1)
    trace_max_misses_per_ip: int = Field(default=30, ge=1)
    trace_miss_window_seconds: int = Field(default=600, ge=1)
    block_sale_on_expired_gi: bool = False
    # Certificate scans and batch event photos live here, outside MEDIA_DIR (which is served as it is at
    # /media/): only routes that decide who may see a file serve it. Unset: VAR_DIR/private.
    private_media_dir: Path | None = None

    @field_validator("database_url")
    @classmethod
    def _map_driver(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("shipping_remote_provinces")
    @classmethod
    def _canonical_provinces(cls, value: list[str]) -> list[str]:
        names = [canonical(name) for name in value]
        unknown = [given for given, name in zip(value, names, strict=True) if name is None]
        if unknown:
            raise ValueError(f"not provinces of China (GB/T 2260): {unknown}")
        return list(dict.fromkeys(name for name in names if name is not None))

    @field_validator("payment_sandbox_enabled", "api_docs_enabled", mode="before")
    @classmethod
    def _empty_is_auto(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("private_media_dir", "prometheus_multiproc_dir", "metrics_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("redis_url")
    @classmethod
    def _empty_redis_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for item in value.replace(";", ",").split(","):
            item = item.strip()
            if item and item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError as exc:
                    raise ValueError(f"FORWARDED_ALLOW_IPS: {item!r} is not an address or network") from exc
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _valid_hosts(cls, value: str) -> str:
        for item in value.split(","):
            host = item.strip().lower()
            if host and host != "*" and not _HOST_PATTERN.fullmatch(host.removeprefix(".")):
                raise ValueError(f"ALLOWED_HOSTS: {item.strip()!r} is not a host name")
        return value

    @model_validator(mode="after")
    def _refuse_default_secrets_in_prod(self) -> Settings:
        if self.app_env == "prod":
            if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError("APP_ENV=prod needs SECRET_KEY set to a random value of 32+ characters")
            if self.payment_sandbox_secret == DEFAULT_SANDBOX_SECRET:
                raise ValueError("APP_ENV=prod needs PAYMENT_SANDBOX_SECRET set")
            if not self.allowed_hosts.strip():
                raise ValueError("APP_ENV=prod needs ALLOWED_HOSTS: the host names the shop answers to")
            real_channel = self.alipay_app_id or self.wechat_mch_id
            if real_channel and not self.public_base_url.lower().startswith("https://"):
                # Gateways post their notices to PUBLIC_BASE_URL; WeChat Pay accepts only HTTPS notify URLs.
                raise ValueError(
                    "APP_ENV=prod with Alipay or WeChat Pay configured needs an https:// PUBLIC_BASE_URL"
                )
        return self

    @model_validator(mode="after")
    def _private_files_outside_media(self) -> Settings:
        private, media = self.private_files_dir.resolve(), self.media_dir.resolve()
        if private.is_relative_to(media) or media.is_relative_to(private):
            raise ValueError("PRIVATE_MEDIA_DIR must lie outside MEDIA_DIR (which is served publicly)")
        return self

    @property
    def private_files_dir(self) -> Path:
        return self.private_media_dir or self.var_dir / "private"

    @property
    def docs_enabled(self) -> bool:
        if self.api_docs_enabled is None:
            return self.app_env != "prod"
        return self.api_docs_enabled

    @property
    def allowed_host_names(self) -> frozenset[str]:
        """ALLOWED_HOSTS (or the dev/test defaults) plus the host of PUBLIC_BASE_URL, lower-case."""
        return _allowed_host_names(self.allowed_hosts, self.app_env, self.public_base_url)

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


@lru_cache(maxsize=16)
def _allowed_host_names(allowed_hosts: str, app_env: str, public_base_url: str) -> frozenset[str]:
    hosts = {h.strip().lower() for h in allowed_hosts.split(",") if h.strip()}
    if not hosts and app_env != "prod":
        hosts = set(DEV_ALLOWED_HOSTS)
    public = urlsplit(public_base_url).hostname
    if public:
        hosts.add(public.lower())
    return frozenset(hosts)


@lru_cache
def get_settings() -> Settings:
    return Settings()
