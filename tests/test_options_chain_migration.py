"""Revision 0006 (options_greeks.iv_source) on a table that already holds compressed chunks: the column
is added and dropped without touching them, old rows read NULL, new rows and upserts into the compressed
chunk carry the source, and the CHECK refuses anything but 'exchange' / 'inverted'."""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg
import pytest

from ingest.datasets import chain as options_chain
from ingest.storage import schema

from .conftest import wipe

DAY1 = datetime(2024, 6, 1, tzinfo=timezone.utc)


def columns(conn) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'options_greeks'")}


def compressed_chunks(conn) -> int:
    return conn.execute("SELECT count(*) FROM timescaledb_information.chunks "
                        "WHERE hypertable_name = 'options_greeks' AND is_compressed").fetchone()[0]


def test_0006_on_compressed_chunks_up_and_down(migrated_url):
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        wipe(conn)
    # the job scheduler stays paused until the end (a server that runs jobs would apply the retention
    # policy to DAY1's old chunk meanwhile); upgrade to head resumes it
    schema.downgrade(migrated_url, "0005", resume_jobs=False)
    try:
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            assert "iv_source" not in columns(conn)
            conn.execute("INSERT INTO options_greeks (ts, instrument_name, source, delta, mark_iv) "
                         "VALUES (%s, 'BTC-28JUN24-70000-C', 'computed', 0.31245, 61.27)", (DAY1,))
            conn.execute("SELECT compress_chunk(c) FROM show_chunks('options_greeks') c")
            assert compressed_chunks(conn) == 1
        schema.upgrade(migrated_url, "0006", resume_jobs=False)
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            assert compressed_chunks(conn) == 1  # the column was added without decompressing
            assert conn.execute("SELECT mark_iv::float8, iv_source FROM options_greeks").fetchall() == [
                (61.27, None)]
            # the loader's upsert into the compressed chunk: the same key gets its source, a new key too
            row = (DAY1, "BTC-28JUN24-70000-C", "computed", 0.31245, None, None, None, None, 61.27, None, None,
                   0.0213, 67510.5, None, None, None, "exchange")
            new = (DAY1, "BTC-28JUN24-70000-P", "computed") + (None,) * 13 + (None,)
            assert options_chain.load(conn, options_chain.ChainRows(rows=[row, new])) == (2, 0)
            assert conn.execute("SELECT instrument_name, iv_source FROM options_greeks ORDER BY 1").fetchall() == [
                ("BTC-28JUN24-70000-C", "exchange"), ("BTC-28JUN24-70000-P", None)]
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute("UPDATE options_greeks SET iv_source = 'guessed'")
        schema.downgrade(migrated_url, "0005", resume_jobs=False)
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            assert "iv_source" not in columns(conn)
            assert conn.execute("SELECT count(*) FROM options_greeks").fetchone()[0] == 2
    finally:
        schema.upgrade(migrated_url, "head")
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            wipe(conn)
            assert "iv_source" in columns(conn)
