"""Helpers for the backfill tests and benchmark: a client against a simulator, ground truth, counts."""

from __future__ import annotations

import psycopg

from ingest.deribit.client import DeribitClient


def sim_client(sim, **kw) -> DeribitClient:
    kw.setdefault("backoff_base", 0.02)
    kw.setdefault("backoff_cap", 0.2)
    kw.setdefault("timeout", 2.0)
    kw.setdefault("max_attempts", 8)
    return DeribitClient(sim.api_url, sim.history_url, **kw)


def truth_candles(sim, name: str, start_ms: int, end_ms: int, now_ms: int) -> dict[int, tuple]:
    """tick -> (open, high, low, close, volume) from the simulator's market (ground truth)."""
    c = sim.market.candles(name, start_ms, end_ms, "1", now_ms, False, 10**9)
    return {int(t): (float(o), float(h), float(lo), float(cl), float(v)) for t, o, h, lo, cl, v in
            zip(c["ticks"], c["open"], c["high"], c["low"], c["close"], c["volume"], strict=False)}


def stored_candles(conn: psycopg.Connection, table: str, name: str) -> dict[int, tuple]:
    rows = conn.execute(
        f"SELECT (extract(epoch FROM ts) * 1000)::bigint, open::float8, high::float8, low::float8, "
        f"close::float8, volume::float8 FROM {table} WHERE instrument_name = %s", (name,)).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def duplicates(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) - count(DISTINCT (instrument_name, ts)) FROM {table}").fetchone()[0]
