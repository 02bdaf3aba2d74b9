"""The trade tape and DVOL against the simulator with its real rate limits, in one run:

* API ceiling  = requests/s the credit rules allow (10,000 / 500 = 20) x 1,000 trades an answer; beside
                 it, the floor the limiter allows for the requests the run sent (its 100-request burst
                 first, then 20/s), and the ceiling of the day windows (trades / requests: a day's last
                 page is not full);
* DB ceiling   = plain COPY of the stored trades (the project's COPY text) into an empty copy of the
                 trades table (same columns, indexes, chunk interval, key), 50,000 rows a transaction;
* backfill     = end-to-end trades/s of `ingest backfill trades --currency BTC --kind future --kind
                 perpetual` (its own process, wall time from exec to exit), the throughput measured against
                 the ceilings; then 180 days of BTC options (the trades and the option candles built from
                 them; long enough that the limiter's burst of 100 requests is a small part of the run);
                 each against the target 0.9 x the API ceiling;
* peak RSS of each backfill process alone (its VmHWM, sampled; the options run holds six months, the
  target is < 300 MB for one);
* bytes per stored trade once every chunk of `trades` is compressed;
* DVOL since its launch (2021-03-24): `ingest backfill dvol`, time and rows (skip with --no-dvol).

The simulator runs in its own process; the database is the embedded TimescaleDB in a temporary directory,
or with --url a TimescaleDB of yours (e.g. a native one: scripts/native-timescaledb.sh), whose trades,
option candles, DVOL, checkpoints and quarantine are emptied first (--yes-wipe).

    python benchmarks/bench_trades.py                 # 90 days of BTC futures and perpetuals, 180 days
                                                      # of BTC options, then DVOL since its launch
    python benchmarks/bench_trades.py --days 60 --no-dvol
    python benchmarks/bench_trades.py --url postgresql://postgres@127.0.0.1:55433/postgres --yes-wipe
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import scratch_url  # benchmarks/scratch_url.py

from ingest.backfill.cli import parse_when
from ingest.datasets import trades
from ingest.storage.dsn import redact_dsn

NOW = "2024-06-01T00:00:00Z"
PYTHON = sys.executable
BURST_REQUESTS = 100  # the credit pool (50,000) over the cost of a request (500)
# the pool refills at 10,000 credits/s: each run starts with it full (as its own limiter assumes), not
# drained by the run before (which would make the simulator refuse the new run's burst)
POOL_REFILL_S = 5 + 1
BATCH_ROWS = 50_000
WIPED = "trades, options_ohlcv, dvol, backfill_checkpoints, quarantine and cagg_refresh_pending"
WIPE = ("DROP TABLE IF EXISTS bench_trades_copy",
        "TRUNCATE trades, options_ohlcv, dvol, backfill_checkpoints, quarantine, cagg_refresh_pending")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def start_sim() -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([PYTHON, "-m", "ingest.sim", "--port", "0", "--seed", "7", "--now", NOW,
                             "--rate-limit", "on"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    env = {}
    while len(env) < 2:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator exited")
        key, _, value = line.strip().partition("=")
        if key in ("DERIBIT_API_URL", "DERIBIT_HISTORY_URL"):
            env[key] = value
    return proc, env


def peak_rss_mb(pid: int) -> float:
    """The process's high-water RSS since its exec (VmHWM; ru_maxrss would also count the pages of this
    benchmark it was forked from, large once the DB ceiling held its rows)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run(env: dict, args: list[str], out_path: Path) -> tuple[float, int, float, str]:
    """`ingest <args>` as a child process: (wall s, exit code, peak RSS MB, output)."""
    with open(out_path, "w") as out:
        t = time.monotonic()
        proc = subprocess.Popen([PYTHON, "-m", "ingest", *args], env=dict(os.environ, **env), stdout=out,
                                stderr=subprocess.STDOUT)
        peak = 0.0
        while proc.poll() is None:  # the high-water mark: a sample after the peak holds it
            peak = max(peak, peak_rss_mb(proc.pid))
            time.sleep(0.05)
        wall = time.monotonic() - t
    return wall, proc.returncode, peak, out_path.read_text()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def requests_of(output: str) -> int:
    m = re.search(r"requests\s+([\d,]+)", output)
    return int(m.group(1).replace(",", "")) if m else 0


def rate_limited_of(output: str) -> int:
    m = re.search(r"rate-limited ([\d,]+)", output)
    return int(m.group(1).replace(",", "")) if m else 0


def db_ceiling(conn: psycopg.Connection, limit: int) -> tuple[int, float]:
    """Plain COPY of the stored trades, as the project formats them, into an empty copy of `trades`."""
    cols = ", ".join(trades.TRADES.column_names)
    rows = conn.execute(f"SELECT {cols} FROM trades ORDER BY ts LIMIT %s", (limit,)).fetchall()
    as_ms = [(int(r[0].timestamp() * 1000),) + tuple(float(v) if hasattr(v, "is_finite") else v for v in r[1:])
             for r in rows]
    chunks = [trades.copy_text(as_ms[i:i + BATCH_ROWS]) for i in range(0, len(as_ms), BATCH_ROWS)]
    del rows, as_ms
    conn.execute("DROP TABLE IF EXISTS bench_trades_copy")
    conn.execute("CREATE TABLE bench_trades_copy (LIKE trades INCLUDING ALL)")
    conn.execute("SELECT create_hypertable('bench_trades_copy', by_range('ts', INTERVAL '7 days'))")
    n = sum(c.count(b"\n") for c in chunks)
    t = time.monotonic()
    for chunk in chunks:
        with conn.transaction(), conn.cursor() as cur, cur.copy(
                f"COPY bench_trades_copy ({cols}) FROM STDIN") as cp:
            cp.write(chunk)
    rate = n / (time.monotonic() - t)
    conn.execute("DROP TABLE bench_trades_copy")
    return n, rate


@dataclass
class Run:
    label: str
    wall: float
    rss: float
    trades: int
    candles: int
    requests: int
    sim_cpu: float
    load_before: str
    load_after: str
    rate_limited: int


def backfill_trades(env: dict, url: str, tmp: str, sim_pid: int, label: str, args: list[str]) -> Run:
    with psycopg.connect(url, autocommit=True) as conn:
        n0 = conn.execute("SELECT count(*) FROM trades").fetchone()[0]
        c0 = conn.execute("SELECT count(*) FROM options_ohlcv").fetchone()[0]
    time.sleep(POOL_REFILL_S)
    load0, cpu0 = load_average(), cpu_seconds(sim_pid)
    wall, code, rss, out = run(env, ["backfill", "trades", *args, "--no-refresh"], Path(tmp) / "trades.txt")
    sim_cpu, load1 = cpu_seconds(sim_pid) - cpu0, load_average()
    if code != 0:
        print(out)
        raise SystemExit(f"trades backfill exited {code}")
    with psycopg.connect(url, autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM trades").fetchone()[0] - n0
        candles = conn.execute("SELECT count(*) FROM options_ohlcv").fetchone()[0] - c0
    return Run(label, wall, rss, n, candles, requests_of(out) - 1, sim_cpu, load0, load1, rate_limited_of(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=90, help="days of BTC futures and perpetuals (default 90)")
    ap.add_argument("--option-days", type=int, default=180, help="days of BTC options (default 180)")
    ap.add_argument("--no-dvol", action="store_true", help="skip the DVOL backfill since launch")
    scratch_url.add_options(ap, WIPED)
    args = ap.parse_args()
    scratch_url.check(ap, args, WIPED)
    until = parse_when(NOW) - 60_000
    since = until + 60_000 - args.days * 86_400_000
    option_since = until + 60_000 - args.option_days * 86_400_000
    sim, sim_env = start_sim()
    try:
        with tempfile.TemporaryDirectory() as tmp, scratch_url.database(args, tmp, WIPE) as (url, _):
            env = dict(sim_env, INGEST_DATABASE_URL=url)
            from ingest.config import Settings

            settings = Settings.from_env()
            rps = settings.credit_refill / settings.request_cost * settings.rate_share
            api_ceiling = rps * trades.MAX_TRADES_PER_CALL
            futures = backfill_trades(env, url, tmp, sim.pid, "futures and perpetuals", [
                "--currency", "BTC", "--kind", "future", "--kind", "perpetual", "--since", str(since),
                "--until", str(until)])
            options = backfill_trades(env, url, tmp, sim.pid, "options", [
                "--currency", "BTC", "--since", str(option_since), "--until", str(until)])
            with psycopg.connect(url, autocommit=True) as conn:
                n = conn.execute("SELECT count(*) FROM trades").fetchone()[0]
                copied, ceiling = db_ceiling(conn, 1_000_000)
                load_ceiling = load_average()
                before = conn.execute("SELECT hypertable_size('trades')").fetchone()[0]
                conn.execute("SELECT compress_chunk(c) FROM show_chunks('trades') c")
                after = conn.execute("SELECT hypertable_size('trades')").fetchone()[0]
                by_kind = conn.execute("SELECT kind, count(*) FROM trades GROUP BY 1 ORDER BY 1").fetchall()
            dvol = None
            if not args.no_dvol:
                time.sleep(POOL_REFILL_S)
                load3 = load_average()
                dwall, dcode, drss, dout = run(env, ["backfill", "dvol"], Path(tmp) / "dvol.txt")
                if dcode != 0:
                    print(dout)
                    raise SystemExit(f"dvol backfill exited {dcode}")
                with psycopg.connect(url, autocommit=True) as conn:
                    rows = conn.execute("SELECT count(*), min(ts), max(ts) FROM dvol").fetchone()
                dvol = (dwall, requests_of(dout) - 1, rows, drss, load3, load_average())
    finally:
        sim.terminate()
        sim.wait(10)
    per_call = trades.MAX_TRADES_PER_CALL
    print(f"database       {'embedded (PGlite)' if not args.url else redact_dsn(args.url)}")
    print(f"API ceiling    {api_ceiling:,.0f} trades/s ({rps:.0f} requests/s x {per_call:,} trades an answer); "
          f"the limiter starts with a burst of {BURST_REQUESTS} requests")
    print(f"DB ceiling     {ceiling:,.0f} trades/s (plain COPY of {copied:,} stored trades as the project formats "
          f"them, {BATCH_ROWS:,} a transaction, into an empty copy of trades; load average {load_ceiling})")
    for r in (futures, options):
        per_request = r.trades / max(r.requests, 1)
        floor_s = max(r.requests - BURST_REQUESTS, 0) / rps
        rate = r.trades / r.wall
        days = args.days if r is futures else args.option_days
        print(f"{r.label:<14} {days} days of BTC up to {NOW}: {r.trades:,} trades"
              + (f" and {r.candles:,} option candles built from them" if r.candles else "")
              + f", {r.requests:,} requests ({per_request:,.0f} trades an answer: a day's last page is not full; "
              f"{r.rate_limited} refused by the simulator's rate limit)")
        print(f"  backfill     {rate:,.0f} trades/s in {r.wall:.1f} s wall, process start to exit (ANALYZE included); "
              f"the limiter's floor for its requests {floor_s:.1f} s; load average before {r.load_before}, "
              f"after {r.load_after}")
        # what the limiter lets through for these requests (its burst first): the run's API-bound rate
        allowed = r.trades / floor_s if floor_s else float("inf")
        steady = min(rate / allowed, rate / api_ceiling)
        print(f"  vs ceilings  {rate / api_ceiling:.2f} x API ceiling ({rate / (rps * per_request):.2f} x the day "
              f"windows' {rps * per_request:,.0f}/s); the limiter's burst counted: {floor_s:.1f} s allowed, "
              f"{r.wall:.1f} s taken = {floor_s / r.wall:.2f} of the API's rate; {rate / min(api_ceiling, ceiling):.2f}"
              f" x min(API, DB) -> target 0.9 x API ceiling {'MET' if steady >= 0.9 else 'NOT MET'}")
        print(f"  simulator    {r.sim_cpu:.1f} CPU s, {r.sim_cpu / max(r.requests, 1) * 1000:.0f} ms a request "
              f"(at most {r.requests / max(r.sim_cpu, 1e-9):,.0f} requests/s from its one process)")
        print(f"  peak RSS     {r.rss:,.0f} MB (the backfill process alone)"
              + (f" -> < 300 MB for a month of BTC options ({args.option_days} days here): "
                 f"{'MET' if r.rss < 300 else 'NOT MET'}" if r is options else ""))
    print(f"storage        {before / n:,.0f} bytes/trade uncompressed, {after / n:,.0f} bytes/trade compressed "
          f"({n:,} trades: " + ", ".join(f"{k} {c:,}" for k, c in by_kind)
          + "; hypertable_size, indexes included, every chunk compressed)")
    if dvol:
        dwall, dreq, (drows, first, last), drss, l0, l1 = dvol
        print(f"DVOL           since launch: {drows:,} rows (BTC and ETH, {first:%Y-%m-%d} .. {last:%Y-%m-%d %H:%M}) "
              f"in {dwall:.1f} s, {dreq:,} requests ({dreq / dwall:.1f}/s), peak RSS {drss:,.0f} MB; "
              f"load average before {l0}, after {l1}")


if __name__ == "__main__":
    main()
