"""All configuration, from `DEALDESK_*` environment variables.

This module imports nothing of ours so that every layer may depend on it.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-only-secret-change-me-0123456789abcdef"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEALDESK_", env_file=".env", extra="ignore")

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path(".dealdesk")
    # Empty means "an SQLite file in data_dir"; PostgreSQL in production, e.g.
    # postgresql+psycopg://dealdesk@db:5432/dealdesk
    database_url: str = ""

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = ""

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "dealdesk"
    # `dealdesk up` starts the dev server itself unless told an external one is there.
    temporal_dev_server: bool = True
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    # Temporal Cloud, or a cluster that requires TLS: PEM files, read when the client connects.
    # A certificate with its key is mutual TLS; a CA alone verifies a privately signed server.
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    # Temporal Cloud API key authentication; the connection uses TLS whenever it is set.
    temporal_api_key: SecretStr | None = None

    # Origins (scheme://host[:port]) whose pages may call the API with the user's credentials;
    # empty (the default) sends no CORS headers at all. Never "*".
    cors_origins: list[str] = Field(default_factory=list)

    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    token_ttl: timedelta = timedelta(hours=8)
    seed_demo_data: bool = True

    # Approval timers come from the policy, per stage. Set both to override every stage
    # (demos and tests use seconds).
    remind_after: timedelta | None = None
    escalate_after: timedelta | None = None
    proposal_validity: timedelta = timedelta(days=30)
    # The selling company, as proposals and contracts name it.
    seller_name: str = Field(default="DealDesk Demo Inc.", min_length=1, max_length=200)

    # How long a rejected or sent-back deal waits for a revision before its workflow closes.
    revision_window: timedelta = timedelta(days=90)

    # Outgoing e-mail. Empty host: messages stay in the outbox table only.
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "dealdesk@localhost"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_timeout: timedelta = timedelta(seconds=10)

    # Bounds on what one request may carry.
    max_request_bytes: int = 1_000_000
    # Activities are synchronous (database sessions block) and run on this many threads per
    # worker; each thread is an activity slot. The server hands an activity to the worker in
    # its reply to the workflow task that scheduled it (eager dispatch) only while a slot is
    # free, so slots should outnumber the deals in flight: at 50 in flight with 32 slots nearly
    # every activity went through the server's matching instead (an add, a poll and a
    # record-started request each; bench/approvals.py prints them per deal), with 128 almost
    # none did. An idle thread costs little; they share the engine's connection pool.
    worker_activity_threads: int = Field(default=128, ge=1, le=256)
    # Failed sign-ins allowed per hour: per account (then it is locked for the rest of the
    # hour, even to the right password) and per client address (password spraying).
    login_failures_per_account: int = Field(default=100, ge=1)
    login_failures_per_address: int = Field(default=300, ge=1)

    # Observability. /metrics is unauthenticated, as scrapers expect: keep it reachable only
    # from the scrape network (a reverse proxy or network policy), or turn it off here.
    metrics_enabled: bool = True
    # host:port of the worker's Prometheus endpoint (the Temporal SDK's metrics and DealDesk's
    # activity failures), e.g. 0.0.0.0:9464; empty: off.
    worker_metrics_address: str = ""
    # Unset: text in development, one JSON object per line in production.
    log_format: Literal["json", "text"] | None = None
    log_level: str = Field(default="INFO", pattern=r"(?i)^(debug|info|warning|error|critical)$")

    @field_validator(
        "temporal_tls_cert",
        "temporal_tls_key",
        "temporal_tls_ca",
        "temporal_api_key",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose and CI templates often pass `VAR=` for "not used"; Path("") would be ".".
        return None if value == "" else value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if "*" in origin or not origin.startswith(("http://", "https://")):
                raise ValueError(f"DEALDESK_CORS_ORIGINS takes exact origins, not {origin!r}")
        return origins

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError(
                "set both DEALDESK_TEMPORAL_TLS_CERT and DEALDESK_TEMPORAL_TLS_KEY, or neither"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.mode == "production":
            if self.secret_key.get_secret_value() == DEFAULT_SECRET:
                raise ValueError("DEALDESK_SECRET_KEY must be set in production mode")
            if self.seed_demo_data:
                raise ValueError("demo users must not be seeded in production mode")
        if len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("DEALDESK_SECRET_KEY must be at least 32 characters")
        return self

    @model_validator(mode="after")
    def _timers_together(self) -> Settings:
        if (self.remind_after is None) != (self.escalate_after is None):
            raise ValueError(
                "set both DEALDESK_REMIND_AFTER and DEALDESK_ESCALATE_AFTER, or neither"
            )
        if self.remind_after and self.escalate_after and self.remind_after >= self.escalate_after:
            raise ValueError("DEALDESK_REMIND_AFTER must be shorter than DEALDESK_ESCALATE_AFTER")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dealdesk.db').resolve()}"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def effective_log_format(self) -> Literal["json", "text"]:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.mode == "production" else "text"


@lru_cache
def get_settings() -> Settings:
    return Settings()
