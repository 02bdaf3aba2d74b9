"""Throughput of the simulated exchange for chart data (5,000 one-minute candles per request).

Target (issue): with rate limiting off, >= 100 requests/s of 5,000 one-minute candles on a 2-core
machine, so that benchmarks measure the ingester, not the simulator.

The server runs in its own process (as `ingest sim` would); this process drives it with N client
threads over keep-alive HTTP connections and parses every answer with orjson, checking 5,000 candles.

Two workloads:
* ``backfill``: consecutive 5,000-minute windows paging forward through history (every window is new
  to the simulator: nothing cached) for BTC-PERPETUAL, ETH-PERPETUAL and a few dated futures.
* ``repeat``: random windows from a fixed set of 200 (mostly cached), e.g. several ingesters re-reading.

Usage: python benchmarks/bench_sim.py [--threads 4] [--seconds 10] [--target 100]
Exit status 1 if the backfill workload is under the target.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import random
import sys
import threading
import time
from urllib.parse import urlencode

import orjson

NOW = "2024-06-01T00:00:00Z"
NOW_MS = 1717200000000
WINDOW = 5000 * 60_000


def _serve(port_q, seed):
    from ingest.sim import SimServer
    from ingest.sim.server import tune_malloc

    tune_malloc()  # as `ingest sim` does
    srv = SimServer(seed=seed, now=NOW, rate_limit=False, faults=None, port=0)
    srv.start()
    port_q.put(srv.port)
    while True:
        time.sleep(3600)


def _windows_backfill():
    out = []
    for name, start in (("BTC-PERPETUAL", 1546300800000), ("ETH-PERPETUAL", 1577836800000),
                        ("BTC-27SEP24", 1711699200000), ("ETH-28JUN24", 1704067200000)):
        t = start
        while t + WINDOW <= NOW_MS:
            out.append((name, t, t + WINDOW - 60_000))
            t += WINDOW
    return out


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux), to report server CPU per request independent of machine load."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def run(port, windows, threads, seconds, check=True):
    lock = threading.Lock()
    it = iter(windows)
    done = {"n": 0, "candles": 0, "bytes": 0, "bad": 0}
    stop_at = time.perf_counter() + seconds

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop_at:
            with lock:
                w = next(it, None)
            if w is None:
                break
            name, s, e = w
            q = urlencode({"instrument_name": name, "start_timestamp": s - 1, "end_timestamp": e, "resolution": "1"})
            conn.request("GET", "/api/v2/public/get_tradingview_chart_data?" + q)
            resp = conn.getresponse()
            body = resp.read()
            res = orjson.loads(body)["result"]
            n = len(res["ticks"])
            with lock:
                done["n"] += 1
                done["candles"] += n
                done["bytes"] += len(body)
                if check and n != 5000:
                    done["bad"] += 1
        conn.close()

    t0 = time.perf_counter()
    ths = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    dt = time.perf_counter() - t0
    return done, dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--target", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)

    q = mp.Queue()
    proc = mp.Process(target=_serve, args=(q, a.seed), daemon=True)
    proc.start()
    port = q.get(timeout=30)
    try:
        results = {}
        back = _windows_backfill()
        random.Random(1).shuffle(back)
        c0 = _cpu_seconds(proc.pid)
        done, dt = run(port, back, a.threads, a.seconds)
        results["backfill"] = (done, dt, _cpu_seconds(proc.pid) - c0)
        rnd = random.Random(2)
        fixed = back[:200]
        rep = [fixed[rnd.randrange(len(fixed))] for _ in range(1_000_000)]
        c0 = _cpu_seconds(proc.pid)
        done, dt = run(port, rep, a.threads, a.seconds)
        results["repeat"] = (done, dt, _cpu_seconds(proc.pid) - c0)
    finally:
        proc.terminate()
        proc.join(5)

    ok = True
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} (other processes slow this down)")
    for name, (d, dt, cpu) in results.items():
        rps = d["n"] / dt
        per = cpu / max(d["n"], 1)
        print(f"{name:9s}: server CPU {per * 1000:.1f} ms/request -> {1 / per if per else float('inf'):.0f} req/s "
              f"per server core")
        print(f"{name:9s}: {d['n']} requests in {dt:.1f}s = {rps:.1f} req/s, {d['candles'] / dt:,.0f} candles/s, "
              f"{d['bytes'] / dt / 1e6:.1f} MB/s, short answers: {d['bad']}  (target {a.target:.0f} req/s: "
              f"{'PASS' if rps >= a.target else 'FAIL'})")
        if name == "backfill" and (rps < a.target or d["bad"]):
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
