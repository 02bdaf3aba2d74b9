"""Migrations are history: released revisions never change, base -> head gives the checked-in snapshot,
and databases built by the released 0001-0003 reach the same head with every row kept.

A released revision must never change. Its hash (ingest.storage.schema.revision_hash: the migration script and
every file of its SQL under sql/revisions/NNNN_*) is recorded in migrations/released_revisions.txt;
test_released_revisions_are_unchanged fails when a file of one differs. A change to the schema is a NEW
revision (views by CREATE OR REPLACE, continuous aggregates dropped, recreated and refreshed). When a new
revision is released, append its line: `python -m ingest.storage.schema hashes` prints `NNNN <sha256> <script>`
for every revision; copy the new revision's line into the file. Never edit a line that is there.
After any schema change, regenerate the snapshot: `make schema-snapshot`.
"""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import psycopg
import pytest

from ingest.storage import schema, schema_snapshot
from ingest.storage.sqlfiles import run_file

from .conftest import wipe

RELEASED_0003 = Path(__file__).parent / "fixtures" / "released-0003"
# The revision the checked-in snapshot is of: head, unless a new revision came without
# `make schema-snapshot` (test_the_snapshot_is_of_head says so; the others still compare at it).
SNAPSHOT_REVISION = schema_snapshot.load()["head"]
SECTIONS = schema_snapshot.DEFINITION_SECTIONS + schema_snapshot.SETTINGS_SECTIONS


def _reset_to_head(url: str) -> None:
    """Leave the session's database as every other test expects it: fresh from base -> head, empty."""
    schema.downgrade(url, "base")
    schema.upgrade(url, "head")
    with psycopg.connect(url, autocommit=True) as conn:
        wipe(conn)


# --- the snapshot -------------------------------------------------------------------------------

def test_the_snapshot_is_of_head():
    assert SNAPSHOT_REVISION == schema.head_revision(), (
        f"migrations/schema_snapshot.json is of {SNAPSHOT_REVISION}, head is {schema.head_revision()}: "
        "run `make schema-snapshot` and commit it with the new revision")


def test_base_to_head_equals_the_snapshot_and_each_revision_runs_only_its_own_sql(migrated_url, monkeypatch):
    ran: list[tuple[str, str]] = []
    real_run_file = schema.run_file

    def recording_run_file(conn, path):
        script = next(Path(f.filename) for f in inspect.stack() if Path(f.filename).parent == schema.VERSIONS_DIR)
        ran.append((script.name[:4], path.relative_to(schema.REPO_ROOT).as_posix()))
        return real_run_file(conn, path)

    monkeypatch.setattr(schema, "run_file", recording_run_file)
    schema.downgrade(migrated_url, "base")
    ran.clear()
    try:
        schema.upgrade(migrated_url, SNAPSHOT_REVISION)
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            actual = schema_snapshot.take(conn)
    finally:
        schema.upgrade(migrated_url, "head")
        monkeypatch.undo()
    expected = schema_snapshot.load()

    assert schema_snapshot.differences(expected, actual, SECTIONS) == [], \
        "base -> head differs from migrations/schema_snapshot.json: run `make schema-snapshot` and review the diff"
    assert schema_snapshot.normalise({"head": expected["head"], **actual}) == expected

    # every SQL file a revision ran is one of its own files, hashed with it
    assert ran, "no SQL file ran"
    for revision, relpath in ran:
        own = {p.relative_to(schema.REPO_ROOT).as_posix() for p in schema.revision_files(revision)}
        assert relpath in own, f"revision {revision} ran {relpath}, which is not one of its files"


def test_the_snapshot_sees_a_changed_view_and_names_it(db):
    before = schema_snapshot.take(db)
    original = db.execute("SELECT pg_get_viewdef('funding_rates_daily'::regclass)").fetchone()[0]
    db.execute("CREATE OR REPLACE VIEW funding_rates_daily AS "
               "SELECT time_bucket(INTERVAL '1 day', ts) AS ts, instrument_name, count(*) AS hours, "
               "sum(interest_1h::numeric) AS funding, avg(interest_1h::numeric) * 24 * 365 AS annualized_funding, "
               "avg(interest_1h::numeric) * 24 * 366 * 100 AS annualized_pct FROM funding_rates GROUP BY 1, 2")
    try:
        drift = schema_snapshot.differences(before, schema_snapshot.take(db))
    finally:
        db.execute(f"CREATE OR REPLACE VIEW funding_rates_daily AS {original}")
    assert drift == ["view funding_rates_daily: definition differs from head"]
    assert schema_snapshot.differences(before, schema_snapshot.take(db)) == []


def test_a_view_reads_the_same_printed_by_postgresql_15_17_or_after_a_restore():
    """pg_get_viewdef text of one view (data_freshness's UNION) as PostgreSQL 17 prints it, as 15 prints it
    (relation qualifiers), and as either prints it once a restored dump re-parsed it (a literal column of
    a later branch gets its type as alias): one definition. A changed literal or a real alias still differ."""
    pg17 = ["SELECT 'perpetuals_ohlcv'::text AS dataset, instrument_name, max(ts) AS last_ts",
            "UNION ALL", " SELECT 'futures_ohlcv'::text, instrument_name, max(ts)"]
    pg15 = ["SELECT 'perpetuals_ohlcv'::text AS dataset, perpetuals_ohlcv.instrument_name, max(perpetuals_ohlcv.ts)"
            " AS last_ts", "UNION ALL", " SELECT 'futures_ohlcv'::text, futures_ohlcv.instrument_name, "
            "max(futures_ohlcv.ts)"]
    restored = [pg15[0], pg15[1], pg15[2].replace("'futures_ohlcv'::text", "'futures_ohlcv'::text AS text")]
    lines = [schema_snapshot._view_lines("\n".join(v)) for v in (pg17, pg15, restored)]
    assert lines[0] == lines[1] == lines[2]
    changed = [pg17[0], pg17[1], pg17[2].replace("'futures_ohlcv'", "'options_ohlcv'")]
    renamed = [pg17[0].replace("AS dataset", "AS text"), pg17[1], pg17[2]]
    for other in (changed, renamed):
        assert schema_snapshot._view_lines("\n".join(other)) != lines[0]


# --- released revisions never change ------------------------------------------------------------

def test_released_revisions_are_unchanged():
    released = schema.released_hashes()
    assert {f"{n:04d}" for n in range(1, 9)} <= set(released), "0001-0008 are released"
    changed = {rev: digest for rev, digest in released.items() if schema.revision_hash(rev) != digest}
    assert not changed, (
        f"released revisions changed: {sorted(changed)}. A released revision never changes: put the "
        "change in a new revision (see this module's docstring) and restore the files of these.")
    assert set(released) <= set(schema.all_revisions())


def test_editing_the_sql_of_a_released_revision_changes_its_hash(tmp_path):
    for part in ("migrations/versions", "sql/revisions"):
        shutil.copytree(schema.REPO_ROOT / part, tmp_path / part)
    released = schema.released_hashes()
    assert all(schema.revision_hash(rev, tmp_path) == released[rev] for rev in released)
    basis = tmp_path / "sql/revisions/0002_views_policies/views/20_basis.sql"
    basis.write_text(basis.read_text().replace("AS basis_pct", "AS basis_percent", 1))
    assert schema.revision_hash("0002", tmp_path) != released["0002"]
    # ... and so does a file added to a revision's folder, or a changed migration script
    assert schema.revision_hash("0001", tmp_path) == released["0001"]
    (tmp_path / "sql/revisions/0001_tables.sql").write_text("-- nothing\n")
    assert schema.revision_hash("0001", tmp_path) != released["0001"]
    script = tmp_path / "migrations/versions/0008_views_to_head.py"
    script.write_text(script.read_text() + "\n")
    assert schema.revision_hash("0008", tmp_path) != released["0008"]


# --- a database of the released 0001-0003 upgrades to head ---------------------------------------

def _build_released_0003(conn: psycopg.Connection, folder: Path) -> None:
    # as Alembic did: its table first (so 0002's grants cover it), the revisions' files, then the stamp
    conn.execute("DROP TABLE IF EXISTS alembic_version")
    # on a server that runs jobs, the policies the old files create would run while the chunks below are
    # compressed by hand (and race them): the database's job scheduler waits until the upgrade (which
    # pauses and resumes it itself, migrations/env.py); the embedded server runs none (false)
    conn.execute("SELECT _timescaledb_functions.stop_background_workers()")
    conn.execute("CREATE TABLE alembic_version (version_num varchar(32) NOT NULL "
                 "CONSTRAINT alembic_version_pkc PRIMARY KEY)")
    for sub in ("schema", "views", "policies"):
        for path in sorted((folder / sub).glob("*.sql")):
            run_file(conn, path)
    conn.execute("INSERT INTO alembic_version VALUES ('0003')")
    run_file(conn, RELEASED_0003 / "data.sql")
    for cagg in ("perpetuals_ohlcv_1h", "futures_ohlcv_1h", "options_ohlcv_1h", "options_greeks_1h",
                 "perpetuals_ohlcv_1d", "futures_ohlcv_1d"):
        conn.execute(f"CALL refresh_continuous_aggregate('{cagg}', NULL, NULL)")
    for table in ("perpetuals_ohlcv", "futures_ohlcv", "funding_rates", "options_greeks"):
        conn.execute(f"SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('{table}') c")


def _fingerprints(conn: psycopg.Connection, columns: dict[str, list[tuple[str, str]]]) -> dict:
    """Per relation: the row count and an md5 over its rows, read as the columns of `columns` cast to
    the types they had then (a column changed since, e.g. funding rates to double precision, reads back
    as its old value)."""
    out = {}
    for relation, cols in columns.items():
        row = ", ".join(f"{name}::{typ}" for name, typ in cols)
        out[relation] = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(r, '|' ORDER BY r), '')) "
            f"FROM (SELECT ROW({row})::text AS r FROM {relation}) s").fetchone()
    return out


def _settings_rows(conn: psycopg.Connection, cols: list[tuple[str, str]]) -> set[str]:
    row = ", ".join(name for name, _ in cols)
    return {r for (r,) in conn.execute(f"SELECT ROW({row})::text FROM storage_settings")}


def _columns_now(conn: psycopg.Connection) -> dict[str, list[tuple[str, str]]]:
    relations = conn.execute("""
        SELECT c.oid, c.relname FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
           OR c.relname IN (SELECT view_name FROM timescaledb_information.continuous_aggregates)
        ORDER BY 2""").fetchall()
    return {name: conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                               "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                               (oid,)).fetchall()
            for oid, name in relations if name != "alembic_version"}


@pytest.mark.parametrize("release", ["f8cb5b2", "abc1fce"])
def test_a_database_of_the_released_0003_upgrades_to_head_with_every_row(migrated_url, release):
    head = schema_snapshot.load()
    schema.downgrade(migrated_url, "base")
    try:
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            _build_released_0003(conn, RELEASED_0003 / release)
            assert schema.current_revision(conn) == "0003"
            columns = _columns_now(conn)
            before = _fingerprints(conn, columns)
            old_settings = _settings_rows(conn, columns["storage_settings"])
            old = schema_snapshot.take(conn)
        assert all(count > 0 for count, _ in before.values()), before
        assert sum(count for count, _ in before.values()) > 60_000
        if release == "abc1fce":  # the first release: older objects, which 0008 must bring to head
            stale = schema_snapshot.differences(head, old)
            assert any(line.startswith("view futures_basis_1h: definition") for line in stale), stale
            assert any("refresh_batch_buckets missing" in line for line in stale), stale
            assert any(line.startswith("hypertable perpetuals_ohlcv: compression chunk_time_interval")
                       for line in stale), stale

        # head, when the snapshot is of head; the job scheduler stays paused until the rows are read: the
        # fixture's rows are old enough for retention to drop them on a server that runs jobs
        schema.upgrade(migrated_url, SNAPSHOT_REVISION, resume_jobs=False)

        with psycopg.connect(migrated_url, autocommit=True) as conn:
            assert schema.current_revision(conn) == SNAPSHOT_REVISION
            after = _fingerprints(conn, columns)
            new_settings = _settings_rows(conn, columns["storage_settings"])
            new = schema_snapshot.take(conn)
            buckets = conn.execute("SELECT DISTINCT config->>'buckets_per_batch' FROM timescaledb_information.jobs "
                                   "WHERE proc_name = 'policy_refresh_continuous_aggregate'").fetchall()
        # every row of every table and continuous aggregate, unchanged; storage_settings keeps its rows
        # (but the two 0023 changes: options_ohlcv kept forever, options_ohlcv_1h's note) and gains those
        # of later revisions' relations
        assert {k: v for k, v in after.items() if k != "storage_settings"} == \
               {k: v for k, v in before.items() if k != "storage_settings"}
        changed = ("(options_ohlcv,", "(options_ohlcv_1h,")
        assert len(old_settings) == 12 and len([r for r in old_settings if r.startswith(changed)]) == 2
        assert {r for r in old_settings if not r.startswith(changed)} <= new_settings
        assert len([r for r in new_settings if r.startswith(changed)]) == 2
        assert schema_snapshot.differences(head, new, SECTIONS) == []
        assert buckets == [("0",)]
    finally:
        _reset_to_head(migrated_url)


def test_upgrade_downgrade_upgrade_round_trips_to_the_snapshot(migrated_url):
    try:
        schema.downgrade(migrated_url, "0001")
        schema.upgrade(migrated_url, SNAPSHOT_REVISION)
        schema.downgrade(migrated_url, "0007")
        schema.upgrade(migrated_url, SNAPSHOT_REVISION)
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            actual = schema_snapshot.take(conn)
    finally:
        _reset_to_head(migrated_url)
    assert schema_snapshot.differences(schema_snapshot.load(), actual, SECTIONS) == []


def test_0023_keeps_option_candles_forever_and_its_downgrade_brings_back_the_90_days(migrated_url):
    def retention(conn) -> tuple:
        job = conn.execute("SELECT config->>'drop_after' FROM timescaledb_information.jobs "
                           "WHERE hypertable_name = 'options_ohlcv' AND proc_name = 'policy_retention'").fetchone()
        setting = conn.execute("SELECT retain_for::text FROM storage_settings "
                               "WHERE relation = 'options_ohlcv'").fetchone()
        return (job and job[0], setting[0])

    try:
        schema.downgrade(migrated_url, "0022")
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            assert retention(conn) == ("90 days", "90 days")
        schema.upgrade(migrated_url, "0023")
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            assert retention(conn) == (None, None)
    finally:
        schema.upgrade(migrated_url, "head")
