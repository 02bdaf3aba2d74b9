"""job_heartbeats: the start and the end of every job run (read by `ingest status`).
A heartbeat that cannot be written (database down) is logged and skipped: it never fails a job."""

from __future__ import annotations

import logging
from datetime import datetime

from ingest.storage.sqlfiles import query

log = logging.getLogger(__name__)


def started(connect, job: str, holder: str) -> None:
    try:
        with connect() as conn:
            conn.execute(query("heartbeat_start"), {"job": job, "holder": holder})
    except Exception as exc:
        log.debug("heartbeat start of %s not written: %s", job, type(exc).__name__)


def finished(connect, job: str, holder: str, *, started_at: datetime, outcome: str, rows: int,
             requests: int, duration_ms: int, error: str | None) -> None:
    try:
        with connect() as conn:
            conn.execute(query("heartbeat_finish"), {
                "job": job, "holder": holder, "started": started_at, "outcome": outcome, "rows": rows,
                "requests": requests, "duration_ms": duration_ms, "error": error[:500] if error else None})
    except Exception as exc:
        log.debug("heartbeat end of %s not written: %s", job, type(exc).__name__)
