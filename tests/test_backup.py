"""`ingest db backup` / `ingest db restore`: a backfilled database backed up with pg_dump and restored into
an empty database of another, fresh cluster gives back every table's rows, every continuous aggregate's
rows, the policies and jobs, and every privilege; the refusals (a database that is not empty, roles the
cluster lacks, another TimescaleDB version, a pg_dump too old for the server) change nothing.

pg_dump refuses a server newer than itself, and the embedded server is PostgreSQL 17 while Debian
bookworm's client programs are 15: these tests run their own native TimescaleDB clusters (PostgreSQL 15
+ TimescaleDB 2.23 with TSL), started by scripts/native-timescaledb.sh, which builds that engine from
../shared/timescaledb when the machine does not have it. Those tests carry the `native` marker: `make
test-native` runs them (after building the engine), `make test` deselects them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from ingest import backup as bk
from ingest.backfill import backfill
from ingest.backfill.testing import sim_client
from ingest.backup_cli import EXIT_UPLOAD_FAILED
from ingest.cli import cli
from ingest.sim.server import SimServer
from ingest.storage import schema

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "scripts" / "native-timescaledb.sh"
# a password libpq would misread in a URL, to show it reaches pg_dump intact and never shows
PASSWORD = "s3cr:t @/pa'ss"


# --- clusters ----------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A throw-away native TimescaleDB cluster (scripts/native-timescaledb.sh start ... --scratch)."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.port = _free_port()
        proc = subprocess.run([str(NATIVE), "start", str(directory), str(self.port), "--scratch"],
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"native TimescaleDB did not start:\n{proc.stderr[-3000:]}"

    def url(self, dbname: str = "postgres", password: str | None = None) -> str:
        auth = f"postgres:{password}" if password is not None else "postgres"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        # the Unix socket: trusted, whatever TCP connections require
        return psycopg.connect(host=f"{self.dir}.socket", port=self.port, user="postgres", dbname=dbname,
                               autocommit=True)

    def create_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def require_password(self, password: str) -> None:
        """TCP connections authenticate with scram-sha-256 from now on (the socket stays trusted)."""
        with self.admin() as conn:
            conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(password)))
            hba = conn.execute("SHOW hba_file").fetchone()[0]
            Path(hba).write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
            conn.execute("SELECT pg_reload_conf()")
        time.sleep(0.5)  # the postmaster reloads on SIGHUP, asynchronously

    def stop(self) -> None:
        subprocess.run([str(NATIVE), "stop", str(self.dir)], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def workdir():
    # the clusters run as the `postgres` OS user when we are root: a directory it can traverse
    path = Path(tempfile.mkdtemp(prefix="ingest-backup-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def source_cluster(workdir):
    cluster = Cluster(workdir / "source")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def target_cluster(workdir):
    """A second, fresh cluster: the roles analyst and ingest_writer do not exist in it."""
    cluster = Cluster(workdir / "target")
    yield cluster
    cluster.stop()


def migrated_database(cluster: Cluster, name: str) -> str:
    """A new database migrated to head, its job scheduler stopped while migrating (a policy job that
    runs while a later revision replaces the policies can deadlock with it)."""
    cluster.create_database(name)
    with cluster.admin(name) as conn:
        conn.execute("CREATE EXTENSION timescaledb")
        conn.execute("SELECT _timescaledb_functions.stop_background_workers()")
    schema.upgrade(cluster.url(name), "head")
    return cluster.url(name)


# --- the source: a backfilled, migrated database -------------------------------------------------

@pytest.fixture(scope="module")
def source(source_cluster):
    """A migrated database with a little of every backfilled dataset, one chunk compressed, its job
    scheduler running again; TCP logins need the password from then on."""
    url = migrated_database(source_cluster, "deribit")
    # recent data: the retention policies (30 and 90 days) must not drop any of it during the test
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    since, until = int((now - timedelta(hours=6)).timestamp() * 1000), int(now.timestamp() * 1000)
    with SimServer(seed=11, now=now.isoformat().replace("+00:00", "Z"), rate_limit=False) as sim, \
            psycopg.connect(url, autocommit=True) as conn:
        client = sim_client(sim)
        # the options that traded most (all ~550 of them take a minute; these few cover the table)
        options = [s["instrument_name"] for currency in ("BTC", "ETH") for s in sorted(
            client.call("get_book_summary_by_currency", {"currency": currency, "kind": "option"}),
            key=lambda s: -(s.get("volume") or 0))[:4]]
        for dataset, names in (("perpetuals", ()), ("futures", ()), ("funding", ()), ("index", ()),
                               ("options", options)):
            result = backfill(dataset, client, conn, since_ms=since, until_ms=until, instruments=names,
                              tty=False, echo=lambda s: None)
            assert result.ok, (dataset, result.text)
        # the analytics tables complete: their job, which runs in both databases, then changes nothing
        conn.execute("CALL refresh_analytics(%s, %s)", (now - timedelta(hours=7), now + timedelta(hours=1)))
        # a compressed chunk too: its rows must come back through the restore
        conn.execute("SELECT compress_chunk(c) FROM show_chunks('perpetuals_ohlcv') c LIMIT 1")
        conn.execute("SELECT _timescaledb_functions.start_background_workers()")
    source_cluster.require_password(PASSWORD)
    return source_cluster.url("deribit", PASSWORD)


def _env(url: str) -> dict[str, str]:
    return {"INGEST_DATABASE_URL": url}


def _recording_bindir(directory: Path) -> Path:
    """pg_dump and pg_restore wrappers that record their arguments and PGPASSWORD's presence, then run
    the real programs: what a `ps` on the machine would show."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("pg_dump", "pg_restore"):
        real = bk.find_tool(name).path
        wrapper = directory / name
        wrapper.write_text(
            "#!/bin/sh\n"
            f'printf "%s\\n" "$*" >> "{directory}/{name}.argv"\n'
            f'[ -n "$PGPASSWORD" ] && echo set >> "{directory}/{name}.pgpassword"\n'
            f'exec "{real}" "$@"\n')
        wrapper.chmod(0o755)
    return directory


@pytest.fixture(scope="module")
def backed_up(source, workdir):
    """`ingest db backup` of the source, with an old archive of ours and a file not ours in the
    directory, an upload command and recording pg_dump wrappers."""
    backups, uploads = workdir / "backups", workdir / "uploads"
    backups.mkdir()
    uploads.mkdir()
    old = backups / bk.backup_name(datetime.now(UTC) - timedelta(days=31))
    old.write_bytes(b"an old archive")
    foreign = backups / "deribit-ingest-notes.txt"
    foreign.write_text("not ours")
    bindir = _recording_bindir(workdir / "bin")
    started = time.monotonic()
    result = CliRunner().invoke(cli, [
        "db", "backup", "--dir", str(backups), "--keep-days", "30", "--pg-bindir", str(bindir),
        "--upload-cmd", f"cp {{}} {uploads}/"], env=_env(source))
    elapsed = time.monotonic() - started
    archives = bk.backups(backups)
    return {"result": result, "archives": archives, "old": old, "foreign": foreign, "uploads": uploads,
            "bindir": bindir, "seconds": elapsed, "dir": backups}


# --- what must be equal -----------------------------------------------------------------------------

def _rows(conn: psycopg.Connection, relation: str) -> list[tuple]:
    return sorted(conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(relation))).fetchall(), key=repr)


def _tables(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1")]


def _caggs(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT view_name FROM timescaledb_information.continuous_aggregates ORDER BY 1")]


def _jobs(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT proc_schema, proc_name, hypertable_name, config::text, schedule_interval, max_runtime, "
        "max_retries, retry_period, scheduled, owner FROM timescaledb_information.jobs ORDER BY job_id").fetchall()


def _privileges(conn: psycopg.Connection) -> dict[str, set]:
    """Every privilege our schema sets, by object, the database's own included; chunks left out (their
    names and number follow compression, which the job scheduler may do at any time)."""
    return {
        "database": set(conn.execute(
            "SELECT a.grantee::regrole::text, a.privilege_type, a.is_grantable FROM pg_database d, "
            "aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a WHERE d.datname = current_database()")),
        "relations": set(conn.execute(
            "SELECT c.relname, a.grantee::regrole::text, a.privilege_type FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a "
            "WHERE n.nspname = 'public' OR c.relname LIKE '\\_materialized\\_hypertable\\_%'")),
        "schemas": set(conn.execute(
            "SELECT n.nspname, a.grantee::regrole::text, a.privilege_type FROM pg_namespace n, "
            "aclexplode(n.nspacl) a")),
        "functions": set(conn.execute(
            "SELECT p.oid::regprocedure::text, a.grantee::regrole::text, a.privilege_type FROM pg_proc p, "
            "aclexplode(p.proacl) a")),
        "defaults": set(conn.execute(
            "SELECT d.defaclrole::regrole::text, d.defaclobjtype, a.grantee::regrole::text, a.privilege_type "
            "FROM pg_default_acl d, aclexplode(d.defaclacl) a")),
    }


def _view_definitions(conn: psycopg.Connection) -> dict[str, str]:
    """Every view's and continuous aggregate's definition in public, as PostgreSQL prints it."""
    return dict(conn.execute(
        "SELECT c.relname, pg_get_viewdef(c.oid, true) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')"))


def _without_literal_aliases(definition: str) -> str:
    return re.sub(r"('[^']*'::[a-z ]+) AS \w+", r"\1", definition)


# --- the round trip ---------------------------------------------------------------------------------

@pytest.mark.native
def test_backup_writes_one_private_archive_prunes_only_our_old_ones_and_uploads(backed_up, source):
    result = backed_up["result"]
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output and "postgres:***@127.0.0.1" in result.output
    [archive] = backed_up["archives"]  # the 31-day-old one is gone
    assert not backed_up["old"].exists() and backed_up["foreign"].read_text() == "not ours"
    assert sorted(p.name for p in backed_up["dir"].iterdir()) == sorted([archive.name, backed_up["foreign"].name])
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert abs(bk.backup_time(archive.name) - datetime.now(UTC)) < timedelta(minutes=5)
    assert archive.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert (backed_up["uploads"] / archive.name).read_bytes() == archive.read_bytes()
    assert f"backup {archive}" in result.output and "removed " + backed_up["old"].name in result.output
    # what `ps` showed: the conninfo without the password; the password reached pg_dump by PGPASSWORD
    argv = (backed_up["bindir"] / "pg_dump.argv").read_text()
    assert "--format=custom" in argv and "dbname='deribit'" in argv
    assert PASSWORD not in argv and "s3cr" not in argv and "password=" not in argv
    assert (backed_up["bindir"] / "pg_dump.pgpassword").read_text().strip() == "set"
    print(f"\nbackup of the test data: {archive.stat().st_size} bytes in {backed_up['seconds']:.2f} s")


@pytest.mark.native
def test_restore_into_an_empty_database_of_a_fresh_cluster_gives_everything_back(backed_up, source,
                                                                                  source_cluster, target_cluster):
    [archive] = backed_up["archives"]
    target_cluster.create_database("restored")
    target = target_cluster.url("restored")
    runner = CliRunner()

    # the fresh cluster lacks the roles the archive grants to: refused, nothing done
    refused = runner.invoke(cli, ["db", "restore", str(archive), "--yes"], env=_env(target))
    assert refused.exit_code == 1, refused.output
    assert "analyst" in refused.output and "ingest_writer" in refused.output and "CREATE ROLE" in refused.output
    with target_cluster.admin("restored") as conn:
        assert bk.objects_in(conn) == []
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone()[0] == 0
        # as docs/operations.md says: the roles as the migrations make them (passwords: apply-policies)
        conn.execute("CREATE ROLE analyst LOGIN")
        conn.execute("CREATE ROLE ingest_writer LOGIN")

    started = time.monotonic()
    restored = runner.invoke(cli, ["db", "restore", str(archive), "--yes"], env=_env(target))
    seconds = time.monotonic() - started
    assert restored.exit_code == 0, restored.output
    assert "TimescaleDB 2.23" in restored.output
    print(f"\nrestore of the test data: {seconds:.2f} s")

    with source_cluster.admin("deribit") as src, target_cluster.admin("restored") as dst:
        tables = _tables(src)
        assert {"perpetuals_ohlcv", "futures_ohlcv", "options_ohlcv", "funding_rates", "index_prices",
                "instruments", "alembic_version", "storage_settings"} <= set(tables)
        assert _tables(dst) == tables
        filled = 0
        for table in tables:
            rows = _rows(src, table)
            assert _rows(dst, table) == rows, table
            filled += bool(rows)
        assert filled >= 8  # the data tables, instruments, bookkeeping, storage settings, alembic_version
        caggs = _caggs(src)
        assert len(caggs) >= 6 and _caggs(dst) == caggs
        for cagg in caggs:
            rows = _rows(src, cagg)
            assert _rows(dst, cagg) == rows, cagg
        assert _rows(dst, "perpetuals_ohlcv_1h") and _rows(dst, "futures_ohlcv_1d")
        jobs = _jobs(src)
        assert any(j[1] == "policy_refresh_continuous_aggregate" for j in jobs)
        assert any(j[1] == "policy_compression" for j in jobs)
        assert _jobs(dst) == jobs
        assert _privileges(dst) == _privileges(src)
        # the restored jobs run: the scheduler of the target came back with timescaledb_post_restore()
        assert dst.execute("SHOW timescaledb.restoring").fetchone()[0] == "off"
        assert dst.execute("SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                           "WHERE d.datname = 'restored'").fetchone()[0] == 0
        assert dst.execute("SELECT hypertable_name FROM timescaledb_information.chunks "
                           "WHERE is_compressed AND hypertable_name = 'perpetuals_ohlcv'").fetchall()
    # drift as `ingest db status` sees it: the same as the source's
        # views and aggregates mean what they meant. PostgreSQL prints a re-parsed UNION's unnamed
        # columns with an alias ('futures_ohlcv'::text AS text): the only textual change a restore makes
        before, after = _view_definitions(src), _view_definitions(dst)
        assert len(before) >= 20 and after.keys() == before.keys()
        assert {v: _without_literal_aliases(d) for v, d in after.items()} == \
            {v: _without_literal_aliases(d) for v, d in before.items()}
        reworded = {v for v in before if after[v] != before[v]}
    # drift as `ingest db status` sees it: exactly the source's (the snapshot reads those rewordings as the
    # same definition), so a restored database does not report drift it does not have
    assert reworded  # the rewording this checks is still what a restore does
    assert schema.database_status(target)["drift"] == schema.database_status(source)["drift"]


@pytest.mark.native
def test_restore_refuses_a_database_that_is_not_empty(backed_up, source, source_cluster):
    [archive] = backed_up["archives"]
    with source_cluster.admin("deribit") as conn:
        before = conn.execute("SELECT count(*) FROM perpetuals_ohlcv").fetchone()[0]
    result = CliRunner().invoke(cli, ["db", "restore", str(archive), "--yes"], env=_env(source))
    assert result.exit_code == 1
    assert "is not empty" in result.output and "relation alembic_version" in result.output
    assert PASSWORD not in result.output
    with source_cluster.admin("deribit") as conn:
        assert conn.execute("SELECT count(*) FROM perpetuals_ohlcv").fetchone()[0] == before
        assert conn.execute("SHOW timescaledb.restoring").fetchone()[0] == "off"


@pytest.mark.native
def test_restore_refuses_an_archive_of_another_timescaledb_version(source_cluster, workdir):
    url = source_cluster.url("other_version", PASSWORD)
    source_cluster.create_database("other_version")
    with source_cluster.admin("other_version") as conn:
        conn.execute("CREATE EXTENSION timescaledb")
        conn.execute("CREATE TABLE t (ts timestamptz NOT NULL)")
        conn.execute("SELECT create_hypertable('t', 'ts')")
        # what an archive of an older TimescaleDB records
        conn.execute("UPDATE _timescaledb_catalog.metadata SET value = '2.22.1' WHERE key = 'timescaledb_version'")
    archive = bk.backup(url, workdir / "other-version").path
    assert bk.archive_facts(archive, bk.find_tool("pg_restore")).timescaledb_version == "2.22.1"
    source_cluster.create_database("other_target")
    result = CliRunner().invoke(cli, ["db", "restore", str(archive), "--yes"],
                                env=_env(source_cluster.url("other_target", PASSWORD)))
    assert result.exit_code == 1
    assert "TimescaleDB 2.22.1" in result.output and "2.23.0" in result.output
    with source_cluster.admin("other_target") as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone()[0] == 0


@pytest.mark.native
def test_backup_refuses_a_pg_dump_older_than_the_server_and_keeps_nothing(source, workdir):
    bindir = workdir / "old-bin"
    bindir.mkdir()
    (bindir / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 14.11'\n")
    (bindir / "pg_dump").chmod(0o755)
    target = workdir / "never-written"
    result = CliRunner().invoke(cli, ["db", "backup", "--dir", str(target), "--pg-bindir", str(bindir)],
                                env=_env(source))
    assert result.exit_code == 1
    assert "pg_dump 14.11" in result.output and "PostgreSQL 15" in result.output
    assert "postgresql-client-15" in result.output and "INGEST_PG_BINDIR" in result.output
    assert not target.exists() or not any(target.iterdir())


@pytest.mark.native
def test_a_failed_upload_keeps_the_archive_and_exits_3(source, workdir):
    directory = workdir / "upload-fails"
    command = "sh -c 'echo \"bucket refused $0\" >&2; exit 7' {}"
    result = CliRunner().invoke(cli, ["db", "backup", "--dir", str(directory), "--upload-cmd", command],
                                env=_env(source))
    assert result.exit_code == EXIT_UPLOAD_FAILED
    [archive] = bk.backups(directory)
    assert "exit status 7" in result.output and f"bucket refused {archive}" in result.output
    assert archive.stat().st_size > 0


def test_backup_of_an_unreachable_database_exits_4_without_the_password(workdir):
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{_free_port()}/deribit"
    result = CliRunner().invoke(cli, ["db", "backup", "--dir", str(workdir / "unreachable")], env=_env(url))
    assert result.exit_code == 4
    assert "cannot connect" in result.output and PASSWORD not in result.output and "s3cr" not in result.output


# --- pure parts -----------------------------------------------------------------------------------

@pytest.mark.unit
def test_prune_deletes_only_our_archives_older_than_keep_days_and_never_the_newest(tmp_path):
    now = datetime(2025, 3, 31, 2, 0, tzinfo=UTC)
    names = {
        "deribit-ingest-20250228T020000Z.dump": True,  # 31 days
        "deribit-ingest-20250301T015959Z.dump": True,  # 30 days and 1 second
        "deribit-ingest-20250301T020000Z.dump": False,  # exactly 30 days: kept
        "deribit-ingest-20250330T020000Z.dump": False,
        "deribit-ingest-20250101T000000Z.dump.bak": False,  # not ours
        "other-20250101T000000Z.dump": False,
        ".deribit-ingest-20250329T020000Z.dump.partial": True,  # a crashed run, two days ago
        ".deribit-ingest-20250331T015000Z.dump.partial": False,  # maybe still being written
    }
    for name in names:
        (tmp_path / name).write_text(name)
    removed = bk.prune(tmp_path, 30, now)
    assert sorted(p.name for p in removed) == sorted(n for n, gone in names.items() if gone)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, gone in names.items() if not gone)
    # a lone archive, however old, stays: a backup directory is never emptied
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "deribit-ingest-20200101T000000Z.dump").write_text("x")
    assert bk.prune(lone, 1, now) == [] and len(bk.backups(lone)) == 1


@pytest.mark.unit
def test_backup_names_carry_their_utc_time():
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert bk.backup_name(when) == "deribit-ingest-20250102T030405Z.dump"
    assert bk.backup_time("deribit-ingest-20250102T030405Z.dump") == when
    assert bk.backup_time("deribit-ingest-20250102T030405Z.dump.partial") is None


@pytest.mark.unit
def test_the_upload_command_gets_the_path_in_place_of_the_placeholder_or_at_the_end():
    path = Path("/var/backups/a b/deribit-ingest-20250102T030405Z.dump")
    assert bk.upload_command("aws s3 cp {} s3://bucket/deribit/", path) == [
        "aws", "s3", "cp", str(path), "s3://bucket/deribit/"]
    assert bk.upload_command("rclone copy --quiet", path) == ["rclone", "copy", "--quiet", str(path)]
    assert bk.upload_command("sh -c 'gzip -c \"$0\" > /mnt/x.gz' {}", path) == [
        "sh", "-c", 'gzip -c "$0" > /mnt/x.gz', str(path)]


@pytest.mark.unit
def test_the_upload_command_does_not_inherit_the_database_password(tmp_path, monkeypatch):
    monkeypatch.setenv("INGEST_DATABASE_URL", f"postgresql://u:{PASSWORD}@db/x")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    monkeypatch.setenv("AWS_PROFILE", "desk")
    archive = tmp_path / "a.dump"
    archive.write_text("x")
    out = tmp_path / "env.txt"
    result = bk.upload(f"sh -c 'env > {out}' {{}}", archive)
    assert result.ok
    env = out.read_text()
    assert "AWS_PROFILE=desk" in env and PASSWORD not in env and "INGEST_DATABASE_URL" not in env


@pytest.mark.unit
def test_libpq_args_keep_the_password_off_the_command_line():
    from psycopg.conninfo import conninfo_to_dict

    conninfo, env = bk.libpq_args(f"postgresql://ingest:{PASSWORD}@db.example:5433/deribit?sslmode=require")
    assert PASSWORD not in conninfo and "password" not in conninfo
    assert env["PGPASSWORD"] == PASSWORD
    assert conninfo_to_dict(conninfo) == {"user": "ingest", "host": "db.example", "port": "5433",
                                          "dbname": "deribit", "sslmode": "require"}
    conninfo, env = bk.libpq_args("host=db user='o\\'brien' dbname='desk data'")
    assert conninfo_to_dict(conninfo) == {"host": "db", "user": "o'brien", "dbname": "desk data"}
    assert "PGPASSWORD" not in env or env["PGPASSWORD"] == os.environ.get("PGPASSWORD")
    with pytest.raises(bk.BackupError, match="sslpassword"):
        bk.libpq_args("host=db dbname=x sslpassword=secret")


@pytest.mark.unit
def test_database_level_statements_and_roles_are_read_from_the_schema_script():
    script = "\n".join([
        'ALTER TABLE public.t OWNER TO "Desk Owner";',
        "REVOKE CONNECT,TEMPORARY ON DATABASE deribit FROM PUBLIC;",
        "GRANT TEMPORARY ON DATABASE deribit TO ingest_writer;",
        "GRANT SELECT ON TABLE public.t TO analyst WITH GRANT OPTION;",
        "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON TABLES TO analyst;",
    ])
    assert bk._roles_named(script) == {"Desk Owner", "ingest_writer", "analyst", "postgres"}
    m = bk._DATABASE_STATEMENT.match('ALTER DATABASE "my ""db""" SET search_path TO public;')
    assert m and m.group(2) == '"my ""db"""'


# --- the compose service ----------------------------------------------------------------------------

def _compose() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.mark.unit
def test_the_compose_backup_service_backs_up_the_stacks_database_into_a_volume():
    compose = _compose()
    services = compose["services"]
    # the rest of the stack as it was
    assert services["ingest"]["command"] == ["run"] and services["migrate"]["command"] == ["db", "upgrade"]
    backup = services["backup"]
    assert backup["environment"]["INGEST_DATABASE_URL"] == services["ingest"]["environment"]["INGEST_DATABASE_URL"]
    assert "backups:/backups" in backup["volumes"] and "backups" in compose["volumes"]
    assert backup["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    dockerfile = ROOT / backup["build"]["dockerfile"]
    # pg_dump of the database image's PostgreSQL major: pg_dump refuses a newer server
    major = services["timescaledb"]["image"].rsplit("-pg", 1)[1]
    text = dockerfile.read_text()
    assert f"postgresql-client-{major}" in text and f"INGEST_PG_BINDIR=/usr/lib/postgresql/{major}/bin" in text
    for copied in ("ingest", "migrations", "sql", "pyproject.toml"):
        assert copied in text and (ROOT / copied).exists()


@pytest.mark.unit
def test_the_compose_backup_loop_backs_up_then_sleeps_until_0230_utc(tmp_path):
    """The service's shell loop, run with `ingest` and `sleep` replaced by recorders: one backup, then
    a sleep that ends at the next 02:30 UTC."""
    backup = _compose()["services"]["backup"]
    assert backup["entrypoint"] == ["/bin/sh", "-c"]
    script = backup["command"][0].replace("$$", "$")  # compose's escape for a literal $
    (tmp_path / "ingest").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/ingest.args\n')
    (tmp_path / "sleep").write_text(f'#!/bin/sh\necho "$1" > {tmp_path}/sleep.arg\nkill -TERM $PPID\n')
    for stub in ("ingest", "sleep"):
        (tmp_path / stub).chmod(0o755)
    started = datetime.now(UTC)
    subprocess.run(["/bin/sh", "-c", script], env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
                   timeout=30)
    assert (tmp_path / "ingest.args").read_text().splitlines() == ["db backup --dir /backups --keep-days 30"]
    wake = started + timedelta(seconds=int((tmp_path / "sleep.arg").read_text()))
    expected = started.replace(hour=2, minute=30, second=0, microsecond=0)
    if expected <= started:
        expected += timedelta(days=1)
    assert abs(wake - expected) <= timedelta(seconds=5)
