"""Validation of chart-data payloads: bad rows are rejected with a reason, good rows kept."""

from __future__ import annotations

import math

from ingest.validate import chart_candles

T = 1_717_200_000_000  # 2024-06-01T00:00Z
M = 60_000


def payload(**over):
    p = {"status": "ok", "ticks": [T, T + M, T + 2 * M], "open": [10.0, 11.0, 11.0],
         "high": [12.0, 11.0, 11.5], "low": [9.5, 11.0, 10.5], "close": [11.0, 11.0, 11.2],
         "volume": [1.0, 0.0, 2.0], "cost": [10.0, 0.0, 22.0]}
    p.update(over)
    return p


def test_good_payload_including_a_filler_candle():
    v = chart_candles("perpetuals", "BTC-PERPETUAL", payload(), T, T + 2 * M)
    assert len(v.rows) == 3 and not v.rejected
    assert v.rows[1][2:] == (11.0, 11.0, 11.0, 11.0, 0.0, 0.0)


def test_each_bad_row_is_rejected_alone_with_its_reason():
    p = payload(high=[12.0, 11.0, 11.1], open=[math.nan, 11.0, 11.0])  # NaN open; high < close
    v = chart_candles("perpetuals", "BTC-PERPETUAL", p, T, T + 2 * M)
    assert [r[0].timestamp() * 1000 for r in v.rows] == [T + M]
    reasons = sorted(r.reason for r in v.rejected)
    assert reasons == ["high below max(open, close)", "open is not finite"]
    assert v.rejected[0].payload["open"] == "nan"  # jsonb-safe


def test_wrong_types_negative_volume_and_nonpositive_prices():
    p = payload(close=["11.0", 11.0, 11.2], volume=[1.0, -1.0, 2.0], low=[9.5, 11.0, 0.0])
    v = chart_candles("futures", "BTC-27DEC24", p, T, T + 2 * M)
    assert not v.rows
    assert sorted(r.reason for r in v.rejected) == [
        "close is not a number: str", "low is not positive", "volume is negative"]


def test_null_or_uneven_arrays_reject_the_whole_payload():
    assert chart_candles("x", "I", payload(close=None), T, T + 2 * M).rejected[0].reason.startswith(
        "arrays missing or null")
    assert chart_candles("x", "I", payload(ticks=[T]), T, T + 2 * M).rejected[0].reason == \
        "arrays of different lengths"


def test_ticks_outside_the_window_are_dropped_not_rejected():
    v = chart_candles("x", "I", payload(), T + M, T + 2 * M)
    assert len(v.rows) == 2 and not v.rejected


def test_no_data_is_empty():
    v = chart_candles("x", "I", {"status": "no_data", "ticks": [], "open": []}, T, T + M)
    assert not v.rows and not v.rejected
