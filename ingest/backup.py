"""Backups that restore: pg_dump archives of the database, and their restore into an empty database.

`backup` writes a custom-format archive (pg_dump -Fc) named by its UTC time into a directory, under a
temporary name first so that a file with a backup's name is always whole, deletes our own archives
older than `keep_days`, and hands the new file to an upload command. `restore` loads such an archive
into an empty database following TimescaleDB's procedure: the extension created at the archive's
TimescaleDB version, `timescaledb_pre_restore()`, pg_restore, `timescaledb_post_restore()`, ANALYZE.
docs/operations.md says how to schedule them and what a production desk needs beyond them.

The database password reaches pg_dump/pg_restore through PGPASSWORD in their environment, never on a
command line; every message of theirs is shown redacted.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from ingest.storage.db import DatabaseError, connect
from ingest.storage.dsn import dsn_params, redact_dsn

DEFAULT_BACKUP_DIR = Path(".data/backups")
DEFAULT_KEEP_DAYS = 30

# Our archives, and nothing else, match this: retention never touches another file in the directory.
BACKUP_PREFIX = "deribit-ingest-"
BACKUP_SUFFIX = ".dump"
TIME_FORMAT = "%Y%m%dT%H%M%SZ"
BACKUP_NAME = re.compile(rf"^{re.escape(BACKUP_PREFIX)}(\d{{8}}T\d{{6}}Z){re.escape(BACKUP_SUFFIX)}$")
# pg_dump writes here first; left behind only by a crash (removed once a day old)
PARTIAL_NAME = re.compile(rf"^\.{re.escape(BACKUP_PREFIX)}(\d{{8}}T\d{{6}}Z){re.escape(BACKUP_SUFFIX)}\.partial$")
PARTIAL_MAX_AGE = timedelta(days=1)

# `--upload-cmd`: this token stands for the archive's path (quoted by us; no shell runs the command)
UPLOAD_PLACEHOLDER = "{}"
# what the upload command does not inherit: the database's DSNs and passwords
_NOT_FOR_UPLOAD = ("PGPASSWORD", "INGEST_DATABASE_URL", "INGEST_TEST_DATABASE_URL",
                   "INGEST_WRITER_PASSWORD", "INGEST_ANALYST_PASSWORD")

# where PostgreSQL client programs live besides PATH (Debian/Ubuntu, then RHEL's PGDG layout)
_CLIENT_DIRS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")

# schemas of a database that is still empty (the extensions' own schemas are recognised by pg_depend)
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "public")


class BackupError(DatabaseError):
    """A backup or restore that could not be done; the message is redacted and says what to do."""


@dataclass(frozen=True)
class Tool:
    """A PostgreSQL client program and its version."""

    path: str
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


@dataclass
class UploadResult:
    command: list[str]
    returncode: int
    message: str  # the command's last line of output, redacted

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class BackupResult:
    path: Path
    size: int
    seconds: float
    server_version: str
    tool: Tool
    removed: list[Path] = field(default_factory=list)
    upload: UploadResult | None = None


@dataclass
class ArchiveFacts:
    """What restore needs to know about an archive before touching the target."""

    dbname: str
    dumped_from: str  # PostgreSQL version of the source
    dumped_by: str  # pg_dump version
    timescaledb_version: str | None
    roles: set[str]  # owners and grantees the archive names
    # GRANT/REVOKE ON DATABASE, ALTER DATABASE ... SET, ...: the text before and after the database name
    database_statements: list[tuple[str, str]]


@dataclass
class RestoreResult:
    archive: Path
    seconds: float
    facts: ArchiveFacts
    tool: Tool


# --- names and retention -------------------------------------------------------------------------

def backup_name(when: datetime) -> str:
    return f"{BACKUP_PREFIX}{when.astimezone(UTC).strftime(TIME_FORMAT)}{BACKUP_SUFFIX}"


def backup_time(name: str) -> datetime | None:
    """The UTC time in one of our archives' names; None for any other file name."""
    m = BACKUP_NAME.match(name)
    return datetime.strptime(m.group(1), TIME_FORMAT).replace(tzinfo=UTC) if m else None


def backups(directory: Path) -> list[Path]:
    """Our archives in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    found = [(backup_time(p.name), p) for p in directory.iterdir() if p.is_file()]
    return [p for when, p in sorted((w, p) for w, p in found if w is not None)]


def prune(directory: Path, keep_days: int, now: datetime) -> list[Path]:
    """Delete our archives older than `keep_days` (by the time in their name) and partial files a day
    old; never the newest archive, and nothing that is not ours. Returns what was deleted."""
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    cutoff = now - timedelta(days=keep_days)
    ours = backups(directory)
    removed = []
    for path in ours[:-1]:
        if backup_time(path.name) < cutoff:
            path.unlink()
            removed.append(path)
    for path in directory.iterdir():
        m = PARTIAL_NAME.match(path.name)
        if m and datetime.strptime(m.group(1), TIME_FORMAT).replace(tzinfo=UTC) < now - PARTIAL_MAX_AGE:
            path.unlink()
            removed.append(path)
    return removed


# --- client programs ---------------------------------------------------------------------------

def tool_version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?)", out)
    if not m:
        raise BackupError(f"{path} --version did not say its PostgreSQL version: {out.strip()[:100]!r}")
    return m.group(1)


def find_tool(name: str, bindir: str | os.PathLike | None = None, *, at_least: int | None = None) -> Tool:
    """The newest `name` (pg_dump, pg_restore) found in `bindir` if given, else on PATH and in the usual
    PostgreSQL directories; BackupError if none, or if the newest is older than major `at_least`."""
    if bindir:
        candidates = [str(Path(bindir) / name)]
    else:
        on_path = shutil.which(name)
        candidates = ([on_path] if on_path else []) + sorted(
            p for pattern in _CLIENT_DIRS for p in glob.glob(f"{pattern}/{name}"))
    tools = [Tool(p, tool_version(p)) for p in candidates if os.access(p, os.X_OK)]
    if not tools:
        where = f"in {bindir}" if bindir else "on PATH or in /usr/lib/postgresql/*/bin"
        raise BackupError(f"{name} not found {where}: install PostgreSQL's client programs "
                          "(Debian: postgresql-client-NN) or set INGEST_PG_BINDIR")
    best = max(tools, key=lambda t: tuple(int(x) for x in t.version.split(".")))
    if at_least is not None and best.major < at_least:
        raise BackupError(f"{name} {best.version} ({best.path}) cannot work with a PostgreSQL {at_least} server: "
                          f"install the client programs of PostgreSQL {at_least} or later "
                          f"(Debian: postgresql-client-{at_least}) and point INGEST_PG_BINDIR at their bin directory")
    return best


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def libpq_args(database_url: str) -> tuple[str, dict[str, str]]:
    """The DSN split for a client program: a key=value conninfo without the password (safe on a command
    line) and the environment with PGPASSWORD set from it."""
    params = dsn_params(database_url)
    password = params.pop("password", None)
    secrets = [k for k in params if re.search(r"pass|pwd", k, re.IGNORECASE)]
    if secrets:
        raise BackupError(f"{', '.join(secrets)} cannot be passed to pg_dump/pg_restore without putting it "
                          "on a command line: use a key without a passphrase, or a PGSERVICEFILE")
    conninfo = " ".join(f"{k}={_quote(v)}" for k, v in params.items())
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    return conninfo, env


def _run(cmd: list[str], env: dict[str, str], database_url: str, what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError(f"{what} failed (exit status {proc.returncode}): {_first_error(proc.stderr, database_url)}")
    return proc


def _first_error(stderr: str, database_url: str) -> str:
    lines = [line.strip() for line in redact_dsn(stderr, database_url).splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line or "FATAL" in line or "ERROR" in line]
    return (errors or lines or ["no message"])[0]


# --- backup --------------------------------------------------------------------------------------

def _server(database_url: str) -> tuple[int, str]:
    with connect(database_url) as conn:
        return conn.info.server_version // 10000, conn.execute("SHOW server_version").fetchone()[0]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(database_url: str, directory: Path = DEFAULT_BACKUP_DIR, *, keep_days: int = DEFAULT_KEEP_DAYS,
           upload_cmd: str | None = None, bindir: str | None = None, now: datetime | None = None) -> BackupResult:
    """pg_dump -Fc of `database_url` into `directory`/deribit-ingest-<UTC time>.dump, then retention,
    then the upload command (its failure is in the result, the archive stays). BackupError (redacted)
    when the archive cannot be written; DatabaseUnavailable when the database cannot be reached."""
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    server_major, server_version = _server(database_url)
    tool = find_tool("pg_dump", bindir, at_least=server_major)
    conninfo, env = libpq_args(database_url)
    now = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = directory / backup_name(now)
    if final.exists():
        raise BackupError(f"{final} already exists (one backup per second at most)")
    partial = directory / f".{final.name}.partial"
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # private before pg_dump writes
    started = time.monotonic()
    try:
        # -w: never prompt (a timer has no terminal); no -j: one consistent snapshot in one file
        _run([tool.path, "--format=custom", "--no-password", "--file", str(partial), "--dbname", conninfo],
             env, database_url, f"pg_dump {tool.version}")
        _fsync(partial)
        os.replace(partial, final)
        _fsync(directory)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    result = BackupResult(path=final, size=final.stat().st_size, seconds=time.monotonic() - started,
                          server_version=server_version, tool=tool)
    result.removed = prune(directory, keep_days, now)
    if upload_cmd:
        result.upload = upload(upload_cmd, final, database_url)
    return result


def upload_command(template: str, path: Path) -> list[str]:
    """The upload command's words with every `{}` replaced by the archive's path (appended when the
    template has none). No shell: `sh -c '... "$1"' sh {}` when one is wanted."""
    words = shlex.split(template)
    if not words:
        raise BackupError("--upload-cmd is empty")
    if not any(UPLOAD_PLACEHOLDER in w for w in words):
        return [*words, str(path)]
    return [w.replace(UPLOAD_PLACEHOLDER, str(path)) for w in words]


def upload(template: str, path: Path, database_url: str | None = None) -> UploadResult:
    """Run the upload command for `path`, without the database's DSNs and passwords in its environment."""
    command = upload_command(template, path)
    env = {k: v for k, v in os.environ.items() if k not in _NOT_FOR_UPLOAD}
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except OSError as exc:
        return UploadResult(command, 127, f"cannot run {command[0]}: {exc.strerror}")
    lines = [line.strip() for line in (proc.stderr + "\n" + proc.stdout).splitlines() if line.strip()]
    message = redact_dsn(lines[0] if proc.returncode and lines else (lines[-1] if lines else ""), database_url)
    return UploadResult(command, proc.returncode, message)


# --- restore -------------------------------------------------------------------------------------

_HEADER = re.compile(r"^;\s+(dbname|Dumped from database version|Dumped by pg_dump version):\s*(.*)$", re.M)
_IDENT = r'(?:"(?:[^"]|"")+"|[^\s,;"]+)'
_DATABASE_STATEMENT = re.compile(
    rf"^(?:(?:GRANT|REVOKE) .* ON DATABASE ({_IDENT}) (?:TO|FROM) .*"
    rf"|ALTER DATABASE ({_IDENT}) (?:SET|RESET) .*"
    rf"|ALTER ROLE {_IDENT} IN DATABASE ({_IDENT}) (?:SET|RESET) .*"
    rf"|COMMENT ON DATABASE ({_IDENT}) IS .*);$")


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident


def _roles_named(script: str) -> set[str]:
    """Owners and grantees a schema script names (PUBLIC is no role)."""
    roles = set()
    for m in re.finditer(rf"OWNER TO ({_IDENT});$", script, re.M):
        roles.add(_unquote(m.group(1)))
    for m in re.finditer(rf"FOR ROLE ({_IDENT}) ", script):
        roles.add(_unquote(m.group(1)))
    for m in re.finditer(r"^(?:ALTER DEFAULT PRIVILEGES .*?)?(?:GRANT|REVOKE) .* (?:TO|FROM) (.+);$", script, re.M):
        grantees = re.sub(r" (WITH GRANT OPTION|GRANTED BY .*)$", "", m.group(1))
        for ident in re.findall(_IDENT, grantees):
            if ident.upper() != "PUBLIC":
                roles.add(_unquote(ident))
    return roles


def archive_facts(archive: Path, tool: Tool, database_url: str = "") -> ArchiveFacts:
    """Read what restore checks from the archive: its header, the TimescaleDB version recorded in
    _timescaledb_catalog.metadata, the roles it names and the database-level statements (which
    pg_restore only runs with --create, i.e. into a database of the archive's own name)."""
    env = dict(os.environ)
    header = _run([tool.path, "--list", str(archive)], env, database_url, "pg_restore --list").stdout
    info = dict(_HEADER.findall(header))
    schema = _run([tool.path, "--create", "--schema-only", "--file", "-", str(archive)], env, database_url,
                  "pg_restore --schema-only").stdout
    statements = []
    for line in schema.splitlines():
        m = _DATABASE_STATEMENT.match(line)
        if m and "timescaledb.restoring" not in line:
            group = next(i for i, g in enumerate(m.groups(), 1) if g)
            # kept as the text around the archive's database name, which becomes the target's
            statements.append((line[:m.start(group)], line[m.end(group):]))
    metadata = _run([tool.path, "--data-only", "--schema", "_timescaledb_catalog", "--table", "metadata",
                     "--file", "-", str(archive)], env, database_url, "pg_restore --data-only").stdout
    version = re.search(r"^timescaledb_version\t([^\t\n]+)", metadata, re.M)
    return ArchiveFacts(
        dbname=info.get("dbname", ""),
        dumped_from=info.get("Dumped from database version", "?"),
        dumped_by=info.get("Dumped by pg_dump version", "?"),
        timescaledb_version=version.group(1) if version else None,
        roles=_roles_named(schema),
        database_statements=statements,
    )


def objects_in(conn: psycopg.Connection, limit: int = 5) -> list[str]:
    """What makes a database not empty: schemas, relations and functions that belong to no extension."""
    not_extension = """NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = {cls}::regclass
                       AND d.objid = {oid} AND d.deptype = 'e')"""
    rows = conn.execute(f"""
        SELECT found FROM (
        SELECT 'schema ' || n.nspname AS found FROM pg_namespace n
        WHERE n.nspname <> ALL(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'
          AND {not_extension.format(cls="'pg_namespace'", oid="n.oid")}
        UNION ALL
        SELECT 'relation ' || c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_%%' AND {not_extension.format(cls="'pg_class'", oid="c.oid")}
        UNION ALL
        SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND {not_extension.format(cls="'pg_proc'", oid="p.oid")}
        ) objects
        -- the tables and views one knows first; functions, then TimescaleDB's internal relations after
        ORDER BY found LIKE '%%\\_timescaledb\\_%%', found NOT LIKE 'relation %%', found
        LIMIT %(limit)s""", {"system": list(_SYSTEM_SCHEMAS), "limit": limit}).fetchall()
    return [r[0] for r in rows]


def _prepare_target(conn: psycopg.Connection, facts: ArchiveFacts, safe_url: str) -> str:
    """Refuse a target that is not empty, lacks a role or cannot have the archive's TimescaleDB; then
    create the extension at that version. Returns the target's database name."""
    found = objects_in(conn)
    if found:
        raise BackupError(f"{safe_url} is not empty ({', '.join(found)}{', ...' if len(found) == 5 else ''}): "
                          "restore only into a new database (CREATE DATABASE ...; or dropdb/createdb)")
    existing = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
    missing = sorted(facts.roles - existing)
    if missing:
        create = " ".join(f"CREATE ROLE {sql.Identifier(r).as_string(conn)};" for r in missing)
        raise BackupError(f"the archive names roles this server lacks: {', '.join(missing)}. Roles belong to "
                          f"the cluster, not the archive: create them first ({create}) and set their "
                          "passwords afterwards (ingest db apply-policies)")
    wanted = facts.timescaledb_version
    installed = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if installed and wanted and installed[0] != wanted:
        raise BackupError(f"the archive is of TimescaleDB {wanted}, {safe_url} has {installed[0]} installed: "
                          f"restore into a new database of a server that offers {wanted}, then "
                          "ALTER EXTENSION timescaledb UPDATE")
    if not installed:
        available = [r[0] for r in conn.execute(
            "SELECT version FROM pg_available_extension_versions WHERE name = 'timescaledb'")]
        if wanted and wanted not in available:
            raise BackupError(f"the archive is of TimescaleDB {wanted}; this server offers "
                              f"{', '.join(sorted(available)) or 'no TimescaleDB'}: install {wanted} on it (the "
                              "versions must match for pg_restore), restore, then ALTER EXTENSION timescaledb UPDATE")
        if wanted:
            conn.execute(sql.SQL("CREATE EXTENSION timescaledb VERSION {}").format(sql.Literal(wanted)))
        else:
            conn.execute("CREATE EXTENSION timescaledb")
    return conn.execute("SELECT current_database()").fetchone()[0]


def restore(database_url: str, archive: Path, *, bindir: str | None = None) -> RestoreResult:
    """Restore `archive` (made by `backup`) into the empty database `database_url`, owners, privileges,
    policies and jobs included. BackupError, with nothing changed, when the target is not empty, lacks
    a role the archive names or cannot have the archive's TimescaleDB version."""
    safe_url = redact_dsn(database_url, database_url)
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file")
    tool = find_tool("pg_restore", bindir)
    facts = archive_facts(archive, tool, database_url)
    conninfo, env = libpq_args(database_url)
    started = time.monotonic()
    with connect(database_url, autocommit=True) as conn:
        target = _prepare_target(conn, facts, safe_url)
        # stops the target's background workers and sets timescaledb.restoring for new sessions
        conn.execute("SELECT timescaledb_pre_restore()")
    try:
        # no --jobs: TimescaleDB's catalogs must be restored in one session's order;
        # --exit-on-error: a restore that hit an error is no restore
        _run([tool.path, "--no-password", "--exit-on-error", "--dbname", conninfo, str(archive)],
             env, database_url, f"pg_restore {tool.version}")
        with connect(database_url, autocommit=True) as conn:
            name = sql.Identifier(target).as_string(conn)
            for before, after in facts.database_statements:
                conn.execute(before + name + after)
    except BaseException as exc:
        try:
            _post_restore(database_url)
        except DatabaseError:
            pass  # the error that stopped the restore is the one to report
        if isinstance(exc, BackupError):
            raise BackupError(f"{exc}; {safe_url} holds a partial restore: drop it, create it empty and "
                              "restore again") from None
        raise
    _post_restore(database_url)
    with connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE")  # pg_restore restores no planner statistics
    return RestoreResult(archive=archive, seconds=time.monotonic() - started, facts=facts, tool=tool)


def _post_restore(database_url: str) -> None:
    with connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT timescaledb_post_restore()")


def describe_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


__all__ = [
    "ArchiveFacts",
    "BackupError",
    "BackupResult",
    "DEFAULT_BACKUP_DIR",
    "DEFAULT_KEEP_DAYS",
    "RestoreResult",
    "Tool",
    "UploadResult",
    "archive_facts",
    "backup",
    "backup_name",
    "backup_time",
    "backups",
    "find_tool",
    "libpq_args",
    "objects_in",
    "prune",
    "restore",
    "upload",
    "upload_command",
]
