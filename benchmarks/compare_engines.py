"""The embedded server and a native TimescaleDB side by side, in one run: bench_backfill.py (backfill
throughput, DB ceiling, peak RSS), bench_sql.py (futures_basis_1h over a year, bytes per compressed
candle) and bench_analytics.py (refreshing an hour of the full chain, a year of surface), each run on the
embedded server and then with --url on the native one; the key figures of both in one table, every full
output kept in --out.

The native server is --url (emptied of what the benchmarks write: --yes-wipe), or, with --start-native, a
cluster this run starts under .native/bench with scripts/native-timescaledb.sh (durable settings, like
`make up`'s) and stops at the end; that needs a TimescaleDB installed or built (`make native`).

    make bench-native                      # = .venv/bin/python benchmarks/compare_engines.py --start-native
    .venv/bin/python benchmarks/compare_engines.py --url postgresql://postgres@127.0.0.1:55433/postgres --yes-wipe
    .venv/bin/python benchmarks/compare_engines.py --start-native --only sql --sql-days 30

(Not a bench_*.py: `make bench` runs each benchmark once on the embedded server; this runs them twice.)

Exit status: 0 when every benchmark ran (met or missed limits are in the table), 1 when one failed to run.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "scripts" / "native-timescaledb.sh"
BENCH_DIR = ROOT / ".native" / "bench" / "pg"

# (benchmark, figure, regular expression on its output: the first group is the figure)
FIGURES = {
    "backfill": [
        ("backfill candles/s, process start to exit", r"^backfill +([\d,]+) candles/s"),
        ("DB ceiling: plain COPY rows/s", r"^DB ceiling +([\d,]+) rows/s"),
        ("backfill / min(API, DB ceiling)", r"\(([\d.]+) x min\)"),
        ("backfill peak RSS MB", r"^peak RSS +([\d,]+) MB"),
        ("database CPU s during the backfill", r"database ([\d.na]+), backfill"),
    ],
    "sql": [
        ("COPY load of the candles, rows/s", r"^loaded [\d,]+ candles in [\d.]+ s \(([\d,]+)/s\)"),
        ("aggregates refresh s", r"aggregates refreshed in ([\d.]+) s"),
        ("futures_basis_1h year, client ms (warm median)",
         r"\] futures_basis_1h one contract, .*? end to end ([\d.]+) ms"),
        ("  same, inside the server ms", r"inside the server +warm median +([\d.]+) ms"),
        ("  same, raw tables compressed, client ms", r"after compression: end to end ([\d.]+) ms"),
        ("compress both tables s", r"as stored, compress ([\d.]+) s"),
        ("bytes/candle uncompressed", r"^  both +([\d.]+) B ->"),
        ("bytes/candle compressed", r"^  both +[\d.]+ B -> +([\d.]+) B"),
        ("  as float8 (same candles, 30 d chunks, 360 d rollup)",
         r"^  float8 +30 days chunks, rollup 360 days +[\d.]+ -> +([\d.]+) B"),
    ],
    "analytics": [
        ("refresh one hour of the chain, first s", r"first \(inserts\) +([\d.]+) s"),
        ("  again (upserts), median ms", r"again \(upserts\) +median +([\d.]+) ms"),
        ("  after ANALYZE, median ms", r"again, after ANALYZE +median +([\d.]+) ms"),
        ("refresh_vol_surface_cm_1h over the year s", r"refresh_vol_surface_cm_1h over the \d+ days: ([\d.]+) s"),
        ("a year of vol_surface_1h, psql median ms", r"psql \(\\timing, \\o /dev/null\) median +([\d.]+) ms"),
        ("  same, inside the server median ms", r"^  inside the server +median +([\d.]+) ms"),
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_one(name: str, args, url: str | None, out: Path) -> tuple[int, str, float]:
    script = {"backfill": "bench_backfill.py", "sql": "bench_sql.py", "analytics": "bench_analytics.py"}[name]
    cmd = [sys.executable, str(ROOT / "benchmarks" / script)]
    if name == "backfill":
        cmd += ["--full"] if args.backfill_full else ["--days", str(args.backfill_days)]
    elif name == "sql":
        cmd += ["--days", str(args.sql_days), "--no-fail"]
    else:
        cmd += ["--days", str(args.analytics_days), "--no-fail"]
    if url:
        cmd += ["--url", url, "--yes-wipe"]
    t = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    took = time.monotonic() - t
    out.write_text(proc.stdout + proc.stderr)
    return proc.returncode, proc.stdout, took


def figure(pattern: str, text: str) -> str:
    m = re.search(pattern, text, re.MULTILINE)
    return m.group(1) if m else "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="the native TimescaleDB (its benchmark tables are emptied: --yes-wipe)")
    ap.add_argument("--yes-wipe", action="store_true", help="allow emptying the benchmarks' tables at --url")
    ap.add_argument("--start-native", action="store_true",
                    help="start a native cluster under .native/bench for this run (scripts/native-timescaledb.sh)")
    ap.add_argument("--only", default="backfill,sql,analytics", help="comma-separated: backfill, sql, analytics")
    ap.add_argument("--backfill-days", type=int, default=60)
    ap.add_argument("--backfill-full", action="store_true", help="bench_backfill --full: BTC-PERPETUAL since 2018")
    ap.add_argument("--sql-days", type=int, default=365)
    ap.add_argument("--analytics-days", type=int, default=365)
    ap.add_argument("--out", type=Path, help="directory for the full outputs (default .bench/engines-<UTC time>)")
    args = ap.parse_args()
    if bool(args.url) == bool(args.start_native):
        ap.error("give exactly one of --url and --start-native")
    if args.url and not args.yes_wipe:
        ap.error("--url empties the benchmarks' tables there: add --yes-wipe")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(FIGURES)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    out = args.out or ROOT / ".bench" / time.strftime("engines-%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)

    url = args.url
    if args.start_native:
        subprocess.run([str(NATIVE), "stop", str(BENCH_DIR)], check=False, capture_output=True)
        subprocess.run(["rm", "-rf", str(BENCH_DIR)], check=True)
        port = free_port()
        subprocess.run([str(NATIVE), "start", str(BENCH_DIR), str(port)], check=True)
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    results: dict[tuple[str, str], tuple[int, str, float]] = {}
    try:
        for name in names:
            for engine, target in (("embedded", None), ("native", url)):
                print(f"== {name} on {engine} ...", flush=True)
                results[(name, engine)] = run_one(name, args, target, out / f"{name}-{engine}.txt")
                code, _, took = results[(name, engine)]
                print(f"   exit {code} in {took:.0f} s ({out / f'{name}-{engine}.txt'})", flush=True)
    finally:
        if args.start_native:
            subprocess.run([str(NATIVE), "stop", str(BENCH_DIR)], check=False)

    width = max(len(label) for n in names for label, _ in FIGURES[n]) + 2
    print()
    print(f"{'':<{width}} {'embedded':>14} {'native':>14}   (load average now {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} cores; full outputs in {out})")
    failed = False
    for name in names:
        print(f"{name}:")
        for label, pattern in FIGURES[name]:
            cells = [figure(pattern, results[(name, e)][1]) for e in ("embedded", "native")]
            print(f"  {label:<{width - 2}} {cells[0]:>14} {cells[1]:>14}")
        for engine in ("embedded", "native"):
            code = results[(name, engine)][0]
            if code != 0:  # the SQL and analytics benchmarks run with --no-fail: only a crash exits non-zero
                failed = True
                print(f"  ({engine}: exit {code}; see {out / f'{name}-{engine}.txt'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
