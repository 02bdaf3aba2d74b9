"""Alembic owns the schema; this module is the plain Python API over it (used by `ingest db ...`,
the Makefile and the tests) plus the helpers migrations call to run files from sql/.

Migrations are history. Revision NNNN is migrations/versions/NNNN_<name>.py and runs only its own SQL,
sql/revisions/NNNN_<name>.sql (+ .down.sql) or the files of the folder sql/revisions/NNNN_<name>/.
Once released, neither changes: migrations/released_revisions.txt holds a hash per released revision
(revision_hash) and tests/test_migration_history.py fails when one differs. Head's definitions are in
the generated snapshot migrations/schema_snapshot.json (ingest.storage.schema_snapshot).

    python -m ingest.storage.schema snapshot          # regenerate the snapshot (fresh embedded database)
    python -m ingest.storage.schema snapshot --check  # exit 1 when the checked-in snapshot is not head's
    python -m ingest.storage.schema hashes            # the hash of every revision, released or not
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from ingest.storage.sqlfiles import SQL_DIR, needs_autocommit, run_file, sql_path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
MIGRATIONS_DIR = REPO_ROOT / "migrations"
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
REVISIONS_SQL_DIR = SQL_DIR / "revisions"
RELEASED_FILE = MIGRATIONS_DIR / "released_revisions.txt"


def sqlalchemy_url(url: str | None) -> str:
    """Any DSN libpq takes (URL or key=value; INGEST_DATABASE_URL when None) as a SQLAlchemy URL for
    psycopg 3: postgresql+psycopg://user:password@host:port/dbname?other=params. A host list, a
    socket directory or a non-numeric port go in the query, where SQLAlchemy's psycopg dialect reads
    them. DsnError (password-free) for a DSN libpq would reject."""
    from sqlalchemy.engine import URL

    from ingest.storage.dsn import dsn_params

    if not url:
        from ingest.config import Settings

        url = Settings.from_env().database_url
    params = dsn_params(url)
    user, password, dbname = params.pop("user", None), params.pop("password", None), params.pop("dbname", None)
    host, port = params.get("host"), params.get("port")
    single_tcp_host = host is not None and "," not in host and not host.startswith("/")
    if single_tcp_host and (port is None or port.isdigit()):
        params.pop("host")
        params.pop("port", None)
    else:
        host = port = None
    return URL.create("postgresql+psycopg", username=user, password=password, host=host,
                      port=int(port) if port else None, database=dbname,
                      query=params).render_as_string(hide_password=False)


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates '%': a password may contain one
    cfg.set_main_option("ingest.database_url", database_url.replace("%", "%%"))
    return cfg


def _migration_config(database_url: str, resume_jobs: bool) -> Config:
    cfg = alembic_config(database_url)
    if not resume_jobs:
        cfg.set_main_option("ingest.resume_jobs", "false")
    return cfg


def upgrade(database_url: str, revision: str = "head", resume_jobs: bool = True) -> None:
    """Migrate to `revision`. The database's job scheduler is paused meanwhile (migrations/env.py) and
    resumed afterwards unless `resume_jobs` is false (a test that reads the rows before retention may
    drop them resumes it itself: `_timescaledb_functions.start_background_workers()`)."""
    command.upgrade(_migration_config(database_url, resume_jobs), revision)


def downgrade(database_url: str, revision: str = "base", resume_jobs: bool = True) -> None:
    """Migrate down to `revision`; the job scheduler as in upgrade()."""
    command.downgrade(_migration_config(database_url, resume_jobs), revision)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(conn: psycopg.Connection) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    row = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not row[0]:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


# --- helpers for migration scripts --------------------------------------------------------------

def _migration_connection() -> psycopg.Connection:
    from alembic import op

    return op.get_bind().connection.driver_connection


def run_sql(relpath: str) -> None:
    """Run sql/<relpath> from inside a migration (autocommit files outside the transaction)."""
    _run_path(sql_path(relpath))


def _run_path(path: Path) -> None:
    from alembic import op

    if needs_autocommit(path.read_text()):
        with op.get_context().autocommit_block():
            run_file(_migration_connection(), path)
    else:
        run_file(_migration_connection(), path)


__all__ = [
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "released_hashes",
    "revision_hash",
    "run_sql",
    "sqlalchemy_url",
    "upgrade",
]


def revision_files(revision: str, root: Path = REPO_ROOT) -> list[Path]:
    """The files revision `revision` consists of, under the repository `root`: its migration script and
    every file of its SQL (sql/revisions/<revision>_*, a file or a folder), in a stable order."""
    scripts = sorted((root / VERSIONS_DIR.relative_to(REPO_ROOT)).glob(f"{revision}_*.py"))
    if len(scripts) != 1:
        raise FileNotFoundError(f"revision {revision}: expected one migrations/versions/{revision}_*.py, "
                                f"found {len(scripts)}")
    sql: list[Path] = []
    for path in sorted((root / REVISIONS_SQL_DIR.relative_to(REPO_ROOT)).glob(f"{revision}_*")):
        sql.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return scripts + sql


def revision_hash(revision: str, root: Path = REPO_ROOT) -> str:
    """sha256 over the revision's files (their paths and contents, line endings normalised)."""
    digest = hashlib.sha256()
    for path in revision_files(revision, root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def all_revisions() -> list[str]:
    """Every revision of migrations/versions, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(""))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def released_hashes(path: Path = RELEASED_FILE) -> dict[str, str]:
    """{revision: hash} of the released revisions (lines `NNNN <sha256> <script>`; '#' comments)."""
    released: dict[str, str] = {}
    if not path.is_file():
        return released
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            revision, digest = line.split()[:2]
            released[revision] = digest
    return released


def database_status(database_url: str) -> dict:
    """What `ingest db status` prints: versions, the schema revision against head, hypertables, and,
    at head, drift: every object whose definition differs from head's snapshot (`drift`, a problem)
    and the policies/storage settings that differ from head's defaults (`settings_changed`, a note)."""
    from ingest.storage import schema_snapshot
    from ingest.storage.db import connection, server_versions

    with connection(database_url) as conn:
        info = server_versions(conn)
        current = current_revision(conn)
        hypertables = [r[0] for r in conn.execute(
            "SELECT hypertable_name::text FROM timescaledb_information.hypertables ORDER BY 1")] \
            if info["timescaledb"] else []
        head = head_revision()
        actual = schema_snapshot.take(conn) if current == head else None
    drift: list[str] = []
    settings_changed: list[str] = []
    snapshot_head = None
    if actual is not None:
        expected = schema_snapshot.load()
        snapshot_head = expected.get("head")
        # a snapshot of another revision (a new revision without `make schema-snapshot`) says nothing
        if snapshot_head == head:
            drift = schema_snapshot.differences(expected, actual)
            settings_changed = schema_snapshot.differences(expected, actual, schema_snapshot.SETTINGS_SECTIONS)
    return {**info, "revision": current, "head": head, "at_head": current == head,
            "hypertables": hypertables, "drift": drift, "settings_changed": settings_changed,
            "snapshot_head": snapshot_head}


# --- python -m ingest.storage.schema: the snapshot and the hashes -----------------------------------------

def generate_snapshot(database_url: str | None = None) -> dict:
    """Head's snapshot, from `database_url` migrated base -> head (it must be empty: at base), or from a
    throw-away in-memory embedded database when None."""
    from ingest.storage import schema_snapshot

    def build(url: str) -> dict:
        with psycopg.connect(url, autocommit=True) as conn:
            if current_revision(conn) is not None:
                raise RuntimeError("the database is migrated already: a snapshot is taken base -> head")
        upgrade(url, "head")
        with psycopg.connect(url, autocommit=True) as conn:
            snap = schema_snapshot.take(conn)
        return {"head": head_revision(), **snap}

    if database_url:
        return build(database_url)
    from ingest.embedded import EmbeddedServer

    with EmbeddedServer(data="memory") as server:
        return build(server.url)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from ingest.storage import schema_snapshot

    parser = argparse.ArgumentParser(prog="python -m ingest.storage.schema", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    snap = sub.add_parser("snapshot", help="write head's schema snapshot (migrations/schema_snapshot.json)")
    snap.add_argument("--check", action="store_true", help="only compare; exit 1 when it differs")
    snap.add_argument("--database-url", help="an empty database to migrate (default: embedded, in memory)")
    sub.add_parser("hashes", help="print `revision hash script` for every revision")
    args = parser.parse_args(argv)

    if args.command == "hashes":
        released = released_hashes()
        for revision in all_revisions():
            digest = revision_hash(revision)
            note = "" if revision not in released else (
                "  # released" if released[revision] == digest else "  # RELEASED WITH ANOTHER HASH")
            print(f"{revision} {digest} {revision_files(revision)[0].name}{note}")
        return 0

    fresh = schema_snapshot.dumps(generate_snapshot(args.database_url))
    path = schema_snapshot.SNAPSHOT_PATH
    if args.check:
        same = path.is_file() and path.read_text() == fresh
        state = "up to date" if same else "differs from head (python -m ingest.storage.schema snapshot)"
        print(f"{path.name}: {state}")
        return 0 if same else 1
    path.write_text(fresh)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
