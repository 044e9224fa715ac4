"""Our own settings (SLACREDITS_*), read once at start-up."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from projections.stores import DEFAULT_URL
from webhooks.dispatcher import DispatchSettings

ROLES = ("admin", "ingest", "account_manager", "billing", "auditor")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLACREDITS_", extra="ignore")

    database_url: str = DEFAULT_URL
    api_keys: str = ""
    # run the projection inside this process (one process on SQLite; `sla-credits project` otherwise)
    run_projection: bool = True
    # how long a query waits for the projection to reach the caller's own write
    read_wait_seconds: float = 5.0
    pool_size: int = 5
    # request handler threads per API process
    threads: int = 8
    # while catching up, the projection writes at least this often (one transaction per batch)
    projection_batch_seconds: float = 10.0
    # the projection process's self-check: this many customers' stored figures against a fresh
    # computation from the facts, every self_check_pause_seconds (0 turns it off)
    self_check_customers: int = 20
    self_check_pause_seconds: float = 1.0
    # ... and the pause after a slice is long enough that the self-check takes at most this share
    # of one core (0.1: a slice of 0.3 s is followed by 2.7 s of rest)
    self_check_cpu_share: float = Field(default=0.1, gt=0, le=1)
    # /readyz answers 503 when the oldest fact not yet in the read models is older than this
    ready_max_lag_seconds: float = 10.0
    # `sla-credits migrate` / `serve --migrate`: an owner's URL (default: database_url), and the
    # role the service connects as (created with its grants; PostgreSQL only)
    migrate_url: str | None = None
    service_role: str | None = None
    service_password: str | None = None
    # false when the service connects as a role that owns no table (after `migrate`)
    create_tables: bool = True
    # PostgreSQL connections (read by projections/stores.py from the same variables)
    pg_max_overflow: int = 10
    # also how long a request waits for a pooled connection before answering 503
    pg_connect_timeout: int = 2
    pg_max_waiting: int = 0
    pg_lock_timeout: int = 10
    pg_idle_in_transaction_timeout: int = 60
    # the web console: how long a sign-in lasts, and the secret its cookies are signed with
    # (default: derived from the API keys, so that every worker agrees)
    console_session_seconds: float = 8 * 3600
    console_secret: str | None = None
    # idle HTTP connections are kept this long (above the load balancer's idle timeout)
    keep_alive_seconds: int = 75
    # when set, GET /metrics asks for `Authorization: Bearer <this token>` (open by default, the
    # Prometheus convention: keep it on the operator's network)
    metrics_token: str | None = None
    # the largest request body accepted (413 above it); a write's key is checked before its body is read
    max_body_bytes: int = 4 * 1024 * 1024
    # webhooks (docs/webhooks.md): `serve` starts the dispatcher process unless false; http://
    # and loopback or private addresses only when allow_insecure (tests, local use); a Fernet
    # key seals the stored secrets; each attempt's time limit; the back-off (base, doubled up to
    # max, with jitter) and how long an endpoint may fail before it is disabled
    run_dispatcher: bool = True
    webhook_allow_insecure: bool = False
    webhook_secret_key: str | None = None
    webhook_timeout_seconds: float = 10.0
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_max_seconds: float = 3600.0
    webhook_retry_for_seconds: float = 3 * 24 * 3600.0
    webhook_poll_seconds: float = 0.5
    webhook_lease_seconds: float | None = None  # how long an attempt holds its delivery; default 3 x timeout + 5
    # logs: one JSON object a line ("json") or plain text ("text")
    log_format: str = "json"
    log_level: str = "INFO"

    def dispatch_settings(self) -> DispatchSettings:
        return DispatchSettings(
            poll_seconds=self.webhook_poll_seconds,
            timeout_seconds=self.webhook_timeout_seconds,
            retry_base_seconds=self.webhook_retry_base_seconds,
            retry_max_seconds=self.webhook_retry_max_seconds,
            retry_for_seconds=self.webhook_retry_for_seconds,
            allow_insecure=self.webhook_allow_insecure,
            secret_key=self.webhook_secret_key,
            lease_seconds=self.webhook_lease_seconds,
        )

    def api_key_list(self) -> list[ApiKey]:
        out = []
        for pair in (p.strip() for p in self.api_keys.split(",")):
            if not pair:
                continue
            role, sep, key = pair.partition(":")
            if not sep or role not in ROLES or not key:
                raise ValueError(f"SLACREDITS_API_KEYS: each entry is role:key with a role among {', '.join(ROLES)}")
            out.append(ApiKey(role, key))
        return out


@dataclass(frozen=True)
class ApiKey:
    role: str
    key: str

    def matches(self, presented: str) -> bool:
        return hmac.compare_digest(self.key.encode(), presented.encode())
