"""DVOL against the simulator's ground truth: the backfill stores exactly its 1-minute OHLC (windows of
1,000 minutes, continuation followed where an answer holds less), since the launch by default; hourly
and daily roll-ups; bad values quarantined; the live job from the last stored minute."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from ingest.backfill import backfill as run_backfill
from ingest.backfill.cli import parse_when
from ingest.backfill.planning import Context
from ingest.backfill.testing import sim_client
from ingest.datasets import volatility_index as dvol
from ingest.deribit.client import DeribitClient
from ingest.sim.market import DVOL_START_MS
from ingest.sim.server import SimServer
from tests.rewriting_proxy import RewritingProxy

NOW = "2024-06-10T00:00:00Z"
MIN = 60_000
UTC = timezone.utc


@pytest.fixture(scope="module")
def sim():
    with SimServer(seed=7, now=NOW, rate_limit=True) as s:
        yield s


def truth(sim, currency: str, start: int, end: int, now: int | None = None) -> dict[int, tuple]:
    """The simulator's 1-minute DVOL candles with start <= tick <= end: open at the tick, close a minute
    later (at most now), high/low of the two."""
    now = sim.now_ms() if now is None else now
    first = -(-max(start, DVOL_START_MS) // MIN) * MIN
    ticks = np.arange(first, min(end, now) // MIN * MIN + 1, MIN, dtype=np.int64)
    o = sim.market.dvol_value(currency, np.minimum(ticks, now))
    c = sim.market.dvol_value(currency, np.minimum(ticks + MIN, now))
    return {int(t): (float(a), float(max(a, b)), float(min(a, b)), float(b)) for t, a, b in zip(ticks, o, c,
                                                                                                strict=True)}


def stored(db, currency: str) -> dict[int, tuple]:
    return {r[0]: tuple(r[1:]) for r in db.execute(
        "SELECT (extract(epoch FROM ts) * 1000)::bigint, open, high, low, close FROM dvol WHERE currency = %s",
        (currency,))}


def backfill(db, client, since, until, **options):
    return run_backfill("dvol", client, db, since_ms=since, until_ms=until, options=options, tty=False,
                        echo=lambda _: None)


def test_backfill_stores_exactly_the_simulators_dvol_one_request_a_window_and_a_rerun_adds_nothing(db, sim):
    client = sim_client(sim)
    since, until = parse_when("2024-05-01"), parse_when("2024-05-03T23:59")
    r = backfill(db, client, since, until)
    assert r.status == "ok"
    for currency in ("BTC", "ETH"):
        want = truth(sim, currency, since, until)
        assert len(want) == 3 * 1440 and stored(db, currency) == want
        assert 10 < min(v[2] for v in want.values()) and max(v[1] for v in want.values()) < 300  # percent
    windows = r.stats.windows_done
    # the grid: 1,000-minute windows counted from the epoch, clipped to the range; one request each
    assert windows == 2 * len({t // (1000 * MIN) for t in truth(sim, "BTC", since, until)})
    assert client.stats["requests"] == 1 + windows  # get_time, then one answer per window
    again = backfill(db, client, since, until)
    assert again.stats.windows_done == 0 and client.stats["requests"] == 2 + windows
    db.execute("DELETE FROM backfill_checkpoints WHERE dataset = 'dvol'")
    again = backfill(db, client, since, until)
    assert again.stats.windows_done == windows and again.stats.rows["dvol"] == 0
    # the roll-ups: hourly and daily OHLC of the minutes (the backfill refreshed them)
    want = truth(sim, "BTC", since, until)
    hour = parse_when("2024-05-02T13:00")
    minutes = [want[t] for t in range(hour, hour + 3_600_000, MIN)]
    row = db.execute("""SELECT open, high, low, close, minutes FROM dvol_1h
                        WHERE currency = 'BTC' AND ts = %s""", (datetime.fromtimestamp(hour / 1000, UTC),)).fetchone()
    assert row == (minutes[0][0], max(m[1] for m in minutes), min(m[2] for m in minutes), minutes[-1][3], 60)
    days = db.execute("SELECT ts, minutes FROM dvol_1d WHERE currency = 'ETH' ORDER BY ts").fetchall()
    assert [(d.day, n) for d, n in days] == [(1, 1440), (2, 1440), (3, 1440)]
    day = [want[t] for t in range(parse_when("2024-05-02"), parse_when("2024-05-03"), MIN)]
    assert db.execute("SELECT open, high, low, close FROM dvol_1d WHERE currency = 'BTC' AND ts = '2024-05-02'"
                      ).fetchone() == (day[0][0], max(d[1] for d in day), min(d[2] for d in day), day[-1][3])


def test_a_range_longer_than_one_answer_follows_the_continuation(sim):
    client = sim_client(sim)
    start, end = parse_when("2024-04-01"), parse_when("2024-04-03T23:59")  # 4,320 minutes: five answers
    v = dvol.fetch_range(client, "ETH", start, end)
    assert client.stats["requests"] == 5 and not v.rejected
    got = {int(r[0].timestamp() * 1000): r[2:] for r in v.rows}
    assert got == truth(sim, "ETH", start, end)


def test_since_launch_by_default_and_the_dry_run(db, sim):
    ctx = Context(sim_client(sim), sim.now_ms())
    seen = []
    windows = list(dvol.plan(ctx, db, lambda *a: seen.append(a), False, {}))
    first = min(a[1] for a in seen)
    assert first == dvol.DVOL_LAUNCH_MS == DVOL_START_MS  # the simulator launches DVOL when Deribit did
    per_currency = len(range(first // (1000 * MIN), ctx.last_minute_ms // (1000 * MIN) + 1))
    assert len(windows) == len(seen) == 2 * per_currency > 2 * 1600  # 3 years and 2.5 months
    lines = []
    r = run_backfill("dvol", sim_client(sim), db, dry_run=True, tty=False, echo=lines.append)
    assert {(p.dataset, p.instrument) for p in r.plan} == {("dvol", "BTC"), ("dvol", "ETH")}
    assert "2021-03-24 00:00" in lines[0] and db.execute("SELECT count(*) FROM dvol").fetchone()[0] == 0


def proxy_client(proxy: RewritingProxy) -> DeribitClient:
    return DeribitClient(proxy.url + "/api/v2", proxy.url + "/history/api/v2", backoff_base=0.02,
                         backoff_cap=0.2, timeout=5.0, max_attempts=8)


def test_invalid_points_are_quarantined_and_broken_answers_fetched_again(db, sim):
    since, until = parse_when("2024-05-05"), parse_when("2024-05-05T09:59")
    bad = parse_when("2024-05-05T03:17")
    state = {"answers": 0}

    def rewrite(method, params, body):
        if method == "get_volatility_index_data" and params["currency"] == "BTC":
            state["answers"] += 1
            for point in body["result"]["data"]:
                if point[0] == bad:
                    point[1] = point[2] + 1.0  # open above high: the exchange's own bad value, every time
            if state["answers"] == 1:
                body["result"]["data"][0][4] = "NaN"  # broken in transit, once: asked again
        return body

    with RewritingProxy(sim.base_url, rewrite) as proxy:
        r = backfill(db, proxy_client(proxy), since, until, currency=("BTC",))
    assert r.status == "partial"
    assert db.execute("SELECT instrument_name, reason, (payload->>0)::bigint FROM quarantine").fetchall() == [
        ("BTC", "high/low do not bound open and close", bad)]
    want = truth(sim, "BTC", since, until)
    assert stored(db, "BTC") == {t: v for t, v in want.items() if t != bad}


# ----------------------------------------------------------------------------- live


@pytest.fixture(scope="module")
def wall_sim():
    with SimServer(seed=11, now="wall", rate_limit=True) as s:
        yield s


def test_live_job_stores_from_the_last_stored_minute(db, migrated_url, wall_sim):
    from ingest.config import Settings
    from ingest.live.context import Context as LiveContext
    from ingest.live.context import LiveConfig
    from ingest.live.jobs import last_closed_minute, run_job

    settings = Settings(database_url=migrated_url, api_url=wall_sim.api_url, history_url=wall_sim.history_url)
    ctx = LiveContext(settings, LiveConfig(lease_seconds=10, initial_lookback_min=30))
    try:
        r = run_job(ctx, "dvol", require_leader=False)
        assert r.outcome_override == "ok", r.error
        end = last_closed_minute(wall_sim.now_ms())
        for currency in ("BTC", "ETH"):
            got = stored(db, currency)
            last = max(got)
            assert end - MIN <= last <= end and min(got) == last - 30 * MIN
            assert got == truth(wall_sim, currency, min(got), last)  # closed minutes: final values
        # an outage: the last ten minutes are gone, the next run fetches them again
        db.execute("DELETE FROM dvol WHERE ts > now() - INTERVAL '10 minutes'")
        r = run_job(ctx, "dvol", require_leader=False)
        assert r.outcome_override == "ok" and r.rows >= 2 * 9
        for currency in ("BTC", "ETH"):
            got = stored(db, currency)
            assert got == truth(wall_sim, currency, min(got), max(got))
            assert len(got) == (max(got) - min(got)) // MIN + 1  # no hole
    finally:
        ctx.close()


def load_dvol_sample(db, market, start: int, end: int) -> None:
    """The simulated DVOL of BTC and ETH for [start, end] straight into dvol, for the SQL tests."""
    from ingest.storage.load import copy_upsert

    class _Sim:  # truth() reads the market and the clock
        def __init__(self):
            self.market = market

        def now_ms(self):
            return end + MIN

    rows = [(datetime.fromtimestamp(t / 1000, UTC), c, *v) for c in ("BTC", "ETH")
            for t, v in truth(_Sim(), c, start, end).items()]
    copy_upsert(db, dvol.DVOL, rows)
