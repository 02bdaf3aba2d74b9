"""The trade tape against the simulator's ground truth: a backfill stores exactly its trades (none lost at a
page boundary, none twice, a rerun adds nothing), what is unique, exact 64-bit ids, option candles built
from trades equal to the exchange's chart data, roll-ups, quarantine, the dry run, and the live job."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timezone

import pytest

from ingest.backfill import backfill as run_backfill
from ingest.backfill.cli import parse_when
from ingest.backfill.engine import Engine, Window
from ingest.backfill.planning import Context
from ingest.backfill.progress import Stats
from ingest.backfill.testing import sim_client
from ingest.datasets import trades
from ingest.deribit.client import DeribitClient
from ingest.sim.api import Exchange
from ingest.sim.server import SimServer
from ingest.storage import caggs
from ingest.storage.validate import BrokenAnswer
from tests.rewriting_proxy import RewritingProxy

NOW = "2024-06-10T00:00:00Z"
MIN = 60_000
DAY = 86_400_000
UTC = timezone.utc


@pytest.fixture(scope="module")
def sim():
    with SimServer(seed=7, now=NOW, rate_limit=True) as s:
        yield s


@pytest.fixture
def tdb(db):
    db.execute("TRUNCATE trades")
    yield db


def truth(sim, currency: str, api_kind: str | None, start: int, end: int) -> list[dict]:
    """The simulator's trades of a currency and API kind (None: every kind), start <= ts <= end, in the
    order its answers use: (timestamp, trade_id)."""
    ex = Exchange(sim.market)
    rows: list[dict] = []
    for inst in sim.market.instruments_between(currency, api_kind, start, end):
        t = sim.market.trades(inst, start, end, sim.now_ms())
        if len(t["ts"]):
            rows += ex._trade_dicts(inst, t)
    return sorted(rows, key=lambda r: (r["timestamp"], r["trade_id"]))


def backfill(db, client, since: int, until: int, now: int, **options) -> Stats:
    """`ingest backfill trades` through the runner (the registry's plan, checkpoints, aggregate refresh)."""
    result = run_backfill("trades", client, db, since_ms=since, until_ms=until, options=options, tty=False,
                          echo=lambda _: None)
    assert result.status in ("ok", "partial")
    return result.stats


FIELDS = ("instrument_name", "trade_seq", "price", "amount", "contracts", "direction", "tick_direction",
          "index_price", "mark_price", "iv", "liquidation", "block_trade_id", "block_trade_leg_count",
          "starbase_match_id", "starbase_timestamp")


def stored(db, where: str = "true", params=()) -> dict[str, tuple]:
    rows = db.execute(f"""SELECT trade_id, (extract(epoch FROM ts) * 1000)::bigint, instrument_name, trade_seq,
                                 price::float8, amount::float8, contracts::float8, direction, tick_direction,
                                 index_price, mark_price, iv, liquidation, block_trade_id, block_trade_leg_count,
                                 starbase_match_id, starbase_timestamp
                          FROM trades WHERE {where}""", params).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def expected(t: dict) -> tuple:
    return (t["timestamp"],) + tuple(t.get(f) for f in FIELDS)


def kind_of(name: str) -> str:
    return trades.kind_of(name)[1]


# ----------------------------------------------------------------------------- the whole tape, exactly


def test_a_backfill_stores_exactly_the_simulators_trades_and_a_rerun_adds_nothing(tdb, sim):
    db = tdb
    client = sim_client(sim)
    since, until = parse_when("2024-06-01"), parse_when("2024-06-03T23:59")
    stats = backfill(db, client, since, until, sim.now_ms(), currency=("BTC", "ETH"))
    end = until + MIN - 1
    want = {t["trade_id"]: t for c in ("BTC", "ETH") for t in truth(sim, c, "option", since, end)}
    got = stored(db)
    assert len(want) > 20_000 and got.keys() == want.keys()
    assert all(got[k] == expected(t) for k, t in want.items())
    assert stats.windows_done == 6 and not stats.failures and stats.rows["trades"] == len(want)
    # options by default: no future, no perpetual
    assert db.execute("SELECT DISTINCT kind FROM trades").fetchall() == [("option",)]
    assert db.execute("SELECT DISTINCT currency FROM trades ORDER BY 1").fetchall() == [("BTC",), ("ETH",)]
    # the checkpoints: one 'done' per currency and day
    cps = db.execute("SELECT instrument_name, count(*), sum(rows_loaded) FROM backfill_checkpoints "
                     "WHERE dataset = 'trades' AND status = 'done' GROUP BY 1 ORDER BY 1").fetchall()
    assert [(n, c) for n, c, _ in cps] == [("BTC option", 3), ("ETH option", 3)]

    # a rerun: every window is done, nothing is asked (but the server's time)
    requests = client.stats["requests"]
    again = backfill(db, client, since, until, sim.now_ms(), currency=("BTC", "ETH"))
    assert again.windows_done == 0 and again.windows_skipped == 6 and client.stats["requests"] == requests + 1
    # with the checkpoints forgotten (--restart): everything fetched again, nothing changes
    db.execute("DELETE FROM backfill_checkpoints WHERE dataset = 'trades'")
    again = backfill(db, client, since, until, sim.now_ms(), currency=("BTC", "ETH"))
    assert again.windows_done == 6 and again.rows["trades"] == 0 and again.fetched["trades"] == len(want)
    assert stored(db) == got


def test_futures_and_perpetuals_are_fetched_once_and_kept_apart(tdb, sim):
    db = tdb
    client = sim_client(sim)
    since, until = parse_when("2024-06-04"), parse_when("2024-06-04T23:59")
    backfill(db, client, since, until, sim.now_ms(), kind=("perpetual",), currency=("BTC",))
    perps = stored(db)
    assert perps and {kind_of(v[1]) for v in perps.values()} == {"perpetual"}
    # futures next: the perpetual day is done, only futures are fetched; then both are in the tape
    requests = client.stats["requests"]
    backfill(db, client, since, until, sim.now_ms(), kind=("future", "perpetual"), currency=("BTC",))
    want = {t["trade_id"]: t for t in truth(sim, "BTC", "future", since, until + MIN - 1)}
    got = stored(db)
    assert got.keys() == want.keys() and all(got[k] == expected(t) for k, t in want.items())
    assert {kind_of(t["instrument_name"]) for t in want.values()} == {"future", "perpetual"}
    # kind=future answers carry both: the futures' day cost its pages once, perpetuals filtered out
    assert client.stats["requests"] - requests == 1 + len(want) // 1000 + 1  # get_time, then the pages
    names = dict(db.execute("SELECT instrument_name, status FROM backfill_checkpoints WHERE dataset = 'trades'"))
    assert names == {"BTC perpetual": "done", "BTC future": "done"}
    # asked together with nothing done: one window per day records both
    db.execute("TRUNCATE trades")
    db.execute("DELETE FROM backfill_checkpoints")
    backfill(db, client, since, until, sim.now_ms(), kind=("future", "perpetual"), currency=("BTC",))
    assert stored(db) == got
    assert dict(db.execute("SELECT instrument_name, status FROM backfill_checkpoints")) == {
        "BTC future+perpetual": "done"}


# ----------------------------------------------------------------------------- page boundaries


def shared_millisecond(sim) -> tuple[list[dict], int]:
    """A day of BTC futures/perpetual trades with two trades in one millisecond, and the index of the
    first of them in the day's ordered tape."""
    for d in range(30):
        start = parse_when("2024-06-01") + d * DAY
        day = truth(sim, "BTC", "future", start, start + DAY - 1)
        for j in range(1, len(day)):
            if day[j]["timestamp"] == day[j - 1]["timestamp"]:
                return day, j - 1
    raise AssertionError("no shared millisecond in 30 days of BTC futures")


def test_trades_sharing_a_millisecond_across_a_page_boundary_are_neither_lost_nor_duplicated(tdb, sim):
    db = tdb
    client = sim_client(sim)
    day, j = shared_millisecond(sim)
    shared = day[j]["timestamp"]
    assert day[j + 1]["timestamp"] == shared
    # a window starting ten minutes before, and a page size that ends the first page between the two
    start = shared - shared % MIN - 10 * MIN
    end = shared - shared % MIN + 10 * MIN - 1
    window = [t for t in day if start <= t["timestamp"] <= end]
    i0 = window.index(day[j])
    page = i0 + 1  # the first page ends with day[j]; day[j + 1], same millisecond, opens the next
    assert 2 <= page <= 1000 and window[page - 1]["timestamp"] == window[page]["timestamp"] == shared
    kinds = ("future", "perpetual")
    batch = trades.fetch_trades(client, "BTC", kinds, start, end, page_size=page)
    assert batch.requests >= 2
    assert [r[1] for r in batch.rows] == [t["trade_id"] for t in window]  # all, once, in order
    # any page size above the trades of one millisecond (2 here): the same tape
    for size in range(3, page + 1, 3):
        b = trades.fetch_trades(client, "BTC", kinds, start, end, page_size=size)
        assert [r[1] for r in b.rows] == [t["trade_id"] for t in window], size
    # through the engine and the database
    w = Window("trades", "BTC future+perpetual", start, end,
               trades.window_fetch(client, "BTC", kinds, start, end, page_size=page))
    Engine(db, Stats(), workers=1, depth=1).run([w])
    got = stored(db)
    assert got == {t["trade_id"]: expected(t) for t in window}
    # a page of one trade cannot pass a millisecond holding two: the window fails, saying why
    with pytest.raises(BrokenAnswer, match="more than 1 BTC future trades at"):
        trades.fetch_trades(client, "BTC", kinds, shared - 5_000, end, page_size=1)


# ----------------------------------------------------------------------------- what is unique


def test_trade_id_is_unique_per_currency_across_kinds_and_instruments(sim):
    """What the key (currency, trade_id, ts) rests on, shown on a day of the whole tape: ids are one
    sequence per currency whatever the kind; (instrument, trade_seq) is unique too, and ETH's ids carry
    their currency ("ETH-"), BTC's are bare numbers like the real captures'."""
    start = parse_when("2024-06-03")
    tape = {c: truth(sim, c, None, start, start + DAY - 1) for c in ("BTC", "ETH")}
    for rows in tape.values():
        ids = [t["trade_id"] for t in rows]
        assert len(ids) == len(set(ids)) > 10_000
        assert {kind_of(t["instrument_name"]) for t in rows} == {"option", "future", "perpetual"}
        assert len({(t["instrument_name"], t["trade_seq"]) for t in rows}) == len(rows)
        # the same id never names trades of two kinds
        kinds_of_id = Counter(t["trade_id"] for t in rows)
        assert max(kinds_of_id.values()) == 1
    assert all(t["trade_id"].isdigit() for t in tape["BTC"])
    assert all(t["trade_id"].startswith("ETH-") for t in tape["ETH"])
    assert not {t["trade_id"] for t in tape["BTC"]} & {t["trade_id"] for t in tape["ETH"]}
    # the real captures: BTC ids are bare numbers
    import json
    from pathlib import Path

    fixtures = Path(__file__).parent / "fixtures" / "deribit-real"
    for name in ("get_last_trades_by_currency__deribit-docs.json",
                 "get_last_trades_by_instrument_and_time__ccxt-2021.json"):
        real = json.loads((fixtures / name).read_text())["response"]["result"]["trades"]
        assert all(t["trade_id"].isdigit() and t["instrument_name"].startswith("BTC-") for t in real)


def test_starbase_ids_above_2_53_are_stored_exactly(tdb, sim):
    db = tdb
    since = parse_when("2024-06-05")
    backfill(db, sim_client(sim), since, since + 6 * 3_600_000, sim.now_ms(), currency=("BTC",))
    want = {t["trade_id"]: (t["starbase_match_id"], t["starbase_timestamp"])
            for t in truth(sim, "BTC", "option", since, since + 6 * 3_600_000 + MIN - 1)}
    got = {k: (a, b) for k, a, b in db.execute("SELECT trade_id, starbase_match_id, starbase_timestamp FROM trades")}
    assert got == want and len(got) > 100
    # they are beyond what a float holds: a float parser would have changed them
    assert all(a > 2**53 and int(float(a)) != a for a, _ in got.values())


# ----------------------------------------------------------------------------- option candles from trades


def test_option_candles_from_trades_equal_the_exchanges_chart_data_of_an_expired_option(tdb, sim):
    db = tdb
    client = sim_client(sim)
    expiry = parse_when("2024-06-05T08:00")
    # the whole life of the options expiring then (daily options are listed three days ahead)
    since = expiry - 4 * DAY
    backfill(db, client, since, expiry - MIN, sim.now_ms(), currency=("BTC",))
    names = [n for (n,) in db.execute(
        "SELECT instrument_name FROM trades WHERE instrument_name LIKE 'BTC-5JUN24-%%' "
        "GROUP BY 1 ORDER BY count(*) DESC")]
    assert len(names) >= 5
    checked = 0
    for name in names[:5]:
        inst = sim.market.instrument(name)
        assert inst.expiration_ms == expiry and inst.creation_ms >= since
        chart = client.call("get_tradingview_chart_data", {
            "instrument_name": name, "start_timestamp": inst.creation_ms - 1, "end_timestamp": expiry,
            "resolution": "1"}, host="history")
        traded = {t: (o, h, lo, c, v, cost) for t, o, h, lo, c, v, cost in zip(
            chart["ticks"], chart["open"], chart["high"], chart["low"], chart["close"], chart["volume"],
            chart["cost"], strict=True) if v > 0}
        rows = db.execute("""SELECT (extract(epoch FROM ts) * 1000)::bigint, open::float8, high::float8, low::float8,
                                    close::float8, volume::float8, cost::float8
                             FROM options_ohlcv WHERE instrument_name = %s""", (name,)).fetchall()
        built = {r[0]: r[1:] for r in rows}
        assert built == traded, name  # every traded minute, nothing else, equal to the last digit
        checked += len(built)
    assert checked > 50
    # a minute with several trades: open is the first, close the last, volume their sum
    multi = db.execute("""SELECT instrument_name, date_trunc('minute', ts) FROM trades
                          WHERE kind = 'option' GROUP BY 1, 2 HAVING count(*) > 2 LIMIT 1""").fetchone()
    assert multi is not None


# ----------------------------------------------------------------------------- roll-ups


def test_rollups_count_the_tape_by_kind_direction_liquidations_and_block_trades(tdb, sim):
    db = tdb
    client = sim_client(sim)
    since, until = parse_when("2024-06-06"), parse_when("2024-06-06T05:59")
    backfill(db, client, since, until, sim.now_ms(), kind=("option", "future", "perpetual"), currency=("ETH",))
    caggs.refresh_pending(db)
    tape = truth(sim, "ETH", None, since, until + MIN - 1)

    def hour(ms: int) -> datetime:
        return datetime.fromtimestamp(ms // 3_600_000 * 3600, UTC)

    want = Counter((hour(t["timestamp"]), kind_of(t["instrument_name"]), t["direction"]) for t in tape)
    got = {(ts, k, d): n for ts, k, d, n in db.execute(
        "SELECT ts, kind, direction, trades FROM trades_1h WHERE currency = 'ETH'")}
    assert got == dict(want) and len(got) == 6 * 3 * 2
    minutes = db.execute("SELECT count(*), sum(trades) FROM trades_1m WHERE currency = 'ETH'").fetchone()
    assert minutes[1] == len(tape)
    liquidations = [t for t in tape if "liquidation" in t]
    assert liquidations
    got = db.execute("SELECT sum(trades), sum(amount)::float8 FROM liquidations_1h").fetchone()
    assert got == (len(liquidations), sum(t["amount"] for t in liquidations))
    blocks = [t for t in tape if "block_trade_id" in t]
    assert blocks and db.execute("SELECT sum(legs) FROM block_trades_1h").fetchone()[0] == len(blocks)
    usd = sum(t["amount"] * t["index_price"] if kind_of(t["instrument_name"]) == "option" else t["amount"]
              for t in blocks)
    assert db.execute("SELECT sum(volume_usd) FROM block_trades_1h").fetchone()[0] == pytest.approx(usd, rel=1e-9)
    assert db.execute("SELECT count(*) FROM block_trades").fetchone()[0] == len({t["block_trade_id"] for t in blocks})


# ----------------------------------------------------------------------------- bad answers


def proxy_client(proxy: RewritingProxy) -> DeribitClient:
    return DeribitClient(proxy.url + "/api/v2", proxy.url + "/history/api/v2", backoff_base=0.02,
                         backoff_cap=0.2, timeout=5.0, max_attempts=8)


def test_invalid_trades_are_quarantined_broken_answers_fetched_again(tdb, sim):
    db = tdb
    since, until = parse_when("2024-06-07"), parse_when("2024-06-07T02:59")
    tape = truth(sim, "BTC", "option", since, until + MIN - 1)
    negative, huge, lossy = tape[10]["trade_id"], tape[20]["trade_id"], tape[30]["trade_id"]
    broken = {"first": True}

    def rewrite(method, params, body):
        if method != "get_last_trades_by_currency_and_time":
            return body
        for t in body["result"]["trades"]:
            if t["trade_id"] == negative:
                t["price"] = -0.001  # the exchange's own bad value, twice: quarantined
            elif t["trade_id"] == huge:
                t["starbase_match_id"] = 2**63 + 5  # beyond bigint: quarantined with the reason
            elif t["trade_id"] == lossy:
                t["starbase_timestamp"] = float(t["starbase_timestamp"])  # went through a float: refused
        if broken["first"]:  # the first answer broken in transit: fetched again, never data
            broken["first"] = False
            body["result"]["trades"][0]["amount"] = "NaN"
        return body

    with RewritingProxy(sim.base_url, rewrite) as proxy:
        stats = backfill(db, proxy_client(proxy), since, until, sim.now_ms(), currency=("BTC",))
    assert stats.windows_partial == 1 and not stats.failures
    reasons = dict(db.execute("SELECT payload->>'trade_id', reason FROM quarantine WHERE dataset = 'trades'"))
    assert reasons == {negative: "price is not positive",
                       huge: f"starbase_match_id {2**63 + 5} out of range for bigint",
                       lossy: "starbase_timestamp is not an integer"}
    got = stored(db)
    assert got.keys() == {t["trade_id"] for t in tape} - set(reasons)
    assert db.execute("SELECT status FROM backfill_checkpoints WHERE dataset = 'trades'").fetchall() == [("partial",)]


# ----------------------------------------------------------------------------- dry run


def true_pages(sim, currency: str, api_kind: str, start: int, end: int) -> int:
    """Requests a backfill of [start, end] needs, by the simulator's tape: ceil(trades / 1,000) a day."""
    n = 0
    for s in range(start, end, DAY):
        n += max(1, -(-len(truth(sim, currency, api_kind, s, min(s + DAY, end + 1) - 1)) // 1000))
    return n


@pytest.mark.parametrize("kind,api_kind", [("option", "option"), ("perpetual", "future")])
def test_dry_run_estimates_requests_from_one_sample_page_a_month(tdb, sim, caplog, kind, api_kind):
    """Each day window is counted ceil(trades / 1,000) requests, trades estimated from one page a month
    of each currency (sampled from the history host): close to what the backfill will send, where one
    request a window would undercount a futures day ~6x. The futures tape's size is warned about."""
    db = tdb
    since, until = parse_when("2024-05-25"), parse_when("2024-06-08T23:59")
    ctx = Context(sim_client(sim), sim.now_ms(), since, until)
    seen: list[tuple] = []
    sent = sim.stats()["by_method"].get("get_last_trades_by_currency_and_time", 0)
    with caplog.at_level(logging.INFO, logger="ingest.trades"):
        windows = list(trades.plan(ctx, db, lambda *a, **k: seen.append(a + (k["requests"],)), False,
                                   {"kind": (kind,)}))
    assert len(windows) == len(seen) == 2 * 15 and not any(a[3] for a in seen)
    samples = sim.stats()["by_method"]["get_last_trades_by_currency_and_time"] - sent
    assert samples == 2 * 2  # BTC and ETH, May and June
    assert ("hundreds of millions" in caplog.text) == (kind == "perpetual")
    assert "estimated from 4 sample pages" in caplog.text
    for currency in ("BTC", "ETH"):
        estimated = sum(a[4] for a in seen if a[0].startswith(currency))
        truth_requests = true_pages(sim, currency, api_kind, since, until + MIN - 1)
        assert truth_requests > 2 * 15 if kind == "perpetual" else truth_requests >= 15
        assert 0.7 <= estimated / truth_requests <= 1.4, (currency, estimated, truth_requests)


def test_the_dry_run_plan_counts_the_estimate_and_says_how(tdb, sim):
    out: list[str] = []
    result = run_backfill("trades", sim_client(sim), tdb, since_ms=parse_when("2024-06-01"),
                          until_ms=parse_when("2024-06-07T23:59"), options={"kind": ("perpetual",)}, dry_run=True,
                          tty=False, echo=out.append)
    assert [(p.instrument, p.windows) for p in result.plan] == [("BTC perpetual", 7), ("ETH perpetual", 7)]
    assert all(p.requests > 3 * p.windows for p in result.plan)  # ~6 a day on the simulator, not 1
    assert "estimated from one sample page a month" in out[0] and "probed first" not in out[0]
    assert tdb.execute("SELECT count(*) FROM trades").fetchone()[0] == 0


def test_dry_run_counts_one_request_a_window_where_a_sample_fails(tdb, sim, caplog):
    from ingest.deribit.client import DeribitClient

    unreachable = DeribitClient(sim.api_url, "http://127.0.0.1:9", max_attempts=1, timeout=0.5)
    ctx = Context(unreachable, sim.now_ms(), parse_when("2024-06-01"), parse_when("2024-06-03T23:59"))
    seen: list[int] = []
    with caplog.at_level(logging.INFO, logger="ingest.trades"):
        list(trades.plan(ctx, tdb, lambda *a, **k: seen.append(k["requests"]), False, {"currency": ("BTC",)}))
    assert seen == [1, 1, 1]
    assert "no sample of BTC option trades on 2024-06-01" in caplog.text and "1 samples failed" in caplog.text


# ----------------------------------------------------------------------------- live


@pytest.fixture(scope="module")
def wall_sim():
    with SimServer(seed=11, now="wall", rate_limit=True) as s:
        yield s


@pytest.fixture
def live_ctx(tdb, migrated_url, wall_sim):
    from ingest.config import Settings
    from ingest.live.context import Context as LiveContext
    from ingest.live.context import LiveConfig

    settings = Settings(database_url=migrated_url, api_url=wall_sim.api_url, history_url=wall_sim.history_url)
    c = LiveContext(settings, LiveConfig(lease_seconds=10, initial_lookback_min=20))
    yield c
    c.close()


def test_live_job_stores_every_kind_from_its_cursor_and_the_candles_of_traded_options(live_ctx, tdb, wall_sim):
    from ingest.live.context import CountingClient
    from ingest.live.jobs import run_job

    db = tdb
    client = CountingClient(live_ctx.client)
    r = run_job(live_ctx, "trades", require_leader=False)
    assert r.outcome_override == "ok" and r.stored > 0, r.error
    assert db.execute("SELECT last_outcome FROM job_heartbeats WHERE job_name = 'trades'").fetchone() == ("ok",)
    end = max(v for v in live_ctx.state["trades_from"].values())
    start = end - 20 * MIN
    want = {t["trade_id"]: t for c in ("BTC", "ETH") for t in truth(wall_sim, c, None, start, end - 1)}
    got = stored(db)
    assert got.keys() == want.keys() and all(got[k] == expected(t) for k, t in want.items())
    assert {kind_of(t["instrument_name"]) for t in want.values()} == {"option", "future", "perpetual"}
    # the candles of the options that traded, equal to the exchange's chart data of those minutes
    name, n = db.execute("SELECT instrument_name, count(*) FROM options_ohlcv GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
                         ).fetchone()
    chart = client.call("get_tradingview_chart_data", {"instrument_name": name, "start_timestamp": start - 1,
                                                       "end_timestamp": end - MIN, "resolution": "1"})
    traded = {t: (o, h, lo, c, v, cost) for t, o, h, lo, c, v, cost in zip(
        chart["ticks"], chart["open"], chart["high"], chart["low"], chart["close"], chart["volume"], chart["cost"],
        strict=True) if v > 0 and start <= t}
    built = {r[0]: r[1:] for r in db.execute(
        """SELECT (extract(epoch FROM ts) * 1000)::bigint, open::float8, high::float8, low::float8, close::float8,
                  volume::float8, cost::float8 FROM options_ohlcv WHERE instrument_name = %s""", (name,))}
    assert built == traded and n == len(traded)
    # the next run starts at its cursor, and after a restart (no cursor in memory) at the last stored
    # minute: the tape stays exactly the simulator's, nothing twice
    for restart in (False, True):
        if restart:
            live_ctx.state.clear()
        again = run_job(live_ctx, "trades", require_leader=False)
        assert again.outcome_override == "ok", again.error
        end = max(v for v in live_ctx.state["trades_from"].values())
        want = {t["trade_id"]: t for c in ("BTC", "ETH") for t in truth(wall_sim, c, None, start, end - 1)}
        got = stored(db)
        assert got.keys() == want.keys() and all(got[k] == expected(t) for k, t in want.items())


# ----------------------------------------------------------------------------- the simulator's tape


def test_the_simulators_tick_directions_and_flags_are_properties_of_the_trade(sim):
    """Simulator fix (real fact): a trade's tick_direction compares it with the instrument's previous
    trade, whatever request returns it (it was 0 for the first trade of every answer, and zero ticks 1/3
    never appeared); liquidations and block trades are flagged on a share of trades."""
    start = parse_when("2024-06-02")
    whole = {t["trade_id"]: t for t in truth(sim, "BTC", "future", start, start + DAY - 1)}
    late = truth(sim, "BTC", "future", start + 7 * 3_600_000 + 12_345, start + DAY - 1)
    assert late and all(whole[t["trade_id"]] == t for t in late)
    ticks = Counter(t["tick_direction"] for t in whole.values())
    assert set(ticks) == {0, 1, 2, 3}
    assert Counter(t.get("liquidation") for t in whole.values()).keys() == {None, "M", "T", "MT"}
    assert any("block_trade_id" in t for t in whole.values())


# ----------------------------------------------------------------------------- a sample for other tests


def load_trades_sample(db, market, currency: str, day_ms: int) -> int:
    """A day of the simulated tape of every kind (and the option candles built from it) straight into
    the tables, for the SQL tests (tests/test_sql_analyst_guide.py). Returns the trades loaded."""
    from ingest.storage.load import copy_upsert
    from ingest.storage.tables import OPTIONS_OHLCV

    ex = Exchange(market)
    rows = []
    for inst in market.instruments_between(currency, None, day_ms, day_ms + DAY - 1):
        t = market.trades(inst, day_ms, day_ms + DAY - 1, day_ms + 30 * DAY)
        if len(t["ts"]):
            rows += [trades.trade_row(currency, d, trades.KINDS)[0] for d in ex._trade_dicts(inst, t)]
    batch = trades.TradeBatch(rows)
    copy_upsert(db, trades.TRADES, batch.validated().rows)
    candles = trades.option_candles(rows, day_ms, day_ms + DAY - MIN)
    copy_upsert(db, OPTIONS_OHLCV, [r for c in candles for r in c.rows()])
    return len(rows)
