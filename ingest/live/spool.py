"""A durable local spool for rows the exchange cannot serve again (chain snapshots and their greeks, the
exchange greeks of the ticker sweep, the index now), kept while the database does not answer and loaded
when it does. See docs/live.md, "Database outages".

One file per payload (a job run's rows of one table), in ``Settings.spool_dir`` (``INGEST_SPOOL_DIR``):

    <minute ms, 13 digits>-<dataset>-<rows>r-<ns>-<pid>.json.gz

so a directory listing sorted by name is oldest first and tells the rows without opening a file. A file
holds gzip'd JSON: the table, the column names, the valid rows and the rejected ones (for quarantine).

Durability and kill -9:

* ``put`` writes ``.tmp-<name>``, fsyncs it, renames it to ``<name>`` and fsyncs the directory: a file
  with its final name is complete; a ``.tmp-`` file is a write that never finished (its rows were never
  acknowledged) and is removed once it is older than any write in progress could be.
* ``flush`` loads files oldest first, each in one transaction, with ``ON CONFLICT DO NOTHING`` (a row
  the database already has is never overwritten: the live job or another process was first) and the
  rejects quarantined only when the same reject is not already there. A file is deleted only after
  its load committed, so a kill -9 between the commit and the delete loads it again, which changes
  nothing: no loss, no duplicate.
* Flushing takes ``.flush.lock`` (flock, released by the kernel when a process dies), so two processes
  sharing a directory never load the same file at once; writers need no lock (unique names, rename).

Bounded: ``max_bytes`` (``ingest run --spool-max-mb``, default 1 GiB, about a week of the real
Deribit chain). When a payload does not fit, the spool keeps what it has and refuses the new payload,
with a warning, and records the refusal in ``.dropped.json`` (shown by ``ingest status``). The oldest
files are kept rather than the newest because a written file is only ever deleted after its rows are in
the database (one invariant for kill -9, full disks and operators alike), and the hole then is one
contiguous stretch ending when the database answers or someone raises the limit.
"""

from __future__ import annotations

import errno
import fcntl
import gzip
import logging
import os
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ingest.storage.load import load_validated
from ingest.storage.sqlfiles import query
from ingest.storage.tables import TS, TableSpec
from ingest.storage.validate import Rejected, Validated, within_limits

log = logging.getLogger(__name__)

SUFFIX = ".json.gz"
TMP_PREFIX = ".tmp-"
REFUSED_DIR = "refused"  # files that cannot be read or loaded after several attempts: kept for a human
FLUSH_LOCK = ".flush.lock"
DROPPED = ".dropped.json"
FORMAT_VERSION = 1
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
# a .tmp- file older than this belongs to a process that died while writing it
STALE_TMP_S = 600.0
# a file whose load fails this many times (not for a connection problem) moves to refused/
MAX_LOAD_ATTEMPTS = 3
# quarantine rows of a file loaded before are found among those received since it was written, with
# this much slack for the difference between the collector's clock and the database's
QUARANTINE_SLACK_S = 3600.0

def _tables() -> dict[str, TableSpec]:
    from ingest import datasets

    return {t.name: t for t in datasets.data_tables() if t.hypertable}


@dataclass(frozen=True)
class SpoolFile:
    path: Path
    minute_ms: int
    dataset: str
    rows: int
    bytes: int


@dataclass
class FlushResult:
    files: int = 0
    rows: int = 0  # rows inserted (not already in the database)
    quarantined: int = 0
    left: int = 0  # files still waiting after this slice
    refused: int = 0  # files moved to refused/ by this slice
    busy: bool = False  # another process holds the flush lock
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def parse_name(path: Path) -> SpoolFile | None:
    name = path.name
    if not name.endswith(SUFFIX) or name.startswith("."):
        return None
    parts = name[: -len(SUFFIX)].split("-")
    if len(parts) != 5 or not parts[0].isdigit() or not parts[2].endswith("r") or not parts[2][:-1].isdigit():
        return None
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    return SpoolFile(path, int(parts[0]), parts[1], int(parts[2][:-1]), size)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    """Write data to a temporary name, fsync, rename into place, fsync the directory."""
    tmp = path.with_name(TMP_PREFIX + path.name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    _fsync_dir(path.parent)


def encode(spec: TableSpec, validated: Validated, *, minute_ms: int, dataset: str, holder: str) -> bytes:
    doc = {
        "version": FORMAT_VERSION, "table": spec.name, "dataset": dataset, "minute_ms": minute_ms,
        "spooled_at": datetime.now(timezone.utc).isoformat(), "holder": holder,
        "columns": list(spec.column_names),
        "rows": [list(r) for r in validated.rows],
        "rejected": [{"dataset": r.dataset, "instrument_name": r.instrument_name, "reason": r.reason,
                      "payload": r.payload} for r in validated.rejected],
    }
    # floats keep their exact value (shortest round-trip form); datetimes become ISO 8601 with offset
    return gzip.compress(orjson.dumps(doc, default=str), compresslevel=1, mtime=0)


def decode(data: bytes) -> tuple[TableSpec, Validated, datetime]:
    """The table, the rows and rejects, and when the file was written; ValueError if it is not ours."""
    doc = orjson.loads(gzip.decompress(data))
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION or doc.get("table") not in _tables():
        raise ValueError("not a spool file of this version")
    spec = _tables()[doc["table"]]
    columns = doc.get("columns")
    if not isinstance(columns, list) or set(columns) - set(spec.column_names):
        raise ValueError(f"{spec.name} no longer has every column the file holds")
    # a column added since the file was written is NULL in its rows (new columns are nullable)
    where = [columns.index(c) if c in columns else None for c in spec.column_names]
    ts_cols = {i for i, (_, pg_type) in enumerate(spec.columns) if pg_type == TS}
    rows = []
    for raw in doc["rows"]:
        if not isinstance(raw, list) or len(raw) != len(columns):
            raise ValueError("a row does not match the file's columns")
        row = [None if j is None else raw[j] for j in where]
        for i in ts_cols:
            if row[i] is not None:
                row[i] = datetime.fromisoformat(row[i])
        rows.append(tuple(row))
    rejected = [Rejected(r["dataset"], r.get("instrument_name"), r["reason"], r["payload"])
                for r in doc.get("rejected", [])]
    return spec, Validated(rows, rejected), datetime.fromisoformat(doc["spooled_at"])


def insert_new_only(spec: TableSpec) -> sql.Composed:
    """The spool's upsert: rows whose key the table already holds are left as they are."""
    cols = sql.SQL(", ").join(map(sql.Identifier, spec.column_names))
    key = sql.SQL(", ").join(map(sql.Identifier, spec.key))
    return sql.SQL("INSERT INTO {target} ({cols}) SELECT DISTINCT ON ({key}) {cols} FROM {staging} "
                   "ON CONFLICT ({key}) DO NOTHING").format(
        target=sql.Identifier(spec.name), cols=cols, key=key, staging=sql.Identifier(f"_stage_{spec.name}"))


def quarantine_once(conn: psycopg.Connection, rejected: list[Rejected], since: datetime) -> int:
    """Quarantine each reject unless the same one was quarantined since `since` (a reloaded file)."""
    if not rejected:
        return 0
    params = [{"dataset": r.dataset, "instrument": r.instrument_name, "reason": r.reason,
               "payload": Jsonb(r.payload), "since": since} for r in rejected]
    with conn.cursor() as cur:
        cur.executemany(query("spool_quarantine_insert"), params)
    return len(params)


class Spool:
    def __init__(self, directory: Path | str, max_bytes: int = DEFAULT_MAX_BYTES, holder: str = ""):
        self.dir = Path(directory)
        self.max_bytes = int(max_bytes)
        self.holder = holder
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        self._cleaned = False

    # -- writing
    def ensure_dir(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        probe = self.dir / f"{TMP_PREFIX}probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()

    def put(self, dataset: str, spec: TableSpec, validated: Validated, minute_ms: int) -> Path | None:
        """Keep one payload durably; None when the spool is full (logged, recorded in .dropped.json)."""
        blob = encode(spec, validated, minute_ms=minute_ms, dataset=dataset, holder=self.holder)
        name = f"{minute_ms:013d}-{dataset}-{len(validated.rows)}r-{time.time_ns()}-{os.getpid()}{SUFFIX}"
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            used = sum(f.bytes for f in self.files())
            if used + len(blob) > self.max_bytes:
                self._record_drop(dataset, len(validated.rows), minute_ms)
                log.warning("spool full (%.1f of %.1f MB in %s): %s rows of minute %s NOT kept",
                            used / 1e6, self.max_bytes / 1e6, self.dir, len(validated.rows),
                            _iso(minute_ms))
                return None
            path = self.dir / name
            _write_durably(path, blob)
        return path

    def _record_drop(self, dataset: str, rows: int, minute_ms: int) -> None:
        marker = self.dir / DROPPED
        try:
            doc = orjson.loads(marker.read_bytes())
        except (OSError, ValueError):
            doc = {"since_minute": _iso(minute_ms), "payloads": 0, "rows": 0, "by_dataset": {}}
        doc["payloads"] += 1
        doc["rows"] += rows
        doc["last_minute"] = _iso(minute_ms)
        doc["by_dataset"][dataset] = doc["by_dataset"].get(dataset, 0) + rows
        doc["max_bytes"] = self.max_bytes
        try:
            _write_durably(marker.with_name(f"{DROPPED}.{os.getpid()}"), orjson.dumps(doc))
            os.replace(marker.with_name(f"{DROPPED}.{os.getpid()}"), marker)
        except OSError as exc:
            log.error("could not record the dropped payload in %s: %s", marker, exc)

    # -- reading
    def files(self) -> list[SpoolFile]:
        """Complete spool files, oldest first."""
        try:
            entries = sorted(p for p in self.dir.iterdir() if p.name.endswith(SUFFIX))
        except FileNotFoundError:
            return []
        return [f for f in map(parse_name, entries) if f is not None]

    def cleanup_tmp(self, older_than_s: float = STALE_TMP_S) -> int:
        """Remove .tmp- files left by a process killed while writing (never acknowledged rows)."""
        removed = 0
        try:
            entries = list(self.dir.iterdir())
        except FileNotFoundError:
            return 0
        for p in entries:
            if p.name.startswith(TMP_PREFIX):
                try:
                    if time.time() - p.stat().st_mtime > older_than_s:
                        p.unlink()
                        removed += 1
                except FileNotFoundError:
                    pass
        if removed:
            log.info("spool: removed %d unfinished writes of killed processes", removed)
        return removed

    @contextmanager
    def _flush_lock(self) -> Iterator[bool]:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / FLUSH_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    yield False
                    return
                raise
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- loading
    def load_file(self, conn: psycopg.Connection, f: SpoolFile) -> tuple[int, int]:
        """Load one file (one transaction, or row groups when the database refuses a row); returns
        (rows inserted, rejects quarantined). The file stays: the caller deletes it after this returns."""
        from ingest.live.writes import is_refusal, isolate_refused

        spec, validated, spooled_at = decode(f.path.read_bytes())
        # rows a column cannot hold become rejects here (not inside load_validated), so that they too
        # are quarantined only once when a file is loaded again
        validated = within_limits(spec, validated)
        since = datetime.fromtimestamp(spooled_at.timestamp() - QUARANTINE_SLACK_S, tz=timezone.utc)
        upsert = insert_new_only(spec)
        try:
            with conn.transaction():
                n = load_validated(conn, spec, Validated(validated.rows, []), upsert)[0] if validated.rows else 0
                q = quarantine_once(conn, validated.rejected, since)
            return n, q
        except psycopg.Error as exc:
            if not is_refusal(exc):
                raise
        n, refused = isolate_refused(conn, spec, validated.rows, upsert)
        with conn.transaction():
            q = quarantine_once(conn, validated.rejected + refused, since)
        return n, q

    def flush(self, connect: Callable, budget_s: float | None = None, stop: threading.Event | None = None,
              ) -> FlushResult:
        """Load spool files oldest first until the spool is empty, budget_s has passed or stop is set.
        A connection problem ends the slice (raised); a file that fails otherwise is skipped this time
        and moved to refused/ after MAX_LOAD_ATTEMPTS."""
        from ingest.live.writes import connection_problem

        res = FlushResult()
        t0 = time.monotonic()
        if not self._cleaned:
            self.cleanup_tmp()
            self._cleaned = True
        files = self.files()
        if not files:
            return res
        with self._flush_lock() as locked:
            if not locked:
                res.busy, res.left = True, len(files)
                return res
            try:
                for f in files:
                    if stop is not None and stop.is_set():
                        break
                    # at least one file per slice, so a slow database still sees progress
                    if budget_s is not None and res.files and time.monotonic() - t0 >= budget_s:
                        break
                    if not f.path.exists():  # loaded by another process meanwhile
                        continue
                    try:
                        with connect() as conn:
                            n, q = self.load_file(conn, f)
                    except Exception as exc:
                        if connection_problem(exc):
                            raise
                        self._failed(f, exc, res)
                        continue
                    try:
                        f.path.unlink()
                    except FileNotFoundError:
                        pass
                    self._attempts.pop(f.path.name, None)
                    res.files += 1
                    res.rows += n
                    res.quarantined += q
            finally:
                if res.files:
                    _fsync_dir(self.dir)
                res.seconds = time.monotonic() - t0
                res.left = len(self.files())
                if res.left == 0:
                    try:
                        (self.dir / DROPPED).unlink()
                    except FileNotFoundError:
                        pass
        return res

    def _failed(self, f: SpoolFile, exc: BaseException, res: FlushResult) -> None:
        from ingest.live.writes import short_error

        n = self._attempts.get(f.path.name, 0) + 1
        self._attempts[f.path.name] = n
        text = f"{f.path.name}: {short_error(exc)}"
        res.errors.append(text)
        if n < MAX_LOAD_ATTEMPTS and not isinstance(exc, (ValueError, EOFError, OSError, zlib.error)):
            log.error("spool: %s (attempt %d of %d)", text, n, MAX_LOAD_ATTEMPTS)
            return
        target = self.dir / REFUSED_DIR
        target.mkdir(exist_ok=True)
        try:
            os.replace(f.path, target / f.path.name)
            _fsync_dir(self.dir)
            res.refused += 1
            self._attempts.pop(f.path.name, None)
            log.error("spool: %s; moved to %s (kept, not loaded)", text, target)
        except FileNotFoundError:
            pass


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(directory: Path | str) -> dict:
    """What `ingest status` shows: files, rows and bytes waiting, per dataset, the oldest and newest
    minute, files refused and payloads dropped because the spool was full. Reads names only."""
    spool = Spool(directory)
    files = spool.files()
    by: dict[str, dict] = {}
    for f in files:
        d = by.setdefault(f.dataset, {"dataset": f.dataset, "files": 0, "rows": 0, "bytes": 0})
        d["files"] += 1
        d["rows"] += f.rows
        d["bytes"] += f.bytes
    refused_dir = Path(directory) / REFUSED_DIR
    refused = [p for p in refused_dir.iterdir()] if refused_dir.is_dir() else []
    try:
        dropped = orjson.loads((Path(directory) / DROPPED).read_bytes())
    except (OSError, ValueError):
        dropped = None
    return {
        "dir": str(directory),
        "files": len(files),
        "rows": sum(f.rows for f in files),
        "bytes": sum(f.bytes for f in files),
        "oldest_minute": _iso(files[0].minute_ms) if files else None,
        "newest_minute": _iso(files[-1].minute_ms) if files else None,
        "by_dataset": [by[k] for k in sorted(by)],
        "refused_files": len(refused),
        "dropped": dropped,
    }
