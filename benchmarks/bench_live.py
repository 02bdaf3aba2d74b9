"""Run `ingest run` against a wall-clock simulator and an embedded TimescaleDB for N minutes, then report:

* per perpetual / active future: minutes missing between its first stored minute and now - 2 min;
* chain snapshots: per minute, options with a computed row vs options listed;
* requests per minute (the simulator's /_sim/stats, sampled at minute boundaries) vs the budget
  (Deribit: 20 requests/s = 1,200/min; limit for a live minute: 25 % = 300);

and compares each figure with its limit. Exit 0 when every limit holds.

    python benchmarks/bench_live.py --minutes 10
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

BUDGET_PER_MIN = 1200


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lease-seconds", type=float, default=15)
    args = ap.parse_args()

    from ingest.embedded import EmbeddedServer
    from ingest.sim.server import SimServer
    from ingest.storage import schema

    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    srv = EmbeddedServer(data="memory").start()
    ingest = str(Path(sys.executable).with_name("ingest"))
    try:
        schema.upgrade(srv.url, "head")
        with SimServer(seed=args.seed, now="wall", rate_limit=True, port=0) as sim:
            env = dict(os.environ, INGEST_DATABASE_URL=srv.url, DERIBIT_API_URL=sim.api_url,
                       DERIBIT_HISTORY_URL=sim.history_url, INGEST_LOG_FILE=str(tmp / "ingest.log"))
            proc = subprocess.Popen([ingest, "run", "--lease-seconds", str(args.lease_seconds),
                                     "--lookback-minutes", "10"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=open(tmp / "run.err", "wb"))
            start = time.time()
            samples = []
            first = (int(start // 60) + 1) * 60
            for k in range(args.minutes + 1):
                time.sleep(max(0.0, first + 60 * k - time.time()))
                samples.append(sim.stats()["requests_total"])
                print(f"  minute {k}: {samples[-1]} requests so far", flush=True)
            time.sleep(30)
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=120)
        with psycopg.connect(srv.url, autocommit=True) as conn:
            report(conn, samples, rc, args.minutes)
            ok = check(conn, samples, rc)
    finally:
        srv.stop()
    print(f"logs in {tmp}")
    return 0 if ok else 1


def _series(conn):
    return conn.execute("""
        SELECT i.instrument_name, min(c.ts), max(c.ts), count(c.ts),
               date_trunc('minute', now()) - INTERVAL '2 minutes'
        FROM instruments i
        LEFT JOIN (SELECT instrument_name, ts FROM perpetuals_ohlcv UNION ALL
                   SELECT instrument_name, ts FROM futures_ohlcv) c USING (instrument_name)
        WHERE i.kind = 'future' AND (i.expiration_timestamp IS NULL OR i.expiration_timestamp > now())
        GROUP BY 1 ORDER BY 1""").fetchall()


def _missing(first, last, n, limit):
    if first is None:
        return None
    expected = int((limit - first).total_seconds() // 60) + 1
    return max(0, expected - n) + 0


def report(conn, samples, rc, minutes):
    print(f"\nfreshness (every minute up to now - 2 min), {minutes}-minute run:")
    for name, first, last, n, limit in _series(conn):
        print(f"  {name:<16} minutes stored {n:>5}  last {last}  missing up to now-2m: "
              f"{_missing(first, last, n, limit)}")
    snaps = conn.execute("""SELECT ts, count(*) FROM options_greeks WHERE source = 'computed'
                            GROUP BY ts ORDER BY ts""").fetchall()
    active = conn.execute("SELECT count(*) FROM instruments WHERE kind = 'option' "
                          "AND expiration_timestamp > now()").fetchone()[0]
    print(f"chain snapshots: {len(snaps)} minutes, options listed now {active}, per minute "
          f"min {min((n for _, n in snaps), default=0)} max {max((n for _, n in snaps), default=0)}")
    exch = conn.execute("SELECT count(*), count(DISTINCT instrument_name) FROM options_greeks "
                        "WHERE source = 'exchange'").fetchone()
    print(f"exchange greeks rows {exch[0]} ({exch[1]} options)")
    per_min = [b - a for a, b in zip(samples, samples[1:], strict=False)]
    print(f"requests per minute: {per_min}; max {max(per_min, default=0)} = "
          f"{100 * max(per_min, default=0) / BUDGET_PER_MIN:.1f} % of {BUDGET_PER_MIN}/min; "
          f"steady (after the first minute) mean "
          f"{sum(per_min[1:]) / max(1, len(per_min) - 1):.0f}")
    print(f"ingest run exit status after SIGTERM: {rc}")


def check(conn, samples, rc) -> bool:
    ok = True
    for name, first, last, n, limit in _series(conn):
        m = _missing(first, last, n, limit)
        if m is None or m > 0 or last < limit:
            print(f"FAIL {name}: missing {m}, last {last}")
            ok = False
    snaps = [n for _, n in conn.execute("SELECT ts, count(*) FROM options_greeks WHERE source = 'computed' "
                                        "GROUP BY ts ORDER BY ts").fetchall()]
    minutes = conn.execute("SELECT count(DISTINCT ts), extract(epoch FROM max(ts) - min(ts)) / 60 + 1 "
                           "FROM options_greeks WHERE source = 'computed'").fetchone()
    if not snaps or minutes[0] != int(minutes[1]) or len(set(snaps[1:-1])) > 1:
        print(f"FAIL chain snapshots: {minutes[0]} minutes of {minutes[1]}; counts {sorted(set(snaps))}")
        ok = False
    per_min = [b - a for a, b in zip(samples, samples[1:], strict=False)]
    if any(x > BUDGET_PER_MIN * 0.25 for x in per_min):
        print("FAIL a minute used more than 25 % of the request budget")
        ok = False
    if rc != 0:
        print("FAIL ingest run did not exit 0 on SIGTERM")
        ok = False
    print("PASS" if ok else "FAIL")
    return ok


if __name__ == "__main__":
    sys.exit(main())
