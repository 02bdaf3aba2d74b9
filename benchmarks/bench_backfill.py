"""Backfill throughput against the simulator with its real rate limits, in one run:

* API ceiling  = requests/s the simulator allows (credit refill / cost) × 5,000 candles;
* DB ceiling   = plain COPY of the same rows (the backfilled candles) into the same database;
* backfill     = end-to-end candles/s of `backfill perpetuals` over the range;
* peak RSS of this process (the backfill runs in-process; the simulator too, so it is an upper bound).

    python benchmarks/bench_backfill.py                 # 60 days of BTC-PERPETUAL
    python benchmarks/bench_backfill.py --days 365
    python benchmarks/bench_backfill.py --full          # BTC-PERPETUAL since 2018-08-13
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import psycopg

from ingest import schema
from ingest.backfill import backfill
from ingest.backfill.cli import parse_when
from ingest.backfill.testing import sim_client
from ingest.embedded import EmbeddedServer
from ingest.sim.server import SimServer

NOW = "2024-06-01T00:00:00Z"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    until = parse_when(NOW) - 60_000
    since = parse_when("2018-08-13") if args.full else until - args.days * 86_400_000
    with tempfile.TemporaryDirectory() as tmp, EmbeddedServer(data=tmp + "/pg") as srv, \
            SimServer(seed=7, now=NOW, rate_limit=True) as sim:
        schema.upgrade(srv.url, "head")
        client = sim_client(sim)
        api_ceiling = client.limiter.requests_per_s * 5000
        with psycopg.connect(srv.url, autocommit=True) as conn:
            t = time.monotonic()
            r = backfill("perpetuals", client, conn, instruments=["BTC-PERPETUAL"], since_ms=since, until_ms=until,
                         refresh=False, tty=False, echo=lambda s: None)
            elapsed = time.monotonic() - t
            candles = r.stats.candles
            rss_backfill_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            # DB ceiling: plain COPY of the same rows into the same database (a copy of the table)
            conn.execute("CREATE TABLE bench_copy (LIKE perpetuals_ohlcv INCLUDING ALL)")
            conn.execute("SELECT create_hypertable('bench_copy', by_range('ts', INTERVAL '30 days'))")
            cols = "ts, instrument_name, open, high, low, close, volume, cost"
            rows = conn.execute(f"SELECT {cols} FROM perpetuals_ohlcv ORDER BY ts LIMIT 500000").fetchall()
            t = time.monotonic()
            for i in range(0, len(rows), 50_000):
                with conn.transaction(), conn.cursor() as cur, cur.copy(f"COPY bench_copy ({cols}) FROM STDIN") as cp:
                    for row in rows[i:i + 50_000]:
                        cp.write_row(row)
            db_ceiling = len(rows) / (time.monotonic() - t)
            del rows
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = candles / elapsed
    target = 0.8 * min(api_ceiling, db_ceiling)
    print(f"range               {args.days if not args.full else 'full'} days of BTC-PERPETUAL, {candles:,} candles")
    print(f"API ceiling         {api_ceiling:,.0f} candles/s ({client.limiter.requests_per_s:.0f} requests/s x 5,000)")
    print(f"DB ceiling          {db_ceiling:,.0f} rows/s (plain COPY, same rows, same database)")
    print(f"backfill            {rate:,.0f} candles/s in {elapsed:.1f} s "
          f"(requests {client.stats['requests']:,}, retries {client.stats['retries']:,})")
    print(f"target 0.8 x min    {target:,.0f} candles/s -> {'MET' if rate >= target else 'NOT MET'} "
          f"({rate / min(api_ceiling, db_ceiling):.2f} x min)")
    print(f"peak RSS            {rss_backfill_mb:,.0f} MB after the backfill (this process: backfill + the "
          f"in-process simulator and its market cache); {rss_mb:,.0f} MB after the DB-ceiling step")


if __name__ == "__main__":
    main()
