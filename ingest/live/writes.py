"""How live jobs write: what a database error means, rows the database refuses, and the forward-only
payloads that go to the spool when the database does not answer.

* A *connection problem* (server gone, pool timeout) says nothing about the rows: forward-only rows go
  to the spool (ingest/live/spool.py), re-fetchable ones are fetched again by the next run.
* A *refusal* (SQLSTATE class 22 data exception, 23 integrity violation: a value a column cannot hold,
  a CHECK) is about some rows: the batch is split in halves until the refused rows are found, the
  others are loaded, the refused ones quarantined with the database's reason. Range checks in
  ingest.storage.validate quarantine such values before the database sees them; this is the second line.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Sequence

import psycopg
import psycopg_pool

from ingest.config import error_line
from ingest.storage.load import load_validated
from ingest.storage.tables import TableSpec
from ingest.storage.validate import Rejected, Validated, json_safe

log = logging.getLogger(__name__)

# at most this many extra transactions to find the refused rows of one batch (a batch whose every row
# is refused fails as a whole instead of costing two transactions per row)
MAX_ISOLATION_STEPS = 64


def connection_problem(exc: BaseException) -> bool:
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout))


def is_refusal(exc: BaseException) -> bool:
    return isinstance(exc, (psycopg.DataError, psycopg.IntegrityError))


def short_error(exc: BaseException) -> str:
    """The error's type and error_line (redacted, first line)."""
    line, name = error_line(exc), type(exc).__name__
    return name if line == name else f"{name}: {line}"


def _row_payload(spec: TableSpec, row: Sequence) -> dict:
    return json_safe({c: (v.isoformat() if isinstance(v, datetime) else v)
                      for c, v in zip(spec.column_names, row, strict=False)})


def isolate_refused(conn: psycopg.Connection, spec: TableSpec, rows: list[tuple], upsert_sql=None
                    ) -> tuple[int, list[Rejected]]:
    """Load rows in halves, each half in its own transaction, down to the single rows the database
    refuses. Returns (rows inserted or changed, the refused rows as Rejected). Rejects are not saved
    here. Raises the first refusal again if the batch needs more than MAX_ISOLATION_STEPS steps."""
    loaded = 0
    refused: list[Rejected] = []
    steps = 0

    def attempt(part: list[tuple]) -> None:
        nonlocal loaded, steps
        steps += 1
        try:
            loaded += load_validated(conn, spec, Validated(part, []), upsert_sql)[0]
            return
        except psycopg.Error as exc:
            if not is_refusal(exc) or steps > MAX_ISOLATION_STEPS:
                raise
            if len(part) == 1:
                refused.append(Rejected(spec.name, part[0][1] if len(part[0]) > 1 else None,
                                        f"database refused: {short_error(exc)}", _row_payload(spec, part[0])))
                return
        mid = len(part) // 2
        attempt(part[:mid])
        attempt(part[mid:])

    if rows:
        attempt(list(rows))
    if refused:
        log.warning("%s: the database refused %d of %d rows (quarantined), first: %s", spec.name,
                    len(refused), len(rows), refused[0].reason)
    return loaded, refused


def load_or_isolate(conn: psycopg.Connection, spec: TableSpec, validated: Validated) -> tuple[int, int]:
    """load_validated (one transaction); if the database refuses a row, load the others and quarantine
    the refused ones with the reason. Returns (rows inserted or changed, rows quarantined)."""
    try:
        return load_validated(conn, spec, validated)
    except psycopg.Error as exc:
        if not is_refusal(exc):
            raise
    loaded, refused = isolate_refused(conn, spec, validated.rows)
    _, q = load_validated(conn, spec, Validated([], validated.rejected + refused))
    return loaded, q
