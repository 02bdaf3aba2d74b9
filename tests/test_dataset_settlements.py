"""Settlements against the simulator's ground truth: every event of a range (continuation within a
window), the whole history back to its start, every field (bankruptcies and unknown fields included),
the delivery-price disagreement view, quarantine, the live job."""

from __future__ import annotations

import pytest

from ingest.backfill import backfill as run_backfill
from ingest.backfill.cli import parse_when
from ingest.backfill.testing import sim_client
from ingest.deribit.client import DeribitClient
from ingest.sim.market import _CUR, DAY_MS, HOUR_MS, day_of, day_start
from ingest.sim.server import SimServer
from tests.rewriting_proxy import RewritingProxy

NOW = "2024-06-10T00:00:00Z"
FIELDS = ("index_price", "mark_price", "session_profit_loss", "funding")


@pytest.fixture(scope="module")
def sim():
    with SimServer(seed=7, now=NOW, rate_limit=True) as s:
        yield s


def truth(sim, currency: str, start: int, end: int, now: int | None = None) -> dict[tuple, tuple]:
    """(type, instrument, ts) -> the documented numbers, of every event with start <= ts <= end."""
    now = sim.now_ms() if now is None else now
    floor = day_start(day_of(int(_CUR[currency]["perp"].timestamp() * 1000)))
    out = {}
    ev = day_start(day_of(max(start, floor))) + 8 * HOUR_MS
    while ev <= min(end, now):
        if ev >= start:
            for rec in sim.market.settlement_records(currency, ev):
                out[(rec["type"], rec["instrument_name"], ev)] = tuple(rec.get(f) for f in FIELDS)
        ev += DAY_MS
    return out


def stored(db, currency: str) -> dict[tuple, tuple]:
    return {(t, n, ms): tuple(rest) for t, n, ms, *rest in db.execute(
        f"""SELECT type, instrument_name, (extract(epoch FROM ts) * 1000)::bigint, {', '.join(FIELDS)}
            FROM settlements WHERE currency = %s""", (currency,))}


def backfill(db, client, since=None, until=None, **options):
    return run_backfill("settlements", client, db, since_ms=since, until_ms=until, options=options, tty=False,
                        echo=lambda _: None)


def test_a_range_stores_exactly_the_simulators_events_following_continuations(db, sim):
    client = sim_client(sim)
    since = parse_when("2024-03-01")
    r = backfill(db, client, since)
    assert r.status == "ok"
    for currency in ("BTC", "ETH"):
        want = truth(sim, currency, since, sim.now_ms())
        assert len(want) > 3000 and stored(db, currency) == want
        assert {k[0] for k in want} == {"settlement", "delivery"}
    # 30-day windows hold more than 1,000 events: some needed a second page (continuation)
    windows = r.stats.windows_done
    assert client.stats["requests"] - 1 > windows
    # a rerun asks nothing; forgetting the checkpoints changes nothing
    requests = client.stats["requests"]
    assert backfill(db, client, since).stats.windows_done == 0 and client.stats["requests"] == requests + 1
    db.execute("DELETE FROM backfill_checkpoints")
    again = backfill(db, client, since)
    assert again.stats.windows_done == windows and again.stats.rows["settlements"] == 0


def test_without_since_the_whole_history_back_to_its_start(db):
    with SimServer(seed=7, now="2018-12-01T00:00:00Z", rate_limit=True) as early:
        client = sim_client(early)
        r = backfill(db, client)
        assert r.status == "ok"
        # BTC's history begins with its perpetual (2018-08-13); ETH has none yet
        want = truth(early, "BTC", 0, early.now_ms())
        assert min(k[2] for k in want) == parse_when("2018-08-13T08:00")
        assert stored(db, "BTC") == want and stored(db, "ETH") == {}
        # it stopped at the first empty window (and at most two more in flight), not at 2018-01-01
        requests = client.stats["requests"]
        assert requests <= 1 + 5 + 3 + 3 + 2
        # a rerun stops at the empty done window: nothing asked but the time
        again = backfill(db, client)
        assert again.stats.windows_done == 0 and client.stats["requests"] == requests + 1


def test_the_view_shows_any_disagreement_between_delivery_prices_and_settlements(db, sim):
    client = sim_client(sim)
    since = parse_when("2024-05-20")
    backfill(db, client, since)
    run_backfill("index", client, db, since_ms=since, options={"sources": ("delivery",)}, tty=False,
                 echo=lambda _: None)
    days = db.execute("SELECT count(*) FROM index_prices WHERE source = 'delivery'").fetchone()[0]
    assert days >= 2 * 20
    view = "SELECT ts::date, currency, problem FROM delivery_price_disagreements ORDER BY 1, 2"
    assert db.execute(view).fetchall() == []  # the simulator's two sources agree to the cent
    db.execute("UPDATE index_prices SET price = price + 0.01 WHERE index_name = 'btc_usd' AND source = 'delivery' "
               "AND ts = '2024-05-28 08:00+00'")
    db.execute("UPDATE settlements SET index_price = index_price - 1 WHERE currency = 'ETH' AND type = 'delivery' "
               "AND ts = '2024-06-03 08:00+00' AND instrument_name = (SELECT min(instrument_name) FROM settlements "
               "WHERE currency = 'ETH' AND type = 'delivery' AND ts = '2024-06-03 08:00+00')")
    rows = db.execute(view).fetchall()
    assert [(str(d), c, p) for d, c, p in rows] == [
        ("2024-05-28", "BTC", "index_prices delivery price differs from the delivery events"),
        ("2024-06-03", "ETH", "delivery events disagree among themselves")]


def proxy_client(proxy: RewritingProxy) -> DeribitClient:
    return DeribitClient(proxy.url + "/api/v2", proxy.url + "/history/api/v2", backoff_base=0.02,
                         backoff_cap=0.2, timeout=5.0, max_attempts=8)


def test_every_field_is_kept_bankruptcies_too_and_bad_events_are_quarantined(db, sim):
    since = parse_when("2024-06-05")
    bankruptcy = {"type": "bankruptcy", "timestamp": parse_when("2024-06-06T08:00") + 13, "funded": 1.5,
                  "session_bankrupcy": 0.001160788, "socialized": -0.25, "session_tax": -0.001160788,
                  "session_tax_rate": 0.0000125, "insurance_fund": 12.5}
    state = {"answers": 0}

    def rewrite(method, params, body):
        if method == "get_last_settlements_by_currency" and params["currency"] == "BTC":
            state["answers"] += 1
            events = body["result"]["settlements"]
            if "continuation" not in params:
                events.insert(0, dict(bankruptcy))
                events[1]["position"] = 64
                events[1]["profit_loss"] = -0.427669766
            for e in events:
                if e.get("instrument_name") == "BTC-PERPETUAL" and e["timestamp"] == parse_when("2024-06-07T08:00"):
                    e["index_price"] = -1.0  # the exchange's own bad value: quarantined
            if state["answers"] == 1:
                events[2]["mark_price"] = "NaN"  # broken in transit once: fetched again
        return body

    with RewritingProxy(sim.base_url, rewrite) as proxy:
        r = backfill(db, proxy_client(proxy), since, currency=("BTC",))
    assert r.status == "partial"
    row = db.execute("""SELECT instrument_name, funded, session_bankruptcy, socialized, session_tax,
                               session_tax_rate, extra, index_price
                        FROM settlements WHERE type = 'bankruptcy'""").fetchone()
    assert row == ("", 1.5, 0.001160788, -0.25, -0.001160788, 0.0000125, {"insurance_fund": 12.5}, None)
    assert db.execute("SELECT count(*) FROM settlements WHERE position = 64 AND profit_loss = -0.427669766"
                      ).fetchone()[0] == 1
    assert db.execute("SELECT instrument_name, reason FROM quarantine").fetchall() == [
        ("BTC-PERPETUAL", "index_price is not positive")]
    want = truth(sim, "BTC", since, sim.now_ms())
    got = {k: v for k, v in stored(db, "BTC").items() if k[0] != "bankruptcy"}
    bad = ("settlement", "BTC-PERPETUAL", parse_when("2024-06-07T08:00"))
    assert bad in want and got == {k: v for k, v in want.items() if k != bad}


def test_live_job_stores_the_last_events(db, migrated_url):
    from ingest.config import Settings
    from ingest.live.context import Context as LiveContext
    from ingest.live.context import LiveConfig
    from ingest.live.jobs import run_job

    with SimServer(seed=11, now="wall", rate_limit=True) as wall:
        settings = Settings(database_url=migrated_url, api_url=wall.api_url, history_url=wall.history_url)
        ctx = LiveContext(settings, LiveConfig(lease_seconds=10))
        try:
            r = run_job(ctx, "settlements", require_leader=False)
            assert r.outcome_override == "ok", r.error
            now = wall.now_ms()
            for currency in ("BTC", "ETH"):
                assert stored(db, currency) == truth(wall, currency, now - 2 * DAY_MS, now)
            again = run_job(ctx, "settlements", require_leader=False)
            assert again.outcome_override == "ok" and again.rows == 0 and again.stored > 0
        finally:
            ctx.close()


def load_settlements_sample(db, market, currency: str, first_day_ms: int, days: int) -> None:
    """The simulated events of `days` days and their delivery prices (index_prices, source 'delivery')
    straight into the tables, for the SQL tests."""
    from datetime import datetime, timezone

    from ingest.datasets import settlements
    from ingest.storage.load import copy_upsert
    from ingest.storage.tables import INDEX_PRICES

    rows, index = [], []
    for d in range(days):
        ev = first_day_ms + d * DAY_MS + 8 * HOUR_MS
        rows += [settlements.event_row(currency, rec)[0] for rec in market.settlement_records(currency, ev)]
        index.append((datetime.fromtimestamp(ev / 1000, timezone.utc), f"{currency.lower()}_usd",
                      market.delivery_price(currency, day_of(ev)), "delivery"))
    copy_upsert(db, settlements.SETTLEMENTS, rows)
    copy_upsert(db, INDEX_PRICES, index)
