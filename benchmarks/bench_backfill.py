"""Backfill throughput against the simulator with its real rate limits, in one run:

* API ceiling  = requests/s the simulator allows (credit refill / cost) × 5,000 candles;
* DB ceiling   = plain COPY of the same rows (same columns and types, a hypertable with the same chunk
                 interval and unique key) into the same database, in batches as large as the backfill's
                 transactions, from pre-formatted COPY text: the fastest plain COPY the project can do;
* backfill     = end-to-end candles/s of `ingest backfill perpetuals` (its own process: wall time from
                 exec to exit, Python start-up included);
* peak RSS of the backfill process alone (ru_maxrss from wait4 as soon as it exits).

The simulator runs in its own process (`python -m ingest.sim`), so it shares neither the GIL nor the RSS
with the backfill. The database is the embedded TimescaleDB in a temporary data directory, or with --url
a TimescaleDB of yours (e.g. a native one: scripts/native-timescaledb.sh, docs/native-engine.md), whose
perpetual candles, checkpoints and quarantine are emptied first (--yes-wipe); its CPU is counted when the
server runs on this machine and its processes can be read (the postmaster and all its children).

    python benchmarks/bench_backfill.py                 # 60 days of BTC-PERPETUAL
    python benchmarks/bench_backfill.py --url postgresql://postgres@127.0.0.1:55433/postgres --yes-wipe
    python benchmarks/bench_backfill.py --days 365
    python benchmarks/bench_backfill.py --full          # BTC-PERPETUAL since 2018-08-13
    python benchmarks/bench_backfill.py --profile /tmp/backfill.prof   # cProfile the backfill process
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import scratch_url  # benchmarks/scratch_url.py

from ingest.backfill.cli import parse_when
from ingest.cli import server_engine
from ingest.config import redact_dsn
from ingest.storage.validate import CandleColumns

NOW = "2024-06-01T00:00:00Z"
PYTHON = sys.executable
WIPED = "perpetuals_ohlcv (and its aggregates), backfill_checkpoints, quarantine and cagg_refresh_pending"
WIPE = ("DROP MATERIALIZED VIEW IF EXISTS bench_copy_1h", "DROP TABLE IF EXISTS bench_copy",
        "TRUNCATE perpetuals_ohlcv, perpetuals_ohlcv_1h, perpetuals_ohlcv_1d, backfill_checkpoints, quarantine, "
        "cagg_refresh_pending")
COLS = "ts, instrument_name, open, high, low, close, volume, cost"
MAX_CEILING_ROWS = 1_000_000  # rows the DB-ceiling step copies (held in memory as COPY text)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(url: str):
    """A function giving the CPU seconds of a local server's every process: the postmaster's own and its
    reaped children's (cutime/cstime), plus its live children's; None when the server is not local."""
    with psycopg.connect(url, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:
            postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
    tick = os.sysconf("SC_CLK_TCK")

    def total() -> float:
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(f) for f in fields[11:15])
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                f = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(f[1]) == postmaster:
                ticks += int(f[11]) + int(f[12])
        return ticks / tick

    return total


@contextlib.contextmanager
def database(args, tmp: str):
    """(url, cpu seconds function or None): the embedded server in `tmp`, or --url emptied of what the
    benchmark writes."""
    with scratch_url.database(args, tmp, WIPE) as (url, pid):
        yield url, ((lambda: cpu_seconds(pid)) if pid is not None else server_cpu_seconds(url))


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def start_sim() -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([PYTHON, "-m", "ingest.sim", "--port", "0", "--seed", "7", "--now", NOW,
                             "--rate-limit", "on"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    env = {}
    while len(env) < 2:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator exited")
        key, _, value = line.strip().partition("=")
        if key in ("DERIBIT_API_URL", "DERIBIT_HISTORY_URL"):
            env[key] = value
    return proc, env


def run_backfill(env: dict, since: int, until: int, profile: str | None, out_path: Path, extra: list[str]
                 ) -> tuple[float, int, float, str, float]:
    """Run the backfill as a child process; returns (wall s, exit code, peak RSS MB, output, CPU s)."""
    args = ["backfill", "perpetuals", "--instrument", "BTC-PERPETUAL", "--since", str(since), "--until",
            str(until), "--no-refresh", *extra]
    cmd = [PYTHON, "-m", "cProfile", "-o", profile, "-m", "ingest", *args] if profile else \
        [PYTHON, "-m", "ingest", *args]
    with open(out_path, "w") as out:
        t = time.monotonic()
        proc = subprocess.Popen(cmd, env=dict(os.environ, **env), stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, read before any other child exits
        wall = time.monotonic() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return wall, proc.returncode, usage.ru_maxrss / 1024, out_path.read_text(), cpu


def ceiling_texts(conn: psycopg.Connection, batch_rows: int) -> dict[str, list[bytes]]:
    """The backfilled rows as pre-formatted COPY text, batch_rows per chunk, in two forms: the server's
    own COPY TO output, and the project's (CandleColumns.copy_text, what the backfill sends)."""
    buf = bytearray()
    source = f"SELECT {COLS} FROM perpetuals_ohlcv ORDER BY ts LIMIT {MAX_CEILING_ROWS}"
    with conn.cursor().copy(f"COPY ({source}) TO STDOUT") as cp:
        for data in cp:
            buf += data
    lines = bytes(buf).splitlines(keepends=True)
    del buf
    server = [b"".join(lines[i:i + batch_rows]) for i in range(0, len(lines), batch_rows)]
    del lines
    project = []
    after, left = -1, MAX_CEILING_ROWS
    while left > 0:  # keyset pages (the embedded server's proxy has no server-side cursors)
        rows = conn.execute("SELECT (extract(epoch FROM ts) * 1000)::bigint, instrument_name, open::float8, "
                            "high::float8, low::float8, close::float8, volume::float8, cost::float8 "
                            "FROM perpetuals_ohlcv WHERE ts > to_timestamp(%s / 1000.0) ORDER BY ts LIMIT %s",
                            (after, min(batch_rows, left))).fetchall()
        if not rows:
            break
        ticks, names, *values = map(list, zip(*rows, strict=True))
        project.append(CandleColumns(names[0], ticks, *values).copy_text())
        after, left = ticks[-1], left - len(rows)
    return {"server COPY TO text": server, "project COPY text": project}


def db_ceiling(conn: psycopg.Connection, chunks: list[bytes], cagg: bool) -> tuple[int, float]:
    """Plain COPY of the backfilled rows into an empty copy of the table (same columns, types, chunk
    interval and unique key), one chunk per transaction, from pre-formatted COPY text. `cagg`: give it
    a continuous aggregate too, so that it carries the same per-row invalidation trigger as
    perpetuals_ohlcv (which has continuous aggregates)."""
    conn.execute("DROP MATERIALIZED VIEW IF EXISTS bench_copy_1h")
    conn.execute("DROP TABLE IF EXISTS bench_copy")
    conn.execute("CREATE TABLE bench_copy (LIKE perpetuals_ohlcv INCLUDING ALL)")
    interval = conn.execute("SELECT d.time_interval FROM timescaledb_information.dimensions d "
                            "WHERE d.hypertable_name = 'perpetuals_ohlcv' AND d.column_name = 'ts'"
                            ).fetchone()[0]
    conn.execute("SELECT create_hypertable('bench_copy', by_range('ts', %s::interval))", (interval,))
    if cagg:
        conn.execute("CREATE MATERIALIZED VIEW bench_copy_1h WITH (timescaledb.continuous) AS "
                     "SELECT time_bucket('1 hour', ts) AS bucket, instrument_name, max(high) AS high "
                     "FROM bench_copy GROUP BY 1, 2 WITH NO DATA")
    n = sum(chunk.count(b"\n") for chunk in chunks)
    t = time.monotonic()
    for chunk in chunks:
        with conn.transaction(), conn.cursor() as cur, cur.copy(f"COPY bench_copy ({COLS}) FROM STDIN") as cp:
            cp.write(chunk)
    return n, n / (time.monotonic() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--full", action="store_true", help="BTC-PERPETUAL since 2018-08-13")
    ap.add_argument("--profile", metavar="PATH", help="run the backfill under cProfile, stats to PATH")
    ap.add_argument("--batch-rows", type=int, default=50_000, help="DB ceiling: rows per transaction "
                                                                   "(the backfill engine's batch size)")
    ap.add_argument("--prefetch", type=int, help="the backfill's --prefetch (default: the CLI's)")
    ap.add_argument("--no-analyze", action="store_true", help="pass --no-analyze to the backfill")
    scratch_url.add_options(ap, WIPED)
    args = ap.parse_args()
    scratch_url.check(ap, args, WIPED)
    extra = (["--prefetch", str(args.prefetch)] if args.prefetch else []) + \
        (["--no-analyze"] if args.no_analyze else [])
    until = parse_when(NOW) - 60_000
    since = parse_when("2018-08-13") if args.full else until - args.days * 86_400_000
    sim, sim_env = start_sim()
    try:
        with tempfile.TemporaryDirectory() as tmp, database(args, tmp) as (url, db_cpu):
            db_cpu = db_cpu or (lambda: float("nan"))
            env = dict(sim_env, INGEST_DATABASE_URL=url)
            from ingest.config import Settings
            settings = Settings.from_env()
            rps = settings.credit_refill / settings.request_cost * settings.rate_share
            api_ceiling = rps * 5000
            load_before = load_average()
            cpu0 = {"simulator": cpu_seconds(sim.pid), "database": db_cpu()}
            wall, code, rss_mb, output, cpu_backfill = run_backfill(env, since, until, args.profile,
                                                                   Path(tmp) / "out.txt", extra)
            cpu = {"simulator": cpu_seconds(sim.pid) - cpu0["simulator"], "database": db_cpu() - cpu0["database"]}
            cpu["backfill"] = cpu_backfill
            load_after = load_average()
            if code != 0:
                print(output)
                raise SystemExit(f"backfill exited {code}")
            with psycopg.connect(url, autocommit=True) as conn:
                engine = server_engine(conn)["engine_description"]
                candles = conn.execute("SELECT count(*) FROM perpetuals_ohlcv").fetchone()[0]
                ceilings = {}
                texts = ceiling_texts(conn, args.batch_rows)
                for form, chunks, cagg in (("server COPY TO text", texts["server COPY TO text"], True),
                                           ("project text", texts["project COPY text"], True),
                                           ("project text, no cagg trigger", texts["project COPY text"],
                                            False)):
                    db_cpu0 = db_cpu()
                    ceiling_rows, rate = db_ceiling(conn, chunks, cagg)
                    ceilings[form] = (rate, db_cpu() - db_cpu0)
                del texts
                # the same table kind: a hypertable with a continuous aggregate, like perpetuals_ohlcv
                same_kind = [(k, v) for k, v in ceilings.items() if "no cagg" not in k]
                form, (ceiling, ceiling_cpu) = max(same_kind, key=lambda kv: kv[1][0])
            load_ceiling = load_average()
    finally:
        sim.terminate()
        sim.wait(10)
    inner = re.search(r"elapsed\s+\S+ \(([\d.]+) s\)", output)
    requests = re.search(r"requests\s+([\d,]+) \(retries ([\d,]+), rate-limited ([\d,]+)\)", output)
    rate = candles / wall
    floor = min(api_ceiling, ceiling)
    print(f"database       {'embedded (PGlite)' if not args.url else redact_dsn(args.url)}: {engine}")
    print(f"range          {'full history' if args.full else f'{args.days} days'} of BTC-PERPETUAL, "
          f"{candles:,} candles")
    print(f"API ceiling    {api_ceiling:,.0f} candles/s ({rps:.0f} requests/s x 5,000)")
    print(f"DB ceiling     {ceiling:,.0f} rows/s (plain COPY of {ceiling_rows:,} of the same rows, "
          f"{args.batch_rows:,} per transaction, into a hypertable with a continuous aggregate like "
          f"perpetuals_ohlcv; the fastest of: "
          + ", ".join(f"{k} {r:,.0f}/s" for k, (r, _) in ceilings.items())
          + f"; load average {load_ceiling})")
    print(f"backfill       {rate:,.0f} candles/s in {wall:.1f} s wall, process start to exit"
          + (f" ({candles / float(inner.group(1)):,.0f}/s over its own {inner.group(1)} s)" if inner else "")
          + (f"; requests {requests.group(1)}, retries {requests.group(2)}, rate-limited {requests.group(3)}"
             if requests else "") + f"; load average before {load_before}, after {load_after}")
    print(f"target         0.8 x min = {0.8 * floor:,.0f} candles/s -> "
          f"{'MET' if rate >= 0.8 * floor else 'NOT MET'} ({rate / floor:.2f} x min)")
    analyzed = re.search(r"analyzed perpetuals_ohlcv \((\d+) chunk\(s\)\) in ([\d.]+) s", output)
    if analyzed:
        print(f"ANALYZE        {analyzed.group(2)} s ({analyzed.group(1)} chunks) at the end of the backfill "
              "(included in its time)")
    print(f"peak RSS       {rss_mb:,.0f} MB (the backfill process alone)")
    print("CPU seconds    during the backfill: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
          + f" (2 cores, {wall:.1f} s wall); database during the DB ceiling: {ceiling_cpu:.1f} "
          f"for {ceiling_rows:,} rows = {ceiling_cpu / ceiling_rows * 1e6:.1f} µs/row vs "
          f"{cpu['database'] / candles * 1e6:.1f} µs/row in the backfill (ANALYZE included)")


if __name__ == "__main__":
    main()
