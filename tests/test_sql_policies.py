"""Storage policies: compression keeps every view's answer, upserts reach compressed chunks,
retention drops only what its setting says, and settings are checked and re-applied."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from click.testing import CliRunner

from ingest.storage.load import copy_upsert
from ingest.storage.policies import (
    PolicyError,
    analyze,
    apply_policies,
    apply_policies_command,
    refresh_aggregates,
)
from ingest.storage.tables import FUNDING_RATES, INDEX_PRICES, OPTIONS_GREEKS, PERPETUALS_OHLCV

from .test_sql_support import (
    add_instrument,
    compressed_chunks,
    day,
    job_id,
    load,
    minute_series,
    refresh_all,
    run_job,
)

HYPERTABLES = (
    "perpetuals_ohlcv",
    "futures_ohlcv",
    "options_ohlcv",
    "options_greeks",
    "funding_rates",
    "index_prices",
)
# every view, with the columns that do not depend on the storage or on the clock
VIEWS = {
    "perpetuals_ohlcv_1h": "*",
    "perpetuals_ohlcv_1d": "*",
    "futures_ohlcv_1h": "*",
    "futures_ohlcv_1d": "*",
    "options_ohlcv_1h": "*",
    "options_greeks_1h": "*",
    "futures_basis_1m": "*",
    "futures_basis_1h": "*",
    "futures_term_structure": "*",
    "funding_rates_daily": "*",
    "ohlcv_gaps": "*",
    "ohlcv_sanity_violations": "*",
    "data_freshness": "dataset, instrument_name, last_ts, expired",
    "options_chain_latest": "*",
    # chunks: compress_chunk_time_interval merges compressed chunks (perpetuals_ohlcv, futures_ohlcv)
    "storage_usage": "relation, kind, chunks > 0",
}


@pytest.fixture
def restore_settings(db):
    before = db.execute(
        "SELECT relation, compress_after, retain_for, refresh_start_offset FROM storage_settings"
    ).fetchall()
    yield
    for relation, compress, retain, start in before:
        db.execute(
            "UPDATE storage_settings SET compress_after = %s, retain_for = %s, refresh_start_offset = %s "
            "WHERE relation = %s",
            (compress, retain, start, relation),
        )
    apply_policies(db)


def everything(db):
    return {
        v: sorted(map(tuple, db.execute(f"SELECT {cols} FROM {v}")), key=repr) for v, cols in VIEWS.items()
    }


def greeks_row(ts: datetime, name: str) -> tuple:
    """An options_greeks row with a mark IV, a mark price and an underlying, the rest NULL."""
    return (ts, name, "exchange", Decimal("0.5"), None, None, None, None, Decimal(55), None, None,
            Decimal("0.05"), Decimal(50000), None, None, None, "exchange")


def load_a_bit_of_everything(db):
    start = day(2024, 2, 20)
    minutes = 10 * 1440  # more than one chunk of the 1- and 7-day tables
    add_instrument(
        db,
        "BTC-PERPETUAL",
        creation=day(2018, 8, 13),
        expiration=day(3000, 1, 1, 8),
        settlement_period="perpetual",
    )
    add_instrument(db, "BTC-29MAR24", creation=start, expiration=day(2024, 3, 29, 8))
    load(
        db,
        "perpetuals_ohlcv",
        minute_series("BTC-PERPETUAL", start, minutes, lambda i: 50000 + (i % 500), skip=range(9000, 9010)),
    )
    load(
        db,
        "futures_ohlcv",
        minute_series("BTC-29MAR24", start, minutes, lambda i: 50500 + (i % 700), fillers=range(100, 400)),
    )
    load(
        db,
        "options_ohlcv",
        minute_series(
            "BTC-29MAR24-50000-C", start, minutes, lambda i: 0.05, skip=[i for i in range(minutes) if i % 97]
        ),
    )
    copy_upsert(db, OPTIONS_GREEKS, [greeks_row(start + timedelta(minutes=i), "BTC-29MAR24-50000-C")
                                     for i in range(0, minutes, 30)])
    copy_upsert(
        db,
        FUNDING_RATES,
        [
            (
                start + timedelta(hours=h),
                "BTC-PERPETUAL",
                Decimal("0.000001") * (h % 5),
                Decimal("0.00001"),
                None,
                None,
            )
            for h in range(minutes // 60)
        ],
    )
    copy_upsert(
        db,
        INDEX_PRICES,
        [
            (start + timedelta(minutes=i), "btc_usd", Decimal(50000 + i), "ticker")
            for i in range(0, minutes, 5)
        ],
    )
    db.execute(
        "INSERT INTO futures_ohlcv VALUES (%s, 'BTC-29MAR24', 1, 0.5, 1, 1, 1, 1) "
        "ON CONFLICT (instrument_name, ts) DO UPDATE SET high = 0.5",
        (start + timedelta(minutes=5),),
    )
    refresh_all(db)
    refresh_aggregates(db, names=["options_ohlcv_1h", "options_greeks_1h"])


def test_compression_policy_compresses_old_chunks_and_views_answer_the_same(db):
    load_a_bit_of_everything(db)
    before = everything(db)
    for table in HYPERTABLES:
        run_job(db, table, "policy_compression")
        chunks = db.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_compressed) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = %s",
            (table,),
        ).fetchone()
        assert chunks[0] >= 1 and chunks[0] == chunks[1], table  # all of it is older than compress_after
    refresh_all(db)
    after = everything(db)
    for view in VIEWS:
        assert after[view] == before[view], view
    usage = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT relation, compressed_chunks, bytes_uncompressed, bytes_now FROM storage_usage"
        )
    }
    for table in HYPERTABLES:
        compressed, raw_bytes, now_bytes = usage[table]
        assert compressed >= 1 and raw_bytes > now_bytes, table


def test_recent_chunks_are_not_compressed(db):
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    load(
        db,
        "perpetuals_ohlcv",
        minute_series("BTC-PERPETUAL", now - timedelta(hours=5), 60, lambda i: 1.0 + i),
    )
    run_job(db, "perpetuals_ohlcv", "policy_compression")
    assert compressed_chunks(db, "perpetuals_ohlcv") == 0


def test_the_loader_upserts_into_a_compressed_chunk_without_duplicates(db):
    rows = minute_series("BTC-PERPETUAL", day(2024, 1, 10), 3000, lambda i: 42000 + i)
    load(db, "perpetuals_ohlcv", rows)
    run_job(db, "perpetuals_ohlcv", "policy_compression")
    assert compressed_chunks(db, "perpetuals_ohlcv") == 1
    assert copy_upsert(db, PERPETUALS_OHLCV, rows) == 0  # a re-run backfill changes nothing
    changed = [r[:5] + (r[5] + 1,) + r[6:] for r in rows[100:110]]
    changed = [r[:3] + (max(r[3], r[5]),) + r[4:] for r in changed]
    new = minute_series("BTC-PERPETUAL", day(2024, 1, 10) + timedelta(minutes=3000), 5, lambda i: 1.0)
    assert copy_upsert(db, PERPETUALS_OHLCV, changed + new) == 15
    assert db.execute("SELECT count(*), count(DISTINCT ts) FROM perpetuals_ohlcv").fetchone() == (3005, 3005)
    assert [
        r[0]
        for r in db.execute(
            "SELECT close FROM perpetuals_ohlcv WHERE ts >= %s ORDER BY ts LIMIT 2", (changed[0][0],)
        )
    ] == [changed[0][5], changed[1][5]]


def test_retention_drops_only_what_its_setting_says(db):
    """options_greeks keeps 30 days (its hourly aggregate keeps the rest); options_ohlcv, whose candles
    of expired options the trade tape builds, is kept forever (revision 0023), like the other tables."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    retain = dict(db.execute("SELECT relation, retain_for FROM storage_settings "
                             "WHERE relation IN ('options_greeks', 'options_ohlcv')").fetchall())
    assert retain == {"options_greeks": timedelta(days=30), "options_ohlcv": None}
    ages = (300, 45, 32, 29, 20, 1)
    for age in ages:
        at = now - timedelta(days=age)
        copy_upsert(db, OPTIONS_GREEKS, [greeks_row(at + timedelta(minutes=i), "BTC-1JAN30-1000-C") for i in range(3)])
        load(db, "options_ohlcv", minute_series("BTC-1JAN30-1000-C", at, 3, lambda i: 0.1))
        load(db, "perpetuals_ohlcv", minute_series("BTC-PERPETUAL", at, 3, lambda i: 9.0))
    refresh_aggregates(db)
    hours_before = db.execute("SELECT count(*) FROM options_greeks_1h").fetchone()[0]
    run_job(db, "options_greeks", "policy_retention")
    kept = {r[0] for r in db.execute("SELECT DISTINCT date_trunc('day', ts) FROM options_greeks")}
    # whole chunks go, and only chunks that end before now - retain_for: nothing younger than that
    # is lost, and nothing older than that by more than a chunk (1 day) stays
    assert {date_trunc_day(now - timedelta(days=a)) for a in (29, 20, 1)} <= kept
    assert not {date_trunc_day(now - timedelta(days=a)) for a in (300, 45, 32)} & kept
    # the hourly aggregate keeps the hours whose raw rows are gone, and no other table lost anything
    assert db.execute("SELECT count(*) FROM options_greeks_1h").fetchone()[0] == hours_before
    for table in ("options_ohlcv", "perpetuals_ohlcv"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 3 * len(ages)
        with pytest.raises(AssertionError):
            job_id(db, table, "policy_retention")  # kept forever: no job


def date_trunc_day(ts):
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def test_a_retention_shorter_than_a_refresh_window_is_refused(db, restore_settings):
    jobs = db.execute("SELECT count(*) FROM timescaledb_information.jobs WHERE job_id >= 1000").fetchone()[0]
    db.execute("UPDATE storage_settings SET retain_for = '2 days' WHERE relation = 'options_greeks'")
    with pytest.raises(PolicyError, match="options_greeks_1h"):  # it refreshes 3 days back
        apply_policies(db)
    db.execute("UPDATE storage_settings SET retain_for = '30 days' WHERE relation = 'options_greeks'")
    db.execute("UPDATE storage_settings SET retain_for = '365 days' WHERE relation = 'perpetuals_ohlcv'")
    with pytest.raises(PolicyError, match="all history"):
        apply_policies(db)
    # nothing changed
    cfg = db.execute(
        "SELECT config FROM timescaledb_information.jobs WHERE hypertable_name = 'options_greeks' "
        "AND proc_name = 'policy_retention'"
    ).fetchone()[0]
    assert cfg["drop_after"] == "30 days"
    assert (
        db.execute("SELECT count(*) FROM timescaledb_information.jobs WHERE job_id >= 1000").fetchone()[0]
        == jobs
    )


def test_changed_settings_are_re_applied_idempotently(db, restore_settings):
    def jobs():
        return sorted(
            (
                r[0],
                r[1],
                str(r[2].get("drop_after") or r[2].get("compress_after") or r[2].get("start_offset")),
            )
            for r in db.execute(
                # coalesce: a job of no hypertable (analytics_refresh_job, revision 0015) sorts too
                "SELECT coalesce(hypertable_name, ''), proc_name, config FROM timescaledb_information.jobs "
                "WHERE job_id >= 1000"
            )
        )

    first = jobs()
    assert apply_policies(db) and jobs() == first
    db.execute(
        "UPDATE storage_settings SET retain_for = '180 days', compress_after = '3 days' "
        "WHERE relation = 'options_greeks'"
    )
    db.execute("UPDATE storage_settings SET compress_after = NULL WHERE relation = 'index_prices'")
    applied = apply_policies(db)
    assert ("options_greeks", "retention", "drop_after 180 days") in applied
    assert ("index_prices", "compression", "removed") in applied
    cfg = {
        (r[0], r[1]): r[2]
        for r in db.execute(
            "SELECT hypertable_name, proc_name, config FROM timescaledb_information.jobs WHERE job_id >= 1000"
        )
    }
    assert cfg[("options_greeks", "policy_retention")]["drop_after"] == "180 days"
    assert cfg[("options_greeks", "policy_compression")]["compress_after"] == "3 days"
    assert ("index_prices", "policy_compression") not in cfg
    assert len(jobs()) == len(first) - 1


def test_apply_policies_command_prints_what_it_applied_and_no_password(migrated_url, monkeypatch):
    url = migrated_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@")
    monkeypatch.setenv("INGEST_DATABASE_URL", url)
    monkeypatch.delenv("INGEST_WRITER_PASSWORD", raising=False)
    monkeypatch.delenv("INGEST_ANALYST_PASSWORD", raising=False)
    result = CliRunner().invoke(apply_policies_command, [])
    assert result.exit_code == 0, result.output
    assert "options_greeks" in result.output and "drop_after 30 days" in result.output
    assert "s3cret-pw" not in result.output and "***" in result.output
    help_text = CliRunner().invoke(apply_policies_command, ["--help"]).output
    assert "Example" in help_text and "storage_settings" in help_text


def test_analyze_gives_hypertables_and_aggregate_materializations_statistics(db):
    """The embedded server has no autovacuum: a loader calls analyze() after a backfill."""
    load(db, "perpetuals_ohlcv", minute_series("BTC-PERPETUAL", datetime(2024, 1, 1, tzinfo=timezone.utc),
                                               180, lambda i: 40000.0 + i))
    refresh_aggregates(db, None, None, names=["perpetuals_ohlcv_1h"])
    mat = db.execute(
        "SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) "
        "FROM timescaledb_information.continuous_aggregates WHERE view_name = 'perpetuals_ohlcv_1h'"
    ).fetchone()[0]

    def analyzed(rel):
        # a chunk of the hypertable has statistics once analyzed
        return db.execute(
            "SELECT count(*) FROM pg_stats s JOIN show_chunks(%s::regclass) c "
            "ON format('%%I.%%I', s.schemaname, s.tablename)::regclass = c",
            (rel,),
        ).fetchone()[0] > 0

    assert not analyzed("perpetuals_ohlcv") and not analyzed(mat)
    names = ["perpetuals_ohlcv", "perpetuals_ohlcv_1h"]
    assert analyze(db, names) == names
    assert analyzed("perpetuals_ohlcv") and analyzed(mat)
    assert "futures_ohlcv_1h" in analyze(db)


def test_compression_rolls_up_futures_chunks_into_fewer_compressed_ones(db):
    """compress_chunk_time_interval (84 days): three 7-day chunks of old futures candles become one
    compressed chunk, with every row still there."""
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    rows = minute_series("BTC-29MAR24", start, 21 * 1440, lambda i: 40000.0 + (i % 97) / 2)
    load(db, "futures_ohlcv", rows)
    raw_chunks = db.execute("SELECT count(*) FROM show_chunks('futures_ohlcv')").fetchone()[0]
    assert raw_chunks >= 3
    run_job(db, "futures_ohlcv", "policy_compression")
    assert db.execute("SELECT count(*) FROM show_chunks('futures_ohlcv')").fetchone()[0] < raw_chunks
    assert compressed_chunks(db, "futures_ohlcv") == db.execute(
        "SELECT count(*) FROM show_chunks('futures_ohlcv')").fetchone()[0]
    assert db.execute("SELECT count(*), sum(close) FROM futures_ohlcv").fetchone() == (
        len(rows), sum(Decimal(str(r[5])) for r in rows))
