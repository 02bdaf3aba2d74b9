"""Volatility and carry analytics: keep the job-maintained tables up to date from Python.

The computation lives in SQL (revisions 0009-0015, docs/sql-layer.md "Volatility analytics"): the
procedure ``refresh_analytics(start, end)`` recomputes, over ``[start, end)``,

* ``vol_expiry_1m``      ATM IV per chain snapshot and expiry (and the snapshot's quality counts),
* ``vol_expiry_1h``      the hour's ATM and 25/10-delta skew per expiry,
* ``vol_surface_cm_1h``  constant-maturity (7/30/60/90/180-day) ATM, 25-delta RR and BF,
* ``basis_cm_1h``        constant-maturity (30/60/90/180-day) futures basis,

by upserts: a refresh never deletes a row, and running it again changes nothing. Hourly rows are
recomputed for every hour that overlaps the range (from all of that hour's stored snapshots).

``refresh(conn, since, until)`` is what the live collector calls every few minutes (and what to call
after loading history, e.g. a futures backfill): it cuts the range into whole hours and commits each
on its own, so no transaction lasts more than about a second (the embedded server runs one
transaction at a time for every connection). TimescaleDB's job ``analytics_refresh_job`` does the
same over the last three hours every five minutes where background workers run (native servers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class RefreshResult:
    hours: int  # hour slices refreshed (each in its own transaction)
    seconds: float


def hour_slices(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """[since, until) cut at whole UTC hours: the first and last slice may be partial."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    if since >= until:
        raise ValueError(f"empty range: since {since.isoformat()} is not before until {until.isoformat()}")
    out = []
    start = since
    while start < until:
        next_hour = start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0) + HOUR
        end = min(next_hour, until)
        out.append((start, end))
        start = end
    return out


def refresh(conn: psycopg.Connection, since: datetime, until: datetime) -> RefreshResult:
    """Recompute the analytics tables over [since, until), hour by hour, each hour committed.

    ``conn`` must not be inside a transaction (autocommit, or idle); the role needs EXECUTE on
    ``refresh_analytics`` (the owner and ``ingest_writer`` have it). Example, every few minutes::

        now = datetime.now(timezone.utc)
        refresh(conn, now - timedelta(minutes=15), now + timedelta(minutes=1))
    """
    slices = hour_slices(since, until)
    started = time.monotonic()
    for start, end in slices:
        with conn.transaction():
            conn.execute("CALL refresh_analytics(%s, %s)", (start, end))
    return RefreshResult(hours=len(slices), seconds=time.monotonic() - started)
