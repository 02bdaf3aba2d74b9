"""The live jobs one by one, in-process, against a wall-clock simulator over HTTP and the test database:
candles + catch-up after downtime, gap repair, the chain's computed greeks against the exchange's,
the index, funding and instruments, and API faults never making a wrong row."""

from __future__ import annotations

import pytest

from ingest.config import Settings
from ingest.datasets import greeks
from ingest.live.context import Context, LiveConfig
from ingest.live.jobs import run_job


@pytest.fixture(scope="module")
def sim():
    from ingest.sim.server import SimServer

    with SimServer(seed=7, now="wall", rate_limit=True, port=0) as s:
        yield s


@pytest.fixture
def ctx(db, migrated_url, sim):
    settings = Settings(database_url=migrated_url, api_url=sim.api_url, history_url=sim.history_url)
    c = Context(settings, LiveConfig(lease_seconds=10, initial_lookback_min=15, sweep_minutes=60))
    yield c
    c.close()


def _run(ctx, name):
    r = run_job(ctx, name, require_leader=False)
    assert r is not None and r.outcome_override == "ok", name
    return r


def _minutes(db, table, name):
    return [t for (t,) in db.execute(f"SELECT ts FROM {table} WHERE instrument_name = %s ORDER BY ts", (name,))]


def test_candles_catch_up_and_gap_repair(ctx, db):
    _run(ctx, "instruments")
    _run(ctx, "perpetuals")
    _run(ctx, "futures")
    limit = db.execute("SELECT date_trunc('minute', now()) - INTERVAL '2 minutes'").fetchone()[0]
    futures = [n for (n,) in db.execute("SELECT instrument_name FROM instruments WHERE kind = 'future' "
                                        "AND (expiration_timestamp IS NULL OR expiration_timestamp > now())")]
    assert "BTC-PERPETUAL" in futures and len(futures) >= 4
    for name in futures:
        table = "perpetuals_ohlcv" if name.endswith("PERPETUAL") else "futures_ohlcv"
        ts = _minutes(db, table, name)
        assert len(ts) >= 15 and ts[-1] >= limit
        assert all((b - a).total_seconds() == 60 for a, b in zip(ts, ts[1:], strict=False))
    # downtime: the last 8 minutes are missing -> the next run fills them by itself
    before = _minutes(db, "perpetuals_ohlcv", "BTC-PERPETUAL")
    db.execute("DELETE FROM perpetuals_ohlcv WHERE ts > now() - INTERVAL '9 minutes'")
    r = _run(ctx, "perpetuals")
    assert "catchup_minutes" in r.detail
    after = _minutes(db, "perpetuals_ohlcv", "BTC-PERPETUAL")
    assert after[: len(before)] == before and after[-1] >= before[-1]
    # a hole in the middle -> gap repair
    db.execute("DELETE FROM perpetuals_ohlcv WHERE instrument_name = 'ETH-PERPETUAL' "
               "AND ts BETWEEN now() - INTERVAL '12 minutes' AND now() - INTERVAL '10 minutes'")
    n = len(_minutes(db, "perpetuals_ohlcv", "ETH-PERPETUAL"))
    _run(ctx, "gap_repair")
    assert len(_minutes(db, "perpetuals_ohlcv", "ETH-PERPETUAL")) > n
    assert db.execute("SELECT count(*) FROM ohlcv_gaps WHERE gap_start > now() - interval '1 hour'"
                      ).fetchone()[0] == 0


def test_chain_computed_greeks_match_exchange_within_tolerance(ctx, db):
    _run(ctx, "instruments")
    _run(ctx, "chain")
    n = db.execute("SELECT count(*), count(DISTINCT ts) FROM options_greeks WHERE source = 'computed'").fetchone()
    active = db.execute("SELECT count(*) FROM instruments WHERE kind = 'option' AND expiration_timestamp > now()"
                        ).fetchone()[0]
    assert n[0] == active and n[1] in (1, 2)
    # exchange greeks for a slice; compare with a chain computed from the same ticker's mark IV and
    # underlying (the chain and the ticker are seconds apart, the inputs move in between)
    ctx.config.sweep_minutes = 20
    _run(ctx, "tickers")
    rows = db.execute("""
        SELECT e.instrument_name, e.ts, i.strike, i.option_type, i.expiration_timestamp, e.mark_iv,
               e.underlying_price, e.delta, e.gamma, e.vega, e.theta, e.rho
        FROM options_greeks e JOIN instruments i USING (instrument_name)
        WHERE e.source = 'exchange'""").fetchall()
    assert len(rows) >= 10
    for name, ts, strike, otype, expiry, iv, under, *exch in rows:
        # the ticker's time is inside ts's minute: use its middle (theta/gamma of short-dated options
        # move within a minute: the tolerance covers it)
        now_ms = int(ts.timestamp() * 1000) + 30_000
        g = greeks.from_mark_iv(float(iv), float(under), float(strike), int(expiry.timestamp() * 1000), now_ms,
                                otype == "call")
        for k, e in zip(("delta", "gamma", "vega", "theta", "rho"), exch, strict=False):
            c = getattr(g, k)
            tol = {"abs": 2e-3, "rel": 2e-2}  # 30 s of time decay on a daily option, rounding
            assert greeks.within_tolerance(c, float(e), tol), (name, k, c, e)


def test_index_funding_instruments(ctx, db):
    _run(ctx, "index")
    _run(ctx, "funding")
    _run(ctx, "instruments")
    idx = dict(db.execute("SELECT index_name, count(*) FROM index_prices WHERE source = 'ticker' GROUP BY 1"))
    assert idx == {"btc_usd": 1, "eth_usd": 1}
    assert db.execute("SELECT count(*) FROM index_prices WHERE source = 'funding'").fetchone()[0] >= 20
    f = dict(db.execute("SELECT instrument_name, count(*) FROM funding_rates GROUP BY 1"))
    assert f.get("BTC-PERPETUAL", 0) >= 10 and f.get("ETH-PERPETUAL", 0) >= 10
    assert db.execute("SELECT count(*) FROM instruments WHERE kind = 'option'").fetchone()[0] > 100
    beats = dict(db.execute("SELECT job_name, last_outcome FROM job_heartbeats"))
    assert beats == {"index": "ok", "funding": "ok", "instruments": "ok"}


def test_api_faults_never_make_a_wrong_row(ctx, db, sim):
    _run(ctx, "instruments")
    sim.set_faults("nan:0.3,malformed:0.2,500:0.2,11094:0.1")
    try:
        for _ in range(2):
            r = run_job(ctx, "chain", require_leader=False)
            assert r is not None
            run_job(ctx, "index", require_leader=False)
    finally:
        sim.set_faults(None)
    bad = db.execute("""SELECT count(*) FROM options_greeks WHERE mark_iv = 'NaN' OR delta = 'NaN'
                        OR underlying_price = 'NaN' OR mark_price = 'NaN'""").fetchone()[0]
    assert bad == 0
    assert db.execute("SELECT count(*) FROM index_prices WHERE price = 'NaN' OR price <= 0").fetchone()[0] == 0


def test_a_database_error_on_one_instrument_never_stops_the_others(ctx, db):
    """The database refuses BTC-PERPETUAL's rows (as it refused an oversized value validation let
    through): the run is 'partial' and says why, every other perpetual and future advances."""
    _run(ctx, "instruments")
    db.execute("""CREATE FUNCTION test_refuse_btc() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN
                      IF NEW.instrument_name = 'BTC-PERPETUAL' THEN
                          RAISE EXCEPTION 'numeric field overflow' USING ERRCODE = 'numeric_value_out_of_range';
                      END IF;
                      RETURN NEW;
                  END $$""")
    db.execute("CREATE TRIGGER test_refuse_btc BEFORE INSERT ON perpetuals_ohlcv "
               "FOR EACH ROW EXECUTE FUNCTION test_refuse_btc()")
    try:
        r = run_job(ctx, "perpetuals", require_leader=False)
        _run(ctx, "futures")
    finally:
        db.execute("DROP TRIGGER test_refuse_btc ON perpetuals_ohlcv")
        db.execute("DROP FUNCTION test_refuse_btc()")
    assert r.outcome_override == "partial"
    assert len(r.failures) == 1 and r.failures[0].startswith("BTC-PERPETUAL: database error: NumericValueOutOfRange")
    limit = db.execute("SELECT date_trunc('minute', now()) - INTERVAL '2 minutes'").fetchone()[0]
    last = dict(db.execute("""SELECT instrument_name, max(ts) FROM (
                                  SELECT instrument_name, ts FROM perpetuals_ohlcv UNION ALL
                                  SELECT instrument_name, ts FROM futures_ohlcv) c GROUP BY 1"""))
    active = [n for (n,) in db.execute("SELECT instrument_name FROM instruments WHERE kind = 'future' "
                                       "AND (expiration_timestamp IS NULL OR expiration_timestamp > now())")]
    assert len(active) >= 4 and "BTC-PERPETUAL" not in last
    for name in active:
        if name != "BTC-PERPETUAL":
            assert last[name] >= limit, name
    outcome, error = db.execute("SELECT last_outcome, last_error FROM job_heartbeats WHERE job_name = 'perpetuals'"
                                ).fetchone()
    assert outcome == "partial" and "BTC-PERPETUAL" in error and "NumericValueOutOfRange" in error
    # the database accepts the instrument again: the next run catches it up
    _run(ctx, "perpetuals")
    assert db.execute("SELECT max(ts) FROM perpetuals_ohlcv WHERE instrument_name = 'BTC-PERPETUAL'"
                      ).fetchone()[0] >= limit


def test_a_run_that_quarantines_its_whole_input_is_an_error(ctx, db, sim):
    """Every answer broken (numbers as strings) three times over: nothing stored, all quarantined, and
    the outcome says so instead of 'ok'."""
    _run(ctx, "instruments")
    sim.set_faults("badtypes:1")
    try:
        chain = run_job(ctx, "chain", require_leader=False)
        index = run_job(ctx, "index", require_leader=False)
    finally:
        sim.set_faults(None)
    for r in (chain, index):
        assert r.outcome_override == "error" and r.stored == 0 and r.quarantined > 0
        assert r.error.startswith(f"stored nothing: all {r.quarantined} input rows quarantined")
    beats = dict(db.execute("SELECT job_name, last_outcome || ': ' || last_error FROM job_heartbeats"))
    assert beats["chain"].startswith("error: stored nothing: all")
    assert db.execute("SELECT count(*) FROM options_greeks").fetchone()[0] == 0


def test_a_broken_answer_is_asked_again_before_anything_is_quarantined(ctx, db, sim):
    """NaN in one answer in two: the index (forward-only: no second chance later) asks again within the
    minute, so a NaN answer is quarantined only when three come in a row."""
    before = sim.stats()["by_method_outcome"].get("get_index_price", {}).get("fault_nan", 0)
    sim.set_faults("nan:0.5,seed:3")
    try:
        for _ in range(6):
            run_job(ctx, "index", require_leader=False)
    finally:
        sim.set_faults(None)
    nan_answers = sim.stats()["by_method_outcome"]["get_index_price"].get("fault_nan", 0) - before
    quarantined = db.execute("SELECT count(*) FROM quarantine WHERE dataset = 'index'").fetchone()[0]
    assert nan_answers >= 4 and quarantined < nan_answers / 3, (nan_answers, quarantined)
    assert db.execute("SELECT count(*) FROM index_prices WHERE price = 'NaN'").fetchone()[0] == 0


def test_forward_only_rows_go_to_the_spool_when_the_database_does_not_answer(migrated_url, db, sim, tmp_path):
    """The chain, the sweep and the index with the database away: 'partial', rows spooled (none lost);
    with the database back, the flush stores exactly those rows."""
    from ingest.live.jobs import flush_spool

    settings = Settings(database_url="postgresql://u:secretpw@127.0.0.1:1/x", api_url=sim.api_url,
                        history_url=sim.history_url, spool_dir=tmp_path / "spool")
    away = Context(settings, LiveConfig(lease_seconds=10, sweep_minutes=60, db_timeout=2))
    try:
        away.state["options"] = [n for (n,) in db.execute(
            "SELECT instrument_name FROM instruments WHERE kind = 'option'")] or None
        spooled = {}
        for job in ("index", "chain", "tickers"):
            if job == "tickers" and not away.state.get("options"):
                continue
            r = run_job(away, job, require_leader=False)
            assert r.outcome_override == "partial" and r.lost == 0 and r.spooled > 0, (job, r.error)
            assert r.error.startswith("database unreachable:") and "secretpw" not in r.error
            spooled[job] = r.spooled
    finally:
        away.close()
    files = away.spool.files()
    assert sum(f.rows for f in files) == sum(spooled.values())
    back = Context(Settings(database_url=migrated_url, api_url=sim.api_url, history_url=sim.history_url,
                            spool_dir=tmp_path / "spool"), LiveConfig(lease_seconds=10))
    try:
        res = flush_spool(back)
    finally:
        back.close()
    assert res.files == len(files) and res.left == 0 and back.spool.files() == []
    assert db.execute("SELECT count(*) FROM index_prices WHERE source = 'ticker'").fetchone()[0] == spooled["index"]
    assert db.execute("SELECT count(*) FROM options_greeks WHERE source = 'computed'"
                      ).fetchone()[0] == spooled["chain"]


def test_a_full_spool_loses_rows_loudly(sim, tmp_path):
    """The database away and the spool full: the run is an 'error' that says rows were lost, and the
    spool records what it refused (ingest status shows it)."""
    from ingest.live.spool import summary

    settings = Settings(database_url="postgresql://u@127.0.0.1:1/x", api_url=sim.api_url,
                        history_url=sim.history_url, spool_dir=tmp_path / "spool")
    away = Context(settings, LiveConfig(lease_seconds=10, db_timeout=2, spool_max_bytes=2000))
    try:
        first = run_job(away, "index", require_leader=False)  # a few hundred bytes: it fits
        chain = run_job(away, "chain", require_leader=False)  # ~20 kB: it does not
    finally:
        away.close()
    assert first.outcome_override == "partial" and first.spooled == 2
    assert chain.outcome_override == "error" and chain.lost > 500 and chain.spooled == 0
    assert chain.error.startswith(f"{chain.lost} rows LOST")
    s = summary(tmp_path / "spool")
    assert s["files"] == 1 and s["dropped"]["rows"] == chain.lost
    assert s["dropped"]["by_dataset"] == {"chain": chain.lost}
