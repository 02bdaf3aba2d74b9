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


def run_migrations_online() -> None:
    dsn = _dsn()
    engine = create_engine(sqlalchemy_url(dsn), creator=lambda: connect(dsn), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
