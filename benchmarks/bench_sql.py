"""Benchmark of the SQL layer on a year of 1-minute candles (a perpetual and one dated future).

Measures, in one run, and compares against the limits of the issue:
  * futures_basis_1h for one contract over its year, warm, as a client sees it: limit 100 ms. Printed
    with it: the server's execution time (EXPLAIN ANALYZE), the transfer floor (the same result rows
    read back from a plain table: what the wire costs whatever the view does), the time without
    statistics (before ANALYZE: the embedded server has no autovacuum), with the 1h aggregates
    materialized_only (the real-time trade-off) and after compression;
  * bytes per 1-minute candle before and after compression (the original system: ~160 B uncompressed;
    target <= 20 B compressed), and what NUMERIC(18,8)/NUMERIC(24,8) cost: the same perpetual candles
    stored as float8 and as scaled bigint, compressed alike, and the effect of the chunk interval.
Every figure carries the 1-minute load average at the time it was taken (the machine is shared).

Data: BTC-PERPETUAL from the simulated market (ingest/sim, seed 0; candles aggregated from simulated
trades, fillers included) and BTC-27DEC24 priced from it as perpetual * exp(basis * tau), rounded to
its 2.5 USD tick, listed a year before its expiry (the simulator lists quarterlies 26 weeks ahead).

    .venv/bin/python benchmarks/bench_sql.py                 # embedded TimescaleDB, in memory
    .venv/bin/python benchmarks/bench_sql.py --days 30       # quicker
    .venv/bin/python benchmarks/bench_sql.py --url postgresql://...  --yes-wipe   # a scratch TimescaleDB

Exit status: 0 when every limit is met; 1 when one is missed (the reason is printed); --no-fail: 0.
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

from ingest.config import redact_dsn  # noqa: E402
from ingest.deribit import calendar as cal  # noqa: E402
from ingest.sim.market import Market  # noqa: E402
from ingest.storage import schema  # noqa: E402
from ingest.storage.policies import refresh_aggregates  # noqa: E402

UTC = timezone.utc
EXPIRY = datetime(2024, 12, 27, 8, tzinfo=UTC)
FUTURE, PERP = "BTC-27DEC24", "BTC-PERPETUAL"
QUERY_LIMIT_MS = 100.0
BYTES_TARGET = 20.0
ORIGINAL_BYTES = 160.0
QUERY = "SELECT ts, basis, annualized_basis_pct FROM futures_basis_1h WHERE future = %s ORDER BY ts"
RUNS = 15
SPAN = "one year"


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


def load() -> str:
    """The 1-minute load average now, and the core count: '1.23/2 cores'."""
    return f"load {os.getloadavg()[0]:.2f}/{os.cpu_count()} cores"


def size(conn, *tables) -> int:
    return sum(conn.execute("SELECT hypertable_size(%s::regclass)", (t,)).fetchone()[0] for t in tables)


class Timing:
    """Warm timings of one query (after a first, cold run), with the load average when taken."""

    def __init__(self, cold: float, warm: list[float], rows: int, load: str):
        self.cold, self.warm, self.rows, self.load = cold, warm, rows, load

    @property
    def median(self) -> float:
        return statistics.median(self.warm)

    def __str__(self) -> str:
        return (f"warm median {self.median:6.1f} ms (min {min(self.warm):.1f}, cold {self.cold:.1f}; "
                f"{self.rows:,} rows; {self.load})")


def timed(conn, query: str, params=None, runs: int = RUNS) -> Timing:
    t = time.perf_counter()
    rows = len(conn.execute(query, params).fetchall())
    cold = (time.perf_counter() - t) * 1000
    warm = []
    for _ in range(runs):
        t = time.perf_counter()
        conn.execute(query, params).fetchall()
        warm.append((time.perf_counter() - t) * 1000)
    return Timing(cold, warm, rows, load())


def server_ms(conn, query: str, params=None, runs: int = RUNS) -> Timing:
    """Execution time inside the server (EXPLAIN ANALYZE, TIMING OFF): no output, no wire."""
    out = []
    for _ in range(runs + 1):
        plan = conn.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + query, params).fetchone()[0]
        out.append(plan[0]["Execution Time"])
    return Timing(out[0], out[1:], 1, load())


def basis_figures(conn, label: str) -> dict:
    """End to end, inside the server, and the transfer floor of the same rows from a plain table."""
    e2e = timed(conn, QUERY, (FUTURE,))
    server = server_ms(conn, QUERY, (FUTURE,))
    conn.execute("DROP TABLE IF EXISTS bench_basis_rows")
    conn.execute("CREATE TABLE bench_basis_rows AS " + QUERY.replace("%s", "'" + FUTURE + "'"))
    floor = timed(conn, "SELECT ts, basis, annualized_basis_pct FROM bench_basis_rows ORDER BY ts")
    conn.execute("DROP TABLE bench_basis_rows")
    print(f"futures_basis_1h, {FUTURE}, {SPAN} ({label}):")
    print(f"  client, end to end     {e2e}")
    print(f"  inside the server      {server}")
    print(f"  transfer floor         {floor}   <- the same rows from a plain table")
    return {"e2e": e2e, "server": server, "floor": floor}


def set_materialized_only(conn, value: bool) -> None:
    for cagg in ("perpetuals_ohlcv_1h", "futures_ohlcv_1h"):
        conn.execute(
            f"ALTER MATERIALIZED VIEW {cagg} SET (timescaledb.materialized_only = {str(value).lower()})"
        )


VARIANT_TYPES = {
    "numeric": ("numeric(18,8)", "numeric(24,8)", "{c}"),
    "float8": ("double precision", "double precision", "{c}::float8"),
    "bigint x1e8": ("bigint", "bigint", "({c} * 100000000)::bigint"),
}


_variants = 0


def compress_all(conn, table: str) -> None:
    """Compress every chunk oldest first, one at a time, as the compression policy does (with
    compress_chunk_time_interval a chunk is merged into the previous compressed one)."""
    chunks = conn.execute(
        "SELECT format('%%I.%%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks "
        "WHERE hypertable_name = %s AND NOT is_compressed ORDER BY range_start",
        (table,),
    ).fetchall()
    for (chunk,) in chunks:
        conn.execute("SELECT compress_chunk(%s::regclass)", (chunk,))


def variant_bytes(
    conn, rows: int, types: str, chunk: str, rollup: str | None = None, orderby: str = "ts DESC"
) -> tuple[float, float]:
    """The perpetual's candles in a scratch hypertable with these column types, chunk interval,
    compress_chunk_time_interval (rollup) and order: bytes per candle (table + indexes + TOAST)
    before and after compression."""
    price, amount, expr = VARIANT_TYPES[types]
    # a new name each time: re-creating a dropped hypertable under the same name on the embedded
    # server sometimes leaves it without its compression settings ("columnstore not enabled")
    global _variants
    _variants += 1
    name = f"bench_variant_{_variants}"
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(
        f"CREATE TABLE {name} (ts timestamptz NOT NULL, instrument_name text NOT NULL, "
        f"open {price} NOT NULL, high {price} NOT NULL, low {price} NOT NULL, close {price} NOT NULL, "
        f"volume {amount} NOT NULL, cost {amount} NOT NULL, UNIQUE (instrument_name, ts))"
    )
    conn.execute(f"SELECT create_hypertable('{name}', by_range('ts', INTERVAL '{chunk}'))")
    cols = ", ".join(expr.format(c=c) for c in ("open", "high", "low", "close", "volume", "cost"))
    conn.execute(f"INSERT INTO {name} SELECT ts, instrument_name, {cols} FROM perpetuals_ohlcv")
    for _ in range(3):
        conn.execute(
            f"ALTER TABLE {name} SET (timescaledb.compress, timescaledb.compress_segmentby = "
            f"'instrument_name', timescaledb.compress_orderby = '{orderby}'"
            + (f", timescaledb.compress_chunk_time_interval = '{rollup}')" if rollup else ")")
        )
        if conn.execute(
            "SELECT 1 FROM timescaledb_information.compression_settings WHERE hypertable_name = %s", (name,)
        ).fetchone():
            break
    before = size(conn, name)
    compress_all(conn, name)
    after = size(conn, name)
    conn.execute(f"DROP TABLE {name}")
    return before / rows, after / rows


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
    ap.add_argument("--no-fail", action="store_true", help="exit 0 even when a limit is missed")
    ap.add_argument("--query-limit-ms", type=float, default=QUERY_LIMIT_MS,
                    help=f"limit of the warm basis query (default {QUERY_LIMIT_MS:g}, the issue's)")
    ap.add_argument("--strict", action="store_true", help=argparse.SUPPRESS)  # the default now
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
    global SPAN
    SPAN = "one year" if args.days == 365 else f"{args.days} days"
    print(f"database {redact_dsn(url)}; {args.days} days of 1-minute candles for {PERP} and {FUTURE}")
    print(f"machine: {load()}")
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
        print(
            f"loaded {n:,} candles in {load_s:.1f} s ({n / load_s:,.0f}/s); "
            f"aggregates refreshed in {refresh_s:.1f} s; {load()}"
        )
        print()

        # as the embedded server leaves it after a load: no statistics (no autovacuum)
        no_stats = timed(conn, QUERY, (FUTURE,), runs=5)
        print(f"futures_basis_1h, {FUTURE}, {SPAN}, before ANALYZE (no statistics): {no_stats}")
        # statistics of the raw tables and the aggregates' materialisations, as autovacuum keeps them
        t = time.perf_counter()
        conn.execute("ANALYZE")
        print(f"ANALYZE took {time.perf_counter() - t:.1f} s")
        print()
        warm = basis_figures(conn, "uncompressed, real-time aggregates")
        set_materialized_only(conn, True)
        try:
            mat_only = timed(conn, QUERY, (FUTURE,))
            mat_only_server = server_ms(conn, QUERY, (FUTURE,))
        finally:
            set_materialized_only(conn, False)
        print("  with the 1h aggregates materialized_only = true (not the default):")
        print(f"    client, end to end   {mat_only}")
        print(f"    inside the server    {mat_only_server}")
        print()

        before = {t: size(conn, t) for t in ("perpetuals_ohlcv", "futures_ohlcv")}
        t = time.perf_counter()
        for table in ("perpetuals_ohlcv", "futures_ohlcv"):
            compress_all(conn, table)
        compress_s = time.perf_counter() - t
        after = {t: size(conn, t) for t in ("perpetuals_ohlcv", "futures_ohlcv")}
        conn.execute("ANALYZE perpetuals_ohlcv, futures_ohlcv")
        compressed = basis_figures(conn, "raw tables compressed")
        print()

        per_instrument = n // 2
        variants = []
        for types, chunk, rollup in (
            ("numeric", "7 days", None),
            ("numeric", "7 days", "84 days"),
            ("numeric", "30 days", None),
            ("numeric", "30 days", "360 days"),
            ("float8", "30 days", None),
            ("float8", "30 days", "360 days"),
            ("bigint x1e8", "30 days", "360 days"),
        ):
            u, c = variant_bytes(conn, per_instrument, types, chunk, rollup)
            variants.append((types, chunk, rollup, u, c, load()))
        asc = variant_bytes(conn, per_instrument, "numeric", "30 days", orderby="ts")
        rollups = dict(conn.execute(
            "SELECT hypertable::text, coalesce(compress_interval_length, 'none') "
            "FROM timescaledb_information.hypertable_columnstore_settings"
        ).fetchall())
        chunks = dict(conn.execute(
            "SELECT hypertable_name::text, count(*) FROM timescaledb_information.chunks "
            "WHERE hypertable_name IN ('perpetuals_ohlcv', 'futures_ohlcv') GROUP BY 1"
        ).fetchall())

    b_before = sum(before.values()) / n
    b_after = sum(after.values()) / n
    by = {(t, c, r): (u, v) for t, c, r, u, v, _ in variants}
    print(f"bytes per 1-minute candle (table + indexes + TOAST), as stored, compress {compress_s:.1f} s:")
    for table, chunk in (("perpetuals_ohlcv", "30-day chunks"), ("futures_ohlcv", "7-day chunks")):
        rows = per_instrument
        print(f"  {table:<17} {before[table] / rows:6.1f} B -> {after[table] / rows:5.1f} B "
              f"({chunk}, compress_chunk_time_interval {rollups.get(table, '?')}: {chunks.get(table)} "
              f"chunks; one instrument)")
    print(f"  both              {b_before:6.1f} B -> {b_after:5.1f} B (ratio {b_before / b_after:.1f}x); "
          f"original system ~{ORIGINAL_BYTES:.0f} B uncompressed")
    print()
    print(f"the same {PERP} candles ({per_instrument:,}) per column type, chunk interval and rollup "
          f"(compress_chunk_time_interval), segmentby instrument_name, orderby ts DESC "
          f"(bytes/candle uncompressed -> compressed):")
    for types, chunk, rollup, u, c, ld in variants:
        print(f"  {types:<12} {chunk:>8} chunks, rollup {rollup or 'none':<9} {u:6.1f} -> {c:5.1f} B "
              f"  ({ld})")
    print(f"  numeric       30 days chunks, rollup none, orderby ts ASC instead: "
          f"{asc[0]:.1f} -> {asc[1]:.1f} B")
    num = by[("numeric", "30 days", "360 days")][1]
    flt = by[("float8", "30 days", "360 days")][1]
    cost = num - flt
    print(f"  NUMERIC(18,8)/(24,8) costs {cost:.1f} B/candle over float8 ({num:.1f} vs {flt:.1f} B, "
          f"30-day chunks rolled up to 360 days; without rollup "
          f"{by[('numeric', '30 days', None)][1]:.1f} vs {by[('float8', '30 days', None)][1]:.1f} B); "
          f"target {BYTES_TARGET:.0f} B")
    print()

    e2e, server_t, floor = warm["e2e"], warm["server"], warm["floor"]
    limit = args.query_limit_ms
    ok_query = e2e.median < limit
    ok_bytes = b_after <= BYTES_TARGET
    print(f"[{'PASS' if ok_query else 'MISS'}] futures_basis_1h one contract, {SPAN}, warm, end to end "
          f"{e2e.median:.1f} ms < {limit:g} ms ({e2e.load})")
    if not ok_query:
        srv, flr = server_t.median, floor.median
        per_value = flr * 1000 / (3 * e2e.rows)
        parts = [
            f"inside the server {srv:.1f} ms ({'within' if srv < limit else 'above'} the limit by itself)",
            f"returning the {e2e.rows:,} rows from a plain table costs {flr:.1f} ms here (transfer "
            f"floor, same run; ~{per_value:.1f} us per value on this server's wire path)",
        ]
        if float(e2e.load.split()[1].split("/")[0]) > (os.cpu_count() or 1):
            parts.append("the machine was overloaded (load average above the core count)")
        print("       why: " + "; ".join(parts))
    print(f"       after compression: end to end {compressed['e2e'].median:.1f} ms, inside the server "
          f"{compressed['server'].median:.1f} ms ({compressed['e2e'].load})")
    print(f"[{'PASS' if ok_bytes else 'MISS'}] compressed {b_after:.1f} B/candle <= {BYTES_TARGET:.0f} B")
    if not ok_bytes:
        print(f"       why: the columns are NUMERIC (fixed by the product): the same candles as float8 take "
              f"{flt:.1f} B ({'within' if flt <= BYTES_TARGET else 'also above'} the target), "
              f"as NUMERIC {num:.1f} B: NUMERIC costs {cost:.1f} B/candle")
    missed = not (ok_query and ok_bytes)
    return 1 if missed and not args.no_fail else 0


if __name__ == "__main__":
    sys.exit(main())
