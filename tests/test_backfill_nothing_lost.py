"""Nothing lost silently in a backfill: oversized values, broken answers, undecidable probes, unknown
names, a database that refuses one window, and aggregates after an interrupted run.

The exchange is the simulator over real HTTP; where a test needs an answer the simulator would never
give (a finite but oversized number, `ticks: null`), a proxy rewrites that answer on its way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.backfill import backfill
from ingest.backfill.cli import parse_when
from ingest.backfill.testing import duplicates, sim_client, stored_candles, truth_candles
from ingest.deribit.client import DeribitClient
from ingest.sim.server import SimServer
from tests.rewriting_proxy import RewritingProxy

NOW = "2024-06-01T00:00:00Z"
SINCE, UNTIL = parse_when("2024-05-20"), parse_when("2024-05-27")
INGEST = Path(sys.executable).with_name("ingest")


def quiet(_):
    pass


def proxy_client(proxy: RewritingProxy) -> DeribitClient:
    return DeribitClient(proxy.url + "/api/v2", proxy.url + "/history/api/v2", backoff_base=0.02,
                         backoff_cap=0.2, timeout=5.0, max_attempts=8)


def _set_candle(body: dict, tick: int, **values) -> dict:
    result = body["result"]
    if isinstance(result, dict) and tick in result.get("ticks", []):
        i = result["ticks"].index(tick)
        for k, v in values.items():
            result[k][i] = v
    return body


# ----------------------------------------------------------------------------- oversized values

def test_oversized_candle_values_are_quarantined_and_everything_else_stored(db):
    big_price = parse_when("2024-05-22T10:00")
    big_volume = parse_when("2024-05-25T17:31")

    def rewrite(method, params, body):
        if method == "get_tradingview_chart_data" and params.get("instrument_name") == "BTC-PERPETUAL":
            # NUMERIC(18,8) holds < 1e10, NUMERIC(24,8) < 1e16: both finite, both refused by the database
            _set_candle(body, big_price, high=2.5e10, close=2.5e10)
            _set_candle(body, big_volume, volume=1e16)
        return body

    with SimServer(seed=7, now=NOW) as sim, RewritingProxy(sim.base_url, rewrite) as proxy:
        client = proxy_client(proxy)
        r = backfill("perpetuals", client, db, instruments=["BTC-PERPETUAL"], since_ms=SINCE, until_ms=UNTIL,
                     tty=False, echo=quiet)
        truth = truth_candles(sim, "BTC-PERPETUAL", SINCE, UNTIL, parse_when(NOW))
        assert r.status == "partial"
        assert r.stats.windows_failed == 0 and r.stats.windows_partial == 2
        stored = stored_candles(db, "perpetuals_ohlcv", "BTC-PERPETUAL")
        assert stored.keys() == truth.keys() - {big_price, big_volume}
        assert all(stored[t] == pytest.approx(truth[t], rel=1e-12) for t in stored)
        reasons = dict(db.execute("SELECT (payload->>'tick')::bigint, reason FROM quarantine").fetchall())
        assert reasons == {big_price: "high 25000000000.0 out of range for numeric(18,8)",
                           big_volume: "volume 1e+16 out of range for numeric(24,8)"}
        statuses = db.execute("SELECT status, count(*) FROM backfill_checkpoints GROUP BY 1 ORDER BY 1").fetchall()
        assert statuses == [("done", 1), ("partial", 2)]
        assert "PARTIAL perpetuals BTC-PERPETUAL" in r.text

        # a rerun fetches nothing again, stores nothing twice, and still says the data is partial
        charts = proxy.count("get_tradingview_chart_data")
        again = backfill("perpetuals", client, db, instruments=["BTC-PERPETUAL"], since_ms=SINCE,
                         until_ms=UNTIL, tty=False, echo=quiet)
        assert proxy.count("get_tradingview_chart_data") == charts
        assert sum(again.stats.rows.values()) == 0 and again.status == "partial"
        assert db.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 2


def test_oversized_funding_index_price_is_quarantined(db):
    bad_hour = parse_when("2019-07-10T13:00")

    def rewrite(method, params, body):
        if method == "get_funding_rate_history":
            for row in body["result"]:
                if row["timestamp"] == bad_hour and params["instrument_name"] == "BTC-PERPETUAL":
                    row["index_price"] = 1e11
        return body

    with SimServer(seed=7, now="2019-08-01T00:00:00Z") as sim, RewritingProxy(sim.base_url, rewrite) as proxy:
        r = backfill("funding", proxy_client(proxy), db, instruments=["BTC-PERPETUAL"], tty=False, echo=quiet)
        truth = [t["timestamp"] for t in sim.market.funding("BTC", 0, parse_when("2019-08-01"),
                                                            parse_when("2019-08-01"), None)]
    assert r.status == "partial"
    stored = [t for (t,) in db.execute("SELECT (extract(epoch FROM ts)*1000)::bigint FROM funding_rates "
                                       "ORDER BY ts").fetchall()]
    assert stored == [t for t in truth if t != bad_hour]
    (reason,) = db.execute("SELECT reason FROM quarantine").fetchone()
    assert reason == "index_price 100000000000.0 out of range for numeric(18,8)"


# ----------------------------------------------------------------------------- broken answers

@pytest.mark.parametrize("faults", ["badtypes:0.3", "nan:0.3",
                                    "badtypes:0.06,nan:0.06,malformed:0.06,truncate:0.04,11094:0.04,"
                                    "500:0.02,reset:0.02"])
def test_broken_answers_are_fetched_again_never_stored_or_quarantined(db, faults):
    since, until = parse_when("2019-05-01"), parse_when("2019-09-01")
    with SimServer(seed=11, now="2019-09-01T00:00:00Z", faults=faults) as sim:
        client = sim_client(sim, timeout=0.5)

        def run():
            out = []
            for dataset, names in (("funding", ["BTC-PERPETUAL"]), ("perpetuals", ["ETH-PERPETUAL"])):
                out.append(backfill(dataset, client, db, instruments=names, since_ms=since, until_ms=until,
                                    workers=2, tty=False, echo=quiet))
            return out

        first = run()
        for r in first:  # honest on the first run: ok, or failed with the windows listed
            assert r.status in ("ok", "failed")
            assert (r.status == "failed") == bool(r.failed)
            assert r.stats.quarantined == 0
        if any(r.status != "ok" for r in first):
            assert all(r.status == "ok" for r in run())
        funding_truth = [(t["timestamp"], t["interest_1h"]) for t in
                         sim.market.funding("BTC", since, until, parse_when("2019-09-01"), None)]
        candle_truth = truth_candles(sim, "ETH-PERPETUAL", since, until - 60_000, parse_when("2019-09-01"))
    stored_funding = db.execute("SELECT (extract(epoch FROM ts)*1000)::bigint, interest_1h::float8 "
                                "FROM funding_rates ORDER BY ts").fetchall()
    assert [t for t, _ in stored_funding] == [t for t, _ in funding_truth if t >= since]
    assert all(a[1] == pytest.approx(b[1], abs=1e-12) for a, b in
               zip(stored_funding, [x for x in funding_truth if x[0] >= since], strict=True))
    stored = stored_candles(db, "perpetuals_ohlcv", "ETH-PERPETUAL")
    assert stored.keys() == candle_truth.keys()
    assert all(stored[t] == pytest.approx(candle_truth[t], rel=1e-12) for t in stored)
    assert duplicates(db, "perpetuals_ohlcv") == 0
    assert db.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0


def test_a_probe_answered_with_null_ticks_fails_instead_of_meaning_not_listed(db):
    name = "ETH-26APR24"
    broken = {"left": 10**6}

    def rewrite(method, params, body):
        if method == "get_tradingview_chart_data" and params.get("resolution") == "1D" and broken["left"] > 0:
            broken["left"] -= 1
            body["result"]["ticks"] = None
        return body

    with SimServer(seed=7, now=NOW) as sim, RewritingProxy(sim.base_url, rewrite) as proxy:
        client = proxy_client(proxy)
        r = backfill("futures", client, db, instruments=[name], tty=False, echo=quiet)
        assert r.status == "failed"
        assert any(p.startswith(f"{name}: ") for p in r.stats.problems)
        assert f"FAILED {name}" in r.text
        assert db.execute("SELECT count(*) FROM futures_ohlcv").fetchone()[0] == 0

        broken["left"] = 1  # one broken answer, then the exchange answers properly: fetched again
        r = backfill("futures", client, db, instruments=[name], tty=False, echo=quiet)
        assert r.status == "ok"
        expected = len(truth_candles(sim, name, 0, parse_when("2024-04-26T07:59"), parse_when(NOW)))
    assert expected > 0
    assert db.execute("SELECT count(*) FROM futures_ohlcv").fetchone()[0] == expected


# ----------------------------------------------------------------------------- names

def _cli(args, env):
    return subprocess.run([str(INGEST), "backfill", *args], env=env, capture_output=True, text=True, timeout=120)


def test_malformed_and_unknown_instrument_names_are_reported_by_name(db, migrated_url):
    with SimServer(seed=7, now=NOW) as sim:
        env = dict(os.environ, DERIBIT_API_URL=sim.api_url, DERIBIT_HISTORY_URL=sim.history_url,
                   INGEST_DATABASE_URL=migrated_url)
        bad = _cli(["perpetuals", "--instrument", "BTC-PERPETUALX"], env)
        assert bad.returncode == 2
        assert "BTC-PERPETUALX" in bad.stderr and "Traceback" not in bad.stderr
        wrong_kind = _cli(["perpetuals", "--instrument", "BTC-28JUN24"], env)
        assert wrong_kind.returncode == 2 and "'BTC-28JUN24' is a future" in wrong_kind.stderr
        bad_date = _cli(["futures", "--instrument", "BTC-31FEB24"], env)
        assert bad_date.returncode == 2 and "BTC-31FEB24" in bad_date.stderr
        unknown = _cli(["futures", "--instrument", "ETH-3JAN20"], env)  # no weeklies before 2021
        assert unknown.returncode == 1, unknown.stderr
        assert "ETH-3JAN20: instrument not found" in unknown.stdout
        assert "Traceback" not in unknown.stderr


# ----------------------------------------------------------------------------- database refusals

def test_a_window_the_database_refuses_fails_alone(db):
    refused = "2024-05-23 12:00+00"
    db.execute(f"ALTER TABLE perpetuals_ohlcv ADD CONSTRAINT test_refuse_one_minute CHECK (ts <> '{refused}')")
    try:
        with SimServer(seed=7, now=NOW) as sim:
            client = sim_client(sim)
            r = backfill("perpetuals", client, db, instruments=["BTC-PERPETUAL"], since_ms=SINCE,
                         until_ms=UNTIL, tty=False, echo=quiet)
            assert r.status == "failed" and len(r.failed) == 1
            (_, _, start, end, _, error) = r.failed[0]
            assert "database refused the window" in error and "test_refuse_one_minute" in error
            stored = stored_candles(db, "perpetuals_ohlcv", "BTC-PERPETUAL")
            truth = truth_candles(sim, "BTC-PERPETUAL", SINCE, UNTIL, parse_when(NOW))
            lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
            assert lo <= parse_when("2024-05-23T12:00") <= hi
            assert stored.keys() == {t for t in truth if not lo <= t <= hi}  # every other window is stored
            db.execute("ALTER TABLE perpetuals_ohlcv DROP CONSTRAINT test_refuse_one_minute")
            again = backfill("perpetuals", client, db, instruments=["BTC-PERPETUAL"], since_ms=SINCE,
                             until_ms=UNTIL, tty=False, echo=quiet)
            assert again.status == "ok"
            assert stored_candles(db, "perpetuals_ohlcv", "BTC-PERPETUAL").keys() == truth.keys()
    finally:
        db.execute("ALTER TABLE perpetuals_ohlcv DROP CONSTRAINT IF EXISTS test_refuse_one_minute")


# ----------------------------------------------------------------------------- aggregates

HOURS = """SELECT count(*) FROM perpetuals_ohlcv_1h WHERE instrument_name = 'BTC-PERPETUAL'"""
EXPECTED_HOURS = """SELECT count(DISTINCT date_trunc('hour', ts)) FROM perpetuals_ohlcv
                    WHERE instrument_name = 'BTC-PERPETUAL'"""


def test_a_resumed_run_that_loads_nothing_still_completes_the_aggregates(db):
    with SimServer(seed=7, now=NOW) as sim:
        client = sim_client(sim)
        # the later days first, refreshed: the aggregate's watermark moves past them, so older buckets
        # are no longer computed in real time from the raw rows
        backfill("perpetuals", client, db, instruments=["BTC-PERPETUAL"], since_ms=parse_when("2024-05-24"),
                 until_ms=UNTIL, tty=False, echo=quiet)
        # then a run whose refresh never happened (killed after its last window, or --no-refresh)
        backfill("perpetuals", client, db, instruments=["BTC-PERPETUAL"], since_ms=SINCE, until_ms=UNTIL,
                 refresh=False, tty=False, echo=quiet)
        assert db.execute("SELECT count(*) FROM cagg_refresh_pending").fetchone()[0] > 0
        assert db.execute(HOURS).fetchone()[0] < db.execute(EXPECTED_HOURS).fetchone()[0]  # hours missing
        again = backfill("perpetuals", client, db, instruments=["BTC-PERPETUAL"], since_ms=SINCE,
                         until_ms=UNTIL, tty=False, echo=quiet)
    assert sum(again.stats.rows.values()) == 0
    assert "public.perpetuals_ohlcv_1h" in again.refreshed
    expected = db.execute(EXPECTED_HOURS).fetchone()[0]
    assert expected == 7 * 24 + 1  # 2024-05-20 00:00 .. 2024-05-27 00:00 inclusive
    assert db.execute(HOURS).fetchone()[0] == expected
    # the 1h aggregate equals the same aggregation of the base table, hour by hour
    diff = db.execute("""
        SELECT count(*) FROM perpetuals_ohlcv_1h a
        FULL JOIN (SELECT time_bucket('1 hour', ts) AS ts, max(high) AS high, min(low) AS low,
                          sum(volume) AS volume
                   FROM perpetuals_ohlcv WHERE instrument_name = 'BTC-PERPETUAL' GROUP BY 1) b
               ON a.ts = b.ts AND a.instrument_name = 'BTC-PERPETUAL'
        WHERE a.ts IS NULL OR b.ts IS NULL OR a.high <> b.high OR a.low <> b.low
              OR a.volume <> b.volume""").fetchone()[0]
    assert diff == 0
    assert db.execute("SELECT count(*) FROM cagg_refresh_pending").fetchone()[0] == 0


def test_kill_9_then_resume_leaves_the_aggregates_complete(db, migrated_url):
    import signal
    import time

    import psycopg

    with SimServer(seed=7, now=NOW, rate_limit=True) as sim:
        env = dict(os.environ, DERIBIT_API_URL=sim.api_url, DERIBIT_HISTORY_URL=sim.history_url,
                   INGEST_DATABASE_URL=migrated_url)
        cmd = [str(INGEST), "backfill", "perpetuals", "--instrument", "BTC-PERPETUAL", "--since", "2024-03-01",
               "--until", "2024-05-01", "--workers", "1", "--prefetch", "1"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        with psycopg.connect(migrated_url, autocommit=True) as watch:
            while time.monotonic() < deadline and watch.execute(
                    "SELECT count(*) FROM backfill_checkpoints").fetchone()[0] < 3:
                time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        assert rerun.returncode == 0, rerun.stderr
    hours = db.execute(EXPECTED_HOURS).fetchone()[0]
    assert hours == 61 * 24 + 1
    assert db.execute(HOURS).fetchone()[0] == hours
    days = db.execute("SELECT count(*) FROM perpetuals_ohlcv_1d WHERE instrument_name = 'BTC-PERPETUAL'"
                      ).fetchone()[0]
    assert days == 62
