"""A database outage of N minutes under a running `ingest run` (wall-clock simulator, embedded TimescaleDB
with a data directory, all jobs), then the recovery; prints:

* minutes missing per dataset (candles of every perpetual and active future, chain snapshots per currency,
  exchange-greeks sweep, index per name) between each series' first minute and its last, and over the
  outage itself — target: 0 everywhere;
* the spool at its largest (files, rows, MB, bytes per chain minute) and the collector's RSS;
* after the database is back: when the lease was confirmed, when the candles had caught up, how long
  loading the spool took (rows, rows/s), and how late the live minute's jobs finished meanwhile
  (seconds after the minute began, vs before the outage);

and PASS/FAIL against the target of 0 missing minutes. Exit 0 on PASS.

    python benchmarks/bench_outage.py --outage-minutes 60          # the issue's target (about 70 min)
    python benchmarks/bench_outage.py --outage-minutes 5 --after-minutes 3

The simulator has no accelerated clock (`ingest sim --now` is 'wall' or a frozen instant), so the
outage lasts as long as it says.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

JOB_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \w+ ingest\.live\.jobs: job=(\w+) ")
FLUSH_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \w+ ingest\.live\.jobs: job=spool_flush "
                        r"files=(\d+) rows=(\d+) quarantined=(\d+) left=(\d+) duration_ms=(\d+)")


def _q(url, sql, params=None):
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _wait(what, cond, timeout, proc=None, every=2.0):
    deadline = time.time() + timeout
    while True:
        try:
            if cond():
                return time.time()
        except psycopg.Error:
            pass
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"ingest run exited ({proc.returncode}) while waiting for {what}")
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(every)


SERIES = {
    "candles": """SELECT instrument_name AS series, ts FROM perpetuals_ohlcv UNION ALL
                  SELECT instrument_name, ts FROM futures_ohlcv""",
    "chain": "SELECT left(instrument_name, 3) AS series, ts FROM options_greeks WHERE source = 'computed'",
    "sweep": "SELECT 'sweep' AS series, ts FROM options_greeks WHERE source = 'exchange'",
    "index": "SELECT index_name AS series, ts FROM index_prices WHERE source = 'ticker'",
}


def missing(url, sql, down_min, back_min):
    """Per series: (minutes missing between its first and last minute, missing inside the outage, last)."""
    rows = _q(url, f"""
        WITH m AS (SELECT DISTINCT series, date_trunc('minute', ts) AS ts FROM ({sql}) s)
        SELECT series, count(*),
               extract(epoch FROM max(ts) - min(ts))::int / 60 + 1,
               count(*) FILTER (WHERE ts >= %(down)s AND ts <= %(back)s),
               max(ts)
        FROM m GROUP BY series ORDER BY series""", {"down": down_min, "back": back_min})
    span_out = int((back_min - down_min).total_seconds() // 60) + 1
    return {s: (span - n, span_out - n_out, last) for s, n, span, n_out, last in rows}


def lateness(log_text: str, since: float, until: float, jobs=("index", "perpetuals", "chain")) -> dict:
    """Per job: the latest finish, in seconds after its minute began, of the runs in [since, until]."""
    out: dict[str, float] = {}
    for line in log_text.splitlines():
        m = JOB_LINE.match(line)
        if not m or m[3] not in jobs:
            continue
        t = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S").timestamp() + int(m[2]) / 1000  # logs are in local time
        if since <= t <= until:
            out[m[3]] = max(out.get(m[3], 0.0), t % 60)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outage-minutes", type=float, default=60.0)
    ap.add_argument("--before-minutes", type=float, default=2.0, help="steady state before the outage")
    ap.add_argument("--after-minutes", type=float, default=3.0, help="watched after the spool is loaded")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lease-seconds", type=float, default=15.0)
    ap.add_argument("--spool-max-mb", type=float, default=1024.0)
    args = ap.parse_args()

    from ingest.embedded import EmbeddedServer
    from ingest.live.spool import Spool, summary
    from ingest.sim.server import SimServer
    from ingest.storage import schema

    tmp = Path(tempfile.mkdtemp(prefix="bench-outage-"))
    spool = Spool(tmp / "spool")
    log_path = tmp / "ingest.log"
    srv = EmbeddedServer(data=tmp / "pg", log_path=tmp / "pg.log").start()
    port = srv.port
    ingest = str(Path(sys.executable).with_name("ingest"))
    rc = None
    try:
        schema.upgrade(srv.url, "head")
        with SimServer(seed=args.seed, now="wall", rate_limit=True, port=0) as sim:
            env = dict(os.environ, INGEST_DATABASE_URL=srv.url, DERIBIT_API_URL=sim.api_url,
                       DERIBIT_HISTORY_URL=sim.history_url, INGEST_LOG_FILE=str(log_path),
                       INGEST_SPOOL_DIR=str(spool.dir))
            proc = subprocess.Popen([ingest, "run", "--lease-seconds", str(args.lease_seconds),
                                     "--lookback-minutes", "10", "--spool-max-mb", str(args.spool_max_mb)],
                                    env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "run.err", "wb"))
            t_start = time.time()
            _wait("the first ok runs", lambda: len(_q(srv.url, """
                SELECT 1 FROM job_heartbeats WHERE last_outcome = 'ok'
                AND job_name IN ('perpetuals', 'chain', 'index', 'tickers')""")) == 4, 180, proc)
            time.sleep(args.before_minutes * 60)
            steady = lateness(log_path.read_text(), t_start + 60, time.time())
            srv.stop()
            t_down = time.time()
            print(f"database stopped at {datetime.fromtimestamp(t_down, timezone.utc):%H:%M:%S} UTC for "
                  f"{args.outage_minutes:g} minutes", flush=True)
            peak = {"files": 0, "rows": 0, "bytes": 0}
            rss = 0.0
            while time.time() < t_down + args.outage_minutes * 60:
                s = summary(spool.dir)
                if s["bytes"] >= peak["bytes"]:
                    peak = {k: s[k] for k in ("files", "rows", "bytes")}
                    peak["by_dataset"] = s["by_dataset"]
                rss = max(rss, _rss_mb(proc.pid) or 0.0)
                if proc.poll() is not None:
                    raise SystemExit(f"ingest run died during the outage: {proc.returncode}")
                time.sleep(10)
            srv = EmbeddedServer(port=port, data=tmp / "pg", log_path=tmp / "pg.log").start()
            t_back = time.time()
            print(f"database back at {datetime.fromtimestamp(t_back, timezone.utc):%H:%M:%S} UTC; spool "
                  f"{peak['files']} files, {peak['rows']} rows", flush=True)
            t_lease = _wait("the lease confirmed", lambda: _q(srv.url, """
                SELECT 1 FROM leader_lease WHERE expires_at > now() AND renewed_at > now() - interval '1 minute'"""),
                300, proc, every=0.5)
            t_caught = _wait("the candle catch-up", lambda: _q(srv.url, """
                SELECT min(last) >= date_trunc('minute', now()) - INTERVAL '2 minutes'
                FROM (SELECT instrument_name, max(ts) AS last FROM perpetuals_ohlcv GROUP BY 1) x""")[0][0],
                1800, proc, every=1.0)
            t_empty = _wait("the spool loaded", lambda: not spool.files(), 3600, proc, every=1.0)
            # scheduled runs only: from the first whole minute after the lease was confirmed (the takeover
            # runs before it fire at once, off the minute's schedule)
            first_whole = t_lease - t_lease % 60 + 60
            during = lateness(log_path.read_text(), first_whole, max(first_whole, t_empty) + 60)
            time.sleep(args.after_minutes * 60)
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=120)
        down_min = datetime.fromtimestamp(t_down - t_down % 60, timezone.utc)
        back_min = datetime.fromtimestamp(t_back - t_back % 60, timezone.utc)
        figures = {name: missing(srv.url, sql, down_min, back_min) for name, sql in SERIES.items()}
        listed = _q(srv.url, "SELECT count(*) FROM instruments WHERE kind = 'option' AND expiration_timestamp > now()"
                    )[0][0]
        whole = _q(srv.url, """SELECT count(*), count(*) FILTER (WHERE n <> %(listed)s) FROM (
                                  SELECT ts, count(*) AS n FROM options_greeks WHERE source = 'computed'
                                  GROUP BY ts) x""", {"listed": listed})[0]
        dup = sum(_q(srv.url, f"SELECT count(*) FROM (SELECT 1 FROM {t} GROUP BY {k} HAVING count(*) > 1) d")[0][0]
                  for t, k in (("options_greeks", "instrument_name, ts, source"),
                               ("index_prices", "index_name, source, ts")))
        log = log_path.read_text()
        flushes = [m for m in map(FLUSH_LINE.match, log.splitlines()) if m]
        loaded = sum(int(m[4]) for m in flushes)
        flush_ms = sum(int(m[7]) for m in flushes)
        lost = log.count("NOT kept")
    finally:
        srv.stop()

    ok = True
    print(f"\noutage {args.outage_minutes:g} min ({down_min:%H:%M} to {back_min:%H:%M} UTC), lease "
          f"{args.lease_seconds:g} s, seed {args.seed}")
    print("minutes missing (first..last of each series | inside the outage), target 0:")
    for name, per in figures.items():
        worst = max((v[0] for v in per.values()), default=None)
        worst_out = max((v[1] for v in per.values()), default=None)
        print(f"  {name:<8} {len(per):>3} series  missing {worst}  in the outage {worst_out}"
              + ("" if name != "candles" else f"  (sum {sum(v[0] for v in per.values())})"))
        if not per or worst != 0 or worst_out != 0:
            ok = False
    chain_bytes = [d for d in peak.get("by_dataset", []) if d["dataset"] == "chain"]
    per_chain = chain_bytes[0]["bytes"] / max(1, chain_bytes[0]["files"]) if chain_bytes else 0
    print(f"chain snapshots: {whole[0]} minutes, {whole[1]} not whole (options listed now {listed}); "
          f"duplicate keys {dup}")
    print(f"spool at its largest: {peak['files']} files, {peak['rows']} rows, {peak['bytes'] / 1e6:.2f} MB "
          f"({per_chain / 1e3:.1f} kB per chain minute); payloads refused (full): {lost}; collector RSS max "
          f"{rss:.0f} MB")
    print(f"after the database came back: lease confirmed +{t_lease - t_back:.0f} s, candles caught up "
          f"+{t_caught - t_back:.0f} s, spool empty +{t_empty - t_back:.0f} s "
          f"({loaded} rows in {len(flushes)} slices, {flush_ms / 1000:.1f} s loading, "
          f"{loaded / max(0.001, flush_ms / 1000):.0f} rows/s)")
    print("latest finish of the minute's jobs, seconds after the minute began: before the outage "
          + ", ".join(f"{k} {v:.1f}" for k, v in sorted(steady.items()))
          + "; while the spool loaded " + (", ".join(f"{k} {v:.1f}" for k, v in sorted(during.items()))
                                             or "- (loaded before the first whole minute after the lease)"))
    if dup or whole[1] or lost:
        ok = False
    if rc != 0:
        print(f"FAIL ingest run exited {rc} after SIGTERM")
        ok = False
    print(f"logs in {tmp}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
