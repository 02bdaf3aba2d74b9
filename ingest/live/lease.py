"""Leadership of `ingest run`: one lease row in `leader_lease`, with an expiry renewed by heartbeat.

Session advisory locks cannot elect a leader on the embedded database (session state is global) nor
behind a transaction pooler, so the lease is a row whose expiry the *database* clock judges:

* ``acquire()`` takes the row if it is free, expired or already ours (sql/queries/lease_acquire.sql);
* the leader ``renew()``s every ``seconds / 3``; a standby calls ``acquire()`` at the same pace;
* a leader that cannot renew (database unreachable, or another holder took the row) stops being leader
  locally once its last confirmed expiry has passed (``is_leader``) — its jobs then skip their work;
* ``release()`` at shutdown expires the row at once, so a standby takes over at its next poll.

After the leader dies (SIGKILL) the row expires at most ``seconds`` after its last renewal and a standby
polling every ``seconds / 3`` takes it within ``seconds * 4/3`` < two lease periods.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from typing import Callable

import psycopg

from ingest.sqlfiles import query

log = logging.getLogger(__name__)

DEFAULT_NAME = "ingest-run"
DEFAULT_SECONDS = 30.0


def make_holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Lease:
    def __init__(self, connect: Callable[[], "psycopg.Connection"], *, name: str = DEFAULT_NAME,
                 seconds: float = DEFAULT_SECONDS, holder: str | None = None, clock=time.monotonic):
        self.connect = connect  # a context manager factory yielding an autocommit connection
        self.name = name
        self.seconds = float(seconds)
        self.holder = holder or make_holder_id()
        self._clock = clock
        self._lock = threading.Lock()
        self._valid_until = 0.0  # monotonic time our last confirmed lease ends (minus a margin)
        self.acquired_count = 0
        self._reported = False  # the leadership state last announced through on_change
        self.on_change: Callable[[bool], None] | None = None

    @property
    def params(self) -> dict:
        return {"name": self.name, "holder": self.holder, "seconds": self.seconds}

    @property
    def is_leader(self) -> bool:
        with self._lock:
            return self._clock() < self._valid_until

    def _confirmed(self, started: float) -> None:
        # measured from before the statement: the database's expiry can only be later than this
        with self._lock:
            self._valid_until = started + self.seconds * 0.9

    def _lost(self) -> None:
        with self._lock:
            self._valid_until = 0.0

    def _notify(self, was: bool) -> None:
        now = self.is_leader
        if now != self._reported:
            self._reported = now
            log.warning("leadership %s (holder %s)", "acquired" if now else "lost", self.holder)
            if now:
                self.acquired_count += 1
            if self.on_change:
                self.on_change(now)

    def tick(self) -> bool:
        """One heartbeat: renew if leader, else try to acquire. Never raises; returns is_leader."""
        was = self.is_leader
        started = self._clock()
        try:
            with self.connect() as conn:
                sql = "lease_renew" if was else "lease_acquire"
                row = conn.execute(query(sql), self.params).fetchone()
            if row is not None:
                self._confirmed(started)
            elif was:
                log.error("lease %s was taken over by another process: standing by", self.name)
                self._lost()
        except Exception as exc:  # database unreachable: keep what we had until it expires
            log.warning("lease heartbeat failed (%s); leader until the lease expires: %s",
                        type(exc).__name__, _short(exc))
        self._notify(was)
        return self.is_leader

    def release(self) -> bool:
        self._lost()
        try:
            with self.connect() as conn:
                row = conn.execute(query("lease_release"), self.params).fetchone()
            if row:
                log.info("lease %s released by %s", self.name, self.holder)
            return row is not None
        except Exception as exc:
            log.warning("could not release the lease (%s): %s", type(exc).__name__, _short(exc))
            return False
        finally:
            if self._reported and self.on_change:
                self.on_change(False)
            self._reported = False


def current(conn: psycopg.Connection, name: str = DEFAULT_NAME) -> dict | None:
    cur = conn.execute(query("lease_get"), {"name": name})
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([c.name for c in cur.description], row, strict=False))


def _short(exc: BaseException) -> str:
    from ingest.config import redact_dsn

    text = redact_dsn(str(exc)).strip().splitlines()
    return text[0] if text else type(exc).__name__
