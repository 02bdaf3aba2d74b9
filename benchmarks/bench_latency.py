"""Backfill throughput at a distance from the exchange, with the default (automatic) concurrency.

For each one-way latency (default 0, 150 and 300 ms), in one run:

* the simulator runs in its own process with the rate limit on and `--latency 2 x one-way` (a fixed
  delay before every answer = the round trip);
* `ingest backfill perpetuals --instrument BTC-PERPETUAL` runs as a child process on a fresh table,
  with no --workers/--prefetch: timed from exec to exit, its peak RSS its own (wait4);
* ratio = candles/s / API ceiling (requests/s the simulator allows × 5,000 candles per request).
  The DB ceiling (plain COPY of the same rows, as in bench_backfill.py) is measured in the same run and
  printed beside it: on the embedded server it is below the API ceiling, so the ratio to min(ceilings)
  is printed too. Use a native TimescaleDB (--url) to see the API as the bound.

    python benchmarks/bench_latency.py                       # full BTC-PERPETUAL history, embedded server
    python benchmarks/bench_latency.py --url postgresql://postgres@127.0.0.1:5499/bench --days 730

Targets (issue: performance at a real distance): ratio to the API ceiling >= 0.9 at every latency
(where the database is not the bound), peak RSS < 300 MB. Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backfill import ceiling_texts, db_ceiling, load_average, run_backfill  # noqa: E402

from ingest.backfill.cli import parse_when  # noqa: E402
from ingest.storage import schema  # noqa: E402

NOW = "2024-06-01T00:00:00Z"
PYTHON = sys.executable
API_CEILING = 20 * 5_000  # candles/s: 10,000 credits/s / 500 per request x 5,000 candles
RSS_LIMIT_MB = 300
RATIO_TARGET = 0.9


def start_sim(latency_ms: float) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([PYTHON, "-m", "ingest.sim", "--port", "0", "--seed", "7", "--now", NOW,
                             "--rate-limit", "on", "--latency", str(latency_ms)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    env = {}
    while len(env) < 2:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator exited")
        key, _, value = line.strip().partition("=")
        if key in ("DERIBIT_API_URL", "DERIBIT_HISTORY_URL"):
            env[key] = value
    return proc, env


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE perpetuals_ohlcv, backfill_checkpoints, cagg_refresh_pending")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", help="a migrated-or-empty TimescaleDB to use (default: an embedded server)")
    ap.add_argument("--days", type=int, default=2118, help="default: BTC-PERPETUAL since its listing (2018-08-13)")
    ap.add_argument("--latencies", default="0,150,300", help="one-way latencies in ms, comma-separated")
    args = ap.parse_args()
    until = parse_when(NOW) - 60_000
    since = until - args.days * 86_400_000
    server = None
    tmp = tempfile.TemporaryDirectory()
    url = args.url
    if url is None:
        from ingest.embedded import EmbeddedServer

        server = EmbeddedServer(data=str(Path(tmp.name) / "pg")).start()
        url = server.url
    try:
        schema.upgrade(url, "head")
        results = []
        for one_way in (float(x) for x in args.latencies.split(",")):
            reset(url)
            sim, env = start_sim(2 * one_way)
            try:
                env["INGEST_DATABASE_URL"] = url
                load_before = load_average()
                wall, code, rss, out, cpu = run_backfill(env, since, until, None, Path(tmp.name) / "out.txt",
                                                         ["--no-analyze"])
            finally:
                sim.terminate()
                sim.wait()
            if code != 0:
                print(out[-2000:])
                raise SystemExit(f"backfill exited {code}")
            with psycopg.connect(url) as conn:
                candles = conn.execute("SELECT count(*) FROM perpetuals_ohlcv").fetchone()[0]
            results.append((one_way, candles, wall, rss, cpu, load_before, load_average()))
            print(f"one-way {one_way:>5.0f} ms: {candles:,} candles in {wall:.1f} s = {candles / wall:,.0f}/s, "
                  f"ratio to API ceiling {candles / wall / API_CEILING:.2f}, peak RSS {rss:.0f} MB, "
                  f"CPU {cpu:.1f} s, load {load_before} -> {load_average()}", flush=True)
        with psycopg.connect(url, autocommit=True) as conn:
            chunks = ceiling_texts(conn, 50_000)["project COPY text"]
            n, db_rate = db_ceiling(conn, chunks, cagg=True)
            conn.execute("DROP MATERIALIZED VIEW IF EXISTS bench_copy_1h")
            conn.execute("DROP TABLE IF EXISTS bench_copy")
    finally:
        if server is not None:
            server.stop()
        tmp.cleanup()
    bound = min(API_CEILING, db_rate)
    print(f"\nAPI ceiling {API_CEILING:,} candles/s; DB ceiling {db_rate:,.0f} rows/s (plain COPY of {n:,} rows, "
          f"same run); bound = min = {bound:,.0f}/s")
    print(f"{'one-way ms':>10} {'candles/s':>10} {'/API':>6} {'/bound':>7} {'RSS MB':>7}")
    missed = []
    for one_way, candles, wall, rss, *_ in results:
        rate = candles / wall
        print(f"{one_way:>10.0f} {rate:>10,.0f} {rate / API_CEILING:>6.2f} {rate / bound:>7.2f} {rss:>7.0f}")
        if rate / bound < RATIO_TARGET:
            missed.append(f"{one_way:.0f} ms: {rate / bound:.2f} of the bound < {RATIO_TARGET}")
        if rss >= RSS_LIMIT_MB:
            missed.append(f"{one_way:.0f} ms: peak RSS {rss:.0f} MB >= {RSS_LIMIT_MB}")
    if db_rate < API_CEILING:
        print("note: the database is the bound here (embedded server?): run with --url of a native "
              "TimescaleDB to measure against the API ceiling")
    for m in missed:
        print("MISSED", m)
    return 1 if missed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
