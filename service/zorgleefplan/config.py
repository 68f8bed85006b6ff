"""Settings from the environment (``ZLP_*``) and the command line, with safe defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

AUDIT_RETENTION_FLOOR = 5 * 365 + 2  # days: five years, leap days included
MONGODB_SCHEMES = ("mongodb://", "mongodb+srv://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZLP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: Path = Path("data")
    # Public base URL of the service (scheme://host[:port]); when unset it is taken from each
    # request, which is right behind no proxy or a proxy that forwards Host.
    base_url: str | None = None
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto headers are believed (comma-separated
    # addresses or networks, "*" for any): the TLS-terminating proxy in front of the service.
    forwarded_allow_ips: str = "127.0.0.1,::1"
    # Log lines as text or as one JSON object per line (for a log collector).
    log_format: Literal["text", "json"] = "text"
    # On SIGTERM: how long in-flight requests may take to finish before they are cancelled.
    shutdown_timeout: int = Field(default=30, ge=1, le=3600)

    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=64, ge=8, le=512)
    default_page_size: int = Field(default=50, ge=1)
    max_page_size: int = Field(default=1000, ge=1)
    max_include_iterations: int = Field(default=5, ge=1)
    max_bundle_entries: int = Field(default=1000, ge=1)

    # How long audit records (NEN 7513) are kept: at least five years, never less.
    audit_retention_days: int = Field(default=AUDIT_RETENTION_FLOOR, ge=AUDIT_RETENTION_FLOOR)

    # Where the FHIR store lives: "sqlite" (one file in data_dir, zero set-up) or the URL of a
    # MongoDB replica set or sharded cluster (mongodb:// or mongodb+srv://; it may hold a
    # password, so it stays out of repr). store_timeout: seconds to wait for MongoDB.
    store: str = Field(default="sqlite", repr=False)
    store_timeout: float = Field(default=10.0, gt=0, le=300)

    sqlite_readers: int = Field(default=4, ge=1, le=64)
    # NORMAL survives a killed process; FULL also survives power loss of the machine.
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"

    # Authorization server (OAuth 2.0 / SMART). Lifetimes in seconds.
    access_token_lifetime: int = Field(default=15 * 60, ge=30, le=24 * 3600)
    authorization_code_lifetime: int = Field(default=60, ge=10, le=600)
    # A long-term grant (refresh token family) lapses after this long without use (6 months).
    refresh_idle_lifetime: int = Field(default=183 * 24 * 3600, ge=3600)
    client_assertion_max_lifetime: int = Field(default=5 * 60, ge=30, le=3600)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=15 * 60, ge=1)
    # This service's id in MedMij-style data-service scopes "<service_id>~<gegevensdienstId>".
    service_id: str = "zorgleefplan"
    service_name: str = "Zorgleefplan"

    # Person login on the authorization pages: the built-in account store, or an external
    # OpenID Connect provider (a DigiD / UZI broker in production).
    login_method: Literal["builtin", "oidc"] = "builtin"
    oidc_issuer: str | None = None  # https URL; its /.well-known/openid-configuration is read
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    # Where the provider sends the browser back; default <public root>/oauth/login/oidc/callback.
    oidc_redirect_uri: str | None = None
    oidc_scope: str = "openid"
    # Session cookie of the login and consent pages: Secure when the public URL is https, or
    # always when this is true (set it behind a TLS-terminating proxy that forwards http).
    cookie_secure: bool = False
    login_session_lifetime: int = Field(default=15 * 60, ge=60, le=24 * 3600)
    # Break-the-glass: how long an emergency access, once opened with a reason, lasts.
    break_glass_minutes: int = Field(default=60, ge=1, le=24 * 60)

    # Subscriptions (rest-hook). Endpoints on loopback and private networks (and plain http to
    # them) only when allowed: development and tests. Link-local and cloud metadata addresses
    # are never allowed (fhir/subscription/endpoint.py).
    subscription_allow_private: bool = False
    subscription_timeout: float = Field(default=10.0, gt=0, le=120)  # seconds per notification
    # Retry after the first failure in this many seconds, doubling up to the maximum; after
    # this many consecutive failures the subscription goes to status error.
    subscription_retry_seconds: float = Field(default=5.0, gt=0)
    subscription_retry_max_seconds: float = Field(default=3600.0, gt=0)
    subscription_max_failures: int = Field(default=10, ge=1, le=100)
    subscription_poll_seconds: float = Field(default=1.0, gt=0, le=60)

    @field_validator("store")
    @classmethod
    def _store_kind(cls, value: str) -> str:
        if value != "sqlite" and not value.startswith(MONGODB_SCHEMES):
            raise ValueError('must be "sqlite" or a mongodb:// or mongodb+srv:// URL')
        return value

    @property
    def mongodb_url(self) -> str | None:
        """The MongoDB URL when the store is on MongoDB, else None (SQLite)."""
        return self.store if self.store.startswith(MONGODB_SCHEMES) else None

    @property
    def database_path(self) -> Path:
        return self.data_dir / "zorgleefplan.sqlite3"
