"""Settings from the environment, prefix ``HUB_``; with no service URLs the hub runs embedded."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", env_file=".env", extra="ignore")

    database_url: str | None = None
    # The owner's URL for `hub migrate` (the application's own role, HUB_DATABASE_URL, owns nothing: see
    # docs/guarantees.md); empty: migrate with HUB_DATABASE_URL.
    migrate_database_url: str | None = None
    redis_url: str | None = None
    amqp_url: str | None = None

    # The database role the application connects as (the user of HUB_DATABASE_URL): `hub migrate` creates it and
    # grants it what it needs, no more (no superuser, owns nothing, no BYPASSRLS); HUB_APP_ROLE_PASSWORD, when
    # set, is given to it at each `hub migrate` (docs/operations.md).
    app_role: str = Field(default="hub_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    app_role_password: SecretStr | None = None
    # Liveness of `hub worker` and `hub adapters run`: the file their event loop rewrites every few seconds, read
    # by `hub alive` (plumbing/heartbeat.py); unset, no heartbeat.
    heartbeat_file: Path | None = None
    heartbeat_seconds: float = Field(default=5.0, gt=0, le=60)

    data_dir: Path = Path(".hub")
    redis_prefix: str = "hub:"
    log_level: str = "INFO"
    log_json: bool = True

    # Connections each process keeps open to PostgreSQL, and how many more it may open in a burst (closed again
    # after). Too few and a busy `hub serve` opens and closes connections per request, each costing a handshake
    # and its prepared statements; mind PostgreSQL's max_connections across every process.
    database_pool_size: int = Field(default=20, ge=1, le=500)
    database_max_overflow: int = Field(default=10, ge=0, le=500)

    # AMQP consumer tuning (docs/design.md, "Engineering rules we keep": prefetch 100–300, batched commits).
    amqp_prefetch: int = Field(default=200, ge=1, le=5000)
    intake_batch_size: int = Field(default=200, ge=1, le=5000)
    intake_batch_wait_ms: int = Field(default=5, ge=0, le=1000)
    intake_delivery_limit: int = Field(default=5, ge=1)
    # What one intake message may carry (README, "Partner contract v1"; beyond them: too_large, too_deep,
    # out_of_range). The depth stays well under the JSON encoder's own limit (254) so a stored body is writable.
    intake_max_message_bytes: int = Field(default=262_144, ge=1024, le=16_777_216)
    intake_max_attributes_bytes: int = Field(default=65_536, ge=256, le=16_777_216)
    intake_max_depth: int = Field(default=16, ge=4, le=200)
    intake_max_string_chars: int = Field(default=10_000, ge=100, le=1_000_000)
    intake_earliest_year: int = Field(default=2000, ge=1900, le=2100)
    intake_latest_year: int = Field(default=2100, ge=2000, le=9000)

    # The demo sets this so that calls flow whatever the time of day; production honours the hours.
    ignore_opening_hours: bool = False

    reservation_timeout_seconds: float = Field(default=20.0, gt=0)
    # An HTTP request slower than this is logged (request.slow) with the milliseconds of each of its steps
    # (plumbing/tracing.py); 0: none is.
    trace_slow_ms: float = Field(default=20.0, ge=0)
    missed_offers_before_not_ready: int = Field(default=3, ge=1)

    # Back-office deliveries (hub adapters run) and the public tracking page.
    adapter_max_attempts: int = Field(default=8, ge=1)
    adapter_backoff_base_seconds: float = Field(default=2.0, gt=0)
    adapter_backoff_cap_seconds: float = Field(default=900.0, gt=0)
    adapter_batch_size: int = Field(default=20, ge=1, le=500)
    update_replay_window_seconds: int = Field(default=300, ge=1)
    # A status update dated further ahead of our clock than this is refused (future_dated_update).
    update_clock_skew_seconds: int = Field(default=120, ge=0)
    tracking_requests_per_minute: int = Field(default=30, ge=1)
    # Largest HTTP request body any route accepts (413 beyond it, refused before it is read): plumbing/bounded.py.
    http_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=268_435_456)
    # Public endpoints' limits per client address (429 beyond them): Open311 POST requests, sign-in attempts.
    open311_posts_per_minute: int = Field(default=60, ge=1)
    # An Open311 POST repeated with the same api_key and fields within this many seconds is the same request.
    open311_retry_window_seconds: int = Field(default=600, ge=1)
    sign_in_attempts_per_minute: int = Field(default=20, ge=1)
    # /metrics labels queue depth and oldest wait by partner: a scraper must show this bearer token
    # (HUB_METRICS_TOKEN), unless metrics_public says /metrics is reachable only from inside (an internal listener
    # or a network policy: docs/operations.md, "What to watch"). Neither set: /metrics is refused.
    metrics_token: str | None = Field(default=None, repr=False, min_length=32)
    metrics_public: bool = False

    @property
    def embedded(self) -> bool:
        """True when no service URL is set: SQLite file, in-process bus, in-memory live state."""
        return not (self.database_url or self.redis_url or self.amqp_url)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hub.sqlite3').resolve()}"

    @property
    def effective_migrate_url(self) -> str:
        if self.migrate_database_url:
            return normalise_database_url(self.migrate_database_url)
        return self.effective_database_url


def normalise_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the asyncpg driver for them."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
