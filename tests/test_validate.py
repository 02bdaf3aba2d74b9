"""Validation of chart-data payloads: bad rows are rejected with a reason, good rows kept."""

from __future__ import annotations

import math

from ingest.storage.validate import chart_candle_columns, chart_candles

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


def test_vectorised_fast_path_decides_exactly_like_the_row_by_row_checks(monkeypatch):
    """chart_candles checks a clean payload with numpy; on random broken payloads it must keep and
    reject exactly the rows (and reasons) the row-by-row checks do."""
    import random

    import ingest.storage.validate as v

    rng = random.Random(1)
    bad = [math.nan, -1.0, "1.0", None, True, 0, 10**60, math.inf, 2**53 + 1, 0.0, -0.0]
    cases = []
    for _ in range(2000):
        n = rng.randint(0, 7)
        o = [100 + rng.random() for _ in range(n)]
        c = [100 + rng.random() for _ in range(n)]
        p = {"status": "ok", "ticks": [T + i * M for i in range(n)], "open": o, "close": c,
             "high": [max(a, b) + rng.choice([0, 1]) for a, b in zip(o, c, strict=True)],
             "low": [min(a, b) - rng.choice([0, 1]) for a, b in zip(o, c, strict=True)],
             "volume": [rng.choice([0, 0.5, 3]) for _ in range(n)],
             "cost": [rng.choice([0, 10.5]) for _ in range(n)]}
        for _ in range(rng.choice([0, 0, 1, 2]) if n else 0):
            f, i = rng.choice(v.CHART_FIELDS), rng.randrange(n)
            extra = [T + i * M + 1, T, T - M] if f == "ticks" else [5, 100.5]
            p[f][i] = rng.choice(bad + extra)
        cases.append((p, T + rng.choice([0, M, -1]), T + rng.choice([0, 3, 5, 9]) * M))
    fast = [chart_candles("x", "I", p, s, e) for p, s, e in cases]
    monkeypatch.setattr(v, "_vector_check", lambda *a: None)
    slow = [chart_candles("x", "I", p, s, e) for p, s, e in cases]
    for a, b in zip(fast, slow, strict=True):
        assert a.rows == b.rows
        assert [(r.reason, r.payload) for r in a.rejected] == [(r.reason, r.payload) for r in b.rejected]


def test_candle_columns_copy_text():
    cols, rejected = chart_candle_columns("x", "BTC-PERPETUAL", payload(), T, T + 2 * M)
    assert not rejected and len(cols) == 3
    lines = cols.copy_text().decode().splitlines()
    assert lines[0] == "2024-06-01T00:00:00.000Z\tBTC-PERPETUAL\t10.0\t12.0\t9.5\t11.0\t1.0\t10.0"
    assert len(cols.traded()) == 2 and cols.rows() == chart_candles("x", "BTC-PERPETUAL", payload(), T,
                                                                    T + 2 * M).rows
