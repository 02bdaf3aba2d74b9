"""Quarantine: rejected payloads are stored with their reason, never loaded into data tables."""

from __future__ import annotations

import logging
from typing import Iterable

import psycopg
from psycopg.types.json import Jsonb

from ingest.storage.sqlfiles import query
from ingest.storage.validate import Rejected

log = logging.getLogger(__name__)


def save(conn: psycopg.Connection, rejected: Iterable[Rejected]) -> int:
    rows = [(r.dataset, r.instrument_name, r.reason, Jsonb(r.payload)) for r in rejected]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(query("quarantine_insert"), rows)
        log.warning("quarantined %d rows (first: %s %s)", len(rows), rows[0][1], rows[0][2])
    return len(rows)
