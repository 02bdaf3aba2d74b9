"""Checkpoints per (dataset, instrument, window) in backfill_checkpoints.

A window is 'done' when its rows were loaded ('partial' when values that stayed invalid across answers
were quarantined instead): the checkpoint row is written in the same transaction
as the rows, so a kill -9 never leaves a loaded-but-unrecorded or recorded-but-unloaded window.
A planned window is skipped when a 'done' checkpoint *contains* it (same start, end at least as late):
the last, partial window of a previous run (cut at that run's "now") is fetched again, completed.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from ingest.deribit.calendar import to_ms
from ingest.storage.sqlfiles import query
from ingest.storage.validate import ms_to_datetime


@dataclass
class DoneIndex:
    """The finished windows of one dataset, in memory (a few thousand small tuples at most)."""

    done: dict[str, dict[int, tuple[int, int]]]  # instrument -> window_start -> (window_end, rows)

    @classmethod
    def load(cls, conn: psycopg.Connection, dataset: str) -> "DoneIndex":
        done: dict[str, dict[int, tuple[int, int]]] = {}
        for name, start, end, rows in conn.execute(query("backfill_done_windows"), {"dataset": dataset}):
            done.setdefault(name, {})[to_ms(start)] = (to_ms(end), rows)
        return cls(done)

    def contains(self, instrument: str, start_ms: int, end_ms: int, grid_start_ms: int | None = None
                 ) -> tuple[int, int] | None:
        """The (end, rows) of a done window covering [start, end], or None."""
        windows = self.done.get(instrument)
        if not windows:
            return None
        for key in (start_ms, grid_start_ms):
            if key is not None and key <= start_ms and key in windows and windows[key][0] >= end_ms:
                return windows[key]
        return None


def mark_done_many(conn: psycopg.Connection, windows: list[tuple]) -> None:
    """Record finished windows (dataset, instrument, start_ms, end_ms, rows, status, error), status
    'done' or 'partial' (loaded less values quarantined after they stayed invalid across answers), in
    the transaction that loaded their rows (one pipelined executemany: no round trip per window)."""
    if not windows:
        return
    with conn.cursor() as cur:
        cur.executemany(query("backfill_mark_done"), [
            {"dataset": d, "instrument": i, "start": ms_to_datetime(s), "end": ms_to_datetime(e), "rows": n,
             "status": status, "error": error}
            for d, i, s, e, n, status, error in windows])


def mark_failed(conn: psycopg.Connection, dataset: str, instrument: str, start_ms: int, end_ms: int,
                error: str) -> None:
    with conn.transaction():
        conn.execute(query("backfill_mark_failed"), {
            "dataset": dataset, "instrument": instrument, "start": ms_to_datetime(start_ms),
            "end": ms_to_datetime(end_ms), "error": error[:2000]})


def windows_in(conn: psycopg.Connection, datasets: list[str], status: str = "failed") -> list[tuple]:
    """(dataset, instrument, start, end, attempts, last_error) of the windows in `status`."""
    return conn.execute(query("backfill_windows_in_status"),
                        {"datasets": list(datasets), "status": status}).fetchall()


def restart(conn: psycopg.Connection, dataset: str, instruments: list[str] | None = None) -> int:
    with conn.transaction():
        cur = conn.execute(query("backfill_restart"), {
            "dataset": dataset, "instruments": list(instruments) if instruments else None})
    return cur.rowcount
