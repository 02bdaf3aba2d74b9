"""Contract tests: real Deribit response bodies (tests/fixtures/deribit-real/, each file names its
source) through the project's parsing, validation and loading. Expected rows are written by hand from
the payloads; where a column cannot hold what the exchange sent, the expected value says so.

Option book summaries and tickers: tests/test_options_chain_real.py; the simulator's shapes against
these files: the tests/test_sim_*.py conformance tests."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingest.datasets import funding, instruments
from ingest.datasets import index as index_prices
from ingest.deribit.client import DeribitClient, DeribitError, parse_body
from ingest.storage.tables import FUTURES_OHLCV
from ingest.storage.validate import Validated, chart_candles

FIXTURES = Path(__file__).parent / "fixtures" / "deribit-real"
UTC = timezone.utc


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def body_of(doc: dict):
    """A captured body parsed from its raw text by the client's own parser; `response` where the raw
    text is not JSON (a capture transcribed from Python source, for instance)."""
    raw = doc.get("response_raw")
    if isinstance(raw, str) and raw.strip():
        try:
            return parse_body(raw.encode())
        except ValueError:
            pass
    return doc["response"]


def result_of(name: str):
    body = body_of(fixture(name))
    return body["result"] if isinstance(body, dict) and "result" in body else body


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_every_captured_body_parses():
    files = sorted(FIXTURES.glob("*.json"))
    assert len(files) >= 20
    for path in files:
        doc = json.loads(path.read_text())
        assert doc["source"], path.name
        body = body_of(doc)
        assert isinstance(body, (dict, list)), path.name
        if isinstance(body, dict) and "jsonrpc" in body and body.get("method") != "subscription":
            # a REST envelope (some files keep the result only; one is a websocket notification)
            assert ("result" in body) != ("error" in body), path.name


# ----------------------------------------------------------------------------- chart data

def test_chart_data_docs_example_30_minute_candles(db):
    v = chart_candles("futures", "BTC-5APR19", result_of("get_tradingview_chart_data__deribit-docs.json"),
                      1554373800000, 1554376800000, step_ms=30 * 60_000)
    assert v.rejected == []
    assert v.rows == [
        (ts("2019-04-04T10:30:00"), "BTC-5APR19", 4963.42, 5185.45, 4728.94, 5052.95, 19.007942601, 19000),
        (ts("2019-04-04T11:00:00"), "BTC-5APR19", 4986.29, 5250.87, 4726.6, 5013.59, 20.095877981, 23400),
    ]
    from ingest.storage.load import load_validated

    load_validated(db, FUTURES_OHLCV, v)
    stored = db.execute("SELECT open, high, low, close, volume, cost FROM futures_ohlcv ORDER BY ts").fetchall()
    # volume in coin comes with 9 decimals; NUMERIC(24,8) keeps 8 (the 9th is below a satoshi)
    assert stored == [
        (Decimal("4963.42"), Decimal("5185.45"), Decimal("4728.94"), Decimal("5052.95"), Decimal("19.00794260"),
         Decimal("19000")),
        (Decimal("4986.29"), Decimal("5250.87"), Decimal("4726.6"), Decimal("5013.59"), Decimal("20.09587798"),
         Decimal("23400")),
    ]


def test_chart_data_with_ints_among_floats_and_a_filler_candle():
    v = chart_candles("perpetuals", "BTC-PERPETUAL", result_of("get_tradingview_chart_data__ccxt-deribit-ts-2020.json"),
                      1583916960000, 1583917140000)
    assert v.rejected == []
    assert [r[0] for r in v.rows] == [ts("2020-03-11T08:56:00"), ts("2020-03-11T08:57:00"),
                                      ts("2020-03-11T08:58:00"), ts("2020-03-11T08:59:00")]
    assert [r[2:6] for r in v.rows] == [(7834, 7839.5, 7834, 7839.5), (7839, 7839, 7833.5, 7833.5),
                                        (7833.5, 7833.5, 7832.5, 7833), (7833, 7833, 7833, 7833)]
    assert [r[6:] for r in v.rows] == [(3.6680847969999992, 28740), (22.682721123, 177740),
                                       (3.011587939, 23590), (0, 0)]  # the last is a filler: not a gap


def test_chart_data_no_data_is_no_rows_and_no_error():
    v = chart_candles("perpetuals", "BTC-PERPETUAL", result_of("get_tradingview_chart_data__no_data-vike-test.json"),
                      978307200000, 978393600000)
    assert v.rows == [] and v.rejected == []


# ----------------------------------------------------------------------------- funding

def test_funding_docs_example_start_exclusive_rows_and_float64_rates(db):
    # asked 00:00..04:00, the exchange answered 01:00..04:00: the row at the start is not returned
    v = funding.validate("BTC-PERPETUAL", result_of("get_funding_rate_history__deribit-docs.json"),
                         1569888000000, 1569902400000)
    assert v.rejected == []
    assert v.rows == [
        (ts("2019-10-01T01:00:00"), "BTC-PERPETUAL", -4.739622041017375e-7, -0.00009234260068476106, 8222.87, 8305.72),
        (ts("2019-10-01T02:00:00"), "BTC-PERPETUAL", -2.8583510923267753e-7, -0.00006720918180255509, 8286.49,
         8222.87),
        (ts("2019-10-01T03:00:00"), "BTC-PERPETUAL", -0.000003815906848177951, -0.00003544496169694662, 8431.97,
         8286.49),
        (ts("2019-10-01T04:00:00"), "BTC-PERPETUAL", 8.312033064379086e-7, -0.00001404147515584998, 8422.36,
         8431.97),
    ]
    funding.load(db, v)
    stored = db.execute("SELECT interest_1h, interest_8h, index_price FROM funding_rates ORDER BY ts").fetchall()
    assert stored == [(-4.739622041017375e-7, -0.00009234260068476106, Decimal("8222.87000000")),
                      (-2.8583510923267753e-7, -0.00006720918180255509, Decimal("8286.49000000")),
                      (-0.000003815906848177951, -0.00003544496169694662, Decimal("8431.97000000")),
                      (8.312033064379086e-7, -0.00001404147515584998, Decimal("8422.36000000"))]


@pytest.mark.parametrize("rate", [3.7795898262e-11, -4.739622041017375e-07, 1.2345678901234567e-07])
def test_funding_rates_round_trip_float64_exactly(db, rate):
    row = {"timestamp": 1569891600000, "index_price": 8222.87, "prev_index_price": 8305.72,
           "interest_8h": rate * 8, "interest_1h": rate}
    funding.load(db, funding.validate("BTC-PERPETUAL", [row]))
    (i1, i8), = db.execute("SELECT interest_1h, interest_8h FROM funding_rates").fetchall()
    assert i1 == rate and i8 == rate * 8  # the same float64, bit for bit
    assert repr(i1) == repr(rate)


# ----------------------------------------------------------------------------- instruments

def test_instruments_2022_without_state_and_2026_with_daily_futures():
    old = instruments.validate(result_of("get_instruments__ccxt-2022.json"))
    assert old.rejected == []
    assert [(r[0], r[1], r[5], r[7], r[8], r[9], r[13]) for r in old.rows] == [
        ("BTC-24JUN22-52000-P", "option", "month", ts("2022-06-24T08:00:00"), 52000.0, "put", None),
        ("BTC-27MAY22", "future", "month", ts("2022-05-27T08:00:00"), None, None, None),
        ("BTC-PERPETUAL", "future", "perpetual", None, None, None, None),  # year 3000 is no expiry
    ]
    new = instruments.validate(result_of("get_instruments__openbb-fixture-future-excerpt.json"))
    assert new.rejected == []
    assert [(r[0], r[5], r[6], r[7], r[10], r[11], r[12], r[13]) for r in new.rows] == [
        ("BTC-PERPETUAL", "perpetual", ts("2018-08-14T10:24:47"), None, 0.5, 10.0, True, "open"),
        ("BTC-21SEP26", "day", ts("2026-09-17T08:00:15"), ts("2026-09-21T08:00:00"), 2.5, 10.0, True, "open"),
        ("BTC-25SEP26", "month", ts("2025-09-26T08:00:21"), ts("2026-09-25T08:00:00"), 2.5, 10.0, True, "open"),
        ("BTC-2OCT26", "week", ts("2026-09-10T08:00:14"), ts("2026-10-02T08:00:00"), 2.5, 10.0, True, "open"),
    ]


def test_get_instrument_docs_example_with_int_strike_and_contract_size():
    v = instruments.validate([result_of("get_instrument__deribit-docs.json")])
    assert v.rejected == []
    (row,) = v.rows
    assert row[:2] == ("BTC-13JAN23-16000-P", "option")
    assert (row[5], row[7], row[8], row[9], row[10], row[11], row[13]) == (
        "week", ts("2023-01-13T08:00:00"), 16000, "put", 0.0005, 1, "open")


# ----------------------------------------------------------------------------- delivery prices

def test_delivery_prices_docs_example(db):
    v = index_prices.delivery_rows("btc_usd", result_of("get_delivery_prices__deribit-docs.json"))
    assert v.rejected == []
    assert v.rows == [
        (ts("2020-01-02T08:00:00"), "btc_usd", 7131.214606410254, "delivery"),
        (ts("2019-12-21T08:00:00"), "btc_usd", 7150.943217777777, "delivery"),
        (ts("2019-12-20T08:00:00"), "btc_usd", 7175.988445532345, "delivery"),
        (ts("2019-12-19T08:00:00"), "btc_usd", 7189.540776143791, "delivery"),
        (ts("2019-12-18T08:00:00"), "btc_usd", 6698.353743857118, "delivery"),
    ]
    index_prices.load(db, Validated(v.rows[:1]))
    # delivery prices come unrounded (12 decimals); NUMERIC(18,8) keeps 8
    assert db.execute("SELECT price FROM index_prices").fetchone()[0] == Decimal("7131.21460641")


# ----------------------------------------------------------------------------- errors, over HTTP

class _Canned(BaseHTTPRequestHandler):
    body = b""

    def log_message(self, *_args):
        pass

    def do_GET(self):  # noqa: N802
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@pytest.mark.parametrize("name, code, reason", [
    ("error__gocryptotrader-issue-2099-wrong-format.json", -32602, "wrong format"),
    ("error__ccxt-deribit-ts-invalid-currency.json", -32602, "invalid currency"),
])
def test_real_error_bodies_become_deribit_errors_with_their_reason(name, code, reason):
    doc = fixture(name)
    raw = doc.get("response_raw")
    body = raw.encode() if isinstance(raw, str) and raw.strip() else json.dumps(doc["response"]).encode()
    handler = type("Handler", (_Canned,), {"body": body})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/v2"
        client = DeribitClient(url, url, max_attempts=2, backoff_base=0.01, timeout=2)
        with pytest.raises(DeribitError) as err:
            client.call("get_order_book", {"instrument_name": "ETH-USDC-FS-28NOV25_PERP"})
    finally:
        server.shutdown()
        server.server_close()
    assert err.value.code == code and err.value.reason == reason
    assert not err.value.instrument_not_found
