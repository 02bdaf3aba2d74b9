"""The leader lease row: one holder at a time, takeover after expiry, release, renew failure."""

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


def test_database_unreachable_keeps_leadership_only_until_expiry(db, migrated_url):
    ok = {"up": True}

    @contextmanager
    def flaky():
        if not ok["up"]:
            raise psycopg.OperationalError("connection refused")
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            yield conn

    changes = []
    a = Lease(flaky, seconds=3, holder="a")
    a.on_change = changes.append
    assert a.tick()
    ok["up"] = False
    assert a.tick()  # still inside the confirmed lease
    time.sleep(3)
    assert not a.tick()
    ok["up"] = True
    assert a.tick()  # nobody took it: re-acquired
    assert changes == [True, False, True]
