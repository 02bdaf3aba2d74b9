"""The leader lease row: one holder at a time, takeover after expiry, release, renew failure, and
holding over while the database does not answer (collect into the spool, never write the database)."""

from __future__ import annotations

import time
from contextlib import contextmanager

import psycopg

from ingest.live.lease import Lease, current


def factory(url):
    @contextmanager
    def connect():
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn
    return connect


def test_one_holder_then_takeover_after_expiry(db, migrated_url):
    a = Lease(factory(migrated_url), seconds=3, holder="a")
    b = Lease(factory(migrated_url), seconds=3, holder="b")
    assert a.tick() and a.is_leader
    assert not b.tick() and not b.is_leader
    assert a.tick()  # renew
    row = current(db)
    assert row["holder"] == "a" and row["valid"]
    time.sleep(3.2)  # a stops renewing (killed): the lease expires in the database
    assert not a.is_leader  # and a's local view agrees, it stops its jobs
    assert b.tick() and current(db)["holder"] == "b"
    assert not a.tick()  # a comes back: b holds a valid lease


def test_release_lets_a_standby_take_over_at_once(db, migrated_url):
    a = Lease(factory(migrated_url), seconds=30, holder="a")
    b = Lease(factory(migrated_url), seconds=30, holder="b")
    assert a.tick() and not b.tick()
    assert a.release() and not a.is_leader
    row = current(db)
    assert row["holder"] == "a" and not row["valid"]
    assert b.tick()


def test_taken_over_leader_notices_on_renew(db, migrated_url):
    a = Lease(factory(migrated_url), seconds=30, holder="a")
    assert a.tick()
    db.execute("UPDATE leader_lease SET holder = 'intruder'")
    assert not a.tick() and not a.is_leader


def _flaky(url):
    ok = {"up": True}

    @contextmanager
    def connect():
        if not ok["up"]:
            raise psycopg.OperationalError("connection refused")
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn
    return connect, ok


def test_database_unreachable_leader_holds_over_and_leads_on_when_it_answers(db, migrated_url):
    connect, ok = _flaky(migrated_url)
    changes = []
    a = Lease(connect, seconds=3, holder="a")
    a.on_change = changes.append
    assert a.tick()
    ok["up"] = False
    assert a.tick() and a.holding_over  # still inside the confirmed lease
    time.sleep(3)
    # past the lease: no right to write the database, but it keeps collecting into the spool
    assert not a.tick() and not a.is_leader and a.holding_over and a.may_collect
    ok["up"] = True
    assert a.tick() and not a.holding_over  # nobody took it: the same row, confirmed again
    assert changes == [True, False, True]
    assert current(db)["holder"] == "a" and current(db)["valid"]


def test_a_leader_away_while_another_took_over_stands_by_when_back(db, migrated_url):
    """The database was unreachable only for a (a partition): b took the expired lease. When a reaches
    the database again it sees b's valid lease and stands by; it never both leads with b."""
    connect, ok = _flaky(migrated_url)
    a = Lease(connect, seconds=3, holder="a")
    b = Lease(factory(migrated_url), seconds=3, holder="b")
    assert a.tick()
    ok["up"] = False
    time.sleep(3.2)
    assert not a.tick() and a.holding_over and not a.is_leader
    assert b.tick() and b.is_leader  # the row expired in the database: b takes it
    ok["up"] = True
    assert not a.tick() and not a.holding_over and not a.may_collect
    assert current(db)["holder"] == "b"


def test_a_standby_never_holds_over(db, migrated_url):
    connect, ok = _flaky(migrated_url)
    b = Lease(factory(migrated_url), seconds=30, holder="b")
    assert b.tick()
    a = Lease(connect, seconds=30, holder="a")
    assert not a.tick()
    ok["up"] = False
    assert not a.tick() and not a.holding_over and not a.may_collect and a.reachable is False
