"""The embedded TimescaleDB (PGlite behind our wire-protocol proxy), exercised through psycopg.

Each test uses its own tables on a shared in-memory server; the restart tests start servers on
temporary data directories.
"""

from __future__ import annotations

import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from ingest.embedded import EmbeddedError, EmbeddedServer, ensure_installed

ROWS = 100_000


@pytest.fixture(scope="module")
def server():
    with EmbeddedServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """One data directory for the restart tests: creating a fresh one is the slow part of a start."""
    return tmp_path_factory.mktemp("embedded") / "pgdata"


def connect(srv: EmbeddedServer, **kw) -> psycopg.Connection:
    kw.setdefault("autocommit", True)
    return psycopg.connect(srv.url, connect_timeout=10, **kw)


def test_timescaledb_license_is_tsl(server):
    with connect(server) as conn:
        assert conn.execute("SHOW timescaledb.license").fetchone()[0] == "timescale"
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()


def test_numeric_12_6_round_trip(server):
    values = [Decimal("123456.123456"), Decimal("-0.000001"), Decimal("999999.999999"), Decimal("0.500000")]
    with connect(server) as conn:
        conn.execute("CREATE TABLE num_rt (id int, v NUMERIC(12,6))")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO num_rt VALUES (%s, %s)", list(enumerate(values)))
        got = [r[0] for r in conn.execute("SELECT v FROM num_rt ORDER BY id")]
        assert got == values
        got_bin = [r[0] for r in conn.cursor(binary=True).execute("SELECT v FROM num_rt ORDER BY id")]
        assert got_bin == values
        assert conn.execute("SELECT sum(v) FROM num_rt").fetchone()[0] == sum(values)


def test_copy_text_100k(server):
    with connect(server) as conn:
        conn.execute("CREATE TABLE copy_text (id bigint PRIMARY KEY, px numeric(12,6), name text)")
        t0 = time.perf_counter()
        with conn.cursor().copy("COPY copy_text (id, px, name) FROM STDIN") as copy:
            for i in range(ROWS):
                copy.write_row((i, Decimal(i) / 1000, f"n{i}\t\\x"))  # tabs/backslashes escaped
        elapsed = time.perf_counter() - t0
        print(f"COPY text: {ROWS / elapsed:,.0f} rows/s")
        count, total, pxsum = conn.execute("SELECT count(*), sum(id), sum(px) FROM copy_text").fetchone()
        assert count == ROWS
        assert total == ROWS * (ROWS - 1) // 2
        assert pxsum == Decimal(ROWS * (ROWS - 1) // 2) / 1000
        assert conn.execute("SELECT name FROM copy_text WHERE id = 7").fetchone()[0] == "n7\t\\x"
        # COPY TO STDOUT flows back through the proxy.
        with conn.cursor().copy("COPY (SELECT id FROM copy_text ORDER BY id) TO STDOUT") as copy:
            ids = [int(row[0]) for row in copy.rows()]
        assert len(ids) == ROWS and ids[-1] == ROWS - 1


def test_copy_binary_100k(server):
    with connect(server) as conn:
        conn.execute("CREATE TABLE copy_bin (ts timestamptz NOT NULL, id bigint, v double precision)")
        conn.execute("SELECT create_hypertable('copy_bin', 'ts', chunk_time_interval => interval '1 day')")
        with conn.cursor().copy("COPY copy_bin (ts, id, v) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["timestamptz", "int8", "float8"])
            base = 1_700_000_000
            from datetime import datetime, timezone

            for i in range(ROWS):
                copy.write_row((datetime.fromtimestamp(base + i * 3, timezone.utc), i, i * 0.5))
        count, total, vsum, chunks = conn.execute(
            "SELECT count(*), sum(id), sum(v), (SELECT count(*) FROM show_chunks('copy_bin')) FROM copy_bin"
        ).fetchone()
        assert count == ROWS
        assert total == ROWS * (ROWS - 1) // 2
        assert vsum == pytest.approx(0.5 * ROWS * (ROWS - 1) / 2)
        assert chunks >= 3  # 300K seconds span several daily chunks


def test_copy_error_is_reported_and_connection_usable(server):
    with connect(server) as conn:
        conn.execute("CREATE TABLE copy_err (id int)")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            with conn.cursor().copy("COPY copy_err FROM STDIN") as copy:
                copy.write(b"1\nnot-a-number\n")
        assert conn.execute("SELECT count(*) FROM copy_err").fetchone()[0] == 0
        assert conn.execute("SELECT 41 + 1").fetchone()[0] == 42


def test_pool_four_threads_interleaved_transactions(server):
    with connect(server) as conn:
        conn.execute("CREATE TABLE pool_t (worker int, n int)")
    per_worker = 40
    errors: list[BaseException] = []

    with ConnectionPool(server.url, min_size=4, max_size=4, open=True, timeout=30) as pool:

        def work(w: int) -> None:
            try:
                for n in range(per_worker):
                    with pool.connection() as conn, conn.transaction():
                        conn.execute("INSERT INTO pool_t VALUES (%s, %s)", (w, n))
                        conn.execute("INSERT INTO pool_t VALUES (%s, %s)", (w, -n))
                        # inside the transaction we see exactly our own committed + pending rows
                        mine = conn.execute("SELECT count(*) FROM pool_t WHERE worker = %s", (w,)).fetchone()
                        assert mine[0] == 2 * (n + 1)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        with pool.connection() as conn:
            sql = "SELECT worker, count(*), sum(n) FROM pool_t GROUP BY worker ORDER BY worker"
            rows = conn.execute(sql).fetchall()
    assert rows == [(w, 2 * per_worker, 0) for w in range(4)]


def test_second_client_waits_for_open_transaction(server):
    with connect(server) as a, connect(server) as b:
        a.execute("CREATE TABLE wait_t (v int)")
        done = {}

        def other():
            t0 = time.perf_counter()
            b.execute("INSERT INTO wait_t VALUES (2)")
            done["waited"] = time.perf_counter() - t0

        with a.transaction():
            a.execute("INSERT INTO wait_t VALUES (1)")
            t = threading.Thread(target=other)
            t.start()
            time.sleep(0.7)
            assert "waited" not in done  # b cannot run inside a's transaction
        t.join(10)
        assert done["waited"] >= 0.5
        assert a.execute("SELECT sum(v) FROM wait_t").fetchone()[0] == 3


def test_prepared_statements_from_two_connections_do_not_collide(server):
    with connect(server, prepare_threshold=0) as c1, connect(server, prepare_threshold=0) as c2:
        # both connections name their first statement _pg3_0, with different texts
        for i in range(3):
            assert c1.execute("SELECT %s::int + 1000", (i,)).fetchone()[0] == i + 1000
            assert c2.execute("SELECT %s::text || '-c2'", (str(i),)).fetchone()[0] == f"{i}-c2"
        # a DROP makes psycopg send DEALLOCATE ALL: it must not remove the other client's statements
        c1.execute("CREATE TABLE prep_t (v int)")
        c1.execute("DROP TABLE prep_t")
        assert c2.execute("SELECT %s::text || '-c2'", ("x",)).fetchone()[0] == "x-c2"
        assert c1.execute("SELECT %s::int + 1000", (5,)).fetchone()[0] == 1005
        prepared = "SELECT count(*) FROM pg_prepared_statements WHERE statement = %s"
        c1_text = "SELECT $1::int + 1000"
        assert c2.execute(prepared, (c1_text,), prepare=False).fetchone()[0] == 1
    # closing a connection deallocates its statements
    with connect(server) as c3:
        assert c3.execute(prepared, (c1_text,)).fetchone()[0] == 0


def test_executemany(server):
    with connect(server) as conn:
        conn.execute("CREATE TABLE em_t (id int PRIMARY KEY, label text)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO em_t VALUES (%s, %s)", [(i, "x" * (i % 50)) for i in range(3000)])
        assert conn.execute("SELECT count(*), sum(id), sum(length(label)) FROM em_t").fetchone() == (
            3000,
            sum(range(3000)),
            sum(i % 50 for i in range(3000)),
        )


def test_executemany_error_midway_rolls_back_and_connection_recovers(server):
    # ~150 KB of messages: the failing row sits in a later ~8 KB call than the first rows
    rows = [(i, "p" * 40) for i in range(3000)] + [(5, "dup")] + [(i, "p") for i in range(3001, 3100)]
    with connect(server) as conn, connect(server) as other:
        conn.execute("CREATE TABLE em_err (id int PRIMARY KEY, pad text)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO em_err VALUES (%s, %s)", rows)
        assert conn.execute("SELECT count(*) FROM em_err").fetchone()[0] == 0
        assert other.execute("SELECT count(*) FROM em_err").fetchone()[0] == 0


def test_copy_from_stdin_the_proxy_cannot_pass_is_refused(server):
    with connect(server) as conn:
        conn.execute("CREATE TABLE copy_refused (id int)")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="only statement"):
            conn.execute("SELECT 1; COPY copy_refused FROM STDIN")
        with pytest.raises(psycopg.errors.UndefinedTable, match="needs a simple Query"):
            conn.execute("COPY copy_refused FROM STDIN WHERE id > %s", (1,))  # extended protocol
        # a CSV COPY (text format) inside a transaction works, and rolls back with it
        with conn.transaction(force_rollback=True):
            with conn.cursor().copy("COPY copy_refused (id) FROM STDIN WITH (FORMAT csv, HEADER)") as copy:
                copy.write(b"id\n1\n2\n")
            assert conn.execute("SELECT sum(id) FROM copy_refused").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM copy_refused").fetchone()[0] == 0


def test_pipeline(server):
    with connect(server) as conn:
        conn.execute("CREATE TABLE pipe_t (id int, v text)")
        with conn.pipeline():
            for i in range(50):
                conn.execute("INSERT INTO pipe_t VALUES (%s, %s)", (i, f"v{i}"))
            cur = conn.execute("SELECT count(*), max(id) FROM pipe_t")
            cur2 = conn.execute("SELECT v FROM pipe_t WHERE id = %s", (42,))
        assert cur.fetchone() == (50, 49)
        assert cur2.fetchone() == ("v42",)
        # an error in a pipeline is reported, and the connection keeps working
        with pytest.raises(psycopg.errors.UndefinedTable):
            with conn.pipeline():
                conn.execute("INSERT INTO pipe_t VALUES (1000, 'a')")
                conn.execute("SELECT * FROM no_such_table")
        assert conn.execute("SELECT count(*) FROM pipe_t").fetchone()[0] in (50, 51)
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_debug_notices_do_not_reach_the_client(server):
    notices: list[tuple[str, str]] = []
    with connect(server) as conn:
        conn.add_notice_handler(lambda d: notices.append((d.severity_nonlocalized, d.message_primary)))
        # PGlite's own default (the server sets notice at start; RESET would bring this back)
        conn.execute("SET client_min_messages = debug3")
        try:
            conn.execute("CREATE TABLE notice_t (ts timestamptz NOT NULL, v int)")
            conn.execute("SELECT create_hypertable('notice_t', 'ts')")
            conn.execute(
                "INSERT INTO notice_t SELECT now() - i * interval '1 hour', i FROM generate_series(1, 99) i"
            )
            conn.execute("SELECT count(*) FROM notice_t WHERE v > %s", (5,))
            conn.execute("DO $$ BEGIN RAISE NOTICE 'hello from plpgsql'; END $$")
        finally:
            conn.execute("SET client_min_messages = notice")
    assert ("NOTICE", "hello from plpgsql") in notices
    assert not [n for n in notices if n[0].startswith(("DEBUG", "LOG"))], notices


def test_notices_amid_a_large_result_are_filtered_and_rows_kept(server):
    """DEBUG notices dropped from the middle of a response of many DataRows; the rest intact, in order."""
    notices: list[tuple[str, str]] = []
    with connect(server) as conn:
        conn.add_notice_handler(lambda d: notices.append((d.severity_nonlocalized, d.message_primary)))
        conn.execute(
            "CREATE FUNCTION noisy(i int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN "
            "IF i % 100 = 0 THEN RAISE DEBUG 'debug %', i; END IF; "
            "IF i % 2500 = 0 THEN RAISE NOTICE 'notice %', i; END IF; RETURN i; END $$"
        )
        conn.execute("SET client_min_messages = debug1")
        try:
            rows = conn.execute(
                "SELECT noisy(g), g::numeric(18,8), repeat('v', g % 50) FROM generate_series(1, 10000) g"
            ).fetchall()
        finally:
            conn.execute("SET client_min_messages = notice")
    assert rows == [(g, Decimal(g), "v" * (g % 50)) for g in range(1, 10001)]
    assert notices == [("NOTICE", f"notice {i}") for i in (2500, 5000, 7500, 10000)]


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_large_results_intact_and_memory_does_not_grow_with_rows_returned(server):
    # (PGlite's execProtocolRaw kept a parsed object for every message ever returned: ~40 MB a query.)
    q = "SELECT g, g::numeric(18,8), 'row ' || g FROM generate_series(1, 100000) g"
    with connect(server) as conn:
        for _ in range(2):
            rows = conn.execute(q).fetchall()
        assert len(rows) == 100_000
        assert rows[0] == (1, Decimal(1), "row 1") and rows[-1] == (100_000, Decimal(100_000), "row 100000")
        assert sum(r[0] for r in rows) == 100_000 * 100_001 // 2
        before = _rss_kb(server.pid)
        for _ in range(6):
            assert len(conn.execute(q).fetchall()) == 100_000
        assert _rss_kb(server.pid) - before < 80_000


def test_messages_larger_than_8k(server):
    big = "x" * 100_000
    with connect(server) as conn:
        conn.execute("CREATE TABLE big_t (id int, body text)")
        # a Bind of ~100 KB, alone and amid a batch of small messages (executemany pipelines them)
        conn.execute("INSERT INTO big_t VALUES (%s, %s)", (1, big))
        with conn.cursor() as cur:
            rows = [(i, big if i % 7 == 0 else "s") for i in range(2, 60)]
            cur.executemany("INSERT INTO big_t VALUES (%s, %s)", rows)
        # a simple Query of ~100 KB
        conn.execute(f"INSERT INTO big_t VALUES (100, '{big}')".encode())
        expected_len = 2 * len(big) + sum(len(body) for _, body in rows)
        assert conn.execute("SELECT count(*), sum(length(body)) FROM big_t").fetchone() == (60, expected_len)
        assert conn.execute("SELECT body FROM big_t WHERE id = 1").fetchone()[0] == big


def test_idle_transaction_blocks_others_until_lock_timeout(monkeypatch):
    monkeypatch.setenv("EMBEDDED_PG_LOCK_TIMEOUT_MS", "1000")
    with EmbeddedServer() as srv, connect(srv) as holder, connect(srv) as other:
        holder.execute("CREATE TABLE lock_t (v int)")
        with holder.transaction():
            holder.execute("INSERT INTO lock_t VALUES (1)")
            t0 = time.perf_counter()
            with pytest.raises(psycopg.errors.LockNotAvailable, match="one transaction at a time"):
                other.execute("SELECT count(*) FROM lock_t")
            assert 0.9 < time.perf_counter() - t0 < 5
            with pytest.raises(psycopg.errors.LockNotAvailable):  # extended protocol too
                other.execute("SELECT count(*) FROM lock_t WHERE v = %s", (1,))
        # once the holder commits, the other connection works again
        assert other.execute("SELECT count(*) FROM lock_t WHERE v = %s", (1,)).fetchone()[0] == 1


def test_hypertable_compression(server):
    with connect(server) as conn:
        conn.execute("CREATE TABLE comp_t (ts timestamptz NOT NULL, sym text, px numeric(12,6))")
        conn.execute("SELECT create_hypertable('comp_t', 'ts', chunk_time_interval => interval '1 day')")
        conn.execute(
            "INSERT INTO comp_t SELECT timestamptz '2024-01-01' + i * interval '1 minute', "
            "'S' || (i % 3), i / 1000.0 FROM generate_series(0, 5999) i"
        )
        before = conn.execute("SELECT count(*), sum(px) FROM comp_t").fetchone()
        conn.execute(
            "ALTER TABLE comp_t SET (timescaledb.compress, timescaledb.compress_segmentby = 'sym', "
            "timescaledb.compress_orderby = 'ts')"
        )
        n = conn.execute("SELECT count(compress_chunk(c)) FROM show_chunks('comp_t') c").fetchone()[0]
        assert n >= 4
        compressed = conn.execute(
            "SELECT count(*) FILTER (WHERE is_compressed), count(*) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'comp_t'"
        ).fetchone()
        assert compressed == (n, n)
        assert conn.execute("SELECT count(*), sum(px) FROM comp_t").fetchone() == before


def test_client_killed_mid_copy_leaves_no_rows(server):
    with connect(server) as conn:
        conn.execute("CREATE TABLE killed_copy (id int, payload text)")
    child = textwrap.dedent(
        f"""
        import sys, time, psycopg
        conn = psycopg.connect({server.url!r}, autocommit=True)
        with conn.cursor().copy("COPY killed_copy FROM STDIN") as copy:
            for i in range(50_000):
                copy.write_row((i, "x" * 20))
            time.sleep(0.5)  # let psycopg's writer push the data out
            print("copying", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "copying"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    t0 = time.perf_counter()
    with connect(server) as conn:
        assert conn.execute("SELECT count(*) FROM killed_copy").fetchone()[0] == 0
        conn.execute("INSERT INTO killed_copy VALUES (1, 'after')")
        assert conn.execute("SELECT count(*) FROM killed_copy").fetchone()[0] == 1
    assert time.perf_counter() - t0 < 5  # the dead client does not hold the backend


def _raw_message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


@pytest.mark.parametrize("begin", [True, False], ids=["explicit-transaction", "implicit-transaction"])
@pytest.mark.parametrize("fail", [False, True], ids=["ok", "after-error"])
def test_client_gone_mid_batch_is_rolled_back(server, begin, fail):
    """A client that vanishes halfway through an extended-protocol batch (no Sync yet) still owns the
    backend: the proxy must roll back (not commit) its work, end the batch and free the backend."""
    with connect(server) as conn:
        conn.execute("DROP TABLE IF EXISTS gone_t")
        conn.execute("CREATE TABLE gone_t (v int)")
    with socket.create_connection((server.host, server.port), timeout=10) as raw:
        params = b"user\0postgres\0database\0postgres\0\0"
        raw.sendall(struct.pack("!ii", len(params) + 8, 196608) + params)
        greeting = b""
        while not greeting.endswith(b"Z\0\0\0\x05I"):
            greeting += raw.recv(4096)
        if begin:
            raw.sendall(_raw_message(b"Q", b"BEGIN\0"))
            reply = b""
            while not reply.endswith(b"Z\0\0\0\x05T"):
                reply += raw.recv(4096)
        batch = b""
        for sql in [b"INSERT INTO gone_t VALUES (1)"] + ([b"SELECT 1/0"] if fail else []):
            batch += (
                _raw_message(b"P", b"\0" + sql + b"\0\0\0")
                + _raw_message(b"B", b"\0\0" + b"\0\0" * 3)
                + _raw_message(b"E", b"\0\0\0\0\0")
            )
        raw.sendall(batch + _raw_message(b"H", b""))
        reply = b""
        while (b"E\0\0\0" if fail else b"C\0\0\0") not in reply:  # the error, or the INSERT's CommandComplete
            reply += raw.recv(4096)
    t0 = time.perf_counter()
    with connect(server) as conn:
        assert conn.execute("SELECT count(*) FROM gone_t").fetchone()[0] == 0
        assert conn.execute("SELECT now() = statement_timestamp()").fetchone()[0]  # not in a transaction
    assert time.perf_counter() - t0 < 5


def test_port_taken_raises_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(EmbeddedError, match=f"port {port}.*already in use"):
            EmbeddedServer(port=port).start(timeout=30)


def test_missing_node_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EmbeddedError, match="`node` was not found on PATH"):
        ensure_installed()


def _make_timeseries(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE ticks (ts timestamptz NOT NULL, sym text NOT NULL, px numeric(12,6))")
    conn.execute("SELECT create_hypertable('ticks', 'ts', chunk_time_interval => interval '1 day')")
    conn.execute(
        "INSERT INTO ticks SELECT timestamptz '2024-01-01' + i * interval '1 minute', 'BTC', "
        "100 + i / 1000.0 "
        "FROM generate_series(0, 2879) i"
    )
    conn.execute(
        "CREATE MATERIALIZED VIEW ticks_hourly WITH (timescaledb.continuous) AS "
        "SELECT time_bucket('1 hour', ts) AS bucket, sym, count(*) AS n, avg(px) AS px "
        "FROM ticks GROUP BY bucket, sym WITH DATA"
    )
    conn.execute(
        "SELECT add_continuous_aggregate_policy('ticks_hourly', start_offset => NULL, "
        "end_offset => interval '1 hour', schedule_interval => interval '1 hour')"
    )
    conn.execute("ALTER TABLE ticks SET (timescaledb.compress, timescaledb.compress_segmentby = 'sym')")
    conn.execute("SELECT add_compression_policy('ticks', compress_after => interval '7 days')")


def test_restart_keeps_data_continuous_aggregate_and_jobs(data_dir):
    data = data_dir
    with EmbeddedServer(data=data) as srv, connect(srv) as conn:
        _make_timeseries(conn)
        assert conn.execute("SELECT count(*) FROM ticks_hourly").fetchone()[0] == 48
        # a second server on the same directory would corrupt it: refused
        with pytest.raises(EmbeddedError, match=f"data directory {data} is in use"):
            EmbeddedServer(data=data).start(timeout=30)
    # SIGTERM shut the backend down cleanly: pg_control's state (offset 16) is DB_SHUTDOWNED
    assert struct.unpack_from("=I", (data / "global" / "pg_control").read_bytes(), 16)[0] == 1

    with EmbeddedServer(data=data) as srv, connect(srv) as conn:
        assert conn.execute("SELECT count(*), sum(px) FROM ticks").fetchone() == (
            2880,
            Decimal(2880 * 100) + Decimal(2879 * 2880 // 2) / 1000,
        )
        assert conn.execute("SELECT count(*), sum(n) FROM ticks_hourly").fetchone() == (48, 2880)
        jobs = dict(
            conn.execute(
                "SELECT proc_name, job_id FROM timescaledb_information.jobs WHERE job_id >= 1000"
            ).fetchall()
        )
        assert set(jobs) == {"policy_refresh_continuous_aggregate", "policy_compression"}
        # inserting into the hypertable works after a restart (needs LOAD 'timescaledb')
        conn.execute(
            "INSERT INTO ticks SELECT timestamptz '2024-01-03' + i * interval '1 minute', 'ETH', 1 "
            "FROM generate_series(0, 119) i"
        )
        conn.execute("CALL run_job(%s)", (jobs["policy_refresh_continuous_aggregate"],))
        assert conn.execute("SELECT count(*), sum(n) FROM ticks_hourly").fetchone() == (50, 3000)
        conn.execute("CALL run_job(%s)", (jobs["policy_compression"],))
        assert conn.execute(
            "SELECT bool_and(is_compressed) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'ticks'"
        ).fetchone()[0]


def test_sigkill_keeps_committed_data(data_dir):
    data = data_dir
    srv = EmbeddedServer(data=data).start()
    try:
        with connect(srv) as conn:
            conn.execute("CREATE TABLE crash_t (id int)")
            conn.execute("INSERT INTO crash_t SELECT generate_series(1, 1000)")
            with conn.transaction():
                conn.execute("INSERT INTO crash_t VALUES (5000)")
        pending = connect(srv, autocommit=False)
        pending.execute("INSERT INTO crash_t VALUES (9999)")  # never committed
    finally:
        srv.kill()
    pending.close()

    with EmbeddedServer(data=data) as srv, connect(srv) as conn:
        assert conn.execute("SELECT count(*), sum(id) FROM crash_t").fetchone() == (1001, 500500 + 5000)
        conn.execute("INSERT INTO crash_t VALUES (1)")
        assert conn.execute("SELECT count(*) FROM crash_t").fetchone()[0] == 1002
