"""Alembic environment: migrations run over psycopg 3 against INGEST_DATABASE_URL (or the DSN the
caller put in the Alembic config). The SQL itself lives in sql/; revisions only say which file runs.

Connections come from ingest.storage.db.connect, like every other command's: the same DSN shapes (URL or
key=value), the same normalisation, and errors that name the database with its password hidden.
SQLAlchemy gets the DSN only as a URL it never connects with (its dialect and its messages).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from ingest.storage.db import connect
from ingest.storage.schema import sqlalchemy_url

config = context.config


def _dsn() -> str:
    dsn = config.get_main_option("ingest.database_url")
    if dsn:
        return dsn
    from ingest.config import Settings

    return Settings.from_env().database_url


def run_migrations_offline() -> None:
    context.configure(dialect_name="postgresql", literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _job_scheduler(dsn: str, run: bool) -> None:
    """Pause (run=False) or resume TimescaleDB's job scheduler of this database around the migrations.

    On a server that runs jobs, a policy is due as soon as a revision creates it: its job then runs
    while later revisions remove or re-create policies, each waiting for the other's locks, and
    PostgreSQL kills one of them (`ingest db upgrade` fails with a deadlock, or the scheduler dies and no
    policy fires again until a restart). The extension is created first (revision 0001 does the same,
    IF NOT EXISTS) so that a fresh database's scheduler is paused too. The embedded server runs no jobs:
    both calls return false there. A role that may not call them migrates without the pause."""
    try:
        with connect(dsn, autocommit=True) as conn:
            if not run:
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("SELECT _timescaledb_functions.{}_background_workers()".format("start" if run else "stop"))
    except Exception as exc:  # noqa: BLE001 - the pause is a precaution, never a reason to fail
        import logging

        from ingest.config import error_line

        logging.getLogger("alembic").warning("job scheduler not %s: %s", "resumed" if run else "paused",
                                             error_line(exc, dsn))


def run_migrations_online() -> None:
    dsn = _dsn()
    engine = create_engine(sqlalchemy_url(dsn), creator=lambda: connect(dsn), poolclass=pool.NullPool)
    _job_scheduler(dsn, run=False)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
        if config.get_main_option("ingest.resume_jobs", "true") != "false":
            _job_scheduler(dsn, run=True)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
