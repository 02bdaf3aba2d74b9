"""`ingest db backup` and `ingest db restore`: the click layer over ingest/backup.py."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ingest.backup import (
    DEFAULT_BACKUP_DIR,
    DEFAULT_KEEP_DAYS,
    UPLOAD_PLACEHOLDER,
    describe_size,
)

# `ingest db backup`: the archive is written and kept, but the upload command failed
EXIT_UPLOAD_FAILED = 3

_PG_BINDIR = click.option(
    "--pg-bindir", envvar="INGEST_PG_BINDIR", show_envvar=True, metavar="DIR",
    help="Directory of the pg_dump/pg_restore to use (default: the newest on PATH or in "
         "/usr/lib/postgresql/*/bin).")


def _settings_and_failure():
    from ingest.cli import _settings, database_failure

    return _settings(), database_failure


@click.command("backup")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_BACKUP_DIR,
              envvar="INGEST_BACKUP_DIR", show_envvar=True, show_default=True,
              help="Where the archives go (created 0700 if missing).")
@click.option("--keep-days", type=click.IntRange(min=1), default=DEFAULT_KEEP_DAYS, show_default=True,
              help="Delete this command's archives older than this many days (by the time in their name; "
                   "never the newest, never another file).")
@click.option("--upload-cmd", envvar="INGEST_BACKUP_UPLOAD_CMD", show_envvar=True, metavar="CMD",
              help=f"Run after a successful backup, {UPLOAD_PLACEHOLDER} replaced by the archive's path "
                   "(appended if absent). Split like a shell line but run without a shell; it does not "
                   "inherit INGEST_DATABASE_URL or PGPASSWORD.")
@_PG_BINDIR
def backup_command(directory: Path, keep_days: int, upload_cmd: str | None, pg_bindir: str | None) -> None:
    """Back up INGEST_DATABASE_URL: pg_dump custom format (-Fc) into DIR as
    deribit-ingest-<UTC time>.dump, written under a temporary name and renamed when whole.

    Needs a pg_dump of the server's major version or later (the embedded server is PostgreSQL 17).
    The password goes to pg_dump through PGPASSWORD, never on its command line. Restore with
    `ingest db restore FILE` into an empty database (docs/operations.md).

    Exit status: 0 done, 1 the backup failed (nothing kept), 3 backed up but the upload command
    failed, 4 the database cannot be reached.

    \b
    Example:
        ingest db backup --dir /var/lib/deribit-ingest/backups --keep-days 30
        ingest db backup --upload-cmd 'aws s3 cp {} s3://desk-backups/deribit/'
    """
    from ingest.backup import backup
    from ingest.storage.db import DatabaseError

    settings, database_failure = _settings_and_failure()
    try:
        result = backup(settings.database_url, directory, keep_days=keep_days, upload_cmd=upload_cmd,
                        bindir=pg_bindir)
    except DatabaseError as exc:
        raise database_failure(exc, settings.database_url) from None
    click.echo(f"backup {result.path} ({describe_size(result.size)} in {result.seconds:.1f} s) of "
               f"{settings.safe_database_url} (PostgreSQL {result.server_version}, pg_dump {result.tool.version})")
    for path in result.removed:
        click.echo(f"  removed {path.name} (older than {keep_days} days)")
    if result.upload is not None:
        if result.upload.ok:
            click.echo(f"  uploaded: {' '.join(result.upload.command)}")
        else:
            click.echo(f"Error: upload command failed (exit status {result.upload.returncode}): "
                       f"{result.upload.message or 'no message'}; the backup stays in {result.path}", err=True)
            sys.exit(EXIT_UPLOAD_FAILED)


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_PG_BINDIR
def restore_command(file: Path, yes: bool, pg_bindir: str | None) -> None:
    """Restore an archive of `ingest db backup` into INGEST_DATABASE_URL, which must be an empty
    database (a new one: CREATE DATABASE, or dropdb + createdb); a database holding anything is refused.

    TimescaleDB's procedure: the extension created at the archive's TimescaleDB version (refused if the
    server lacks it), timescaledb_pre_restore(), pg_restore, timescaledb_post_restore(), ANALYZE.
    Owners, privileges (the database's own included), policies and jobs come back as they were. Roles
    belong to the cluster: every role the archive names (analyst, ingest_writer, owners) must exist
    first, else nothing is done and the missing ones are named. Connect as a superuser.

    Exit status: 0 restored, 1 refused or failed, 4 the database cannot be reached.

    \b
    Example:
        createdb -h db -U postgres deribit_restored
        INGEST_DATABASE_URL=postgresql://postgres@db/deribit_restored \\
            ingest db restore .data/backups/deribit-ingest-20250101T020000Z.dump --yes
    """
    from ingest.backup import restore
    from ingest.storage.db import DatabaseError

    settings, database_failure = _settings_and_failure()
    if not yes:
        click.confirm(f"Restore {file} into {settings.safe_database_url}?", abort=True)
    try:
        result = restore(settings.database_url, file, bindir=pg_bindir)
    except DatabaseError as exc:
        raise database_failure(exc, settings.database_url) from None
    facts = result.facts
    click.echo(f"restored {file} into {settings.safe_database_url} in {result.seconds:.1f} s "
               f"(from database {facts.dbname}, PostgreSQL {facts.dumped_from}, "
               f"TimescaleDB {facts.timescaledb_version or 'unknown'}; pg_restore {result.tool.version})")
