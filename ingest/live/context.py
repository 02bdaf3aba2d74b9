"""What every live job receives: settings, the one rate-limited Deribit client, a connection factory,
the lease, the spool (forward-only rows kept while the database does not answer), and a little state
kept between runs (the chain's option names, the option-trades cursor)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import psycopg
from psycopg_pool import ConnectionPool

from ingest.config import Settings
from ingest.datasets.candles import CandleFetcher
from ingest.deribit.client import DeribitClient
from ingest.live.lease import Lease
from ingest.live.spool import DEFAULT_MAX_BYTES, Spool


def all_jobs() -> tuple[str, ...]:
    """Every live job's name: the datasets' (registry order) and the maintenance jobs."""
    from ingest.live.jobs import job_table

    return tuple(job_table())


@dataclass
class LiveConfig:
    lease_seconds: float = 30.0
    lease_name: str = "ingest-run"
    rate_share: float = 0.25
    currencies: tuple[str, ...] = ("BTC", "ETH")
    # candles: how far back to start an instrument with no stored candle; how far back catch-up looks
    initial_lookback_min: int = 120
    catchup_days: float = 3.0
    # gap repair: the last N days, at most this many gaps per run
    gap_days: float = 3.0
    gap_max_per_run: int = 20
    # the exchange-greeks sweep covers every option once per this many minutes
    sweep_minutes: int = 60
    # the spool of forward-only rows while the database does not answer: its bound, and how long one
    # flush slice may load (slices start at :40 of each minute, after the minute's jobs)
    spool_max_bytes: int = DEFAULT_MAX_BYTES
    spool_flush_seconds: float = 15.0
    jobs: tuple[str, ...] | None = None  # None: every job (all_jobs())
    db_timeout: float = 5.0


class CountingClient:
    """A per-job view of the shared client that counts this job's requests (the limiter is shared)."""

    def __init__(self, client: DeribitClient):
        self._client = client
        self.requests = 0

    def call(self, method: str, params: dict | None = None, *, host: str = "www") -> Any:
        self.requests += 1
        return self._client.call(method, params, host=host)

    def __getattr__(self, name):
        return getattr(self._client, name)


class Context:
    def __init__(self, settings: Settings, config: LiveConfig, client: DeribitClient | None = None,
                 pool: ConnectionPool | None = None, lease: Lease | None = None):
        self.settings = settings
        self.config = config
        self.client = client or DeribitClient.from_settings(settings, share=config.rate_share)
        self.pool = pool or ConnectionPool(
            settings.database_url, min_size=1, max_size=4, open=False, timeout=config.db_timeout,
            reconnect_timeout=0, name="ingest-live", check=ConnectionPool.check_connection,
            kwargs={"autocommit": True, "connect_timeout": max(2, int(config.db_timeout))})
        try:
            self.pool.open(wait=False)
        except Exception:
            pass
        # a heartbeat gives up before the next one is due (else the scheduler skips ticks while the
        # database is away, and logs each skip)
        beat_timeout = max(1.0, min(config.db_timeout, config.lease_seconds / 3 * 0.8))
        self.lease = lease or Lease(lambda: self.connect(timeout=beat_timeout), name=config.lease_name,
                                    seconds=config.lease_seconds)
        self.fetcher_hosts: dict[str, str] = {}
        self.state: dict[str, Any] = {}
        self.spool = Spool(settings.spool_dir, config.spool_max_bytes, holder=self.lease.holder)
        self.stop = threading.Event()

    @property
    def holder(self) -> str:
        return self.lease.holder

    @contextmanager
    def connect(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        """An autocommit connection from the pool (transactions stay short and explicit); waits at most
        `timeout` seconds (default LiveConfig.db_timeout) for one."""
        with self.pool.connection(timeout=timeout) as conn:
            yield conn

    def fetcher(self, client) -> CandleFetcher:
        f = CandleFetcher(client)
        f._host = self.fetcher_hosts  # remember archived instruments across runs
        return f

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def close(self) -> None:
        try:
            self.pool.close(timeout=5)
        except Exception:
            pass
