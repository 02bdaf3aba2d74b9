"""`ingest status`: freshness per dataset and group, gaps, leader, jobs, storage; exit codes; no password."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ingest.live.status import collect, parse_duration
from ingest.live.status_cli import status


def _fresh(db, minutes_ago=0, gap=False):
    db.execute("""INSERT INTO instruments (instrument_name, kind, base_currency, settlement_period,
                  creation_timestamp, expiration_timestamp)
                  VALUES ('BTC-PERPETUAL', 'future', 'BTC', 'perpetual', now() - interval '1 year', NULL),
                         ('ETH-PERPETUAL', 'future', 'ETH', 'perpetual', now() - interval '1 year', NULL)""")
    for name in ("BTC-PERPETUAL", "ETH-PERPETUAL"):
        db.execute("""INSERT INTO perpetuals_ohlcv
                      SELECT date_trunc('minute', now()) - make_interval(mins => %s + g), %s, 1, 1, 1, 1, 0, 0
                      FROM generate_series(1, 30) g WHERE NOT (%s AND g = 10)""", (minutes_ago, name, gap))
    for cur, idx in (("BTC", "btc_usd"), ("ETH", "eth_usd")):
        db.execute("""INSERT INTO options_greeks (ts, instrument_name, source, mark_iv)
                      VALUES (date_trunc('minute', now()) - make_interval(mins => %s + 1), %s, 'computed', 50)""",
                   (minutes_ago, f"{cur}-28JUN30-1000-C"))
        db.execute("""INSERT INTO index_prices VALUES
                      (date_trunc('minute', now()) - make_interval(mins => %s + 1), %s, 1, 'ticker')""",
                   (minutes_ago, idx))
    for cur in ("BTC", "ETH"):  # the newer datasets: trades of the perpetual, DVOL, HV, settlements
        db.execute("""INSERT INTO trades (ts, trade_id, currency, kind, instrument_name, trade_seq, price, amount,
                      direction) VALUES (date_trunc('minute', now()) - make_interval(mins => %s + 1), %s, %s,
                      'perpetual', %s, 1, 1, 1, 'buy')""", (minutes_ago, f"{cur}-1", cur, f"{cur}-PERPETUAL"))
        db.execute("""INSERT INTO dvol VALUES (date_trunc('minute', now()) - make_interval(mins => %s + 1), %s,
                      50, 50, 50, 50)""", (minutes_ago, cur))
        db.execute("""INSERT INTO historical_volatility VALUES (date_trunc('hour', now()), %s, 40)""", (cur,))
        db.execute("""INSERT INTO settlements (ts, currency, type, instrument_name)
                      VALUES (date_trunc('hour', now()), %s, 'delivery', %s)""", (cur, f"{cur}-1JAN30"))
    db.execute("""INSERT INTO leader_lease
                  VALUES ('ingest-run', 'host:1:abc', now(), now(), now() + interval '30 s')""")
    db.execute("""INSERT INTO job_heartbeats (job_name, holder, last_started, last_finished, last_outcome,
                  last_rows, last_requests, last_duration_ms)
                  VALUES ('candles', 'host:1:abc', now(), now(), 'ok', 2, 2, 50)""")


def test_parse_duration():
    assert parse_duration("5m") == 300 and parse_duration("90s") == 90 and parse_duration("2h") == 7200
    assert parse_duration("45") == 45


def test_fresh_database_exits_0_and_shows_everything(db, migrated_url, monkeypatch):
    _fresh(db, gap=True)
    # a password in the DSN never appears (the embedded server accepts any password)
    url = migrated_url.replace("postgres@", "postgres:s3cretpw@")
    monkeypatch.setenv("INGEST_DATABASE_URL", url)
    result = CliRunner().invoke(status, [])
    assert result.exit_code == 0, result.output
    for text in ("BTC-PERPETUAL", "btc_usd/ticker", "host:1:abc", "candles", "perpetuals_ohlcv", "OK",
                 "2 gaps"):
        assert text in result.output, text
    assert "s3cretpw" not in result.output and "***" in result.output
    result = CliRunner().invoke(status, ["--json"])
    report = json.loads(result.output)
    assert report["ok"] and report["leader"]["holder"] == "host:1:abc" and report["leader"]["valid"]
    assert report["gaps"]["total"] == 2 and report["gaps"]["missing_minutes"] == 2
    assert {j["job_name"] for j in report["jobs"]} == {"candles"}
    assert any(s["relation"] == "perpetuals_ohlcv" for s in report["storage"])
    assert "s3cretpw" not in result.output


def test_stale_data_exits_1(db, migrated_url, monkeypatch):
    _fresh(db, minutes_ago=20)
    monkeypatch.setenv("INGEST_DATABASE_URL", migrated_url)
    result = CliRunner().invoke(status, ["--max-lag", "5m"])
    assert result.exit_code == 1 and "STALE" in result.output
    assert CliRunner().invoke(status, ["--max-lag", "1h"]).exit_code == 0
    report = collect(migrated_url, max_lag_s=300)
    assert "perpetuals/BTC-PERPETUAL" in report["stale"]


def test_empty_database_is_stale_and_unreachable_exits_2(db, migrated_url, monkeypatch):
    monkeypatch.setenv("INGEST_DATABASE_URL", migrated_url)
    assert CliRunner().invoke(status, []).exit_code == 1
    stale = collect(migrated_url)["stale"]
    for group in ("perpetuals/BTC-PERPETUAL", "trades/BTC perpetual", "dvol/ETH", "historical_volatility/BTC",
                  "settlements/ETH"):
        assert f"{group} (no rows)" in stale, group
    monkeypatch.setenv("INGEST_DATABASE_URL", "postgresql://u:pw123@127.0.0.1:1/x")
    result = CliRunner().invoke(status, [])
    assert result.exit_code == 2 and "pw123" not in result.output


def test_the_spool_is_shown_in_text_and_json_also_when_the_database_is_away(db, migrated_url, monkeypatch,
                                                                            tmp_path):
    from datetime import datetime, timezone

    from ingest.live.spool import Spool
    from ingest.storage.tables import INDEX_PRICES
    from ingest.storage.validate import Validated

    spool = Spool(tmp_path / "spool")
    minute = datetime(2024, 6, 1, 0, 7, tzinfo=timezone.utc)
    for k in range(3):
        spool.put("index", INDEX_PRICES, Validated([(minute, "btc_usd", 1.0 + k, "ticker"),
                                                    (minute, "eth_usd", 2.0, "ticker")]),
                  int(minute.timestamp() * 1000) + k * 60_000)
    _fresh(db)
    monkeypatch.setenv("INGEST_DATABASE_URL", migrated_url)
    monkeypatch.setenv("INGEST_SPOOL_DIR", str(tmp_path / "spool"))
    result = CliRunner().invoke(status, [])
    assert result.exit_code == 0, result.output
    assert "3 files, 6 rows" in result.output and "oldest minute 2024-06-01T00:07:00Z" in result.output
    report = json.loads(CliRunner().invoke(status, ["--json"]).output)
    s = report["spool"]
    assert (s["files"], s["rows"], s["oldest_minute"], s["newest_minute"]) == \
        (3, 6, "2024-06-01T00:07:00Z", "2024-06-01T00:09:00Z")
    assert s["by_dataset"][0]["dataset"] == "index" and s["bytes"] > 0 and s["dropped"] is None
    # the database away: exit 2, and the spool (what the collector kept meanwhile) is still shown
    monkeypatch.setenv("INGEST_DATABASE_URL", "postgresql://u:pw123@127.0.0.1:1/x")
    result = CliRunner().invoke(status, ["--json"])
    assert result.exit_code == 2 and "pw123" not in result.output
    away = json.loads(result.output[result.output.index("{"):])
    assert away["spool"]["rows"] == 6 and away["ok"] is False
    result = CliRunner().invoke(status, [])
    assert result.exit_code == 2 and "3 files, 6 rows" in result.output
