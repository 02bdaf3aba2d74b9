"""Settings read from the environment.

Every setting has an environment variable (documented in README.md and .env.example);
nothing else in the package reads os.environ for configuration. DSNs (their shapes, redaction and
normalisation) are ingest/storage/dsn.py's; `redact_dsn` and `error_line` are re-exported here for callers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ingest.storage.dsn import DsnError, error_line, normalize_dsn, redact_dsn

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:55432/postgres"
DEFAULT_API_URL = "https://www.deribit.com/api/v2"
DEFAULT_HISTORY_URL = "https://history.deribit.com/api/v2"

# Deribit's public credit rules (see docs/deribit-api.md): 500 credits per request,
# a pool of 50,000, refilled at 10,000 per second -> ~20 requests/s, bursts of ~100.
DEFAULT_REQUEST_COST = 500
DEFAULT_CREDIT_POOL = 50_000
DEFAULT_CREDIT_REFILL = 10_000


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_dsn(name: str, default: str) -> str:
    """The DSN as libpq will read it (see ingest/storage/dsn.py); a DSN libpq would reject is a clear error
    here, before any connection could echo it."""
    try:
        return normalize_dsn(_env(name, default))
    except DsnError as exc:
        raise DsnError(f"{name} cannot be used: {exc}") from None


def _env_float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def _env_int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _env_heartbeat_url(name: str) -> str | None:
    """An http(s) URL or unset; the value is never echoed (a ping key is a secret)."""
    raw = _env(name, "").strip()
    if not raw:
        return None
    if not raw.lower().startswith(("http://", "https://")):
        raise ValueError(f"{name} must be an http:// or https:// URL")
    return raw


def _env_port(name: str, default: int) -> int:
    port = _env_int(name, default)
    if not 0 <= port <= 65535:
        raise ValueError(f"{name} must be a TCP port (1-65535, 0 = off), got {port}")
    return port


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    api_url: str = DEFAULT_API_URL
    history_url: str = DEFAULT_HISTORY_URL
    request_cost: int = DEFAULT_REQUEST_COST
    credit_pool: int = DEFAULT_CREDIT_POOL
    credit_refill: int = DEFAULT_CREDIT_REFILL
    # fraction of the exchange's credit budget this process may use (1.0 = all of it)
    rate_share: float = 1.0
    http_timeout: float = 10.0
    log_file: Path | None = None
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 5
    # where `ingest run` keeps forward-only rows while the database does not answer (ingest/live/spool.py)
    spool_dir: Path = Path(".data/spool")
    # `ingest run`: Healthchecks-style ping URL after every successful minute (`/fail` otherwise); it may
    # hold a ping key, so it is never shown (repr=False; ingest/live/monitoring.py prints it redacted)
    heartbeat_url: str | None = field(default=None, repr=False)
    # `ingest run`: port of the Prometheus endpoint (0 = off; `--metrics-port`)
    metrics_port: int = 0

    @classmethod
    def from_env(cls) -> "Settings":
        log_file = _env("INGEST_LOG_FILE", "")
        return cls(
            database_url=_env_dsn("INGEST_DATABASE_URL", DEFAULT_DATABASE_URL),
            api_url=_env("DERIBIT_API_URL", DEFAULT_API_URL).rstrip("/"),
            history_url=_env("DERIBIT_HISTORY_URL", DEFAULT_HISTORY_URL).rstrip("/"),
            request_cost=_env_int("DERIBIT_REQUEST_COST", DEFAULT_REQUEST_COST),
            credit_pool=_env_int("DERIBIT_CREDIT_POOL", DEFAULT_CREDIT_POOL),
            credit_refill=_env_int("DERIBIT_CREDIT_REFILL", DEFAULT_CREDIT_REFILL),
            rate_share=_env_float("DERIBIT_RATE_SHARE", 1.0),
            http_timeout=_env_float("DERIBIT_HTTP_TIMEOUT", 10.0),
            log_file=Path(log_file) if log_file else None,
            log_max_bytes=_env_int("INGEST_LOG_MAX_BYTES", 10 * 1024 * 1024),
            log_backups=_env_int("INGEST_LOG_BACKUPS", 5),
            spool_dir=Path(_env("INGEST_SPOOL_DIR", ".data/spool")),
            heartbeat_url=_env_heartbeat_url("INGEST_HEARTBEAT_URL"),
            metrics_port=_env_port("INGEST_METRICS_PORT", 0),
        )

    @property
    def safe_database_url(self) -> str:
        """The DSN to print: every password '***' (also where the user or database name equals it)."""
        return redact_dsn(self.database_url, self.database_url)


__all__ = ["DsnError", "Settings", "error_line", "normalize_dsn", "redact_dsn"]
