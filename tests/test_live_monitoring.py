"""Monitoring of `ingest run` against local receivers: the heartbeat pings a tiny HTTP server of this
test (standing in for Healthchecks.io), the Prometheus endpoint is scraped over HTTP. In process (a
Context over the wall-clock simulator and the test database) and as real `ingest run` processes."""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ingest.config import Settings
from ingest.deribit.client import DeribitClient
from ingest.live.context import Context, LiveConfig, all_jobs
from ingest.live.jobs import run_job
from ingest.live.monitoring import (
    GroupLag,
    Heartbeat,
    Metrics,
    Monitor,
    fail_url,
    group_lags,
    merge_lags,
    recent_sql,
    safe_url,
    scrub,
)

INGEST = [str(Path(sys.executable).with_name("ingest"))]
# a Healthchecks check's UUID: the secret part of its ping URL, never to be logged
SECRET = "5f2c9a3e-0d1b-4c61-9f3a-7e1b2c3d4e5f"
LEASE = 6.0


class Receiver:
    """Records every request (method, path, body); answers `status` after `delay` seconds."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.status, self.delay = status, delay
        self.requests: list[tuple[str, str, str]] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                time.sleep(receiver.delay)
                with receiver.cond:
                    receiver.requests.append((self.command, self.path, body))
                    receiver.cond.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = do_HEAD = _record

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/ping/{SECRET}"

    def wait_for(self, n: int, timeout: float = 10.0) -> list[tuple[str, str, str]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.requests) >= n, timeout)
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(metrics, name, **labels):
    return metrics[(name, frozenset(labels.items()))]


# --- pure functions -----------------------------------------------------------------------------------

def test_ping_urls_are_shown_without_their_secret():
    assert safe_url(f"https://hc-ping.com/{SECRET}") == "https://hc-ping.com/***"
    assert safe_url("https://hc-ping.com/pingkey123/ingest-run?create=1") == "https://hc-ping.com/***?***"
    assert safe_url("http://user:pw@hc.example:8000/ping/x") == "http://***@hc.example:8000/***"
    assert safe_url("https://hc.example/") == "https://hc.example/"
    assert fail_url(f"https://hc-ping.com/{SECRET}") == f"https://hc-ping.com/{SECRET}/fail"
    assert fail_url("https://hc-ping.com/key/slug/?create=1") == "https://hc-ping.com/key/slug/fail?create=1"
    message = (f"HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
               f"/ping/{SECRET}/fail (Caused by NewConnectionError('refused'))")
    shown = scrub(message, f"http://127.0.0.1:9/ping/{SECRET}")
    assert SECRET not in shown and "Max retries exceeded" in shown and "refused" in shown


def test_heartbeat_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("INGEST_HEARTBEAT_URL", f"https://hc-ping.com/{SECRET}")
    monkeypatch.setenv("INGEST_METRICS_PORT", "9108")
    s = Settings.from_env()
    assert (s.heartbeat_url, s.metrics_port) == (f"https://hc-ping.com/{SECRET}", 9108)
    assert SECRET not in repr(s)
    monkeypatch.setenv("INGEST_HEARTBEAT_URL", f"hc-ping.com/{SECRET}")
    with pytest.raises(ValueError, match="INGEST_HEARTBEAT_URL must be an http") as err:
        Settings.from_env()
    assert SECRET not in str(err.value)
    monkeypatch.delenv("INGEST_HEARTBEAT_URL")
    monkeypatch.setenv("INGEST_METRICS_PORT", "70000")
    with pytest.raises(ValueError, match="INGEST_METRICS_PORT must be a TCP port"):
        Settings.from_env()
    monkeypatch.delenv("INGEST_METRICS_PORT")
    assert (Settings.from_env().heartbeat_url, Settings.from_env().metrics_port) == (None, 0)


def test_lag_groups_are_the_freshness_groups_of_ingest_status():
    from datetime import datetime, timezone

    from ingest import datasets

    t1 = datetime(2024, 6, 1, 0, 1, tzinfo=timezone.utc)
    perp = group_lags(datasets.get("perpetuals"), [("perpetuals", "BTC-PERPETUAL", t1, 5, 60, True)])
    # ETH-PERPETUAL is expected of a running collector: without a row it is a group with no newest row
    assert perp == [GroupLag("perpetuals", "BTC-PERPETUAL", t1, 60.0),
                    GroupLag("perpetuals", "ETH-PERPETUAL", None, 60.0)]
    # the count of active futures is not part of the group's name (a new series at every listing)
    fut = group_lags(datasets.get("futures"), [("futures", "BTC futures (4 active)", None, 0, 60, True)])
    assert fut == [GroupLag("futures", "BTC futures", None, 60.0)]
    # option candles are sparse: not judged by `ingest status`, so no cadence
    opts = group_lags(datasets.get("options"), [("options", "ETH options (traded minutes)", t1, 3, 60, False)])
    assert opts == [GroupLag("options", "ETH options (traded minutes)", t1, None)]


def test_the_minute_refresh_narrows_the_window_and_keeps_older_groups_from_the_full_pass():
    from datetime import datetime, timezone

    from ingest.storage.sqlfiles import query

    chain = recent_sql(query("freshness_chain"))
    assert "INTERVAL '2 hours'" in chain and "30 days" not in chain
    old, t1, t2 = (datetime(2024, 6, 1, h, tzinfo=timezone.utc) for h in (0, 5, 6))
    full = [GroupLag("funding", "BTC-PERPETUAL", t1, 3600.0), GroupLag("index", "btc_usd/delivery", old, None),
            GroupLag("chain", "BTC options computed", None, 60.0)]
    recent = [GroupLag("funding", "BTC-PERPETUAL", t2, 3600.0), GroupLag("chain", "BTC options computed", None, 60.0),
              GroupLag("trades", "BTC option", t2, 300.0)]
    assert merge_lags(full, recent) == [
        GroupLag("funding", "BTC-PERPETUAL", t2, 3600.0),  # newer in the recent window
        GroupLag("index", "btc_usd/delivery", old, None),  # nothing in the recent window: the full pass's
        GroupLag("chain", "BTC options computed", None, 60.0),  # no row at all
        GroupLag("trades", "BTC option", t2, 300.0)]  # new since the full pass


# --- the heartbeat never blocks -----------------------------------------------------------------------

def test_a_slow_receiver_never_blocks_and_one_ping_is_in_flight_at_most():
    slow = Receiver(delay=1.0)
    try:
        hb = Heartbeat(slow.url)
        t0 = time.monotonic()
        assert hb.ping(True, "first") is True
        assert hb.ping(False, "second") is False  # the first still waits for its answer: skipped
        assert time.monotonic() - t0 < 0.5
        got = slow.wait_for(1)
        hb.wait()
        time.sleep(0.3)
        assert [(m, p, b) for m, p, b in slow.requests] == [("POST", f"/ping/{SECRET}", "first")]
        assert hb.ping(False, "third") is True  # the first answered: the next one goes
        got = slow.wait_for(2)
        assert got[1] == ("POST", f"/ping/{SECRET}/fail", "third")
    finally:
        slow.close()


def test_a_failed_ping_is_logged_without_the_secret_and_not_retried(caplog):
    url = f"http://127.0.0.1:{_closed_port()}/ping/{SECRET}"
    results = []
    hb = Heartbeat(url, timeout=2.0, on_result=lambda kind, result: results.append((kind, result)))
    with caplog.at_level(logging.DEBUG, logger="ingest.live.monitoring"):
        assert hb.ping(False, "database unreachable")
        hb.wait()
    assert results == [("fail", "failed")]
    text = caplog.text
    assert "heartbeat http://127.0.0.1:" in text and "fail ping failed" in text and "ConnectionError" in text
    assert SECRET not in text
    refusing = Receiver(status=500)
    try:
        hb = Heartbeat(refusing.url, on_result=lambda kind, result: results.append((kind, result)))
        hb.ping(True, "ok")
        hb.wait()
        assert results[-1] == ("success", "failed") and len(refusing.requests) == 1  # once, not again
        assert "HTTP 500" in caplog.text
    finally:
        refusing.close()


# --- in process: a Context over the simulator and the test database -----------------------------------

@pytest.fixture(scope="module")
def sim():
    from ingest.sim.server import SimServer

    with SimServer(seed=7, now="wall", rate_limit=True, port=0) as s:
        yield s


def _context(url, sim, heartbeat_url, client=None, **kw):
    settings = Settings(database_url=url, api_url=sim.api_url, history_url=sim.history_url,
                        heartbeat_url=heartbeat_url)
    return Context(settings, LiveConfig(lease_seconds=10, initial_lookback_min=15, **kw), client=client)


def _monitor(ctx, metrics=True):
    m = Monitor(ctx, Heartbeat(ctx.settings.heartbeat_url), Metrics(ctx, list(all_jobs())) if metrics else None)
    ctx.monitor = m
    port = m.serve(0, "127.0.0.1") if metrics else None
    return m, port


def test_a_successful_minute_pings_the_url_and_the_metrics_move(db, migrated_url, sim, receiver):
    ctx = _context(migrated_url, sim, receiver.url)
    m, port = _monitor(ctx)
    try:
        before = sim.stats()["requests_total"]
        assert ctx.lease.tick()  # the leader
        for job in ("instruments", "perpetuals", "index"):
            assert run_job(ctx, job).outcome_override == "ok", job
        assert m.close_minute() == "success"
        (method, path, body), = receiver.wait_for(1)
        assert (method, path) == ("POST", f"/ping/{SECRET}")
        assert body.startswith("ok: 3 job runs") and "\nperpetuals ok rows=" in body and "\nindex ok rows=2" in body
        assert m.metrics.lag.refresh(force=True) and m.metrics.lag.refresh(force=True)  # full, then recent
        assert set(m.metrics.lag.last_seconds) == {"full", "recent"}
        m.heartbeat.wait()
        sent = sim.stats()["requests_total"] - before
        got = scrape(port)
    finally:
        m.shutdown()
        ctx.lease.release()
        ctx.close()
    perpetual_rows = db.execute("SELECT count(*) FROM perpetuals_ohlcv").fetchone()[0]
    assert perpetual_rows >= 2 * 15  # two perpetuals, 15 minutes of lookback
    assert value(got, "ingest_rows_stored_total", dataset="perpetuals") == perpetual_rows
    assert value(got, "ingest_rows_stored_total", dataset="index") == 2  # btc_usd and eth_usd
    assert value(got, "ingest_rows_stored_total", dataset="chain") == 0
    assert value(got, "ingest_deribit_requests_total") == sent > 0  # what the exchange received
    assert value(got, "ingest_deribit_credits_used_total") == sent * 500  # Deribit: 500 credits a request
    assert value(got, "ingest_job_requests_total", job_name="index") == 2
    for job in ("instruments", "perpetuals", "index"):
        assert value(got, "ingest_job_runs_total", job_name=job, outcome="ok") == 1
        assert value(got, "ingest_job_runs_total", job_name=job, outcome="error") == 0
        assert value(got, "ingest_job_duration_seconds_count", job_name=job) == 1
    assert value(got, "ingest_job_runs_total", job_name="chain", outcome="ok") == 0  # exists, never ran
    assert value(got, "ingest_minutes_total", verdict="success") == 1
    assert value(got, "ingest_heartbeat_pings_total", kind="success", result="sent") == 1
    assert value(got, "ingest_leader") == 1 and value(got, "ingest_database_reachable") == 1
    assert value(got, "ingest_spool_files") == 0 and value(got, "ingest_spool_rows") == 0
    assert value(got, "ingest_rows_quarantined_total", dataset="perpetuals") == 0
    # the newest perpetual candle is the last closed minute: 1 to 2 minutes ago; the index is this minute's
    for perpetual in ("BTC-PERPETUAL", "ETH-PERPETUAL"):
        assert 60 <= value(got, "ingest_dataset_lag_seconds", dataset="perpetuals", group=perpetual) < 180
        assert value(got, "ingest_dataset_cadence_seconds", dataset="perpetuals", group=perpetual) == 60
    assert value(got, "ingest_dataset_lag_seconds", dataset="index", group="btc_usd/ticker") < 120
    # never collected, expected of a running collector
    assert math.isinf(value(got, "ingest_dataset_lag_seconds", dataset="chain", group="BTC options computed"))
    assert 0 < value(got, "ingest_deribit_credit_pool") and "ingest_deribit_credits_available" in {k[0] for k in got}


def test_a_job_ending_error_pings_fail_with_the_reason(db, migrated_url, sim, receiver):
    # the exchange does not answer: one attempt per request, so the index job fails at once
    dead = f"http://127.0.0.1:{_closed_port()}/api/v2"
    client = DeribitClient(dead, dead, max_attempts=1)
    ctx = _context(migrated_url, sim, receiver.url, client=client)
    m, port = _monitor(ctx)
    try:
        assert ctx.lease.tick()
        assert run_job(ctx, "index").outcome_override == "error"
        assert m.close_minute() == "fail"
        (method, path, body), = receiver.wait_for(1)
        m.heartbeat.wait()
        got = scrape(port)
    finally:
        m.shutdown()
        ctx.lease.release()
        ctx.close()
    assert (method, path) == ("POST", f"/ping/{SECRET}/fail")
    assert body.startswith("FAIL: index: error: ") and "connection error" in body
    assert value(got, "ingest_job_runs_total", job_name="index", outcome="error") == 1
    assert value(got, "ingest_minutes_total", verdict="fail") == 1
    assert value(got, "ingest_deribit_failures_total") == 2  # btc_usd and eth_usd, given up


def test_database_away_pings_fail_without_its_password(sim, receiver):
    url = f"postgresql://ingest:hunter2@127.0.0.1:{_closed_port()}/deribit"
    ctx = _context(url, sim, receiver.url, db_timeout=2)
    m, _ = _monitor(ctx, metrics=False)
    try:
        assert not ctx.lease.tick() and ctx.lease.reachable is False
        assert m.close_minute() == "fail"
        (method, path, body), = receiver.wait_for(1)
    finally:
        m.shutdown()
        ctx.close()
    assert path == f"/ping/{SECRET}/fail"
    assert body.startswith("FAIL: database unreachable (postgresql://ingest:***@127.0.0.1:")
    assert "hunter2" not in body


def test_a_standby_and_an_idle_minute_send_nothing(db, migrated_url, sim, receiver):
    db.execute("INSERT INTO leader_lease VALUES ('ingest-run', 'elsewhere:1:abc', now(), now(), "
               "now() + interval '10 minutes')")
    ctx = _context(migrated_url, sim, receiver.url)
    m, _ = _monitor(ctx, metrics=False)
    try:
        assert not ctx.lease.tick() and ctx.lease.reachable is True  # the database answers: a standby
        assert run_job(ctx, "index") is None  # a standby runs nothing
        assert m.close_minute() == "none"
        db.execute("DELETE FROM leader_lease")
        assert ctx.lease.tick()
        assert m.close_minute() == "none"  # the leader, but no run finished this minute
        time.sleep(0.5)
        assert receiver.requests == []
    finally:
        m.shutdown()
        ctx.lease.release()
        ctx.close()


# --- real `ingest run` processes -----------------------------------------------------------------------

def _env(migrated_url, sim, tmp_path, heartbeat_url, **extra):
    return dict(os.environ, INGEST_DATABASE_URL=migrated_url, DERIBIT_API_URL=sim.api_url,
                DERIBIT_HISTORY_URL=sim.history_url, INGEST_SPOOL_DIR=str(tmp_path / "spool"),
                INGEST_HEARTBEAT_URL=heartbeat_url, **extra)


@pytest.mark.e2e
def test_ingest_run_once_pings_success_then_fail(db, migrated_url, sim, receiver, tmp_path):
    env = _env(migrated_url, sim, tmp_path, receiver.url)
    p = subprocess.run(INGEST + ["run", "--once", "--lease-seconds", "3", "--lookback-minutes", "5",
                                 "--jobs", "instruments,perpetuals,index"],
                       env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    (method, path, body), = receiver.wait_for(1)
    assert (method, path) == ("POST", f"/ping/{SECRET}") and body.startswith("ok: 3 job runs")
    assert "heartbeat: http://127.0.0.1:" in p.stderr and SECRET not in p.stdout + p.stderr
    # the exchange does not answer: the index job ends 'error' (after the client's retries)
    dead = f"http://127.0.0.1:{_closed_port()}/api/v2"
    p = subprocess.run(INGEST + ["run", "--once", "--lease-seconds", "3", "--jobs", "index"],
                       env=dict(env, DERIBIT_API_URL=dead), capture_output=True, text=True, timeout=180)
    assert p.returncode == 1, p.stderr[-3000:]
    (method, path, body) = receiver.wait_for(2)[1]
    assert path == f"/ping/{SECRET}/fail" and body.startswith("FAIL: index: error:"), body
    # the database does not answer: exit 3, and a fail ping that says so, without the password
    p = subprocess.run(INGEST + ["run", "--once"], capture_output=True, text=True, timeout=60,
                       env=dict(env, INGEST_DATABASE_URL=f"postgresql://u:hunter2@127.0.0.1:{_closed_port()}/d"))
    assert p.returncode == 3, p.stderr[-3000:]
    (method, path, body) = receiver.wait_for(3)[2]
    assert path == f"/ping/{SECRET}/fail" and body.startswith("FAIL: database unreachable (postgresql://u:***@")
    assert "hunter2" not in body and SECRET not in p.stdout + p.stderr


@pytest.mark.e2e
def test_metrics_scraped_while_ingest_run_collects(db, migrated_url, sim, receiver, tmp_path):
    port = _closed_port()
    env = _env(migrated_url, sim, tmp_path, receiver.url)
    log_path = tmp_path / "run.out"
    with open(log_path, "wb") as out:
        # the jobs whose numbers are asserted (a smaller load on a shared machine)
        proc = subprocess.Popen(INGEST + ["run", "--lease-seconds", str(LEASE), "--lookback-minutes", "5",
                                          "--jobs", "instruments,perpetuals,futures,chain,index",
                                          "--metrics-port", str(port), "--metrics-addr", "127.0.0.1"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 150
        got: dict = {}

        def moved(got):
            try:
                return (value(got, "ingest_rows_stored_total", dataset="perpetuals") > 0
                        and value(got, "ingest_rows_stored_total", dataset="chain") > 0
                        and value(got, "ingest_job_runs_total", job_name="index", outcome="ok") >= 1
                        and value(got, "ingest_deribit_requests_total") > 0
                        and value(got, "ingest_dataset_lag_seconds", dataset="perpetuals",
                                  group="BTC-PERPETUAL") < 180)
            except KeyError:
                return False

        while not moved(got):
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(1)
            try:
                got = scrape(port)
            except requests.ConnectionError:
                got = {}
        assert value(got, "ingest_leader") == 1
        assert value(got, "ingest_job_runs_total", job_name="chain", outcome="error") == 0
        assert value(got, "ingest_job_duration_seconds_count", job_name="perpetuals") >= 1
        assert value(got, "ingest_deribit_credits_used_total") == value(got, "ingest_deribit_requests_total") * 500
        assert value(got, "ingest_spool_files") == 0
        assert value(got, "ingest_dataset_lag_seconds", dataset="index", group="eth_usd/ticker") < 120
        assert value(got, "ingest_dataset_lag_seconds", dataset="chain", group="ETH options computed") < 120
        # the first judged minute (at :58) pings success
        (method, path, body), = receiver.wait_for(1, timeout=max(1.0, deadline - time.monotonic()))
        assert path == f"/ping/{SECRET}" and body.startswith("ok: "), body
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=90)
    assert rc == 0, log_path.read_text()[-3000:]
    with pytest.raises(requests.ConnectionError):  # the endpoint ends with the process
        scrape(port)
    assert SECRET not in log_path.read_text()

