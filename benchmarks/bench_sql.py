"""Benchmark of the SQL layer on a year of 1-minute candles (a perpetual and one dated future).

Measures, in one run, and compares against the limits of the issue:
  * futures_basis_1h for one contract over its year, warm: limit 100 ms;
  * bytes per 1-minute candle before and after compression (the original system: ~160 B uncompressed;
    target <= 20 B compressed), and what NUMERIC(18,8) costs against float8 and scaled bigint columns
    holding the same candles.

Data: BTC-PERPETUAL from the simulated market (ingest/sim, seed 0; candles aggregated from simulated
trades, fillers included) and BTC-27DEC24 priced from it as perpetual * exp(basis * tau), rounded to
its 2.5 USD tick, listed a year before its expiry (the simulator lists quarterlies 26 weeks ahead).

    .venv/bin/python benchmarks/bench_sql.py                 # embedded TimescaleDB, in memory
    .venv/bin/python benchmarks/bench_sql.py --days 30       # quicker
    .venv/bin/python benchmarks/bench_sql.py --url postgresql://...  --yes-wipe   # a scratch TimescaleDB

Exit status: 0; 1 with --strict when a limit is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402

from ingest import deribit_calendar as cal  # noqa: E402
from ingest import schema  # noqa: E402
from ingest.config import redact_dsn  # noqa: E402
from ingest.policies import refresh_aggregates  # noqa: E402
from ingest.sim.market import Market  # noqa: E402

UTC = timezone.utc
EXPIRY = datetime(2024, 12, 27, 8, tzinfo=UTC)
FUTURE, PERP = "BTC-27DEC24", "BTC-PERPETUAL"
QUERY_LIMIT_MS = 100.0
BYTES_TARGET = 20.0
ORIGINAL_BYTES = 160.0
QUERY = "SELECT ts, basis, annualized_basis_pct FROM futures_basis_1h WHERE future = %s ORDER BY ts"


def candles(days: int):
    """Rows (ts, name, o, h, l, c, volume, cost) of both instruments over `days` before EXPIRY."""
    market = Market(seed=0)
    start = EXPIRY - timedelta(days=days)
    s, e = cal.to_ms(start), cal.to_ms(EXPIRY) - 60_000
    p = market.candles(PERP, s, e, "1", now_ms=e + 86_400_000, limit=10**8)
    ts = p["ticks"]
    tau = (cal.to_ms(EXPIRY) - ts) / (365 * 86_400_000)
    basis = np.array([market.basis("BTC", int(t)) for t in ts[::60]]).repeat(60)[: len(ts)]
    factor = np.exp(basis * tau)

    def tick(x, t):
        return np.round(x / t) * t

    f = {k: tick(p[k] * factor, 2.5) for k in ("open", "high", "low", "close")}
    f["high"] = np.maximum.reduce([f["high"], f["open"], f["close"]])
    f["low"] = np.minimum.reduce([f["low"], f["open"], f["close"]])
    f["volume"] = np.round(p["volume"] * 0.3, 8)
    f["cost"] = np.round(p["cost"] * 0.3, 2)
    times = [cal.from_ms(int(t)) for t in ts]
    for name, c in ((PERP, p), (FUTURE, f)):
        cols = [c["open"], c["high"], c["low"], c["close"], c["volume"], c["cost"]]
        for i, t in enumerate(times):
            yield (t, name, *(f"{col[i]:.8f}" for col in cols))


def copy_rows(conn, rows) -> int:
    n = 0
    with conn.cursor() as cur:
        with cur.copy(
            "COPY perpetuals_ohlcv (ts, instrument_name, open, high, low, close, volume, cost) FROM STDIN"
        ) as cp_perp:
            futures = []
            for r in rows:
                if r[1] == PERP:
                    cp_perp.write_row(r)
                else:
                    futures.append(r)
                n += 1
        with cur.copy(
            "COPY futures_ohlcv (ts, instrument_name, open, high, low, close, volume, cost) FROM STDIN"
        ) as cp_fut:
            for r in futures:
                cp_fut.write_row(r)
    return n


def size(conn, *tables) -> int:
    return sum(conn.execute("SELECT hypertable_size(%s::regclass)", (t,)).fetchone()[0] for t in tables)


def timed_query(conn, runs: int = 7) -> tuple[float, list[float], int]:
    cold = time.perf_counter()
    n = len(conn.execute(QUERY, (FUTURE,)).fetchall())
    cold = (time.perf_counter() - cold) * 1000
    warm = []
    for _ in range(runs):
        t = time.perf_counter()
        conn.execute(QUERY, (FUTURE,)).fetchall()
        warm.append((time.perf_counter() - t) * 1000)
    return cold, warm, n


def numeric_cost(conn, rows: int) -> dict:
    """The same perpetual candles as float8 and as scaled bigint, compressed like the real table."""
    out = {}
    variants = {
        "numeric(18,8)": None,
        "float8": ("double precision", "{c}::float8"),
        "bigint (x1e8)": ("bigint", "({c} * 100000000)::bigint"),
    }
    for label, spec in variants.items():
        if spec is None:
            continue
        typ, expr = spec
        conn.execute("DROP TABLE IF EXISTS bench_variant")
        conn.execute(
            f"CREATE TABLE bench_variant (ts timestamptz NOT NULL, instrument_name text NOT NULL, "
            f"open {typ}, high {typ}, low {typ}, close {typ}, volume {typ}, cost {typ}, "
            f"UNIQUE (instrument_name, ts))"
        )
        conn.execute("SELECT create_hypertable('bench_variant', by_range('ts', INTERVAL '30 days'))")
        cols = ", ".join(expr.format(c=c) for c in ("open", "high", "low", "close", "volume", "cost"))
        conn.execute(f"INSERT INTO bench_variant SELECT ts, instrument_name, {cols} FROM perpetuals_ohlcv")
        conn.execute(
            "ALTER TABLE bench_variant SET (timescaledb.compress, timescaledb.compress_segmentby = "
            "'instrument_name', timescaledb.compress_orderby = 'ts DESC')"
        )
        before = size(conn, "bench_variant")
        conn.execute("SELECT compress_chunk(c) FROM show_chunks('bench_variant') c")
        out[label] = (before / rows, size(conn, "bench_variant") / rows)
        conn.execute("DROP TABLE bench_variant")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--url",
        nargs="?",
        const=os.environ.get("INGEST_DATABASE_URL"),
        help="a scratch TimescaleDB (default with no value: INGEST_DATABASE_URL); "
        "without --url the embedded server runs in memory",
    )
    ap.add_argument("--yes-wipe", action="store_true", help="allow emptying the candle tables at --url")
    ap.add_argument("--days", type=int, default=365, help="days of 1-minute data (default 365)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a limit is missed")
    args = ap.parse_args()

    server = None
    if args.url:
        if not args.yes_wipe:
            ap.error("--url empties perpetuals_ohlcv, futures_ohlcv and instruments there: add --yes-wipe")
        url = args.url
    else:
        from ingest.embedded import EmbeddedServer

        server = EmbeddedServer(data="memory").start()
        url = server.url
    try:
        return run(url, args)
    finally:
        if server is not None:
            server.stop()


def run(url: str, args) -> int:
    print(f"database {redact_dsn(url)}; {args.days} days of 1-minute candles for {PERP} and {FUTURE}")
    schema.upgrade(url, "head")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE perpetuals_ohlcv, futures_ohlcv, instruments")
        for cagg in ("perpetuals_ohlcv_1d", "futures_ohlcv_1d", "perpetuals_ohlcv_1h", "futures_ohlcv_1h"):
            conn.execute(f"TRUNCATE {cagg}")
        t = time.perf_counter()
        with conn.transaction():
            n = copy_rows(conn, candles(args.days))
        load_s = time.perf_counter() - t
        conn.execute(
            "INSERT INTO instruments (instrument_name, kind, base_currency, creation_timestamp, "
            "expiration_timestamp, settlement_period) VALUES "
            "(%s, 'future', 'BTC', %s, %s, 'month'), (%s, 'future', 'BTC', '2018-08-13', '3000-01-01', "
            "'perpetual')",
            (FUTURE, EXPIRY - timedelta(days=args.days), EXPIRY, PERP),
        )
        t = time.perf_counter()
        refresh_aggregates(
            conn,
            None,
            EXPIRY + timedelta(days=1),
            names=["perpetuals_ohlcv_1h", "futures_ohlcv_1h", "perpetuals_ohlcv_1d", "futures_ohlcv_1d"],
        )
        refresh_s = time.perf_counter() - t
        # statistics of the raw tables and of the aggregates' materialisations, as autovacuum keeps them on
        # a server (the embedded one has no autovacuum): without them the planner nests loops over the
        # real-time aggregate union and the query takes seconds
        conn.execute("ANALYZE")
        print(
            f"loaded {n:,} candles in {load_s:.1f} s ({n / load_s:,.0f}/s); "
            f"aggregates refreshed in {refresh_s:.1f} s"
        )

        before = size(conn, "perpetuals_ohlcv", "futures_ohlcv")
        cold, warm, hours = timed_query(conn)
        t = time.perf_counter()
        for table in ("perpetuals_ohlcv", "futures_ohlcv"):
            conn.execute(f"SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('{table}') c")
        compress_s = time.perf_counter() - t
        after = size(conn, "perpetuals_ohlcv", "futures_ohlcv")
        cold_c, warm_c, _ = timed_query(conn)
        per_row = n // 2
        variants = numeric_cost(conn, per_row)

    warm_ms = statistics.median(warm)
    warm_c_ms = statistics.median(warm_c)
    b_before, b_after = before / n, after / n
    print()
    print(
        f"futures_basis_1h, {FUTURE}, {hours:,} hourly rows: cold {cold:.1f} ms, "
        f"warm median {warm_ms:.1f} ms "
        f"(min {min(warm):.1f}); after compression warm {warm_c_ms:.1f} ms"
    )
    print(
        f"bytes per 1-minute candle (table + indexes): uncompressed {b_before:.1f} B, "
        f"compressed {b_after:.1f} B "
        f"(ratio {before / after:.1f}x; compressing took {compress_s:.1f} s); "
        f"original system ~{ORIGINAL_BYTES:.0f} B"
    )
    print(f"what NUMERIC(18,8) costs, same {PERP} candles (bytes/candle uncompressed -> compressed):")
    print(f"  numeric(18,8)  {before / n:7.1f} -> {b_after:6.1f}   (both tables, as stored)")
    for label, (u, c) in variants.items():
        print(f"  {label:<14} {u:7.1f} -> {c:6.1f}")
    print()
    ok_query = warm_ms < QUERY_LIMIT_MS
    ok_bytes = b_after <= BYTES_TARGET
    print(
        f"[{'PASS' if ok_query else 'MISS'}] futures_basis_1h over a year warm {warm_ms:.1f} ms "
        f"< {QUERY_LIMIT_MS:.0f} ms"
    )
    print(f"[{'PASS' if ok_bytes else 'MISS'}] compressed {b_after:.1f} B/candle <= {BYTES_TARGET:.0f} B")
    return 1 if args.strict and not (ok_query and ok_bytes) else 0


if __name__ == "__main__":
    sys.exit(main())
