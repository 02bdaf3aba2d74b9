"""Refreshing the analytics (revision 0015, ingest.storage.analytics): ranges, idempotence, what a refresh
never destroys, the TimescaleDB job, and who may read and run what (revisions 0009-0015)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql

from ingest.sim.market import Market
from ingest.storage import analytics

from .test_sql_roles import analyst, as_role, denied  # noqa: F401  (analyst: a fixture)
from .test_sql_vol_support import (
    ANALYTICS_TABLES,
    UTC,
    exchange,
    load_instruments,
    load_snapshot,
    ms,
    wipe_analytics,
)

H = datetime(2025, 6, 10, 12, tzinfo=UTC)
VIEWS = ("atm_vol_1m", "atm_vol_1h", "vol_skew_1h", "vol_surface_1h", "vol_constant_maturity_1h",
         "basis_constant_maturity_1h", "carry_1h", "carry_1d", "chain_snapshot_quality")
PROCEDURES = ("refresh_vol_expiry_1m", "refresh_vol_expiry_1h", "refresh_vol_surface_cm_1h", "refresh_basis_cm_1h",
              "refresh_analytics")
HELPERS = ("analytics_round(1.234, 2)", "analytics_iv_at_delta(0.25, 0.3, 50, 0.2, 52)",
           "analytics_total_variance_interp(0.1, 0.05, 0.5, 0.2, 0.6)")


@pytest.fixture(scope="module")
def market():
    return Market(seed=0)


@pytest.fixture
def chain(db, market):
    """BTC instruments and two snapshots of the 12:00 hour (12:05 and 12:40), not yet refreshed."""
    wipe_analytics(db)
    ex = exchange(market, 0.25)
    load_instruments(db, ex, ("BTC",), ms(H))
    snaps = [load_snapshot(db, ex, "BTC", ms(H) + m * 60_000) for m in (5, 40)]
    yield snaps
    wipe_analytics(db)


def contents(db) -> dict:
    return {t: sorted(map(tuple, db.execute(f"SELECT * FROM {t}")), key=repr) for t in ANALYTICS_TABLES}


def test_hour_slices_cut_a_range_at_whole_hours():
    t = datetime(2025, 6, 10, 12, 40, tzinfo=UTC)
    assert analytics.hour_slices(t, t + timedelta(minutes=10)) == [(t, t + timedelta(minutes=10))]
    assert analytics.hour_slices(t, t + timedelta(hours=2)) == [
        (t, H + timedelta(hours=1)), (H + timedelta(hours=1), H + timedelta(hours=2)),
        (H + timedelta(hours=2), t + timedelta(hours=2))]
    other_zone = timezone(timedelta(hours=5, minutes=30))  # an offset that is not whole hours
    s = t.astimezone(other_zone)
    assert analytics.hour_slices(s, s + timedelta(minutes=30))[0] == (s, H + timedelta(hours=1))
    with pytest.raises(ValueError, match="empty range"):
        analytics.hour_slices(t, t)
    with pytest.raises(ValueError, match="timezone-aware"):
        analytics.hour_slices(t.replace(tzinfo=None), t.replace(tzinfo=None) + timedelta(hours=1))


def test_refresh_rejects_an_empty_range(db):
    for procedure in PROCEDURES:
        with pytest.raises(psycopg.errors.RaiseException, match="empty or invalid range"):
            db.execute(f"CALL {procedure}(%s, %s)", (H, H))


def test_an_hour_is_recomputed_from_all_its_snapshots(db, chain):
    analytics.refresh(db, H, H + timedelta(minutes=10))  # only the 12:05 snapshot
    assert db.execute("SELECT DISTINCT ts FROM vol_expiry_1m").fetchall() == [(H + timedelta(minutes=5),)]
    assert db.execute("SELECT DISTINCT snapshot_ts, snapshots FROM vol_expiry_1h").fetchall() == [
        (H + timedelta(minutes=5), 1)]
    analytics.refresh(db, H + timedelta(minutes=35), H + timedelta(minutes=45))  # 12:40, same hour
    assert db.execute("SELECT DISTINCT snapshot_ts, snapshots FROM vol_expiry_1h").fetchall() == [
        (H + timedelta(minutes=40), 2)]
    assert db.execute("SELECT count(DISTINCT ts) FROM vol_expiry_1m").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM vol_surface_cm_1h WHERE ts = %s", (H,)).fetchone()[0] == 1


def test_refresh_is_idempotent_and_keeps_rows_whose_raw_snapshots_are_gone(db, chain):
    analytics.refresh(db, H, H + timedelta(hours=1))
    first = contents(db)
    assert all(first[t] for t in ("vol_expiry_1m", "vol_expiry_1h", "vol_surface_cm_1h"))
    analytics.refresh(db, H, H + timedelta(hours=1))
    analytics.refresh(db, H + timedelta(minutes=30), H + timedelta(minutes=50))
    db.execute("CALL refresh_analytics(%s, %s)", (H - timedelta(days=1), H + timedelta(hours=2)))
    assert contents(db) == first
    # options_greeks keeps 30 days (its retention drops whole chunks): the stored analytics stay
    db.execute("DELETE FROM options_greeks")
    analytics.refresh(db, H, H + timedelta(hours=1))
    assert contents(db) == first
    skew = db.execute("SELECT count(iv_call_25d) FROM vol_expiry_1h").fetchone()[0]
    assert skew > 0


def test_the_job_refreshes_the_last_hours(db, market):
    """On the embedded server the job is registered but never fires: CALL run_job runs it."""
    wipe_analytics(db)
    now_ms = ms(datetime.now(UTC)) // 60_000 * 60_000
    ex = exchange(market, 0.25)
    load_instruments(db, ex, ("BTC",), now_ms)
    snap = load_snapshot(db, ex, "BTC", now_ms)
    (job_id, interval, config), = db.execute(
        "SELECT job_id, schedule_interval, config FROM timescaledb_information.jobs "
        "WHERE proc_name = 'analytics_refresh_job'").fetchall()
    assert interval == timedelta(minutes=5) and config == {"lookback": "3 hours"}
    db.execute("CALL run_job(%s)", (job_id,))
    assert db.execute("SELECT DISTINCT ts FROM vol_expiry_1m").fetchall() == [(snap.ts,)]
    assert db.execute("SELECT DISTINCT ts FROM vol_expiry_1h").fetchall() == [(snap.ts.replace(minute=0),)]
    assert db.execute("SELECT count(*) FROM vol_surface_cm_1h").fetchone()[0] == 1
    wipe_analytics(db)


def test_two_refreshes_take_turns(db):
    """refresh_analytics locks vol_expiry_1m against another refresh (not against readers)."""
    with db.transaction():
        db.execute("CALL refresh_analytics(%s, %s)", (H, H + timedelta(hours=1)))
        # (no pid filter: the embedded server reports none; nothing else runs while a test does)
        mode = db.execute("SELECT mode FROM pg_locks WHERE relation = 'vol_expiry_1m'::regclass "
                          "AND granted").fetchall()
    assert ("ShareRowExclusiveLock",) in mode  # conflicts with itself, not with ACCESS SHARE (readers)


def test_analyst_reads_every_analytics_object_and_changes_nothing(analyst, db, chain):  # noqa: F811
    analytics.refresh(db, H, H + timedelta(hours=1))
    before = contents(db)
    with analyst.statements() as s:
        for name in VIEWS + ANALYTICS_TABLES:
            s.rows(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(name)))
        assert s.rows("SELECT count(*) FROM vol_skew_1h")[0][0] > 0
        for helper in HELPERS:
            s.rows(f"SELECT {helper}")
        for table in ANALYTICS_TABLES:
            t = sql.Identifier(table)
            assert s.denied(sql.SQL("INSERT INTO {} (ts) VALUES (now())").format(t)), table
            assert s.denied(sql.SQL("UPDATE {} SET currency = 'X'").format(t)), table
            assert s.denied(sql.SQL("DELETE FROM {}").format(t)), table
            assert s.denied(sql.SQL("TRUNCATE {}").format(t)), table
        for procedure in PROCEDURES:
            assert s.denied(f"CALL {procedure}(%s, %s)", (H, H + timedelta(hours=1))), procedure
        job_id = s.rows("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'analytics_refresh_job'")
        assert s.denied("CALL run_job(%s)", (job_id[0][0],))
        assert s.denied("CALL analytics_refresh_job(1, '{}')")
    assert contents(db) == before


def test_the_writer_refreshes_but_runs_no_job(db, chain):
    with as_role(db, "ingest_writer"):
        db.execute("CALL refresh_analytics(%s, %s)", (H, H + timedelta(hours=1)))
        assert db.execute("SELECT count(*) FROM vol_expiry_1m").fetchone()[0] > 0
        assert denied(db, "CALL analytics_refresh_job(1, '{}')")
        for helper in HELPERS:
            db.execute(f"SELECT {helper}")
    assert db.execute("SELECT count(*) FROM vol_expiry_1m").fetchone()[0] == 0  # rolled back
