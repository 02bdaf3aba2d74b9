"""Alembic environment: migrations run over psycopg 3 against INGEST_DATABASE_URL (or the URL the
caller put in the Alembic config). The SQL itself lives in sql/; revisions only say which file runs."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from ingest.schema import sqlalchemy_url

config = context.config


def run_migrations_offline() -> None:
    context.configure(url=sqlalchemy_url(config.get_main_option("ingest.database_url")), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(sqlalchemy_url(config.get_main_option("ingest.database_url")),
                           poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
