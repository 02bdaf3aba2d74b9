"""ingest.datasets.funding: validation of funding rows, backwards paging, idempotent load."""

from __future__ import annotations

import math

from ingest.datasets import funding
from ingest.deribit.quirks import FUNDING_ROWS_PER_CALL, HOUR_MS

T = 1717200000000  # 2024-06-01T00:00Z


def row(ts, price=67500.0, i1=5e-6):
    return {"timestamp": ts, "index_price": price, "prev_index_price": price - 1, "interest_8h": i1 * 8,
            "interest_1h": i1}


def test_window_bounds_cover_744_hours_ending_at_the_last_full_hour():
    start, end = funding.window_bounds(T + 59 * 60_000)
    assert end == T and (end - start) // HOUR_MS + 1 == FUNDING_ROWS_PER_CALL


def test_bad_rows_are_rejected_with_a_reason_and_good_rows_kept():
    payload = [row(T), row(T + HOUR_MS, price=math.nan), row(T + 2 * HOUR_MS, price=-1.0),
               {"timestamp": "x"}, row(T + 3 * HOUR_MS, i1=math.inf), row(T + 4 * HOUR_MS), row(T + 4 * HOUR_MS)]
    v = funding.validate("BTC-PERPETUAL", payload)
    assert [r[0].timestamp() * 1000 for r in v.rows] == [T, T + 4 * HOUR_MS]
    reasons = [r.reason for r in v.rejected]
    assert reasons == ["index_price is not finite", "index_price is not positive", "timestamp is not an integer",
                       "interest_8h is not a finite number"]
    assert v.rejected[0].payload["index_price"] == "nan"  # jsonb-safe


def test_negative_interest_is_valid_and_the_range_filters():
    v = funding.validate("BTC-PERPETUAL", [row(T, i1=-1e-5), row(T + HOUR_MS)], end_ms=T)
    assert len(v.rows) == 1 and v.rows[0][2] == -1e-5


class FakeClient:
    """Answers like Deribit: at most 744 rows counted back from end_timestamp, none before `first`."""

    def __init__(self, first):
        self.first, self.calls = first, []

    def call(self, method, params, host="www"):
        self.calls.append(params)
        end = params["end_timestamp"] - params["end_timestamp"] % HOUR_MS
        start = max(params["start_timestamp"], self.first, end - (FUNDING_ROWS_PER_CALL - 1) * HOUR_MS)
        start = -(-start // HOUR_MS) * HOUR_MS
        return [row(t) for t in range(start, end + 1, HOUR_MS)]


def test_paging_backwards_reaches_the_first_hour_and_stops_on_an_empty_answer():
    first = T - 2000 * HOUR_MS
    client = FakeClient(first)
    pages = list(funding.pages_backwards(client, "BTC-PERPETUAL", T))
    stamps = sorted(r["timestamp"] for _, _, res in pages for r in res)
    assert stamps == list(range(first, T + 1, HOUR_MS))
    assert pages[-1][2] == []  # ran until the API returned nothing


def test_collect_loads_every_hour_once_and_is_idempotent(db):
    client = FakeClient(T - 1000 * HOUR_MS)
    assert funding.collect(client, db, "BTC-PERPETUAL", T - 900 * HOUR_MS, T) == (901, 0)
    assert funding.collect(client, db, "BTC-PERPETUAL", T - 900 * HOUR_MS, T) == (0, 0)
    assert db.execute("SELECT count(*), count(DISTINCT ts) FROM funding_rates").fetchone() == (901, 901)
