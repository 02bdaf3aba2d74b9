"""The live collector's spool (ingest/live/spool.py): durable files, exact round trip, a bound with a
record of what it refused, loading oldest first without overwriting, idempotent re-loads (kill -9
between a commit and the delete), corrupt files set aside, rows the database refuses quarantined, one
flusher per directory; and kill -9 of a real `ingest run --once` in the middle of a flush."""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from ingest.live import spool as spool_mod
from ingest.live.spool import Spool, summary
from ingest.storage.tables import INDEX_PRICES, OPTIONS_GREEKS
from ingest.storage.validate import Rejected, Validated

INGEST = [str(Path(sys.executable).with_name("ingest"))]
T0 = datetime(2024, 6, 1, tzinfo=timezone.utc)


def greek_row(minute: int, i: int, *, source: str = "computed", delta: float = 0.5):
    values = {"ts": T0 + timedelta(minutes=minute), "instrument_name": f"BTC-28JUN30-{1000 + i}-C",
              "source": source, "delta": delta, "gamma": 1.23456e-05, "vega": 12.5, "theta": -3.25, "rho": 0.1,
              "mark_iv": 51.17, "mark_price": 0.0123, "underlying_price": 67510.5, "open_interest": 512.3}
    return tuple(values.get(c) for c in OPTIONS_GREEKS.column_names)


def index_row(minute: int, price: float = 67489.17):
    return (T0 + timedelta(minutes=minute), "btc_usd", price, "ticker")


def minute_ms(minute: int) -> int:
    return int((T0 + timedelta(minutes=minute)).timestamp() * 1000)


def _connect(url):
    from contextlib import contextmanager

    @contextmanager
    def connect():
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn
    return connect


def test_round_trip_is_exact_and_names_tell_rows(tmp_path):
    spool = Spool(tmp_path)
    rows = [greek_row(0, i, delta=0.1 + i / 3) for i in range(5)]
    rej = [Rejected("options_greeks", "BTC-X", "mark_iv is not a finite number", {"mark_iv": "NaN"})]
    path = spool.put("chain", OPTIONS_GREEKS, Validated(rows, rej), minute_ms(0))
    assert path.exists() and not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())
    spec, v, spooled_at = spool_mod.decode(path.read_bytes())
    assert spec is OPTIONS_GREEKS and v.rows == rows  # floats, datetimes and NULLs exactly as written
    assert [(r.dataset, r.instrument_name, r.reason, r.payload) for r in v.rejected] == \
        [("options_greeks", "BTC-X", "mark_iv is not a finite number", {"mark_iv": "NaN"})]
    assert abs((datetime.now(timezone.utc) - spooled_at).total_seconds()) < 60
    (f,) = spool.files()
    assert (f.minute_ms, f.dataset, f.rows) == (minute_ms(0), "chain", 5)


def test_a_column_added_since_a_file_was_written_is_null(tmp_path):
    spool = Spool(tmp_path)
    path = spool.put("index", INDEX_PRICES, Validated([index_row(0)]), minute_ms(0))
    import orjson

    doc = orjson.loads(gzip.decompress(path.read_bytes()))
    doc["columns"] = doc["columns"][:3] + ["not_a_column"]
    path.write_bytes(gzip.compress(orjson.dumps(doc)))
    with pytest.raises(ValueError):
        spool_mod.decode(path.read_bytes())
    doc = orjson.loads(gzip.decompress(spool.put("index", INDEX_PRICES, Validated([index_row(1)]),
                                                 minute_ms(1)).read_bytes()))
    # written before 'source' existed (pretend): the column comes back NULL, the others in place
    doc["columns"] = ["ts", "index_name", "price"]
    doc["rows"] = [r[:3] for r in doc["rows"]]
    _, v, _ = spool_mod.decode(gzip.compress(orjson.dumps(doc)))
    assert v.rows == [(T0 + timedelta(minutes=1), "btc_usd", 67489.17, None)]


def test_unfinished_writes_are_ignored_and_cleaned(tmp_path):
    spool = Spool(tmp_path)
    spool.put("index", INDEX_PRICES, Validated([index_row(0)]), minute_ms(0))
    # a process killed while writing leaves a .tmp- file: never listed, never loaded, removed when stale
    tmp = tmp_path / (".tmp-" + f"{minute_ms(1):013d}-index-1r-1-1.json.gz")
    tmp.write_bytes(b"\x1f\x8b half a file")
    assert len(spool.files()) == 1 and summary(tmp_path)["files"] == 1
    assert spool.cleanup_tmp(older_than_s=3600) == 0 and tmp.exists()  # maybe still being written
    old = time.time() - 7200
    os.utime(tmp, (old, old))
    assert spool.cleanup_tmp(older_than_s=3600) == 1 and not tmp.exists()


def test_bound_refuses_new_payloads_with_a_warning_and_a_record(tmp_path, caplog):
    probe = Spool(tmp_path / "probe")
    size = probe.put("chain", OPTIONS_GREEKS, Validated([greek_row(0, i) for i in range(50)]),
                     minute_ms(0)).stat().st_size
    spool = Spool(tmp_path / "s", max_bytes=int(size * 2.5))
    for m in range(2):
        assert spool.put("chain", OPTIONS_GREEKS, Validated([greek_row(m, i) for i in range(50)]), minute_ms(m))
    with caplog.at_level(logging.WARNING, logger="ingest.live.spool"):
        assert spool.put("chain", OPTIONS_GREEKS, Validated([greek_row(2, i) for i in range(50)]),
                         minute_ms(2)) is None
        assert spool.put("index", INDEX_PRICES, Validated([index_row(2)] * 400), minute_ms(2)) is None
    assert "spool full" in caplog.text and "NOT kept" in caplog.text
    # the oldest are kept: nothing written is deleted before its rows are in the database
    assert [f.minute_ms for f in spool.files()] == [minute_ms(0), minute_ms(1)]
    s = summary(tmp_path / "s")
    assert s["files"] == 2 and s["rows"] == 100 and s["oldest_minute"] == "2024-06-01T00:00:00Z"
    assert s["dropped"]["payloads"] == 2 and s["dropped"]["rows"] == 450
    assert s["dropped"]["by_dataset"] == {"chain": 50, "index": 400}


def test_flush_loads_oldest_first_never_overwrites_and_reloads_change_nothing(db, migrated_url, tmp_path):
    spool = Spool(tmp_path)
    # minute 1 is already in the database (the live job or another process wrote it first)
    db.execute("INSERT INTO options_greeks (ts, instrument_name, source, delta) VALUES (%s, %s, 'computed', 0.9)",
               (T0 + timedelta(minutes=1), "BTC-28JUN30-1000-C"))
    rej = Rejected("options_greeks", "BTC-28JUN30-9-C", "mark_iv is not a finite number", {"mark_iv": "NaN", "m": 0})
    paths = [spool.put("chain", OPTIONS_GREEKS, Validated([greek_row(m, i) for i in range(20)],
                                                          [rej] if m == 0 else []), minute_ms(m))
             for m in (2, 0, 1)]
    spool.put("index", INDEX_PRICES, Validated([index_row(m) for m in range(3)]), minute_ms(0))
    kept = tmp_path / "copy"
    kept.mkdir()
    for p in paths:
        shutil.copy(p, kept / p.name)
    order = []
    real_load = Spool.load_file

    def spy(self, conn, f):
        order.append((f.minute_ms, f.dataset))
        return real_load(self, conn, f)

    Spool.load_file = spy
    try:
        res = spool.flush(_connect(migrated_url))
    finally:
        Spool.load_file = real_load
    assert order == [(minute_ms(0), "chain"), (minute_ms(0), "index"), (minute_ms(1), "chain"),
                     (minute_ms(2), "chain")]
    assert res.files == 4 and res.left == 0 and res.quarantined == 1
    assert res.rows == 60 - 1 + 3  # one row of minute 1 was there already
    assert spool.files() == []
    assert db.execute("SELECT count(*) FROM options_greeks").fetchone()[0] == 60
    # the row written first stays as it was
    assert db.execute("SELECT delta FROM options_greeks WHERE ts = %s AND instrument_name = 'BTC-28JUN30-1000-C'",
                      (T0 + timedelta(minutes=1),)).fetchone()[0] == Decimal("0.9")
    got = db.execute("SELECT delta, mark_iv, open_interest FROM options_greeks WHERE ts = %s "
                     "AND instrument_name = 'BTC-28JUN30-1003-C'", (T0,)).fetchone()
    assert [float(x) for x in got] == [0.5, 51.17, 512.3]
    # kill -9 after the commits and before the deletes: every file is loaded again -> nothing changes
    for p in kept.iterdir():
        shutil.copy(p, tmp_path / p.name)
    res = spool.flush(_connect(migrated_url))
    assert res.files == 3 and res.rows == 0
    assert db.execute("SELECT count(*) FROM options_greeks").fetchone()[0] == 60
    assert db.execute("SELECT count(*) FROM index_prices").fetchone()[0] == 3
    assert db.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 1


def test_corrupt_file_is_set_aside_and_the_others_load(db, migrated_url, tmp_path):
    spool = Spool(tmp_path)
    spool.put("index", INDEX_PRICES, Validated([index_row(1)]), minute_ms(1))
    bad = tmp_path / f"{minute_ms(0):013d}-index-1r-1-1.json.gz"
    bad.write_bytes(b"not gzip at all")
    res = spool.flush(_connect(migrated_url))
    assert res.files == 1 and res.refused == 1 and res.left == 0
    assert (tmp_path / "refused" / bad.name).exists()
    assert db.execute("SELECT count(*) FROM index_prices").fetchone()[0] == 1
    assert summary(tmp_path)["refused_files"] == 1


def test_rows_the_database_refuses_are_quarantined_once_and_the_others_loaded(db, migrated_url, tmp_path):
    spool = Spool(tmp_path)
    rows = [greek_row(0, i) for i in range(40)]
    rows[17] = greek_row(0, 17, source="bogus")  # violates the source CHECK: the whole COPY would fail
    path = spool.put("chain", OPTIONS_GREEKS, Validated(rows), minute_ms(0))
    copy = tmp_path.parent / (path.name + ".copy")
    shutil.copy(path, copy)
    res = spool.flush(_connect(migrated_url))
    assert res.files == 1 and res.rows == 39 and res.quarantined == 1
    assert db.execute("SELECT count(*) FROM options_greeks").fetchone()[0] == 39
    reason, name = db.execute("SELECT reason, instrument_name FROM quarantine").fetchone()
    assert name == "BTC-28JUN30-1017-C" and reason.startswith("database refused: CheckViolation")
    shutil.copy(copy, path)  # loaded again (kill -9 before the delete): no second quarantine row
    spool.flush(_connect(migrated_url))
    assert db.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM options_greeks").fetchone()[0] == 39


def test_one_flusher_per_directory(db, migrated_url, tmp_path):
    spool = Spool(tmp_path)
    spool.put("index", INDEX_PRICES, Validated([index_row(0)]), minute_ms(0))
    other = Spool(tmp_path)
    with other._flush_lock() as got:
        assert got
        res = spool.flush(_connect(migrated_url))
        assert res.busy and res.files == 0 and res.left == 1
    assert spool.flush(_connect(migrated_url)).files == 1


def test_flush_slices_stop_at_their_budget(db, migrated_url, tmp_path):
    spool = Spool(tmp_path)
    for m in range(6):
        spool.put("index", INDEX_PRICES, Validated([index_row(m)]), minute_ms(m))
    res = spool.flush(_connect(migrated_url), budget_s=0.0)
    assert res.files == 1 and res.left == 5  # at least one file per slice, then the budget ends it
    stop = threading.Event()
    stop.set()
    assert spool.flush(_connect(migrated_url), stop=stop).files == 0


@pytest.mark.slow
def test_kill_9_during_a_flush_then_restart_loses_and_duplicates_nothing(db, migrated_url, tmp_path):
    """A real `ingest run --once` loads a large spool; kill -9 in the middle; a second run finishes.
    Every spooled row is stored exactly once and every reject quarantined exactly once."""
    from ingest.sim.server import SimServer

    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir)
    files, per_file = 120, 300
    expected_rejects = 0
    for m in range(files):
        rej = [Rejected("options_greeks", f"BTC-28JUN30-{m}-P", "mark_iv is not a finite number",
                        {"m": m, "mark_iv": "NaN"})] if m % 10 == 0 else []
        expected_rejects += len(rej)
        spool.put("chain", OPTIONS_GREEKS, Validated([greek_row(m, i) for i in range(per_file)], rej), minute_ms(m))
    with SimServer(seed=7, now="wall", rate_limit=False, port=0) as sim:
        env = dict(os.environ, INGEST_DATABASE_URL=migrated_url, DERIBIT_API_URL=sim.api_url,
                   DERIBIT_HISTORY_URL=sim.history_url, INGEST_SPOOL_DIR=str(spool_dir))
        cmd = INGEST + ["run", "--once", "--jobs", "index", "--lease-seconds", "6"]
        out = open(tmp_path / "first.out", "wb")
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        while len(spool.files()) > files * 2 // 3:
            assert proc.poll() is None, (tmp_path / "first.out").read_text()[-3000:]
            assert time.time() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        left = len(spool.files())
        assert 0 < left < files, "the kill did not land in the middle of the flush"
        assert db.execute("SELECT count(*) FROM options_greeks").fetchone()[0] < files * per_file
        # the lease of the killed process expires (6 s); the next run takes it and finishes the spool
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stdout + second.stderr
    assert spool.files() == []
    assert db.execute("SELECT count(*), count(DISTINCT (instrument_name, ts)) FROM options_greeks"
                      ).fetchone() == (files * per_file, files * per_file)
    assert db.execute("SELECT count(*), count(DISTINCT payload) FROM quarantine WHERE dataset = 'options_greeks'"
                      ).fetchone() == (expected_rejects, expected_rejects)
    per_minute = {n for (n,) in db.execute("SELECT count(*) FROM options_greeks GROUP BY ts")}
    assert per_minute == {per_file}


def test_a_value_no_column_can_hold_is_quarantined_once_across_reloads(db, migrated_url, tmp_path):
    spool = Spool(tmp_path)
    rows = [greek_row(0, i) for i in range(5)]
    rows[2] = greek_row(0, 2, delta=1e7)  # numeric(12,6) holds less than 1e6
    path = spool.put("chain", OPTIONS_GREEKS, Validated(rows), minute_ms(0))
    copy = tmp_path.parent / (path.name + ".copy")
    shutil.copy(path, copy)
    for _ in range(2):  # the second time: loaded again after a kill -9 before the delete
        spool.flush(_connect(migrated_url))
        shutil.copy(copy, path)
    assert db.execute("SELECT count(*) FROM options_greeks").fetchone()[0] == 4
    (reason,) = db.execute("SELECT reason FROM quarantine").fetchall()
    assert "delta" in reason[0] and "out of range" in reason[0]
