"""Bulk loads: COPY into a transaction-scoped staging table, then one upsert into the target; or a
plain COPY straight into the target when the caller knows none of the keys exists yet.

Re-loading the same rows changes nothing (rows whose values are identical are not rewritten), so a
re-run backfill or a replayed minute never duplicates or churns rows.

Rows are tuples in `spec.column_names` order (psycopg formats them), and/or `text`: chunks of COPY
text already formatted by the caller in the same column order (e.g. CandleColumns.copy_text(), built
at C speed: much cheaper than formatting row by row).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import psycopg
from psycopg import sql

from ingest.storage.tables import TableSpec


def _staging_name(spec: TableSpec) -> sql.Identifier:
    return sql.Identifier(f"_stage_{spec.name}")


def upsert_statement(spec: TableSpec, staging: sql.Identifier) -> sql.Composed:
    cols = sql.SQL(", ").join(map(sql.Identifier, spec.column_names))
    key = sql.SQL(", ").join(map(sql.Identifier, spec.key))
    values = spec.value_columns
    action: sql.Composable
    if not values:
        action = sql.SQL("DO NOTHING")
    else:
        sets = sql.SQL(", ").join(sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in values)
        old = sql.SQL(", ").join(sql.SQL("t.{c}").format(c=sql.Identifier(c)) for c in values)
        new = sql.SQL(", ").join(sql.SQL("excluded.{c}").format(c=sql.Identifier(c)) for c in values)
        action = sql.SQL("DO UPDATE SET {sets} WHERE ({old}) IS DISTINCT FROM ({new})").format(
            sets=sets, old=old, new=new)
    # DISTINCT ON: one row per key even if a payload repeated a row (Deribit's inclusive bounds)
    return sql.SQL(
        "INSERT INTO {target} AS t ({cols}) "
        "SELECT DISTINCT ON ({key}) {cols} FROM {staging} "
        "ON CONFLICT ({key}) {action}"
    ).format(target=sql.Identifier(spec.name), cols=cols, key=key, staging=staging, action=action)


def _write(copy, rows: Iterable[Sequence], text: Iterable[bytes]) -> None:
    for chunk in text:
        if chunk:
            copy.write(chunk)
    for row in rows:
        copy.write_row(row)


def copy_into(conn: psycopg.Connection, spec: TableSpec, rows: Iterable[Sequence] = (),
              text: Iterable[bytes] = ()) -> None:
    """Plain COPY into the target table itself: the caller made sure none of these keys exists and
    that the rows are unique by key (else the unique index rejects the whole COPY)."""
    cols = sql.SQL(", ").join(map(sql.Identifier, spec.column_names))
    with conn.cursor() as cur:
        statement = sql.SQL("COPY {t} ({c}) FROM STDIN").format(t=sql.Identifier(spec.name), c=cols)
        with cur.copy(statement) as copy:
            _write(copy, rows, text)


def copy_upsert(conn: psycopg.Connection, spec: TableSpec, rows: Iterable[Sequence] = (),
                upsert_sql: str | None = None, *, text: Iterable[bytes] = ()) -> int:
    """Load rows (tuples in `spec.column_names` order) and/or pre-formatted COPY text chunks and
    return how many were inserted or changed.

    `upsert_sql` replaces the generic upsert for tables with special rules (it reads the staging
    table `_stage_<table>`). Runs inside the caller's transaction if there is one, else in its own.
    """
    staging = _staging_name(spec)
    with conn.transaction():
        with conn.cursor() as cur:
            # ON COMMIT DROP: the staging table never outlives the transaction (on the embedded
            # server temp tables are shared by all clients, and transactions are serialised).
            cur.execute(sql.SQL(
                "CREATE TEMP TABLE {staging} (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP"
            ).format(staging=staging, target=sql.Identifier(spec.name)))
            columns = sql.SQL(", ").join(map(sql.Identifier, spec.column_names))
            with cur.copy(sql.SQL("COPY {staging} ({cols}) FROM STDIN").format(
                    staging=staging, cols=columns)) as copy:
                _write(copy, rows, text)
            cur.execute(upsert_sql if upsert_sql is not None else upsert_statement(spec, staging))
            changed = cur.rowcount
    return max(changed, 0)


def load_validated(conn: psycopg.Connection, spec: TableSpec, validated, upsert_sql: str | None = None,
                   rows: Sequence[Sequence] | None = None) -> tuple[int, int]:
    """Load the valid rows and quarantine the rejects of one `Validated` in one transaction, so a batch
    is either wholly recorded or not at all. `rows` overrides `validated.rows` (a filtered subset).
    Rows a column could not hold are quarantined too (never a rolled-back batch); the loaded time
    range is recorded for the aggregate refresh. Returns (rows inserted or changed, rows quarantined)."""
    from ingest.storage import caggs, quarantine
    from ingest.storage.validate import Validated, within_limits

    if rows is not None:
        validated = Validated([tuple(r) for r in rows], validated.rejected)
    validated = within_limits(spec, validated)
    rows = validated.rows
    with conn.transaction():
        loaded = copy_upsert(conn, spec, rows, upsert_sql) if rows else 0
        if rows and spec.hypertable:
            caggs.record(conn, spec.name, min(r[0] for r in rows), max(r[0] for r in rows))
        quarantined = quarantine.save(conn, validated.rejected)
    return loaded, quarantined
