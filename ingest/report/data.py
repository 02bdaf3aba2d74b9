"""What the report shows, read from the database in one read-only snapshot.

Every query is a file under sql/queries/ (report_*.sql) over the views and aggregates an analyst
queries (docs/sql-layer.md); the role needs nothing but SELECT, so `analyst` can build the report.
Numbers come back as floats (NUMERIC columns included): they are only drawn and printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

from ingest.storage.sqlfiles import query

UTC = timezone.utc
# the newest minutes of a live instrument are lag (data_freshness), not missing data: the coverage
# expects candles only up to this long before now (the collector writes a minute after it closes;
# `ingest status --max-lag` defaults to 5 minutes too)
LIVE_TAIL = timedelta(minutes=5)
DEFAULT_DAYS = 30

COMPLETE, PARTIAL, MISSING = "complete", "partial", "missing"


@dataclass(frozen=True)
class Window:
    """The report's range [since, until), both timezone-aware."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("since and until must be timezone-aware")
        if self.since >= self.until:
            raise ValueError(f"empty range: since {self.since.isoformat()} is not before until "
                             f"{self.until.isoformat()}")

    @classmethod
    def last_days(cls, days: float = DEFAULT_DAYS, until: datetime | None = None) -> "Window":
        until = until or datetime.now(UTC)
        return cls(until - timedelta(days=days), until)


@dataclass(frozen=True)
class CoverageCell:
    dataset: str  # perpetuals_ohlcv | futures_ohlcv
    instrument_name: str
    currency: str
    expiry: datetime | None
    day: datetime
    stored: int  # 1-minute candles stored that UTC day
    expected: int  # minutes of the day inside the listed life (up to LIVE_TAIL before now)

    @property
    def status(self) -> str | None:
        """complete, partial, missing, or None when nothing was expected (not listed that day)."""
        if self.expected <= 0:
            return COMPLETE if self.stored > 0 else None
        if self.stored >= self.expected:
            return COMPLETE
        return PARTIAL if self.stored > 0 else MISSING


@dataclass
class ReportData:
    window: Window
    generated_at: datetime
    coverage: list[CoverageCell] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    basis_term_structure: list[dict] = field(default_factory=list)
    basis_history: list[dict] = field(default_factory=list)
    funding_hourly: list[dict] = field(default_factory=list)
    funding_daily: list[dict] = field(default_factory=list)
    atm_term_structure: list[dict] = field(default_factory=list)
    atm_history: list[dict] = field(default_factory=list)

    def coverage_counts(self) -> dict[str, int]:
        counts = {COMPLETE: 0, PARTIAL: 0, MISSING: 0}
        for cell in self.coverage:
            if cell.status:
                counts[cell.status] += 1
        return counts


def _plain(row: dict) -> dict:
    """NUMERIC values as floats."""
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def _rows(cur: psycopg.Cursor[dict], name: str, params: dict) -> list[dict]:
    cur.execute(query(name), params)
    return [_plain(r) for r in cur.fetchall()]


def fetch(conn: psycopg.Connection, window: Window) -> ReportData:
    """Read everything the report shows over `window`, in one read-only repeatable-read transaction
    (the sections agree with each other). `conn` must not be inside a transaction."""
    params = {"since": window.since, "until": window.until, "tail": LIVE_TAIL}
    data = ReportData(window=window, generated_at=datetime.now(UTC))
    previous = conn.autocommit
    conn.autocommit = False
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            data.coverage = [CoverageCell(**r) for r in _rows(cur, "report_coverage", params)]
            names = sorted({c.instrument_name for c in data.coverage})
            data.gaps = _rows(cur, "report_gaps", {**params, "names": names}) if names else []
            data.quarantine = _rows(cur, "report_quarantine", params)
            data.basis_term_structure = _rows(cur, "report_basis_term_structure", params)
            data.basis_history = _rows(cur, "report_basis_history", params)
            data.funding_hourly = _rows(cur, "report_funding_hourly", params)
            data.funding_daily = _rows(cur, "report_funding_daily", params)
            data.atm_term_structure = _rows(cur, "report_atm_term_structure", params)
            data.atm_history = _rows(cur, "report_atm_history", params)
    finally:
        conn.read_only = False
        conn.isolation_level = None
        conn.autocommit = previous
    return data
