"""Leadership of `ingest run`: one lease row in `leader_lease`, with an expiry renewed by heartbeat.

Session advisory locks cannot elect a leader on the embedded database (session state is global) nor
behind a transaction pooler, so the lease is a row whose expiry the *database* clock judges:

* ``acquire()`` takes the row if it is free, expired or already ours (sql/queries/lease_acquire.sql);
* the leader ``renew()``s every ``seconds / 3``; a standby calls ``acquire()`` at the same pace;
* a leader whose row was taken by another holder stops being leader at once; one whose heartbeat fails
  for another reason stops being leader (``is_leader``, the right to write to the database) once its
  last confirmed expiry has passed;
* a leader whose heartbeat cannot reach the database (connection refused, pool timeout) *holds over*
  (``holding_over``): past its expiry it writes nothing to the database but keeps collecting the
  forward-only datasets into the local spool (``may_collect``). Nobody else can take the lease while
  the database is down for everyone; if it was down only for us, another process may lead meanwhile,
  and we find out at the first heartbeat that reaches the database: ``acquire()`` then renews the row
  if it is still ours (or free), else we stand by. Either way the spool is loaded afterwards with
  ``ON CONFLICT DO NOTHING``, so it never overwrites what the other leader wrote;
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

from ingest.storage.sqlfiles import query

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
        self._holding_over = False  # led, then the database stopped answering our heartbeats
        self._led = False  # our last word from the database: we hold the lease (even if it lapsed since)
        self.reachable: bool | None = None  # whether the last heartbeat reached the database
        self._standby_said: bool | None = None  # a standby's "cannot reach the database" was logged
        self.on_change: Callable[[bool], None] | None = None

    @property
    def params(self) -> dict:
        return {"name": self.name, "holder": self.holder, "seconds": self.seconds}

    @property
    def is_leader(self) -> bool:
        with self._lock:
            return self._clock() < self._valid_until

    @property
    def holding_over(self) -> bool:
        """We led when the database stopped answering, and no heartbeat has reached it since."""
        with self._lock:
            return self._holding_over

    @property
    def may_collect(self) -> bool:
        """Collect forward-only data: into the database as the leader, into the spool holding over."""
        with self._lock:
            return self._holding_over or self._clock() < self._valid_until

    def _confirmed(self, started: float) -> None:
        # measured from before the statement: the database's expiry can only be later than this
        with self._lock:
            self._valid_until = started + self.seconds * 0.9
            self._led = True

    def _lost(self) -> None:
        with self._lock:
            self._valid_until = 0.0
            self._led = False

    def _notify(self, was: bool) -> None:
        now = self.is_leader
        if now != self._reported:
            self._reported = now
            if not now and self.holding_over:
                log.warning("lease expired while the database does not answer: holding over, forward-only "
                            "data goes to the spool (holder %s)", self.holder)
            else:
                log.warning("leadership %s (holder %s)", "acquired" if now else "lost", self.holder)
            if now:
                self.acquired_count += 1
            if self.on_change:
                self.on_change(now)

    def tick(self) -> bool:
        """One heartbeat: renew if leader, re-acquire if holding over, else try to acquire. Never raises;
        returns is_leader."""
        from ingest.live.writes import connection_problem

        was = self.is_leader
        holding = self.holding_over
        with self._lock:
            led = self._led
        started = self._clock()
        try:
            with self.connect() as conn:
                # holding over: our row may have expired; take it again if it is still ours or free
                sql = "lease_renew" if was and not holding else "lease_acquire"
                row = conn.execute(query(sql), self.params).fetchone()
            self.reachable = True
            self._standby_said = None
            with self._lock:
                self._holding_over = False
            if row is not None:
                self._confirmed(started)
                if holding:
                    log.warning("database answers again: lease %s confirmed, leading on", self.name)
            elif was or holding or led:
                log.error("lease %s was taken over by another process: standing by", self.name)
                self._lost()
        except Exception as exc:
            self.reachable = not connection_problem(exc)
            if (was or holding or led) and connection_problem(exc):
                if not holding:
                    log.warning("lease heartbeat cannot reach the database (%s): holding over, forward-only "
                                "data goes to the spool until it answers: %s", type(exc).__name__, _short(exc))
                with self._lock:
                    self._holding_over = True
            elif not (was or holding or led):  # a standby: said once per outage, not every heartbeat
                log.log(logging.WARNING if self._standby_said is None else logging.DEBUG,
                        "standing by: cannot reach the database to take the lease (%s): %s",
                        type(exc).__name__, _short(exc))
                self._standby_said = True
            else:  # keep what we had until it expires
                log.warning("lease heartbeat failed (%s); leader until the lease expires: %s",
                            type(exc).__name__, _short(exc))
        self._notify(was)
        return self.is_leader

    def release(self) -> bool:
        self._lost()
        with self._lock:
            self._holding_over = False
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
    from ingest.config import error_line

    return error_line(exc)
