"""Refresh the continuous aggregates built on the tables a backfill touched, over the touched range.

Discovered from timescaledb_information.continuous_aggregates (so this works whether or not the views
exist yet), parents before children (a 1d built on the 1h sees the refreshed 1h). CALL
refresh_continuous_aggregate cannot run inside a transaction: the connection must be in autocommit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from ingest.sqlfiles import query

log = logging.getLogger("ingest.backfill")


def caggs_of(conn: psycopg.Connection, hypertable: str) -> list[str]:
    rows = conn.execute(query("backfill_caggs"), {"hypertable": hypertable}).fetchall()
    return [f"{schema}.{name}" for schema, name, _ in rows]


def refresh(conn: psycopg.Connection, ranges: dict[str, list[datetime]]) -> list[str]:
    """Refresh every continuous aggregate on each table over [lo, hi] widened to whole days (so that
    1h and 1d buckets at the edges are complete). Returns the refreshed view names."""
    if not conn.autocommit:
        raise ValueError("refresh_continuous_aggregate needs an autocommit connection")
    done = []
    for table, (lo, hi) in sorted(ranges.items()):
        start = lo.replace(hour=0, minute=0, second=0, microsecond=0)
        end = hi.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        for view in caggs_of(conn, table):
            schema, name = view.split(".", 1)
            regclass = sql.Identifier(schema, name).as_string(conn)
            conn.execute("CALL refresh_continuous_aggregate(%s::regclass, %s::timestamptz, %s::timestamptz)",
                         (regclass, start, end))
            log.info("refreshed %s over %s .. %s", view, start, end)
            done.append(view)
    return done
