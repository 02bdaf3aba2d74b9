"""Historical volatility (forward-only) against the simulator: each run stores the hours not yet stored
(the repeated first point dropped), equal to the simulator's values; an outage shorter than the
exchange's 16 days loses nothing, a longer one is a gap `ingest status` reports; through a database
outage the answer goes to the spool."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from ingest.config import Settings
from ingest.datasets import historical_volatility as hv
from ingest.live.context import Context as LiveContext
from ingest.live.context import LiveConfig
from ingest.live.jobs import run_job
from ingest.live.status import collect
from ingest.sim.market import HV_POINTS
from ingest.sim.server import SimServer

HOUR = 3_600_000
FIXTURE = Path(__file__).parent / "fixtures" / "deribit-real" / "get_historical_volatility__ccxt-2022.json"


def test_the_repeated_first_point_of_a_real_answer_is_dropped_not_quarantined():
    real = json.loads(FIXTURE.read_text())["response"]["result"]
    assert real[0] == real[1]  # the capture's duplicate
    v = hv.validate("BTC", real)
    assert [(int(r[0].timestamp() * 1000), r[2]) for r in v.rows] == [tuple(real[0]), tuple(real[2])]
    assert v.rejected == []
    # the same hour with two different values: neither is trusted
    v = hv.validate("BTC", [[real[0][0], 60.0], [real[0][0], 61.0], real[2]])
    assert len(v.rows) == 1 and [r.reason for r in v.rejected] == ["one hour with two different values"]
    v = hv.validate("BTC", [[real[0][0] + 1, 60.0], [real[2][0], "NaN"]])
    assert v.rows == [] and v.rejected[0].reason == "timestamp not on the hour" and v.rejected[1].whole


@pytest.fixture(scope="module")
def wall_sim():
    with SimServer(seed=11, now="wall", rate_limit=True) as s:
        yield s


@pytest.fixture
def ctx(db, migrated_url, wall_sim, tmp_path):
    settings = Settings(database_url=migrated_url, api_url=wall_sim.api_url, history_url=wall_sim.history_url,
                        spool_dir=tmp_path / "spool")
    c = LiveContext(settings, LiveConfig(lease_seconds=10))
    yield c
    c.close()


def truth(sim, currency: str) -> dict[int, float]:
    return {t: v for t, v in sim.market.historical_volatility(currency, sim.now_ms())}


def stored(db, currency: str) -> dict[int, float]:
    return dict(db.execute("SELECT (extract(epoch FROM ts) * 1000)::bigint, volatility FROM historical_volatility "
                           "WHERE currency = %s", (currency,)).fetchall())


def test_each_run_stores_the_hours_not_yet_stored(ctx, db, wall_sim):
    r = run_job(ctx, "historical_volatility", require_leader=False)
    assert r.outcome_override == "ok", r.error
    for currency in ("BTC", "ETH"):
        got, want = stored(db, currency), truth(wall_sim, currency)
        common = got.keys() & want.keys()
        assert len(got) == HV_POINTS and len(common) >= HV_POINTS - 1  # an hour may have begun since
        assert all(got[t] == want[t] for t in common)
        assert sorted(got) == list(range(min(got), max(got) + 1, HOUR))  # hourly, no hole
    # nothing new: a run stores nothing and is 'ok'
    again = run_job(ctx, "historical_volatility", require_leader=False)
    assert again.outcome_override == "ok" and again.detail in ("new_points=0", "new_points=2")  # 2: an hour began
    # an outage shorter than the exchange's 16 days: the missing hours come back, the others untouched
    db.execute("UPDATE historical_volatility SET volatility = -1 "
               "WHERE ts = (SELECT min(ts) FROM historical_volatility)")
    db.execute("DELETE FROM historical_volatility WHERE ts > now() - INTERVAL '3 days'")
    db.execute("DELETE FROM historical_volatility "
               "WHERE ts BETWEEN now() - INTERVAL '10 days' AND now() - INTERVAL '9 days'")
    r = run_job(ctx, "historical_volatility", require_leader=False)
    assert r.outcome_override == "ok" and r.rows >= 2 * (72 + 24)
    for currency in ("BTC", "ETH"):
        got = stored(db, currency)
        assert sorted(got) == list(range(min(got), max(got) + 1, HOUR))
    # a point once stored is never rewritten
    assert db.execute("SELECT count(*) FROM historical_volatility WHERE volatility = -1").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0  # the repeated point is no reject


def test_a_gap_older_than_the_exchange_keeps_is_reported_by_status(ctx, db, migrated_url):
    r = run_job(ctx, "historical_volatility", require_leader=False)
    assert r.outcome_override == "ok"
    assert not any(s.startswith("historical_volatility/") for s in collect(migrated_url)["stale"])
    # a point stored three weeks ago, then an outage longer than 16 days: hours that can never be fetched
    db.execute("""INSERT INTO historical_volatility
                  SELECT min(ts) - INTERVAL '5 days', currency, 50 FROM historical_volatility WHERE currency = 'BTC'
                  GROUP BY currency""")
    gaps = db.execute("SELECT currency, hours_missing FROM historical_volatility_gaps").fetchall()
    assert gaps == [("BTC", 5 * 24 - 1)]
    report = collect(migrated_url)
    stale = [s for s in report["stale"] if s.startswith("historical_volatility/")]
    assert len(stale) == 1 and stale[0].startswith("historical_volatility/BTC GAP after ")
    assert stale[0].endswith(f"{5 * 24 - 1} h never collected")
    row = next(d for d in report["datasets"] if d["dataset"] == "historical_volatility" and "GAP" in d["grp"])
    assert row["forward_only"] is True
    catalogue = {c["dataset"]: c for c in report["catalogue"]}
    assert catalogue["historical_volatility"]["forward_only"] and not catalogue["trades"]["forward_only"]


def test_through_a_database_outage_the_answer_goes_to_the_spool_then_into_the_table(ctx, db):
    real_connect = ctx.connect

    @contextmanager
    def unreachable(timeout=None):
        raise psycopg.OperationalError("connection refused")
        yield  # pragma: no cover

    ctx.connect = unreachable
    r = hv.live_job(ctx, ctx.client, 0)
    assert r.spooled == 2 * HV_POINTS and r.outcome == "partial" and r.lost == 0
    assert db.execute("SELECT count(*) FROM historical_volatility").fetchone()[0] == 0
    ctx.connect = real_connect
    res = ctx.spool.flush(real_connect)
    assert res.rows == 2 * HV_POINTS and not res.errors
    assert db.execute("SELECT count(DISTINCT currency), count(*) FROM historical_volatility").fetchone() == (
        2, 2 * HV_POINTS)


def load_hv_sample(db, market, now_ms: int) -> None:
    """What get_historical_volatility answers at now_ms (BTC and ETH) straight into the table."""
    from ingest.storage.load import copy_upsert

    for currency in ("BTC", "ETH"):
        points = market.historical_volatility(currency, now_ms)
        copy_upsert(db, hv.HISTORICAL_VOLATILITY, hv.validate(currency, [points[0], *points]).rows)
