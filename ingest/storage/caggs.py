"""Continuous aggregates follow what was loaded: every load records its time range per hypertable
(`record`, in the load's own transaction, table cagg_refresh_pending); `refresh_pending` refreshes the
aggregates built on each table over those ranges and forgets them. The backfill calls it at the end of
every run (also one that loaded nothing: an earlier, killed run may have left ranges), the live
collector periodically, so the aggregates end up complete whatever was interrupted, on the embedded
server too (it runs no refresh policies).

Aggregates are discovered from timescaledb_information.continuous_aggregates, parents before children
(a 1d built on the 1h sees the refreshed 1h). CALL refresh_continuous_aggregate cannot run inside a
transaction: the connection must be in autocommit.
"""

from __future__ import annotations

import logging
from datetime import datetime

import psycopg
from psycopg import sql

from ingest.storage.sqlfiles import query

log = logging.getLogger("ingest.storage.caggs")


def caggs_of(conn: psycopg.Connection, hypertable: str) -> list[str]:
    rows = conn.execute(query("backfill_caggs"), {"hypertable": hypertable}).fetchall()
    return [f"{schema}.{name}" for schema, name, _ in rows]


def record(conn: psycopg.Connection, hypertable: str, lo: datetime, hi: datetime) -> None:
    """Note that rows of `hypertable` in [lo, hi] were written (call inside the loading transaction)."""
    conn.execute(query("pending_refresh_record"), {"hypertable": hypertable, "lo": lo, "hi": hi})


def refresh_pending(conn: psycopg.Connection) -> list[str]:
    """Refresh every continuous aggregate over the recorded ranges (whole days, merged), then forget
    those ranges. Returns the refreshed views (one entry per view and range)."""
    if not conn.autocommit:
        raise ValueError("refresh_continuous_aggregate needs an autocommit connection")
    done = []
    for table, lo, hi, ids in conn.execute(query("pending_refresh_ranges")).fetchall():
        for view in caggs_of(conn, table):
            schema, name = view.split(".", 1)
            regclass = sql.Identifier(schema, name).as_string(conn)
            conn.execute("CALL refresh_continuous_aggregate(%s::regclass, %s::timestamptz, %s::timestamptz)",
                         (regclass, lo, hi))
            log.info("refreshed %s over %s .. %s", view, lo, hi)
            done.append(view)
        conn.execute(query("pending_refresh_clear"), {"ids": ids})
    return done
